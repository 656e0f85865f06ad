"""Parts demand: what the store's open work orders still need from the parts counter.

One row per part line of a work order that is still open (pending, approved, declined or moved
as its events left it), with the quantity the customer approved, what the store holds for it
(`reserved_qty`), what the job holds (`issued_qty`, net of returns), what came back
(`returned_qty`) and the line's `supply` as the domain last named it (`reserved`,
`back_order`, `special_order`); per work order its number, store, opening time and the promised
time of its check-in; per job its complaint, its technician once dispatched and whether it has
passed QC. A cancelled or delivered work order's rows go: nothing more is issued to it. The
parts desk (`parts_desk`, below; `GET /parts-desk`) lists the approved lines that still lack
units, with what the stock view shows available now.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg

from domain.work_order import WorkOrder
from projections.base import Index, ReadModel, page, store_scope

DESK_STATES = ("to_pick", "back_order", "special_order")
# The desk's state of a line, read from the supply the domain named: units held for it are
# to be picked; otherwise it waits for a delivery (back order) or for the part to be ordered
# for it (special order: the store held none of the part when it was approved).
STATE = "CASE d.supply WHEN 'reserved' THEN 'to_pick' ELSE d.supply END"
_ENDED = (WorkOrder.Cancelled, WorkOrder.Delivered, WorkOrder.Closed)


def _moment(text: Any) -> datetime | None:
    """The promised time as the check-in recorded it (ISO 8601 with its zone); anything else
    promised nothing the desk can read."""
    try:
        found = datetime.fromisoformat(str(text)) if text else None
    except ValueError:
        return None
    return found if found is None or found.tzinfo is not None else None


def _line_no(line_id: str) -> int:
    digits = line_id[1:]
    return int(digits) if digits.isdigit() else 0


class PartsDemandView(ReadModel):
    name = "parts_demand"
    tables = {  # noqa: RUF012
        "parts_demand_orders": """
            work_order_id uuid PRIMARY KEY, store_id text NOT NULL, number text NOT NULL,
            opened_at timestamptz NOT NULL, promised_at timestamptz""",
        "parts_demand_jobs": """
            work_order_id uuid NOT NULL, job_no integer NOT NULL, complaint text NOT NULL,
            technician_id text, passed boolean NOT NULL DEFAULT false,
            PRIMARY KEY (work_order_id, job_no)""",
        "parts_demand": """
            work_order_id uuid NOT NULL, line_id text NOT NULL, line_no integer NOT NULL,
            store_id text NOT NULL, job_no integer NOT NULL, part_number text NOT NULL,
            description text NOT NULL, unit text NOT NULL, status text NOT NULL,
            qty numeric NOT NULL, reserved_qty numeric NOT NULL DEFAULT 0,
            issued_qty numeric NOT NULL DEFAULT 0, returned_qty numeric NOT NULL DEFAULT 0,
            supply text, added_at timestamptz NOT NULL, approved_at timestamptz,
            updated_at timestamptz NOT NULL, PRIMARY KEY (work_order_id, line_id)""",
    }
    indexes = (Index("parts_demand", "parts_demand_store_idx",
                     "(store_id, part_number) WHERE status = 'approved' AND qty > issued_qty"),)
    handles = (WorkOrder.Opened, WorkOrder.CheckedIn, WorkOrder.JobAdded,
               WorkOrder.JobDispatched, WorkOrder.QualityChecked, WorkOrder.LineAdded,
               WorkOrder.LineAuthorized, WorkOrder.PartSupply, WorkOrder.PartsIssued,
               WorkOrder.PartsReturned, WorkOrder.LineWithdrawn, WorkOrder.LinesMoved,
               WorkOrder.LinesCarriedOver, *_ENDED)
    pipelined = True  # writes only: no statement waits for another's answer

    def apply(self, conn: psycopg.Connection[Any], events: Sequence[tuple[int, Any]],
              suffix: str = "") -> None:
        with conn.cursor() as cur:
            for _, e in events:
                for sql, params in self._statements(e, suffix):
                    cur.execute(sql, params)

    @staticmethod
    def _statements(e: Any, s: str) -> list[tuple[str, Sequence[Any]]]:
        wo, at = e.originator_id, e.audit.at
        if isinstance(e, WorkOrder.Opened):
            order = (f"INSERT INTO parts_demand_orders{s} (work_order_id, store_id, number, "
                     f"opened_at) VALUES (%s, %s, %s, %s)")
            job = (f"INSERT INTO parts_demand_jobs{s} (work_order_id, job_no, complaint) "
                   f"VALUES (%s, %s, %s)")
            return [(order, (wo, e.audit.store_id, e.number, at)),
                    *((job, (wo, n, complaint)) for n, complaint in enumerate(e.complaints, 1))]
        if isinstance(e, WorkOrder.CheckedIn):
            sql = f"UPDATE parts_demand_orders{s} SET promised_at = %s WHERE work_order_id = %s"
            return [(sql, (_moment(e.details.get("promised_at")), wo))]
        if isinstance(e, WorkOrder.JobAdded):
            sql = (f"INSERT INTO parts_demand_jobs{s} (work_order_id, job_no, complaint) "
                   f"SELECT %s, coalesce(max(job_no), 0) + 1, %s FROM parts_demand_jobs{s} "
                   f"WHERE work_order_id = %s")
            return [(sql, (wo, e.complaint, wo))]
        job = " WHERE work_order_id = %s AND job_no = %s"
        if isinstance(e, WorkOrder.JobDispatched):
            sql = f"UPDATE parts_demand_jobs{s} SET technician_id = %s" + job
            return [(sql, (e.technician_id, wo, e.job_no))]
        if isinstance(e, WorkOrder.QualityChecked):
            return [(f"UPDATE parts_demand_jobs{s} SET passed = %s" + job,
                     (e.passed, wo, e.job_no))]
        if isinstance(e, WorkOrder.LineAdded | WorkOrder.LinesCarriedOver):
            added = [e.line] if isinstance(e, WorkOrder.LineAdded) else e.lines
            return [_insert_line(wo, e.audit.store_id, at, part, s)
                    for part in added if part.get("kind") == "part"]
        if isinstance(e, WorkOrder.LineAuthorized):
            change = ("status = %s, "
                      "approved_at = CASE WHEN %s THEN %s ELSE approved_at END")
            values: tuple[Any, ...] = (e.decision, e.decision == "approved", at)
        elif isinstance(e, WorkOrder.PartSupply):
            change, values = "supply = %s, reserved_qty = %s", (e.supply, e.reserved_qty)
        elif isinstance(e, WorkOrder.PartsIssued):
            change = ("issued_qty = issued_qty + %s, "
                      "reserved_qty = greatest(0, reserved_qty - %s)")
            values = (e.qty, e.qty)
        elif isinstance(e, WorkOrder.PartsReturned):
            change = "issued_qty = issued_qty - %s, returned_qty = returned_qty + %s"
            values = (e.qty, e.qty)
        elif isinstance(e, WorkOrder.LineWithdrawn):
            change = ("qty = %s, reserved_qty = 0, "
                      "status = CASE WHEN %s = 0 THEN 'declined' ELSE status END")
            values = (e.qty, e.qty)
        elif isinstance(e, WorkOrder.LinesMoved):
            sql = (f"UPDATE parts_demand{s} SET updated_at = %s, status = 'moved', "
                   f"reserved_qty = 0 WHERE work_order_id = %s AND line_id = ANY(%s)")
            return [(sql, (at, wo, list(e.line_ids)))]
        else:
            # cancelled, delivered or closed: nothing more is issued to it
            return [(f"DELETE FROM {table}{s} WHERE work_order_id = %s", (wo,))
                    for table in ("parts_demand", "parts_demand_jobs", "parts_demand_orders")]
        sql = (f"UPDATE parts_demand{s} SET updated_at = %s, {change} "
               f"WHERE work_order_id = %s AND line_id = %s")
        return [(sql, (at, *values, wo, e.line_id))]


def _insert_line(wo: UUID, store_id: str, at: Any, part: dict[str, Any],
                 s: str) -> tuple[str, Sequence[Any]]:
    """A part line as added, or as carried over to a follow-on work order (approved and
    back-ordered there, approved when the customer approved it on the first visit)."""
    approved = (part.get("authorization") or {}).get("at") if part["status"] == "approved" else None
    return (f"""INSERT INTO parts_demand{s} (work_order_id, line_id, line_no, store_id, job_no,
                part_number, description, unit, status, qty, reserved_qty, issued_qty,
                supply, added_at, approved_at, updated_at)
                VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,
                        coalesce(%s::timestamptz, CASE WHEN %s THEN %s END), %s)""",
            (wo, part["line_id"], _line_no(part["line_id"]), store_id, part["job_no"],
             part["part_number"], part["description"], part["unit"], part["status"],
             part["qty"], part.get("reserved_qty") or 0, part.get("issued_qty") or 0,
             part.get("supply"), at, approved, part["status"] == "approved", at, at))


# -- the parts desk ---------------------------------------------------------------------------

def parts_desk(conn: psycopg.Connection[Any], stores: Sequence[str], *,
               store_id: str | None = None, state: str | None = None,
               part_number: str | None = None, limit: int = 50,
               offset: int = 0) -> dict[str, Any]:
    """The approved part lines of the caller's stores' (or `store_id`'s) open work orders that
    still lack units and whose job has not passed QC (a job past QC takes no more issues: its
    rest is withdrawn at the desk), in `state` (`to_pick`, `back_order`, `special_order`),
    of `part_number`; the longest waiting first. Each with the car's `plate` (the work-order
    view's, as the dispatch board shows it) and what the stock view shows available
    now: `covered_now` when what the line holds and what is free cover what it lacks,
    `covered_in_turn` when what is free also covers the older lines of the part waiting
    without units held (served oldest first)."""
    scope, params = store_scope(stores, "d.store_id")
    clauses = [scope]
    if store_id is not None:
        clauses.append("d.store_id = %s")
        params.append(store_id)
    if part_number is not None:
        clauses.append("d.part_number = %s")
        params.append(part_number)
    waiting = f"""
        SELECT d.*, o.number, o.opened_at, o.promised_at, j.complaint, j.technician_id,
               {STATE} AS state, d.qty - d.issued_qty AS outstanding,
               greatest(coalesce(s.on_hand - s.reserved, 0), 0) AS available
        FROM parts_demand d
        JOIN parts_demand_orders o ON o.work_order_id = d.work_order_id
        JOIN parts_demand_jobs j ON j.work_order_id = d.work_order_id AND j.job_no = d.job_no
        LEFT JOIN stock s ON s.store_id = d.store_id AND s.part_number = d.part_number
        WHERE d.status = 'approved' AND d.qty > d.issued_qty AND NOT j.passed
          AND {" AND ".join(clauses)}"""
    ranked = f"""
        SELECT w.*, sum(CASE WHEN w.state = 'to_pick' THEN 0 ELSE w.outstanding END) OVER (
                   PARTITION BY w.store_id, w.part_number
                   ORDER BY w.approved_at, w.number, w.line_no ROWS UNBOUNDED PRECEDING)
               AS queued
        FROM ({waiting}) AS w"""
    chosen = "TRUE"
    if state is not None:
        chosen = "r.state = %s"
        params.append(state)
    sql = f"""
        SELECT r.work_order_id::text AS work_order_id, r.number AS work_order_number,
               r.store_id, r.line_id, r.job_no, r.complaint AS job, r.part_number,
               r.description, r.unit, r.state, r.supply, r.qty::text AS approved_qty,
               r.reserved_qty::text AS reserved_qty, r.issued_qty::text AS issued_qty,
               r.returned_qty::text AS returned_qty, r.outstanding::text AS outstanding_qty,
               r.available::text AS available_now,
               r.reserved_qty + r.available >= r.outstanding AS covered_now,
               CASE WHEN r.state = 'to_pick' THEN r.reserved_qty + r.available >= r.outstanding
                    ELSE r.available >= r.queued END AS covered_in_turn,
               w.plate, r.technician_id, t.name AS technician_name, r.promised_at,
               r.opened_at, r.approved_at, r.updated_at,
               floor(extract(epoch FROM now() - r.approved_at) / 3600)::bigint AS waiting_hours,
               floor(extract(epoch FROM now() - r.opened_at) / 3600)::bigint
                   AS work_order_age_hours
        FROM ({ranked}) AS r
        LEFT JOIN technicians t ON t.user_id = r.technician_id
        LEFT JOIN wo_view w ON w.id = r.work_order_id
        WHERE {chosen}"""
    return page(conn, sql, params,
                order_by="approved_at, work_order_number, r.line_no", limit=limit,
                offset=offset)
