"""What the cashier meant is said, not assumed: a refund on a settled visit that would leave the
customer owing names its kind; a refund of money the bill does not ask for keeps the default; a
second import of a statement names the day it was first imported in the store's time zone."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

import pytest

from domain.application import ServiceCore
from domain.common import InvalidInput
from domain.reconciliation import StatementAlreadyImported
from domain.settlements import Settlements
from domain.work_orders import WorkOrders
from tests.unit.support import events_stored, request
from tests.unit.test_settlement import (
    CASHIER,
    MANAGER,
    STATEMENT,
    settlement_of,
    visit,
)


def test_a_refund_says_its_kind_where_a_payment_return_would_leave_the_customer_owing(
        app: ServiceCore, wos: WorkOrders, money: Settlements) -> None:
    # Before settlement the default is harmless: a deposit of 900.00, the bill drafted with a
    # 20.00 discount, the 20.00 too much goes back as a payment return without saying so.
    wo = visit(app, wos, deposit=(money, "900.00"))
    sid = UUID(money.draft(CASHIER, wo).body["id"])
    money.discount(CASHIER, sid, bill="customer", amount="20.00", reason="member's discount")
    deposit = next(iter(settlement_of(app, wo).payments))
    back = money.request_refund(CASHIER, sid, payment_id=deposit, amount="20.00",
                                reason="deposit above the bill")
    assert back.body["kind"] == "payment_return"
    money.decide_refund(MANAGER, sid, back.body["refund_id"], approve=True)
    assert money.confirm(CASHIER, sid).body["status"] == "settled"

    # Settled, a payment return re-opens the customer's balance: the kind is said.
    before = events_stored(app)
    with pytest.raises(InvalidInput) as unsaid:
        money.request_refund(CASHIER, sid, payment_id=deposit, amount="400.00",
                             reason="customer unhappy with the wait")
    assert unsaid.value.extra["field"] == "kind"
    assert unsaid.value.extra["owed_after_return"] == "400.00"
    assert {"payment_return", "credit"} <= unsaid.value.extra["kinds"].keys()
    assert "payment_return" in unsaid.value.detail and "credit" in unsaid.value.detail
    assert events_stored(app) == before  # nothing stored

    # Said, either kind is taken as asked.
    credit = money.request_refund(CASHIER, sid, payment_id=deposit, amount="400.00",
                                  reason="customer unhappy with the wait", kind="credit")
    assert credit.body["kind"] == "credit"
    returned = money.request_refund(CASHIER, sid, payment_id=deposit, amount="10.00",
                                    reason="charged twice for the wash", kind="payment_return")
    assert returned.body["kind"] == "payment_return"


def test_a_second_import_names_the_first_days_date_in_the_stores_time_zone(
        app: ServiceCore, money: Settlements) -> None:
    # 17:30 in UTC on 1 May is 01:30 on 2 May in Shanghai: the store's day is the 2nd.
    finance = request("finance", "fin-1", at=datetime(2026, 5, 1, 17, 30, tzinfo=UTC))
    first = money.import_statement(finance, store_id="S01", source="wechat_pay",
                                   account="WX merchant", csv_text=STATEMENT)
    with pytest.raises(StatementAlreadyImported) as again:
        money.import_statement(finance, store_id="S01", source="wechat_pay",
                               account="WX merchant", csv_text=STATEMENT)
    assert "imported on 2026-05-02 " in again.value.detail
    assert again.value.extra["imported_on"] == "2026-05-02"
    assert again.value.extra["statement_id"] == first.body["id"]
