"""A refund approved before payout methods (and bank refunds) were said went out as its payment
came in, from its requester's day: its money row carries the payment's method and is no bank
refund, whether the approval is read as stored (a version 1 state: neither field) or upcast
(`payout_method` None, `bank_refund` false)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import duckdb
import pytest

import analytics.loader  # noqa: F401 - registers every handler
from analytics.events import Event
from analytics.fold import HANDLERS, Fold
from analytics.loader import REVISION
from analytics.tables import create

TOPIC = "domain.settlement:Settlement."


def _audit(user: str, role: str, at: str) -> dict[str, Any]:
    return {"_type_": "audit", "_data_": {
        "user_id": user, "role": role, "store_id": "S01", "at": at, "correlation_id": "c"}}


@pytest.mark.parametrize("said", [{}, {"payout_method": None, "bank_refund": False}])
def test_a_refund_approved_before_payout_methods_goes_out_as_its_payment_came_in(
        said: dict[str, Any]) -> None:
    conn = duckdb.connect()
    create(conn, REVISION)
    fold = Fold(conn)
    fold.payments["p1"] = {"method": "wechat_pay", "bill": "customer"}
    for n, (event, state) in enumerate([
            ("RefundRequested", {"refund_id": "r1", "payment_id": "p1", "reason": "overpaid",
                                 "amount": {"_type_": "decimal_str", "_data_": "20.00"},
                                 "audit": _audit("cash-1", "cashier",
                                                 "2025-05-06T07:00:00+00:00")}),
            ("RefundApproved", {"refund_id": "r1", "business_date": "2025-05-06",
                                "entry": {"postings": []}, **said,
                                "audit": _audit("mgr-1", "manager",
                                                "2025-05-06T07:10:00+00:00")})], 1):
        fold.current = n
        HANDLERS[f"Settlement.{event}"](fold, Event(n, "s1", TOPIC + event, state), n)
    fold.write()
    assert conn.execute("SELECT kind, method, amount, cashier, approved_by, bank "
                        "FROM fact_payments").fetchall() == [
        ("refund", "wechat_pay", Decimal("-20.00"), "cash-1", "mgr-1", False)]
    assert conn.execute("SELECT method, payout_method, requested_by, decided_by, bank "
                        "FROM fact_refunds").fetchall() == [
        ("wechat_pay", "wechat_pay", "cash-1", "mgr-1", False)]
