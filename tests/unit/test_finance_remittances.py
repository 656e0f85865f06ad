"""The finance desk records the OEM's and insurers' remittances from the bank's statement, and
asks to pay an overpaid one back by bank: the bank's money, never a drawer's. A payment into a
drawer (cash, a card, the customer's own transfer) and a refund of one are refused to it,
with nothing stored, and a refund it asked for goes back by bank transfer or not at all."""

from __future__ import annotations

from decimal import Decimal

import pytest

from domain.cashier_day import CashierDay
from domain.common import InvalidInput, NotPermitted
from domain.settlement import Settlement
from domain.settlements import Settlements
from tests.unit.support import events_stored, request
from tests.unit.test_claim_write_off import books, settled_warranty_visit
from tests.unit.test_settlement import MANAGER

FINANCE = request("finance", "fin-1")


def test_the_finance_desk_records_a_remittance_in_no_cashiers_day() -> None:
    app, wo, sid = settled_warranty_visit()  # the OEM owes 450.00
    money = Settlements(app)
    paid = money.pay(FINANCE, work_order_id=wo, method="bank_transfer", bill="warranty",
                     amount="450.00", provider_ref="OEM-REMIT-1")
    settlement, ledger, events = books(app, sid)
    [taken] = [e for e in events if isinstance(e, Settlement.PaymentTaken)
               and e.payment["payment_id"] == paid.body["payment_id"]]
    assert (taken.bank_receipt, taken.payment["cashier"], taken.audit.role) == (
        True, "fin-1", "finance")
    assert settlement.outstanding("warranty") == Decimal("0.00")
    assert ledger["1002"] == Decimal("450.00")
    assert CashierDay.create_id("S01", "fin-1", "2026-05-01") not in app.repository


@pytest.mark.parametrize(("bill", "method", "extra"), [
    ("warranty", "cash", {}),
    ("customer", "bank_transfer", {"provider_ref": "CUST-1"}),  # the customer's, at the desk
    ("warranty", "bank_card", {"provider_ref": "POS-1"}),
])
def test_the_finance_desk_takes_no_money_into_a_drawer(bill: str, method: str,
                                                        extra: dict[str, str]) -> None:
    app, wo, _ = settled_warranty_visit()
    money = Settlements(app)
    before = events_stored(app)
    with pytest.raises(NotPermitted) as refused:
        money.pay(FINANCE, work_order_id=wo, method=method, bill=bill, amount="1.00", **extra)
    assert refused.value.extra["field"] == "method"
    assert events_stored(app) == before


def test_the_finance_desk_asks_back_a_remittance_which_goes_back_by_bank_alone() -> None:
    app, wo, sid = settled_warranty_visit()
    money = Settlements(app)
    cash = next(iter(books(app, sid)[0].payments))  # the customer's 450.00 in cash
    remitted = money.pay(FINANCE, work_order_id=wo, method="bank_transfer", bill="warranty",
                         amount="450.00", provider_ref="OEM-REMIT-1").body["payment_id"]
    before = events_stored(app)
    with pytest.raises(NotPermitted) as refused:  # the drawer's money is the cashier's
        money.request_refund(FINANCE, sid, payment_id=cash, amount="10.00", reason="overpaid")
    assert refused.value.extra["field"] == "payment_id"
    assert events_stored(app) == before
    asked = money.request_refund(FINANCE, sid, payment_id=remitted, amount="30.00",
                                 reason="the OEM overpaid")
    refund_id = asked.body["refund_id"]
    before = events_stored(app)
    with pytest.raises(InvalidInput) as by_cash:  # the finance desk has no drawer
        money.decide_refund(MANAGER, sid, refund_id, approve=True, payout_method="cash")
    assert by_cash.value.extra["field"] == "payout_method"
    assert events_stored(app) == before
    money.decide_refund(MANAGER, sid, refund_id, approve=True, payout_ref="OEM-BACK-1")
    settlement, ledger, events = books(app, sid)
    [approved] = [e for e in events if isinstance(e, Settlement.RefundApproved)]
    assert (approved.bank_refund, approved.payout_method) == (True, "bank_transfer")
    assert settlement.outstanding("warranty") == Decimal("30.00")
    assert ledger["1002"] == Decimal("420.00")
    assert CashierDay.create_id("S01", "fin-1", "2026-05-01") not in app.repository
