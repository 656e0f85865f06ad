"""Part serials across visits: which work orders recorded a serial number, on which side.

A serial is unique only within one work order; across visits the same serial is the part's
life (fitted on one visit, removed as failed on a later visit of the same car) or a conflict an
OEM auditor charges back: a failed part removed, and so claimed, on two visits, or a part
recorded on two different vehicles. Per work order and serial: its line, its side (`fitted`,
`removed`) as the line's serials were last recorded, and when; per work order its store,
number and VIN. The view finds; the claim package reads the matched visits' events itself
(projections/serial_conflicts.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg

from domain.work_order import WorkOrder
from projections.base import Index, ReadModel, rows, store_scope

SIDES = ("fitted", "removed")
# A pair of records of one serial on two visits that is not the part's life: removed (claimed)
# on both, or recorded on two different vehicles.
CONFLICT = "(a.side = 'removed' AND b.side = 'removed') OR va.vin <> vb.vin"


def kind_of(side: str, other_side: str, same_vehicle: bool) -> str | None:
    """What a serial recorded on two visits is: `removed_twice` (a failed part claimed twice),
    `other_vehicle` (the part recorded on another car), or None (the same car's part life)."""
    if side == other_side == "removed":
        return "removed_twice"
    return None if same_vehicle else "other_vehicle"


class PartSerialsView(ReadModel):
    name = "part_serials"
    tables = {  # noqa: RUF012
        "part_serials": """
            work_order_id uuid NOT NULL, serial text NOT NULL, line_id text NOT NULL,
            side text NOT NULL, recorded_at timestamptz NOT NULL,
            notification_id bigint NOT NULL, PRIMARY KEY (work_order_id, serial)""",
        "part_serial_visits": """
            work_order_id uuid PRIMARY KEY, store_id text NOT NULL, number text NOT NULL,
            vin text NOT NULL""",
    }
    indexes = (Index("part_serials", "part_serials_serial_idx", "(serial)"),
               Index("part_serials", "part_serials_recorded_idx", "(recorded_at)"))
    handles = (WorkOrder.Opened, WorkOrder.SerialsRecorded)

    def apply(self, conn: psycopg.Connection[Any], events: Sequence[tuple[int, Any]],
              suffix: str = "") -> None:
        with conn.cursor() as cur:
            for notification_id, e in events:
                if isinstance(e, WorkOrder.Opened):
                    cur.execute(f"INSERT INTO part_serial_visits{suffix} (work_order_id, "
                                f"store_id, number, vin) VALUES (%s, %s, %s, %s)",
                                (e.originator_id, e.audit.store_id, e.number,
                                 str(e.vehicle["vin"])))
                elif isinstance(e, WorkOrder.SerialsRecorded):
                    # The line's serials as now recorded replace what it held before.
                    cur.execute(f"DELETE FROM part_serials{suffix} WHERE work_order_id = %s "
                                f"AND line_id = %s", (e.originator_id, e.line_id))
                    held = [*((s, "fitted") for s in e.fitted),
                            *((r["serial"], "removed") for r in e.removed)]
                    cur.executemany(
                        f"INSERT INTO part_serials{suffix} (work_order_id, serial, line_id, "
                        f"side, recorded_at, notification_id) VALUES (%s, %s, %s, %s, %s, %s)",
                        [(e.originator_id, serial, e.line_id, side, e.audit.at,
                          notification_id) for serial, side in held])


# -- queries ----------------------------------------------------------------------------------

def visits_holding(conn: psycopg.Connection[Any], serials: Sequence[str], work_order_id: UUID,
                   stores: Sequence[str]) -> list[UUID]:
    """The other work orders (of the caller's stores) that recorded any of these serials."""
    if not serials:
        return []
    scope, params = store_scope(stores, "v.store_id")
    found = conn.execute(
        f"""SELECT DISTINCT s.work_order_id FROM part_serials s
            JOIN part_serial_visits v USING (work_order_id)
            WHERE s.serial = ANY(%s) AND s.work_order_id <> %s AND {scope}
            ORDER BY 1""", [list(serials), work_order_id, *params])
    return [UUID(str(row[0])) for row in found]


def serial_conflicts(conn: psycopg.Connection[Any], stores: Sequence[str],
                     store_id: str | None, start: datetime, end: datetime, *,
                     limit: int | None = None, offset: int = 0) -> list[dict[str, Any]]:
    """Each serial recorded on two visits of the caller's stores as a failed part removed on
    both or on two vehicles, where the later record was made in [start, end) (and, with
    `store_id`, one of the two visits is that store's): the earlier record `first`, the later
    `then`, each with its work order, line, side, VIN and time; `limit` of them (all: None)
    from `offset` on. The pairs grow with the square of a serial's visits (a placeholder
    typed on every visit of a year pairs each with each), so the API asks for a page."""
    scope_a, params_a = store_scope(stores, "va.store_id")
    scope_b, params_b = store_scope(stores, "vb.store_id")
    store = "TRUE" if store_id is None else "%s IN (va.store_id, vb.store_id)"
    found = rows(conn, f"""
        SELECT a.serial, b.recorded_at AS conflict_at,
               a.work_order_id AS first_id, va.number AS first_number,
               va.store_id AS first_store, va.vin AS first_vin, a.line_id AS first_line,
               a.side AS first_side, a.recorded_at AS first_at,
               b.work_order_id AS then_id, vb.number AS then_number,
               vb.store_id AS then_store, vb.vin AS then_vin, b.line_id AS then_line,
               b.side AS then_side, b.recorded_at AS then_at
        FROM part_serials a
        JOIN part_serials b ON b.serial = a.serial AND b.work_order_id <> a.work_order_id
             AND (a.recorded_at, a.notification_id) < (b.recorded_at, b.notification_id)
        JOIN part_serial_visits va ON va.work_order_id = a.work_order_id
        JOIN part_serial_visits vb ON vb.work_order_id = b.work_order_id
        WHERE ({CONFLICT}) AND b.recorded_at >= %s AND b.recorded_at < %s
          AND {scope_a} AND {scope_b} AND {store}
        ORDER BY b.recorded_at, b.notification_id, a.notification_id
        LIMIT %s OFFSET %s""",
                 [start, end, *params_a, *params_b, *([store_id] if store_id is not None else []),
                  limit, offset])
    return [{"serial": r["serial"],
             "kind": kind_of(r["first_side"], r["then_side"], r["first_vin"] == r["then_vin"]),
             "conflict_at": r["conflict_at"].isoformat(),
             **{which: {"work_order_id": str(r[f"{which}_id"]),
                        "number": r[f"{which}_number"], "store_id": r[f"{which}_store"],
                        "vin": r[f"{which}_vin"], "line_id": r[f"{which}_line"],
                        "side": r[f"{which}_side"], "recorded_at": r[f"{which}_at"].isoformat()}
                for which in ("first", "then")}}
            for r in found]
