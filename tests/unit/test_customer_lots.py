"""A long-lived customer's loyalty lots, in memory: the customer holds its live lots and its
last used-up ones, whatever the years of visits; an older earning goes to its own stream and
comes back, exactly as it was, when a refund or money paid again changes it."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.domain import Snapshot

from domain import customer_lots
from domain.application import ServiceCore
from domain.customer import Customer, CustomerError
from domain.customer_lots import KEEP_REDEMPTIONS, KEEP_USED_UP, EarnedLot, lot_back
from domain.customers import Customers
from domain.loyalty import LoyaltyRules
from domain.session import Decision, Session
from tests.unit.support import T0, request
from tests.unit.test_customers import SHANGHAI, customer, stored


def visits(app: ServiceCore, n: int) -> UUID:
    """WO-0 earns 90 points; then `n` visits each earn 10 and every point is spent."""
    cid = customer(app)
    customers = Customers(app)
    customers.earn_points(request("cashier"), cid, "900.00", "WO-0")
    for i in range(1, n + 1):
        customers.earn_points(request("cashier"), cid, "100.00", f"WO-{i}")
        balance = stored(app, cid).points_balance(T0.astimezone(SHANGHAI).date())
        customers.redeem_points(request("cashier"), cid, balance, f"PAY-{i}")
    return cid


def held(app: ServiceCore, cid: UUID) -> tuple[int, int, int]:
    """(lots the customer holds, and scans for a balance; redemptions it holds; the size of
    its snapshot's state as the event store would store it, in bytes)."""
    customer = stored(app, cid)
    state = app.mapper.to_stored_event(Snapshot.take(customer)).state
    return len(customer.lots), len(customer.redemptions), len(state)


def test_the_customer_holds_as_much_after_100_visits_as_after_30() -> None:
    small, large = ServiceCore(), ServiceCore()
    (lots, redemptions, few_bytes), (more_lots, more_redemptions, many_bytes) = (
        held(small, visits(small, 30)), held(large, visits(large, 100)))
    # before: 31 and 101 lots, 30 and 100 redemptions, 9,489 and 29,301 bytes
    assert lots == more_lots == KEEP_USED_UP
    assert redemptions == more_redemptions == KEEP_REDEMPTIONS
    assert many_bytes - few_bytes <= 2 * KEEP_USED_UP  # a longer reference each at most


def test_a_redemption_gone_out_of_the_customer_is_refused_again() -> None:
    app = ServiceCore()
    cid = visits(app, 25)
    assert "PAY-1" not in stored(app, cid).redemptions
    Customers(app).earn_points(request("cashier"), cid, "100.00", "WO-26")
    with pytest.raises(CustomerError, match="already redeemed for PAY-1"):
        Customers(app).redeem_points(request("cashier"), cid, 5, "PAY-1")
    assert Customers(app).redeem_points(request("cashier"), cid, 5, "PAY-26").body[
        "points"] == 5


def refund_and_pay_again(app: ServiceCore, cid: UUID) -> dict[str, Any]:
    """300.00 of WO-0 back, then 200.00 of it paid again, each in a command's own save."""
    rules, found = LoyaltyRules(), dict[str, Any]()

    def refund(session: Session) -> Decision:
        c = session.get(Customer, cid)
        lot_back(session, c, "WO-0")
        found["refund"] = c.refunded(session.audit("S01"), rules, "RF-1", UUID(int=1), "WO-0",
                                     Decimal("300.00"), "payment_return",
                                     session.caller.at.date())
        return Decision(c)

    def pay_again(session: Session) -> Decision:
        c = session.get(Customer, cid)
        lot_back(session, c, "WO-0")
        found["again"] = c.paid_again(session.audit("S01"), rules, "PAY-X", UUID(int=1),
                                      "WO-0", Decimal("200.00"))
        return Decision(c)

    app.execute(request("cashier"), refund)
    app.execute(request("cashier"), pay_again)
    c = stored(app, cid)
    lot = c.earned("WO-0")
    if lot is None:  # out again, used up
        out: Any = app.repository.get(EarnedLot.create_id(cid, "WO-0"))
        lot = out.lot
    return {**found, "lot": {k: str(v) for k, v in lot.items()},
            "balance": c.points_balance(T0.astimezone(SHANGHAI).date())}


def test_an_earning_out_of_the_customer_is_refunded_and_paid_again_as_if_held(
        monkeypatch: pytest.MonkeyPatch) -> None:
    archived = ServiceCore()
    cid = visits(archived, 25)
    assert stored(archived, cid).earned("WO-0") is None  # out, in its own stream
    with_out = refund_and_pay_again(archived, cid)
    monkeypatch.setattr(customer_lots, "KEEP_USED_UP", 1_000)
    held = ServiceCore()
    cid = visits(held, 25)
    assert stored(held, cid).earned("WO-0") is not None
    assert with_out == refund_and_pay_again(held, cid)
    assert with_out["refund"] == {"points": 0, "shortfall": 30}
    assert with_out["again"] == {"points": 0, "forgiven": 20}


def test_a_second_earning_of_an_archived_visit_is_a_duplicate() -> None:
    app = ServiceCore()
    cid = visits(app, 25)
    answer = Customers(app).earn_points(request("cashier"), cid, "900.00", "WO-0").body
    assert answer["duplicate"] is True and answer["points"] == 90


def test_a_customer_stored_with_every_lot_loads_and_sends_them_out_on_its_next_save(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Stored as before: every used-up lot in the customer, in its snapshot (taken every 100
    # events) and its cached copy.
    monkeypatch.setattr(customer_lots, "KEEP_USED_UP", 1_000)
    monkeypatch.setattr(customer_lots, "KEEP_REDEMPTIONS", 1_000)
    app = ServiceCore()
    cid = visits(app, 60)
    assert len(stored(app, cid).lots) == 61
    assert app.snapshots is not None and list(app.snapshots.get(cid))
    monkeypatch.undo()
    app.repository.cache = None  # as a new process: from the snapshot and the events after
    assert len(stored(app, cid).lots) == 61  # the old shape loads as it was
    Customers(app).earn_points(request("cashier"), cid, "100.00", "WO-61")
    assert len(stored(app, cid).lots) == KEEP_USED_UP + 1  # the live one and the last 20
    assert len(stored(app, cid).redemptions) == KEEP_REDEMPTIONS
    assert refund_and_pay_again(app, cid)["refund"] == {"points": 10, "shortfall": 20}
