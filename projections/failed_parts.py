"""Failed-part custody (旧件管理): each tag as its last step left it, and the warranty part lines
whose removed part was never tagged.

`failed_parts`: one row per tag (the FailedPart stream: the visit and line, the part, whether
it is the causal one, where it is kept, its custody status with the OEM's references, who tagged
it and when, the last step's who and when). `failed_part_lines`: the warranty part lines as the
work orders keep them (approved, issued, withdrawn, moved to a follow-on visit), with the time
their first part was issued — when the failed one came off. The overdue list reads both: lines
untagged past the tagging window, tags held past the retention period.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import psycopg

from domain.failed_part import FailedPart
from domain.work_order import WorkOrder
from projections.base import Index, ReadModel, page, store_scope

LINE_EVENTS = (WorkOrder.LineAdded, WorkOrder.LinesCarriedOver, WorkOrder.LineAuthorized,
               WorkOrder.PartsIssued, WorkOrder.PartsReturned, WorkOrder.LineWithdrawn,
               WorkOrder.LinesMoved)
TAG_EVENTS = (FailedPart.Tagged, FailedPart.Moved, FailedPart.ReturnRequested,
              FailedPart.Shipped, FailedPart.ReceivedByOem, FailedPart.Scrapped,
              FailedPart.Lost)


class FailedPartsView(ReadModel):
    name = "failed_parts"
    tables = {  # noqa: RUF012
        "failed_parts": """
            failed_part_id uuid PRIMARY KEY, store_id text NOT NULL, tag_number text NOT NULL,
            work_order_id uuid NOT NULL, work_order_number text NOT NULL,
            line_id text NOT NULL, part_number text NOT NULL, causal boolean NOT NULL,
            location text NOT NULL, status text NOT NULL, request_ref text,
            shipment_ref text, shipped_on date, instruction_ref text, reason text,
            tagged_at timestamptz NOT NULL, tagged_by text NOT NULL,
            changed_at timestamptz NOT NULL, changed_by text NOT NULL,
            changed_role text NOT NULL, version integer NOT NULL""",
        "failed_part_lines": """
            work_order_id uuid NOT NULL, line_id text NOT NULL, store_id text NOT NULL,
            part_number text NOT NULL, status text NOT NULL, qty numeric NOT NULL,
            issued_qty numeric NOT NULL DEFAULT 0, issued_at timestamptz,
            PRIMARY KEY (work_order_id, line_id)""",
    }
    indexes = (Index("failed_parts", "failed_parts_store_idx", "(store_id, status, tagged_at)"),
               Index("failed_parts", "failed_parts_line_idx", "(work_order_id, line_id)"))
    handles = (*LINE_EVENTS, *TAG_EVENTS)

    def apply(self, conn: psycopg.Connection[Any], events: Sequence[tuple[int, Any]],
              suffix: str = "") -> None:
        with conn.cursor() as cur:
            for _, e in events:
                statements = (_line_statements(e, suffix) if isinstance(e, WorkOrder.Event)
                              else [_tag_statement(e, suffix)])
                for sql, params in statements:
                    cur.execute(sql, params)


def _line_statements(e: Any, s: str) -> list[tuple[str, Sequence[Any]]]:
    wo, at = e.originator_id, e.audit.at
    if isinstance(e, WorkOrder.LineAdded | WorkOrder.LinesCarriedOver):
        added = [e.line] if isinstance(e, WorkOrder.LineAdded) else e.lines
        sql = (f"INSERT INTO failed_part_lines{s} (work_order_id, line_id, store_id, "
               f"part_number, status, qty, issued_qty, issued_at) "
               f"VALUES (%s, %s, %s, %s, %s, %s, %s, %s)")
        return [(sql, (wo, ln["line_id"], e.audit.store_id, ln["part_number"], ln["status"],
                       ln["qty"], ln.get("issued_qty") or 0,
                       at if ln.get("issued_qty") else None))
                for ln in added if ln.get("kind") == "part" and ln.get("pay_type") == "warranty"]
    if isinstance(e, WorkOrder.LinesMoved):
        sql = (f"UPDATE failed_part_lines{s} SET status = 'moved' "
               f"WHERE work_order_id = %s AND line_id = ANY(%s)")
        return [(sql, (wo, list(e.line_ids)))]
    if isinstance(e, WorkOrder.LineAuthorized):
        change = "status = %s"
        values: tuple[Any, ...] = (e.decision,)
    elif isinstance(e, WorkOrder.PartsIssued):
        change = "issued_qty = issued_qty + %s, issued_at = coalesce(issued_at, %s)"
        values = (e.qty, at)
    elif isinstance(e, WorkOrder.PartsReturned):
        change = ("issued_qty = issued_qty - %s, "
                  "issued_at = CASE WHEN issued_qty - %s > 0 THEN issued_at END")
        values = (e.qty, e.qty)
    else:  # LineWithdrawn
        change = "qty = %s, status = CASE WHEN %s = 0 THEN 'declined' ELSE status END"
        values = (e.qty, e.qty)
    sql = f"UPDATE failed_part_lines{s} SET {change} WHERE work_order_id = %s AND line_id = %s"
    return [(sql, (*values, wo, e.line_id))]


def _tag_statement(e: Any, s: str) -> tuple[str, Sequence[Any]]:
    stamp = (e.audit.at, e.audit.user_id, e.audit.role, e.originator_version)
    if isinstance(e, FailedPart.Tagged):
        return (f"""INSERT INTO failed_parts{s} (failed_part_id, store_id, tag_number,
                    work_order_id, work_order_number, line_id, part_number, causal, location,
                    status, tagged_at, tagged_by, changed_at, changed_by, changed_role, version)
                    VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, 'held', %s, %s,
                            %s, %s, %s, %s)""",
                (e.originator_id, e.store_id, e.tag_number, e.work_order_id,
                 e.work_order_number, e.line_id, e.part_number, e.causal, e.location,
                 e.audit.at, e.audit.user_id, *stamp))
    if isinstance(e, FailedPart.Moved):
        change = "location = %s"
        values: list[Any] = [e.location]
    elif isinstance(e, FailedPart.ReturnRequested):
        change, values = "status = 'requested', request_ref = %s", [e.request_ref]
    elif isinstance(e, FailedPart.Shipped):
        change = "status = 'shipped', shipment_ref = %s, shipped_on = %s"
        values = [e.shipment_ref, e.shipped_on]
    elif isinstance(e, FailedPart.ReceivedByOem):
        change, values = "status = 'received_by_oem'", []
    elif isinstance(e, FailedPart.Scrapped):
        change = "status = 'scrapped', instruction_ref = %s, reason = %s"
        values = [e.instruction_ref, e.reason]
    else:  # Lost
        change, values = "status = 'lost', reason = %s", [e.reason]
    return (f"""UPDATE failed_parts{s} SET {change}, changed_at = %s, changed_by = %s,
                changed_role = %s, version = %s WHERE failed_part_id = %s""",
            [*values, *stamp, e.originator_id])


# -- queries ----------------------------------------------------------------------------------

COLUMNS = """failed_part_id::text AS id, store_id, tag_number, work_order_id::text
    AS work_order_id, work_order_number, line_id, part_number, causal, location, status,
    request_ref, shipment_ref, shipped_on, instruction_ref, reason, tagged_at, tagged_by,
    changed_at, changed_by, changed_role, version"""


def list_failed_parts(conn: psycopg.Connection[Any], stores: Sequence[str], *,
                      store_id: str | None = None, status: str | None = None,
                      work_order_id: str | None = None, limit: int = 50,
                      offset: int = 0) -> dict[str, Any]:
    """The tags of the caller's stores (or `store_id`'s), in custody `status`, of one visit;
    the oldest tag first."""
    scope, params = store_scope(stores)
    clauses = [scope]
    for column, value in (("store_id", store_id), ("status", status),
                          ("work_order_id", work_order_id)):
        if value is not None:
            clauses.append(f"{column} = %s")
            params.append(value)
    sql = f"SELECT {COLUMNS} FROM failed_parts WHERE {' AND '.join(clauses)}"
    return page(conn, sql, params, order_by="tagged_at, tag_number", limit=limit,
                offset=offset)


def tags_of(conn: psycopg.Connection[Any], work_order_id: str) -> list[str]:
    """The ids of a visit's failed-part streams (the claim package reads the streams)."""
    found = conn.execute("SELECT failed_part_id FROM failed_parts WHERE work_order_id = %s "
                         "ORDER BY tagged_at, tag_number", (work_order_id,)).fetchall()
    return [str(row[0]) for row in found]


def overdue(conn: psycopg.Connection[Any], stores: Sequence[str], *, now: datetime,
            tag_days: int, retention_days: int, store_id: str | None = None,
            limit: int = 50, offset: int = 0) -> dict[str, Any]:
    """What an auditor would find missing: `untagged`, a warranty part line (approved, its part
    issued) with no tag `tag_days` after its first issue; `held_too_long`, a tag still held
    (never requested, scrapped or shipped) `retention_days` after it was tagged. The oldest
    first, each with the days since."""
    line_scope, line_params = store_scope(stores, "l.store_id")
    tag_scope, tag_params = store_scope(stores, "p.store_id")
    line_where, tag_where = [line_scope], [tag_scope]
    if store_id is not None:
        line_where.append("l.store_id = %s")
        line_params.append(store_id)
        tag_where.append("p.store_id = %s")
        tag_params.append(store_id)
    sql = f"""
        SELECT 'untagged' AS kind, l.store_id, l.work_order_id::text AS work_order_id,
               w.number AS work_order_number, l.line_id, l.part_number,
               NULL::text AS failed_part_id, NULL::text AS tag_number, NULL::text AS location,
               l.issued_at AS since, extract(day FROM %s - l.issued_at)::int AS days
        FROM failed_part_lines l LEFT JOIN wo_view w ON w.id = l.work_order_id
        WHERE l.status = 'approved' AND l.issued_qty > 0 AND l.issued_at <= %s
          AND NOT EXISTS (SELECT 1 FROM failed_parts t WHERE t.work_order_id = l.work_order_id
                          AND t.line_id = l.line_id)
          AND {" AND ".join(line_where)}
        UNION ALL
        SELECT 'held_too_long', p.store_id, p.work_order_id::text, p.work_order_number,
               p.line_id, p.part_number, p.failed_part_id::text, p.tag_number, p.location,
               p.tagged_at, extract(day FROM %s - p.tagged_at)::int
        FROM failed_parts p
        WHERE p.status = 'held' AND p.tagged_at <= %s AND {" AND ".join(tag_where)}"""
    params = [now, now - timedelta(days=tag_days), *line_params,
              now, now - timedelta(days=retention_days), *tag_params]
    return page(conn, sql, params, order_by="since, work_order_number, line_id", limit=limit,
                offset=offset)
