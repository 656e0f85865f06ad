"""Which settled visits' repair records (汽车维修电子健康档案) were never filed with the national
system: the regulator's question, answered from a read model.

One row per visit whose upload was ever reported (the RepairFiling stream: its status, the
system's receipt number or last error, how many uploads were reported, the last one's who and
when). The settled visits are the finance view's (`settlements`, settled and not reversed); a
visit is unfiled while it has no row here or its last upload failed.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import psycopg

from domain.repair_filing import RepairFiling
from projections.base import Index, ReadModel
from projections.waiting import Waiting, waiting


class RepairFilingsView(ReadModel):
    name = "repair_filings"
    tables = {  # noqa: RUF012
        "repair_filings": """
            filing_id uuid PRIMARY KEY, work_order_id uuid NOT NULL,
            store_id text NOT NULL, work_order_number text NOT NULL, status text NOT NULL,
            receipt_no text, last_error text, attempts integer NOT NULL,
            settlement_number text, filed_at timestamptz, changed_at timestamptz NOT NULL,
            changed_by text NOT NULL, changed_role text NOT NULL, version integer NOT NULL""",
    }
    indexes = (Index("repair_filings", "repair_filings_store_idx", "(store_id, status)"),)
    handles = (RepairFiling.Started, RepairFiling.Filed, RepairFiling.Failed,
               RepairFiling.Refiled)

    def apply(self, conn: psycopg.Connection[Any], events: Sequence[tuple[int, Any]],
              suffix: str = "") -> None:
        with conn.cursor() as cur:
            for _, e in events:
                stamp = [e.audit.at, e.audit.user_id, e.audit.role, e.originator_version]
                if isinstance(e, RepairFiling.Started):
                    cur.execute(
                        f"""INSERT INTO repair_filings{suffix} (filing_id, work_order_id,
                            store_id, work_order_number, status, attempts, changed_at,
                            changed_by, changed_role, version)
                            VALUES (%s, %s, %s, %s, 'unfiled', 0, %s, %s, %s, %s)""",
                        [e.originator_id, e.work_order_id, e.store_id, e.work_order_number,
                         *stamp])
                    continue
                if isinstance(e, RepairFiling.Failed):
                    change = "status = 'failed', last_error = %s"
                    values: list[Any] = [e.error]
                else:  # Filed or Refiled: the system holds the record under this receipt
                    change = ("status = 'filed', receipt_no = %s, last_error = NULL, "
                              "filed_at = %s")
                    values = [e.receipt_no, e.audit.at]
                cur.execute(
                    f"""UPDATE repair_filings{suffix} SET {change}, attempts = attempts + 1,
                        settlement_number = %s, changed_at = %s, changed_by = %s,
                        changed_role = %s, version = %s WHERE filing_id = %s""",
                    [*values, e.settlement_number, *stamp, e.originator_id])


# -- queries ----------------------------------------------------------------------------------

# The record on file is the settlement's as it stands: filed, and for this settlement number
# (one filed before the number was kept with it counts as this one's).
FILED_AS_SETTLED = """coalesce(f.status = 'filed' AND (f.settlement_number IS NULL
    OR f.settlement_number = s.number), false)"""

UNFILED = Waiting(
    columns="""s.work_order_id::text AS work_order_id, s.work_order_number, s.store_id,
               s.number AS settlement_number, s.settled_at,
               CASE WHEN f.status = 'filed' THEN 'stale'
                    ELSE coalesce(f.status, 'unfiled') END AS filing_status,
               f.receipt_no, f.settlement_number AS filed_settlement_number,
               f.last_error, coalesce(f.attempts, 0) AS attempts,
               f.changed_at AS last_attempt_at, f.changed_by AS last_attempt_by""",
    source="settlements s LEFT JOIN repair_filings f ON f.work_order_id = s.work_order_id",
    conditions=("s.status = 'settled'", f"NOT {FILED_AS_SETTLED}"),
    since="s.settled_at", day="settlement_date", days="days_since", store="s.store_id",
    then="s.work_order_number")


def unfiled(conn: psycopg.Connection[Any], stores: Sequence[str], *, timezone: str,
            today: date, store_id: str | None = None, older_than_days: int = 0,
            limit: int = 50, offset: int = 0) -> dict[str, Any]:
    """The settled visits of the caller's stores (or `store_id`'s) whose repair record is not
    filed — never reported, or the last upload failed, or `stale`: filed for a settlement
    since reversed, the visit settled again under another number (its record is refiled) —
    settled at least `older_than_days` days before `today` (the store's calendar), oldest
    settlement first."""
    return waiting(conn, stores, UNFILED, timezone=timezone, today=today, store_id=store_id,
                   older_than_days=older_than_days, limit=limit, offset=offset)
