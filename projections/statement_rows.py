"""The finance view's rows of bank statements: a statement's lines as imported, each line's
match (a payment, or a refund paid out) and its explanation (a line needing no match); and the
list of statements behind `GET /reconciliation/statements`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg

from domain.reconciliation import Statement
from projections.base import page, store_scope
from projections.finance_batch import Ctx


def imported(view: Any, event: Statement.Imported, ctx: Ctx) -> None:
    ctx.run("""INSERT INTO {statements} VALUES (%s, %s, %s, %s, %s, %s)""",
            (event.originator_id, event.audit.store_id, event.source, event.account,
             event.audit.at, event.audit.user_id))
    for line in event.lines:
        ctx.run("""INSERT INTO {statement_lines} (statement_id, line_no, store_id, source,
                   date, amount, reference, counterparty) VALUES (%s, %s, %s, %s, %s, %s,
                   %s, %s)""",
                (event.originator_id, line["line_no"], event.audit.store_id, event.source,
                 line["date"], line["amount"], line["reference"], line["counterparty"]))


def matched(view: Any, event: Statement.LineMatched, ctx: Ctx) -> None:
    ctx.run("""UPDATE {statement_lines} SET payment_id = %s, settlement_id = %s, manual = %s,
               reason = %s WHERE statement_id = %s AND line_no = %s""",
            (event.payment_id, event.settlement_id, event.manual, event.reason,
             event.originator_id, event.line_no))


def refund_matched(view: Any, event: Statement.RefundMatched, ctx: Ctx) -> None:
    ctx.run("""UPDATE {statement_lines} SET refund_id = %s, settlement_id = %s, manual = %s,
               reason = %s WHERE statement_id = %s AND line_no = %s""",
            (event.refund_id, event.settlement_id, event.manual, event.reason,
             event.originator_id, event.line_no))


def match_withdrawn(view: Any,
                    event: Statement.PaymentMatchWithdrawn | Statement.RefundMatchWithdrawn,
                    ctx: Ctx) -> None:
    """A line's match to a payment or a refund taken back (a line holds one or the other)."""
    ctx.run("""UPDATE {statement_lines} SET payment_id = NULL, refund_id = NULL,
               settlement_id = NULL, manual = NULL, reason = NULL
               WHERE statement_id = %s AND line_no = %s""",
            (event.originator_id, event.line_no))


def explained(view: Any, event: Statement.LineExplained, ctx: Ctx) -> None:
    ctx.run("""UPDATE {statement_lines} SET explained_kind = %s, explained_reason = %s,
               duplicate_of = %s, explained_by = %s, explained_at = %s
               WHERE statement_id = %s AND line_no = %s""",
            (event.kind, event.reason, event.duplicate_of, event.audit.user_id,
             event.audit.at, event.originator_id, event.line_no))


def explanation_withdrawn(view: Any, event: Statement.ExplanationWithdrawn, ctx: Ctx) -> None:
    ctx.run("""UPDATE {statement_lines} SET explained_kind = NULL, explained_reason = NULL,
               duplicate_of = NULL, explained_by = NULL, explained_at = NULL
               WHERE statement_id = %s AND line_no = %s""",
            (event.originator_id, event.line_no))


# A statement's lines by state: matched (to a payment or a refund), explained, neither.
_COUNTS = """SELECT s.id, s.store_id, s.source, s.account, s.imported_at, s.imported_by,
        min(l.date) AS date_from, max(l.date) AS date_to, count(l.line_no) AS lines,
        count(l.line_no) FILTER (WHERE l.payment_id IS NOT NULL OR l.refund_id IS NOT NULL)
            AS matched,
        count(l.line_no) FILTER (WHERE l.payment_id IS NULL AND l.refund_id IS NULL
                                  AND l.explained_kind IS NOT NULL) AS explained,
        count(l.line_no) FILTER (WHERE l.payment_id IS NULL AND l.refund_id IS NULL
                                  AND l.explained_kind IS NULL) AS unmatched
    FROM statements s LEFT JOIN statement_lines l ON l.statement_id = s.id
    WHERE {where} GROUP BY s.id"""


def list_statements(conn: psycopg.Connection[Any], stores: Sequence[str], *,
                    store_id: str | None = None, status: str | None = None, limit: int,
                    offset: int) -> dict[str, Any]:
    """The imported statements, the latest imported first, each with its lines' dates and
    how many are matched, explained and unmatched (no payer: a line's counterparty stays on
    the statement's own page). `status` `open`: some line unmatched; `reconciled`: none."""
    where, params = store_scope(stores, "s.store_id")
    if store_id is not None:
        where += " AND s.store_id = %s"
        params.append(store_id)
    sql = f"SELECT * FROM ({_COUNTS.format(where=where)}) AS counted"
    if status is not None:
        sql += " WHERE unmatched > 0" if status == "open" else " WHERE unmatched = 0"
    found = page(conn, sql, params, order_by="imported_at DESC, id", limit=limit,
                 offset=offset)
    for item in found["items"]:
        item["status"] = "open" if item["unmatched"] else "reconciled"
    return found
