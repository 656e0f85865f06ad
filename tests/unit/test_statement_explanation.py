"""A statement line explained, and the explanation withdrawn, on the aggregate (and a line's
match taken back): what each event keeps and what its integration message carries."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import pytest

from domain.common import Audit, IllegalTransition, InvalidInput, NotPermitted
from domain.integration_payloads import PAYLOADS
from domain.reconciliation import Statement
from domain.settlement import Settlement

FINANCE = Audit("fin-1", "finance", "S01", datetime(2026, 5, 31, 9, tzinfo=UTC), "corr")
MANAGER = Audit("mgr-1", "manager", "S01", datetime(2026, 5, 31, 10, tzinfo=UTC), "corr")
LINES = [{"line_no": 1, "date": "2026-05-01", "amount": "1010.00", "reference": "R1",
          "counterparty": "赵敏"},
         {"line_no": 2, "date": "2026-05-01", "amount": "1010.00", "reference": "R1",
          "counterparty": "赵敏"}]


def test_an_explanation_and_its_withdrawal_are_events_published_without_the_payer() -> None:
    statement = Statement(audit=FINANCE, source="bank", account="工行 1001", lines=LINES)
    statement.explain(FINANCE, 2, "duplicate", " printed twice ", duplicate_of=1)
    with pytest.raises(IllegalTransition):
        statement.explain(FINANCE, 2, "other", "again")
    with pytest.raises(NotPermitted):
        statement.withdraw_explanation(FINANCE, 2, "wrong line")
    statement.withdraw_explanation(MANAGER, 2, "line 1 is the copy")
    assert statement.lines[2]["explained"] is None
    _, explained, withdrawn = statement.collect_events()
    assert isinstance(explained, Statement.LineExplained)
    assert PAYLOADS["Statement"]["LineExplained"](explained) == {
        "line_no": 2, "kind": "duplicate", "reason": "printed twice", "duplicate_of": 1}
    assert PAYLOADS["Statement"]["ExplanationWithdrawn"](withdrawn) == {
        "line_no": 2, "reason": "line 1 is the copy"}


def test_a_refund_matched_to_a_line_of_money_out_is_published_with_its_reason() -> None:
    settlement_id = uuid4()
    statement = Statement(audit=FINANCE, source="bank", account="工行 1001", lines=[
        {**LINES[0], "amount": "-50.00"}, LINES[1]])
    with pytest.raises(InvalidInput):  # money in is no refund
        statement.match_refund(FINANCE, 2, settlement_id, {"refund_id": "RF-1"}, "refund")
    statement.match_refund(FINANCE, 1, settlement_id, {"refund_id": "RF-1"}, " by transfer ")
    with pytest.raises(IllegalTransition):
        statement.explain(FINANCE, 1, "other", "matched already")
    _, matched = statement.collect_events()
    assert PAYLOADS["Statement"]["RefundMatched"](matched) == {
        "line_no": 1, "settlement_id": settlement_id, "refund_id": "RF-1",
        "reason": "by transfer", "manual": True}


def test_a_payment_match_taken_back_is_published_on_both_sides_with_its_reason() -> None:
    settlement_id, statement_id = uuid4(), uuid4()
    statement = Statement(audit=FINANCE, source="bank", account="工行 1001", lines=LINES)
    payment = {"payment_id": "P-1", "amount": "1010.00", "provider_ref": "R1"}
    statement.match(FINANCE, 2, settlement_id, payment, False, None)
    with pytest.raises(IllegalTransition):  # line 1 holds no payment
        statement.withdraw_payment_match(MANAGER, 1, "wrong line")
    with pytest.raises(NotPermitted):
        statement.withdraw_payment_match(FINANCE, 2, "wrong line")
    assert statement.withdraw_payment_match(MANAGER, 2, " line 1 is the transfer ") == {
        "settlement_id": str(settlement_id), "payment_id": "P-1"}
    assert statement.lines[2]["match"] is None
    *_, withdrawn = statement.collect_events()
    assert PAYLOADS["Statement"]["PaymentMatchWithdrawn"](withdrawn) == {
        "line_no": 2, "settlement_id": settlement_id, "payment_id": "P-1",
        "reason": "line 1 is the transfer"}
    theirs = Settlement.PaymentReconciliationWithdrawn(
        originator_id=settlement_id, originator_version=9, timestamp=MANAGER.at, audit=MANAGER,
        payment_id="P-1", statement_id=statement_id, line_no=2, reason="line 1 is the transfer")
    assert PAYLOADS["Settlement"]["PaymentReconciliationWithdrawn"](theirs) == {
        "payment_id": "P-1", "statement_id": statement_id, "line_no": 2,
        "reason": "line 1 is the transfer"}
