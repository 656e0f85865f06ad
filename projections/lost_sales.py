"""Lost sales as the parts counter reads them: one row per lost sale recorded (a voided one
too, marked so), and per part the lines and quantity lost over those not voided
(`servicecore projections rebuild --name lost_sales`, `servicecore audit views --view
lost_sales`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import psycopg

from domain.lost_sale import LostSale
from projections.base import Index, ReadModel, page, rows, store_scope

# at most this many parts in a page's `by_part` totals (the most lines lost first)
BY_PART = 100
COLUMNS = """id::text AS id, store_id, part_number, qty::text AS qty, reason,
             work_order_id::text AS work_order_id, customer_id::text AS customer_id, note,
             recorded_at, recorded_by, recorded_role, voided_at IS NOT NULL AS voided,
             voided_at, voided_by, void_reason"""


class LostSalesView(ReadModel):
    name = "lost_sales"
    revision = 2  # 2: voided lost sales (LostSale.Voided) marked, left out of the totals
    tables = {  # noqa: RUF012
        "lost_sales": """
            id uuid PRIMARY KEY, store_id text NOT NULL, part_number text NOT NULL,
            qty numeric NOT NULL, reason text NOT NULL, work_order_id uuid, customer_id uuid,
            note text, recorded_at timestamptz NOT NULL, recorded_by text NOT NULL,
            recorded_role text NOT NULL, voided_at timestamptz, voided_by text,
            void_reason text""",
    }
    indexes = (Index("lost_sales", "lost_sales_store_idx", "(store_id, recorded_at)"),
               Index("lost_sales", "lost_sales_part_idx", "(store_id, part_number)"))
    handles = (LostSale.Recorded, LostSale.Voided)
    pipelined = True

    def apply(self, conn: psycopg.Connection[Any], events: Sequence[tuple[int, Any]],
              suffix: str = "") -> None:
        with conn.cursor() as cur:
            for _, e in events:
                if isinstance(e, LostSale.Voided):
                    cur.execute(f"""UPDATE lost_sales{suffix} SET voided_at = %s, voided_by = %s,
                                    void_reason = %s WHERE id = %s""",
                                (e.audit.at, e.audit.user_id, e.reason, e.originator_id))
                    continue
                cur.execute(
                    f"""INSERT INTO lost_sales{suffix} (id, store_id, part_number, qty, reason,
                        work_order_id, customer_id, note, recorded_at, recorded_by,
                        recorded_role) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
                    (e.originator_id, e.store_id, e.part_number, e.qty, e.reason,
                     e.work_order_id, e.customer_id, e.note, e.audit.at, e.audit.user_id,
                     e.audit.role))


def list_lost_sales(conn: psycopg.Connection[Any], stores: Sequence[str], store_id: str, *,
                    part_number: str | None = None, reason: str | None = None,
                    days: tuple[date | None, date | None] = (None, None),
                    zone: str = "Asia/Shanghai", limit: int = 50,
                    offset: int = 0) -> dict[str, Any]:
    """The store's lost sales (of `part_number`, for `reason`, recorded on the `days` from
    and to, both included, in the time zone `zone`), the latest first, voided ones too, and
    over all of them (not only the page) but the voided the lines and quantity lost per part,
    the most lines first (at most `BY_PART` parts; `parts` counts them all)."""
    scope, params = store_scope(stores)
    clauses = [scope, "store_id = %s"]
    params.append(store_id)
    if part_number is not None:
        clauses.append("part_number = %s")
        params.append(part_number)
    if reason is not None:
        clauses.append("reason = %s")
        params.append(reason)
    for bound, op in zip(days, (">=", "<="), strict=True):
        if bound is not None:
            clauses.append(f"(recorded_at AT TIME ZONE %s)::date {op} %s")
            params += [zone, bound]
    where = " AND ".join(clauses)
    found = page(conn, f"SELECT {COLUMNS} FROM lost_sales WHERE {where}", params,
                 order_by="recorded_at DESC, id", limit=limit, offset=offset)
    totals = rows(conn, f"""
        SELECT part_number, count(*) AS lines, sum(qty)::text AS qty,
               count(*) OVER () AS parts
        FROM lost_sales WHERE {where} AND voided_at IS NULL GROUP BY part_number
        ORDER BY lines DESC, part_number LIMIT %s""", [*params, BY_PART])
    return {**found, "parts": totals[0]["parts"] if totals else 0,
            "by_part": [{k: v for k, v in row.items() if k != "parts"} for row in totals]}
