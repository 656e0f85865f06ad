"""The OEM's remittance by bank transfer is the bank's, not a drawer's: it enters no cashier's
day, so a cashier who closed their day still records it (dated by its value date, earlier than
today with no reason), the closed day's totals stay what was counted, and the books take it as
any payment (Dr bank 1002 / Cr the OEM's receivable 1123). A customer's payment still goes
into the cashier's day, which refuses it once closed. A remittance paid back by bank transfer
leaves the bank, not a drawer: no cashier's day either."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from domain.cashier_day import CashierDay, DayClosed
from domain.common import InvalidInput
from domain.settlement import Settlement
from domain.settlements import Settlements
from tests.unit.support import T0, events_stored, request
from tests.unit.test_claim_write_off import books, settled_warranty_visit
from tests.unit.test_settlement import CASHIER, MANAGER

ZERO = Decimal("0.00")


def test_a_remittance_is_recorded_after_the_cashiers_day_is_closed() -> None:
    app, wo, sid = settled_warranty_visit()  # the customer paid 450.00 cash; the OEM owes 450
    money = Settlements(app)
    closed = money.close_day(CASHIER, store_id="S01", counted_cash="450.00")
    assert closed.body["totals"] == {"cash": "450.00"}
    paid = money.pay(CASHIER, work_order_id=wo, method="bank_transfer", bill="warranty",
                     amount="300.00", provider_ref="OEM-REMIT-1")
    day = app.repository.get(CashierDay.create_id("S01", "cash-1", "2026-05-01"))
    assert isinstance(day, CashierDay) and day.closed
    assert day.totals == {"cash": Decimal("450.00")}  # the drawer counted stays as it was
    settlement, ledger, events = books(app, sid)
    assert settlement.outstanding("warranty") == Decimal("150.00")
    assert ledger.get("1002", ZERO) == Decimal("300.00") == settlement.paid("warranty")
    [taken] = [e for e in events if isinstance(e, Settlement.PaymentTaken)
               and e.payment["payment_id"] == paid.body["payment_id"]]
    assert taken.bank_receipt is True and taken.payment["business_date"] == "2026-05-01"
    # Days later, by its value date on the statement: no reason needed, no day opened for it.
    later = request("cashier", "cash-1", at=T0 + timedelta(days=3))
    money.pay(later, work_order_id=wo, method="bank_transfer", bill="warranty",
              amount="150.00", provider_ref="OEM-REMIT-2", business_date="2026-05-02")
    assert CashierDay.create_id("S01", "cash-1", "2026-05-02") not in app.repository
    assert books(app, sid)[0].outstanding("warranty") == ZERO


def test_a_remittance_corrects_no_day_and_the_customers_payment_still_waits() -> None:
    app, wo, _ = settled_warranty_visit()
    money = Settlements(app)
    money.close_day(CASHIER, store_id="S01", counted_cash="450.00")
    next_day = request("cashier", "cash-1", at=T0 + timedelta(days=1))
    before = events_stored(app)
    with pytest.raises(InvalidInput) as refused:
        money.pay(next_day, work_order_id=wo, method="bank_transfer", bill="warranty",
                  amount="100.00", provider_ref="OEM-REMIT-3", correction_of="2026-05-01",
                  reason="came in on the closed day")
    assert refused.value.extra["field"] == "correction_of"
    assert events_stored(app) == before
    # The customer's own transfer goes into the cashier's day: refused once it is closed.
    with pytest.raises(DayClosed):
        money.pay(CASHIER, work_order_id=wo, method="bank_transfer", bill="customer",
                  amount="1.00", provider_ref="CUST-1")
    assert events_stored(app) == before


def test_a_remittance_paid_back_by_bank_leaves_no_cashiers_day() -> None:
    app, wo, sid = settled_warranty_visit()
    money = Settlements(app)
    paid = money.pay(CASHIER, work_order_id=wo, method="bank_transfer", bill="warranty",
                     amount="450.00", provider_ref="OEM-REMIT-1")
    money.close_day(CASHIER, store_id="S01", counted_cash="450.00")
    # Paid back in cash it would leave the drawer: the closed day refuses it.
    by_cash = money.request_refund(CASHIER, sid, payment_id=paid.body["payment_id"],
                                   amount="20.00", reason="the OEM overpaid")
    before = events_stored(app)
    with pytest.raises(DayClosed):
        money.decide_refund(MANAGER, sid, by_cash.body["refund_id"], approve=True,
                            payout_method="cash")
    assert events_stored(app) == before
    # By bank transfer it leaves the bank: the closed day stays as counted.
    money.decide_refund(MANAGER, sid, by_cash.body["refund_id"], approve=True,
                        payout_method="bank_transfer", payout_ref="OEM-BACK-1")
    day = app.repository.get(CashierDay.create_id("S01", "cash-1", "2026-05-01"))
    assert isinstance(day, CashierDay) and day.totals == {"cash": Decimal("450.00")}
    settlement, ledger, events = books(app, sid)
    [approved] = [e for e in events if isinstance(e, Settlement.RefundApproved)]
    assert (approved.bank_refund, approved.payout_method) == (True, "bank_transfer")
    assert settlement.outstanding("warranty") == Decimal("20.00")
    assert ledger.get("1002", ZERO) == Decimal("430.00") == settlement.paid("warranty")
