"""Money given back on a settled visit lowers the customer's spend and takes back the loyalty
points earned on it, in the save that approves the refund: for a payment return and for a
credit; points already spent leave a recorded shortfall, never a negative balance."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from domain.work_order import WorkOrder
from projections.customer_queries import TagRules, customer_360
from servicecore.container import Container
from tests.integration.support import head, load
from tests.integration.test_money_support import (
    ZONE,
    draft,
    ready_visit,
    req,
    stocked_part,
    topics_since,
    wait_for_projection,
)


def settled_visit(container: Container, store_id: str) -> tuple[UUID, UUID, str, UUID]:
    """Labor 450.00 and a part 450.00 paid in cash at once: settled, 90 points earned.
    Answers the work order, the settlement, the payment and the customer."""
    work_order_id = ready_visit(container, store_id, part=stocked_part(container, store_id))
    settlement_id = draft(container, store_id, work_order_id)
    container.settlements.confirm(req(store_id), settlement_id)
    paid = container.settlements.pay(req(store_id), work_order_id=work_order_id, method="cash",
                                     amount="900.00").body
    assert paid["settled"] is True
    customer_id = load(container.app, WorkOrder, work_order_id).customer_id
    return work_order_id, settlement_id, paid["payment_id"], customer_id


def refunded(container: Container, store_id: str, settlement_id: UUID, payment_id: str,
             amount: str, kind: str) -> list[str]:
    """A refund asked for by the cashier and approved by the manager; the approving save's
    events."""
    s = container.settlements
    refund_id = s.request_refund(req(store_id), settlement_id, payment_id=payment_id,
                                 amount=amount, reason="customer unhappy", kind=kind
                                 ).body["refund_id"]
    before = head(container.app)
    s.decide_refund(req(store_id, "manager"), settlement_id, refund_id, approve=True)
    return topics_since(container, before)


def seen(container: Container, store_id: str, customer_id: UUID) -> dict[str, Any]:
    wait_for_projection(container, "customers")
    with container.pool.connection() as conn:
        found = customer_360(conn, customer_id, [store_id], rules=TagRules(),
                             today=datetime.now(ZONE).date())
    assert found is not None
    return found


def test_a_payment_return_lowers_spend_and_takes_back_points_down_to_zero(
        container: Container, store_id: str) -> None:
    work_order_id, settlement_id, payment_id, customer_id = settled_visit(container, store_id)
    before = seen(container, store_id, customer_id)
    assert before["spend"] == {"total": "900.00", "last_12_months": "900.00"}
    assert before["points"]["balance"] == 90
    # The customer spends 80 of the 90 points on something else.
    container.customers.redeem_points(req(store_id), customer_id, 80, "PAY-SHOP")
    # 300.00 goes back: 600.00 still paid earns 60, so 30 points are due; only 10 are left.
    topics = refunded(container, store_id, settlement_id, payment_id, "300.00",
                      "payment_return")
    assert "Customer.PaymentRefunded" in topics and "Settlement.RefundApproved" in topics
    after = seen(container, store_id, customer_id)
    assert after["spend"] == {"total": "600.00", "last_12_months": "600.00"}
    assert after["points"]["balance"] == 0
    last = after["points"]["history"][0]
    assert (last["kind"], last["points"], last["shortfall"], last["amount"],
            last["reference"]) == ("taken_back", -10, 20, Decimal("300.00"),
                                   load(container.app, WorkOrder, work_order_id).number)
    visit = next(v for v in after["visits"]["items"] if v["work_order_id"] == work_order_id)
    assert (visit["customer_total"], visit["refunded"]) == (Decimal("900.00"), Decimal("300.00"))


def test_a_credit_lowers_spend_and_takes_back_its_points(container: Container,
                                                        store_id: str) -> None:
    _wo, settlement_id, payment_id, customer_id = settled_visit(container, store_id)
    # 55.00 off the settled bill as a goodwill credit: 845.00 paid earns 84 of the 90.
    topics = refunded(container, store_id, settlement_id, payment_id, "55.00", "credit")
    assert "Customer.PaymentRefunded" in topics
    after = seen(container, store_id, customer_id)
    assert after["spend"] == {"total": "845.00", "last_12_months": "845.00"}
    assert after["points"]["balance"] == 84
    assert after["points"]["history"][0]["shortfall"] == 0


def test_a_deposit_returned_before_settlement_changes_neither(container: Container,
                                                             store_id: str) -> None:
    work_order_id = ready_visit(container, store_id)  # labor 450.00
    settlement_id = draft(container, store_id, work_order_id)
    s = container.settlements
    deposit = s.pay(req(store_id), work_order_id=work_order_id, method="cash",
                    amount="100.00").body["payment_id"]
    topics = refunded(container, store_id, settlement_id, deposit, "100.00", "payment_return")
    assert "Customer.PaymentRefunded" not in topics  # nothing was earned or spent yet
    s.confirm(req(store_id), settlement_id)
    s.pay(req(store_id), work_order_id=work_order_id, method="cash", amount="450.00")
    after = seen(container, store_id, load(container.app, WorkOrder, work_order_id).customer_id)
    assert after["spend"]["total"] == "450.00" and after["points"]["balance"] == 45


def test_money_paid_again_after_a_return_restores_spend_and_points(container: Container,
                                                                   store_id: str) -> None:
    work_order_id, settlement_id, payment_id, customer_id = settled_visit(container, store_id)
    # The card was charged twice by mistake elsewhere: 300.00 goes back, then is paid again.
    refunded(container, store_id, settlement_id, payment_id, "300.00", "payment_return")
    assert seen(container, store_id, customer_id)["points"]["balance"] == 60
    before = head(container.app)
    again = container.settlements.pay(req(store_id), work_order_id=work_order_id,
                                      method="wechat_pay", amount="300.00",
                                      provider_ref="WX-AGAIN-" + store_id).body
    assert again["settled"] is True and again["bills"]["customer"]["outstanding"] == "0.00"
    assert "Customer.PaidAgain" in topics_since(container, before)
    after = seen(container, store_id, customer_id)
    # What the net money says: 900.00 paid, 90 points, as if nothing had gone back.
    assert after["spend"] == {"total": "900.00", "last_12_months": "900.00"}
    assert after["points"]["balance"] == 90
    visit = next(v for v in after["visits"]["items"] if v["work_order_id"] == work_order_id)
    assert (visit["customer_total"], visit["refunded"]) == (Decimal("900.00"), Decimal("0.00"))
    last = after["points"]["history"][0]
    assert (last["kind"], last["points"], last["amount"]) == ("given_back", 30, Decimal("300.00"))


def test_paid_again_after_points_were_spent_forgives_the_shortfall_first(
        container: Container, store_id: str) -> None:
    work_order_id, settlement_id, payment_id, customer_id = settled_visit(container, store_id)
    container.customers.redeem_points(req(store_id), customer_id, 80, "PAY-SHOP-2")
    # 300.00 back: 30 points due, 10 taken, 20 short.
    refunded(container, store_id, settlement_id, payment_id, "300.00", "payment_return")
    # Paid again: 90 earned less the 80 spent leaves 10; the 20 short were never taken.
    container.settlements.pay(req(store_id), work_order_id=work_order_id, method="cash",
                              amount="300.00")
    after = seen(container, store_id, customer_id)
    assert after["spend"]["total"] == "900.00" and after["points"]["balance"] == 10
    last = after["points"]["history"][0]
    assert (last["kind"], last["points"], last["shortfall"]) == ("given_back", 10, -20)
    # Going back again takes the 10 (and falls 20 short) exactly as the first time.
    refunded(container, store_id, settlement_id, payment_id, "300.00", "payment_return")
    again = seen(container, store_id, customer_id)
    assert again["spend"]["total"] == "600.00" and again["points"]["balance"] == 0
    assert again["points"]["history"][0]["shortfall"] == 20
