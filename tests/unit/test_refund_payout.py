"""A refund's approval says how the money went out (`payout_method`, `payout_ref`), posts it
from that method's account, and refuses a payout it cannot pair on a statement; approvals and
refund matches stored before these fields read as they meant then; what auto-match may pair a
line of money out with (`refund_pairs`)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import uuid4

import pytest
from eventsourcing.persistence import StoredEvent
from hypothesis import given
from hypothesis import strategies as st

from domain.application import ServiceCore
from domain.common import Audit, DomainError, InvalidInput
from domain.reconciliation import REFUND_DAYS, Statement, refund_pairs
from domain.settlement import Settlement

CASHIER = Audit("cash-1", "cashier", "S01", datetime(2026, 5, 1, 9, tzinfo=UTC), "c1")
MANAGER = Audit("mgr-1", "manager", "S01", datetime(2026, 5, 1, 10, tzinfo=UTC), "c2")
MAPPER = ServiceCore().mapper  # as the store gives events back


def asked(method: str = "cash") -> Settlement:
    """A 300.00 deposit by `method`, 50.00 of it asked back (RF-1), not yet decided."""
    settlement = Settlement(id=uuid4(), audit=CASHIER, work_order_id=uuid4(),
                            work_order_number="WO-S01-2026-000001", customer_id=uuid4())
    settlement.take_payment(CASHIER, payment_id="P1", bill="customer", method=method,
                            amount="300.00", business_date="2026-05-01",
                            provider_ref=None if method == "cash" else "IN-1")
    settlement.request_refund(CASHIER, "RF-1", "P1", "50.00", "goodwill")
    return settlement


def test_a_refund_paid_out_by_transfer_says_its_reference_and_leaves_the_bank() -> None:
    settlement = asked("cash")
    settlement.collect_events()
    settlement.decide_refund(MANAGER, "RF-1", True, None, "2026-05-02", "bank_transfer",
                             "  ＴＲ-0001 ")
    [approved] = settlement.collect_events()
    assert isinstance(approved, Settlement.RefundApproved)
    assert (approved.payout_method, approved.payout_ref) == ("bank_transfer", "TR-0001")
    # a cash payment paid back by transfer leaves the bank (1002), not the drawer (1001)
    assert [(p["account"], p["credit"]) for p in approved.entry["postings"] if p["credit"]] == [
        ("1002", Decimal("50.00"))]
    refund = settlement.refunds["RF-1"]
    assert (refund["payout_method"], refund["payout_ref"], refund["business_date"]) == (
        "bank_transfer", "TR-0001", "2026-05-02")


def test_a_refund_approved_without_a_payout_goes_out_as_its_payment_came_in() -> None:
    settlement = asked("wechat_pay")
    settlement.decide_refund(MANAGER, "RF-1", True, None, "2026-05-02")
    refund = settlement.refunds["RF-1"]
    assert (refund["payout_method"], refund["payout_ref"]) == ("wechat_pay", None)


@pytest.mark.parametrize(("approve", "method", "ref", "field"), [
    (True, "bank_transfer", None, "payout_ref"),  # a transfer is found by its reference
    (True, "alipay", "   ", "payout_ref"),
    (True, "cheque", "CH-1", "payout_method"),
    (False, "bank_transfer", "TR-1", "payout_method"),  # a rejection pays nothing out
    (False, None, "TR-1", "payout_ref"),
])
def test_a_payout_that_cannot_be_is_refused_and_records_nothing(
        approve: bool, method: str | None, ref: str | None, field: str) -> None:
    settlement = asked()
    settlement.collect_events()
    with pytest.raises(InvalidInput) as refused:
        settlement.decide_refund(MANAGER, "RF-1", approve, "not this one", "2026-05-02",
                                 method, ref)
    assert refused.value.extra.get("field") == field
    assert settlement.collect_events() == []
    assert settlement.refunds["RF-1"]["status"] == "requested"


def test_a_cash_refund_may_say_a_reference_or_none() -> None:
    settlement = asked()
    settlement.decide_refund(MANAGER, "RF-1", True, None, "2026-05-02", "cash", None)
    assert settlement.refunds["RF-1"]["payout_method"] == "cash"


def _as_stored_before(events: list[Any], cls: type, version: int,
                      fields: tuple[str, ...]) -> list[Any]:
    """The events as an older version of `cls` stored them: without `fields`."""
    old = []
    for event in events:
        stored = MAPPER.to_stored_event(event)
        if isinstance(event, cls):
            state = json.loads(stored.state)
            if version == 1:
                state.pop("class_version")
            else:
                state["class_version"] = version
            for name in fields:
                state.pop(name)
            stored = StoredEvent(stored.originator_id, stored.originator_version, stored.topic,
                                 json.dumps(state).encode())
        old.append(MAPPER.to_domain_event(stored))
    return old


@pytest.mark.parametrize(("version", "fields"), [
    (2, ("payout_method", "payout_ref")),
    (1, ("payout_method", "payout_ref", "kind")),
])
def test_approvals_stored_before_payouts_read_as_saying_none(
        version: int, fields: tuple[str, ...]) -> None:
    settlement = asked("bank_card")
    settlement.decide_refund(MANAGER, "RF-1", True, None, "2026-05-02", "bank_transfer", "TR-9")
    old = _as_stored_before(list(settlement.collect_events()), Settlement.RefundApproved,
                            version, fields)
    approved = old[-1]
    assert (approved.payout_method, approved.payout_ref, approved.kind) == (
        None, None, "payment_return")
    replayed = None
    for event in old:
        replayed = event.mutate(replayed)
    assert isinstance(replayed, Settlement)
    # not said then: the read model pairs it as paid out by its payment's method
    assert (replayed.refunds["RF-1"]["payout_method"], replayed.refunds["RF-1"]["payout_ref"]) \
        == (None, None)


def test_refund_matches_stored_before_auto_match_read_as_by_hand() -> None:
    statement = Statement(audit=CASHIER, source="bank", account="1001", lines=[
        {"line_no": 1, "date": "2026-05-02", "amount": "-50.00", "reference": "TR-1",
         "counterparty": "王伟"}])
    statement.match_refund(CASHIER, 1, uuid4(), {"refund_id": "RF-1"}, "by transfer")
    old = _as_stored_before(list(statement.collect_events()), Statement.RefundMatched, 1,
                            ("manual",))
    assert old[-1].manual is True and old[-1].reason == "by transfer"


def test_auto_match_refuses_a_refund_that_does_not_pair_and_records_nothing() -> None:
    statement = Statement(audit=CASHIER, source="bank", account="1001", lines=[
        {"line_no": 1, "date": "2026-05-02", "amount": "-50.00", "reference": "TR-1",
         "counterparty": "王伟"},
        {"line_no": 2, "date": "2026-05-02", "amount": "50.00", "reference": "TR-2",
         "counterparty": "王伟"}])
    statement.collect_events()
    refund = {"refund_id": "RF-1", "amount": Decimal("50.00"), "payout_ref": "TR-X",
              "business_date": "2026-05-02"}
    with pytest.raises(DomainError):  # another reference
        statement.match_refund(CASHIER, 1, uuid4(), refund, None, False)
    with pytest.raises(DomainError):  # a line of money in
        statement.match_refund(CASHIER, 2, uuid4(), dict(refund, payout_ref="TR-2"), None,
                               False)
    assert statement.collect_events() == []
    why = statement.match_refund(CASHIER, 1, uuid4(), dict(refund, payout_ref="TR-1"), None,
                                 False)
    [matched] = statement.collect_events()
    assert isinstance(matched, Statement.RefundMatched)
    assert (matched.manual, matched.reason) == (False, why) and "TR-1" in why


REF = st.sampled_from(["", "TR-1", "TR-2"])
CENTS = st.integers(min_value=1, max_value=3)


@given(line_cents=CENTS, refund_cents=CENTS, line_ref=REF, payout_ref=REF,
       days=st.integers(min_value=-20, max_value=20),
       method=st.sampled_from([None, "cash", "bank_transfer"]))
def test_auto_match_pairs_only_the_amount_paid_out_by_its_reference_or_within_the_days(
        line_cents: int, refund_cents: int, line_ref: str, payout_ref: str, days: int,
        method: str | None) -> None:
    approved_on = date(2026, 5, 10)
    line = {"line_no": 1, "date": (approved_on + timedelta(days=days)).isoformat(),
            "amount": Decimal(-line_cents) / 100, "reference": line_ref}
    refund = {"refund_id": "RF-1", "amount": Decimal(refund_cents) / 100,
              "payout_ref": payout_ref or None, "business_date": approved_on.isoformat(),
              "payout_method": method}
    said = refund_pairs(line, refund)
    by_reference = bool(payout_ref) and payout_ref == line_ref
    by_date = (not (payout_ref and line_ref) and abs(days) <= REFUND_DAYS
               and method != "cash")
    assert (said is not None) == (line_cents == refund_cents and (by_reference or by_date))
