"""Visits imported from the previous system, in the customers read model: the vehicle file
lists them apart from the work orders (`imported: true`, with their `source_ref`), and the
next service due counts their mileage and their maintenance (domain/prior_visit.py)."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from domain.vehicle import Vehicle

TABLE = """
    vehicle_id uuid NOT NULL, store_id text NOT NULL, source_ref text NOT NULL,
    date_in date NOT NULL, date_out date, mileage_in integer NOT NULL, kind text NOT NULL,
    pay_type text NOT NULL, complaints text[] NOT NULL, work jsonb NOT NULL,
    parts jsonb NOT NULL, totals jsonb, imported_by text NOT NULL,
    imported_at timestamptz NOT NULL, notification_id bigint NOT NULL,
    PRIMARY KEY (store_id, source_ref)"""

# the readings and the maintenance they add to the work orders' (vehicle_files._recompute_due)
READINGS = "SELECT vehicle_id, date_in AS on_day, mileage_in AS km FROM {t} WHERE vehicle_id = ANY(%s)"
SERVICES = ("SELECT vehicle_id, coalesce(date_out, date_in) AS serviced_on, mileage_in AS mileage "
            "FROM {t} WHERE vehicle_id = ANY(%s) AND kind = 'maintenance'")


def insert(conn: psycopg.Connection[Any], table: str, notification_id: int,
           e: Vehicle.PriorVisitImported) -> None:
    conn.execute(
        f"""INSERT INTO {table} (vehicle_id, store_id, source_ref, date_in, date_out,
            mileage_in, kind, pay_type, complaints, work, parts, totals, imported_by,
            imported_at, notification_id)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
        ON CONFLICT (store_id, source_ref) DO NOTHING""",
        (e.originator_id, e.audit.store_id, e.source_ref, e.date_in, e.date_out, e.mileage_in,
         e.kind, e.pay_type, list(e.complaints), Jsonb(e.work), Jsonb(e.parts),
         Jsonb(e.totals) if e.totals is not None else None, e.audit.user_id, e.audit.at,
         notification_id))


# The car's imported visits, latest first, each marked `imported` (the vehicle file's
# `prior_visits`: customer_queries.VEHICLE_SECTIONS).
PRIOR_VISIT = """SELECT true AS imported, source_ref, store_id, date_in, date_out, mileage_in,
    kind, pay_type, complaints, work, parts, totals, imported_by, imported_at
    FROM prior_visits WHERE vehicle_id = %s"""
PRIOR_VISIT_ORDER = "date_in DESC, mileage_in DESC, source_ref"
