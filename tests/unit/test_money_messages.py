"""What the money topic tells downstream consumers of a remittance: the OEM's payment by bank
transfer is published as a bank receipt (`settlement.payment_taken`'s `bank_receipt`), its
return by bank as a bank refund (`settlement.refund_approved`'s `bank_refund`), so an OEM,
insurer or finance consumer tells the bank's money from a drawer's. A customer's payment and
its refund say false; no cashier's day moves for either bank event."""

from __future__ import annotations

import json
from typing import Any

from domain.application import ServiceCore
from domain.integration_events import IntegrationMapper
from domain.settlements import Settlements
from tests.unit.test_claim_write_off import settled_warranty_visit
from tests.unit.test_settlement import CASHIER, MANAGER


def published(app: ServiceCore) -> list[dict[str, Any]]:
    """Every message the relay would send, in log order (internal streams left out)."""
    mapper = IntegrationMapper(app.mapper)
    out = []
    for stored in app.recorder.select_notifications(start=1, limit=10_000):
        message = mapper.to_message(stored.id, stored)
        if message is not None:
            out.append(json.loads(message.value))
    return out


def test_a_remittance_and_its_return_by_bank_say_so_on_the_money_topic() -> None:
    app, wo, sid = settled_warranty_visit()  # the customer's 450.00 in cash
    money = Settlements(app)
    paid = money.pay(CASHIER, work_order_id=wo, method="bank_transfer", bill="warranty",
                     amount="450.00", provider_ref="OEM-REMIT-1")
    for pay_back in ({"payout_method": "bank_transfer", "payout_ref": "OEM-BACK-1"},
                     {"payout_method": "cash"}):
        asked = money.request_refund(CASHIER, sid, payment_id=paid.body["payment_id"],
                                     amount="10.00", reason="the OEM overpaid")
        money.decide_refund(MANAGER, sid, asked.body["refund_id"], approve=True, **pay_back)
    messages = published(app)
    payments = [(m["payload"]["payment"]["bill"], m["payload"]["bank_receipt"])
                for m in messages if m["type"] == "settlement.payment_taken"]
    assert payments == [("customer", False), ("warranty", True)]
    refunds = [(m["payload"]["payout_method"], m["payload"]["bank_refund"])
               for m in messages if m["type"] == "settlement.refund_approved"]
    assert refunds == [("bank_transfer", True), ("cash", False)]
    # The drawer's money alone moves a cashier's day: the customer's cash, the cash paid back.
    moved = [(m["type"], m["payload"]["method"]) for m in messages
             if m["type"] in ("cashier_day.money_in", "cashier_day.money_out")]
    assert moved == [("cashier_day.money_in", "cash"), ("cashier_day.money_out", "cash")]
