"""Money of a settled visit going back and being paid again, in any order, with points spent
in between: the customer's spend and points always say what the net money says."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from uuid import UUID

from eventsourcing.domain import Snapshot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.application import ServiceCore
from domain.customer import Customer
from domain.customers import Customers
from domain.loyalty import LoyaltyRules, points_at
from domain.settlement import Settlement
from domain.settlements import Policy, Settlements
from domain.work_orders import WorkOrders
from tests.unit.support import load, on_roster
from tests.unit.test_settlement import CASHIER, MANAGER, confirmed, visit

RULES = LoyaltyRules()
STEPS = st.lists(st.tuples(st.sampled_from(["return", "credit", "pay", "redeem"]),
                           st.integers(1, 100)), max_size=12)


def settled(app: ServiceCore) -> tuple[Settlements, Customers, UUID, UUID]:
    """Labor and pads (900.00) paid in cash at once: settled, 90 points earned."""
    on_roster(app, "tech-zhao")
    money = Settlements(app, policy=Policy(loyalty=RULES))
    wo = visit(app, WorkOrders(app))
    sid = UUID(confirmed(money, wo).body["id"])
    assert money.pay(CASHIER, work_order_id=wo, method="cash", amount="900.00").body["settled"]
    return money, Customers(app, loyalty=RULES), wo, sid


def events(app: ServiceCore, stream_id: UUID) -> list[Any]:
    return list(app.events.get(stream_id))


def check(app: ServiceCore, sid: UUID, customer_id: UUID, redeemed: int) -> None:
    s: Any = app.repository.get(sid)
    customer: Any = app.repository.get(customer_id)
    assert isinstance(s, Settlement) and isinstance(customer, Customer)
    net = s.paid("customer")
    # spend: the settled bill less what went back plus what was paid again = net money
    back = sum((e.amount for e in events(app, customer_id)
                if isinstance(e, Customer.PaymentRefunded)), Decimal(0))
    again = sum((e.amount for e in events(app, customer_id)
                 if isinstance(e, Customer.PaidAgain)), Decimal(0))
    assert Decimal("900.00") - back + again == net
    # points: the earning holds what the net money earns; the balance is that less what was
    # spent (never below zero), the rest of what was spent is the shortfall
    (lot,) = customer.lots
    entitled = points_at(net, RULES.rate)
    assert lot["points"] - lot.get("taken_back", 0) == entitled
    assert lot["remaining"] == max(0, entitled - redeemed)
    assert lot.get("short", 0) == max(0, redeemed - entitled)


@settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow])
@given(STEPS)
def test_spend_and_points_follow_the_net_money_through_returns_and_payments(
        steps: list[tuple[str, int]]) -> None:
    app = ServiceCore()
    money, customers, wo, sid = settled(app)
    customer_id = load(app, wo).customer_id
    payment_ids = [next(iter(money_of(app, sid).payments))]
    redeemed = 0
    for n, (step, share) in enumerate(steps):
        s = money_of(app, sid)
        if step in ("return", "credit"):
            payment_id = max(payment_ids, key=s.refundable)
            amount = (s.refundable(payment_id) * share / 100).quantize(Decimal("0.01"))
            if amount <= 0 or (step == "credit" and amount > s.billed("customer")):
                continue
            refund_id = money.request_refund(
                CASHIER, sid, payment_id=payment_id, amount=str(amount), reason="back",
                kind="payment_return" if step == "return" else "credit").body["refund_id"]
            money.decide_refund(MANAGER, sid, refund_id, approve=True)
        elif step == "pay":
            amount = (s.outstanding("customer") * share / 100).quantize(Decimal("0.01"))
            if amount <= 0:
                continue
            paid = money.pay(CASHIER, work_order_id=wo, method="cash", amount=str(amount))
            payment_ids.append(paid.body["payment_id"])
        else:
            customer: Any = app.repository.get(customer_id)
            points = customer.points_balance(CASHIER.caller.at.date()) * share // 100
            if points <= 0:
                continue
            customers.redeem_points(CASHIER, customer_id, points, f"SHOP-{n}")
            redeemed += points
        check(app, sid, customer_id, redeemed)


def money_of(app: ServiceCore, sid: UUID) -> Settlement:
    found: Any = app.repository.get(sid)
    assert isinstance(found, Settlement)
    return found


def test_money_paid_again_on_a_customer_loaded_from_a_snapshot_taken_before_short_was_kept(
) -> None:
    app = ServiceCore()
    money, customers, wo, sid = settled(app)  # 90 points earned on 900.00
    customer_id = load(app, wo).customer_id
    customers.redeem_points(CASHIER, customer_id, 80, "SHOP-1")
    # all 900.00 goes back: 90 points are due, 10 are left to take, 80 are short
    payment_id = next(iter(money_of(app, sid).payments))
    refund_id = money.request_refund(CASHIER, sid, payment_id=payment_id, amount="900.00",
                                     reason="wrong card",
                                     kind="payment_return").body["refund_id"]
    money.decide_refund(MANAGER, sid, refund_id, approve=True)
    # The customer's snapshot as the code before 'short' was kept took it: the same lots
    # without it (the refund's shortfall only inside taken_back).
    customer: Any = app.repository.get(customer_id)
    (lot,) = customer.lots
    assert (lot["taken_back"], lot["short"], lot["remaining"]) == (90, 80, 0)
    taken = Snapshot.take(customer)
    old = {**taken.state, "lots": [{k: v for k, v in lt.items() if k != "short"}
                                   for lt in taken.state["lots"]]}
    app.snapshots.put([Snapshot(originator_id=taken.originator_id,
                                originator_version=taken.originator_version,
                                timestamp=taken.timestamp, topic=taken.topic, state=old)])
    assert Customer.outdated_snapshot(old) and not Customer.outdated_snapshot(taken.state)
    app.repository.cache = None  # a process that starts cold: loads start from the snapshot

    # The 900.00 is paid again: the earning holds 90 again by cancelling the 80 short, and
    # gives back 10 points, not 90.
    money.pay(CASHIER, work_order_id=wo, method="cash", amount="900.00")

    (again,) = [e for e in events(app, customer_id) if isinstance(e, Customer.PaidAgain)]
    assert (again.points, again.forgiven) == (10, 80)
    check(app, sid, customer_id, redeemed=80)
    reloaded: Any = app.repository.get(customer_id)
    assert reloaded.points_balance(CASHIER.caller.at.date()) == 10
