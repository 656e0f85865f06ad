"""A bank statement as it stood at a moment (`GET /reconciliation/statements/{id}?as_of=`): its
lines as imported, and each line's match (a payment, a refund paid out) and explanation then,
folded from the statement's own stream up to the moment (`projections.audit.folded_as_of`, as
every `as_of` read) into the rows the finance view keeps (projections/statement_rows.py).

Which line was reconciled when the month was closed, and by whom; what was still open?

The books' side of the page — the store's payments and refunds of the statement's dates that
no statement had matched then — is not replayed: it is every payment and refund of those days,
each a settlement's stream, and whether any statement of the store matched it then, each
statement a stream too. The answer says null there rather than show today's."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import psycopg

from domain.application import ServiceCore
from domain.reconciliation import Statement
from projections.audit import folded_as_of
from projections.finance_queries import shown, sort_lines

NO_MATCH = {"payment_id": None, "refund_id": None, "settlement_id": None, "manual": None,
            "reason": None}
NO_EXPLANATION = {"explained_kind": None, "explained_reason": None, "duplicate_of": None,
                  "explained_by": None, "explained_at": None}
NOT_REPLAYED = {"unmatched_payments": None, "unmatched_payments_count": None,
                "unmatched_refunds": None, "unmatched_refunds_count": None}


def _imported(e: Statement.Imported) -> dict[str, Any]:
    return {"id": e.originator_id, "store_id": e.audit.store_id, "source": e.source,
            "account": e.account, "imported_at": e.audit.at, "imported_by": e.audit.user_id,
            "lines": {int(ln["line_no"]): {
                "statement_id": e.originator_id, "line_no": int(ln["line_no"]),
                "store_id": e.audit.store_id, "source": e.source,
                "date": date.fromisoformat(str(ln["date"])),
                "amount": Decimal(str(ln["amount"])), "reference": ln["reference"],
                "counterparty": ln["counterparty"], **NO_MATCH, **NO_EXPLANATION}
                for ln in e.lines}}


def _line_change(e: Statement.Event) -> dict[str, Any]:
    if isinstance(e, Statement.LineMatched):
        return {"payment_id": e.payment_id, "settlement_id": e.settlement_id,
                "manual": e.manual, "reason": e.reason}
    if isinstance(e, Statement.RefundMatched):
        return {"refund_id": e.refund_id, "settlement_id": e.settlement_id,
                "manual": e.manual, "reason": e.reason}
    if isinstance(e, Statement.LineExplained):
        return {"explained_kind": e.kind, "explained_reason": e.reason,
                "duplicate_of": e.duplicate_of, "explained_by": e.audit.user_id,
                "explained_at": e.audit.at}
    if isinstance(e, Statement.ExplanationWithdrawn):
        return NO_EXPLANATION
    assert isinstance(e, Statement.PaymentMatchWithdrawn | Statement.RefundMatchWithdrawn)
    return NO_MATCH


def statement_doc(doc: dict[str, Any] | None, e: Statement.Event) -> dict[str, Any]:
    if isinstance(e, Statement.Imported):
        return _imported(e)
    assert doc is not None
    line_no = int(e.line_no)  # type: ignore[attr-defined]
    return {**doc, "lines": {**doc["lines"],
                             line_no: {**doc["lines"][line_no], **_line_change(e)}}}


def statement_as_of(app: ServiceCore, conn: psycopg.Connection[Any], statement_id: UUID,
                    at: datetime) -> dict[str, Any] | None:
    """The statement at `at`, its lines by state as the statement's page shows them; None
    before it was imported."""
    doc = folded_as_of(app, statement_id, at, Statement.Event, statement_doc)
    if doc is None:
        return None
    lines = [doc["lines"][n] for n in sorted(doc["lines"])]
    answer = {k: v for k, v in doc.items() if k != "lines"}
    sort_lines(conn, answer, lines)
    return shown({**answer, **NOT_REPLAYED, "as_of": at.isoformat()})
