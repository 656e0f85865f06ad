"""Charge to account (挂账), in memory: a fleet customer's visits charged to their account and
paid later, in any order. The account's balance is always the charges less the payments on
them, never above the limit when a charge is taken, never below zero; every entry balances and
customer receivable (1122) holds exactly the account's balance."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import domain.settlements as settlements_module
from domain.account_open import open_on_account
from domain.application import ServiceCore
from domain.common import DomainError, IllegalTransition, NotPermitted
from domain.customer import Customer
from domain.ledger import balances
from domain.on_account import CreditLimitExceeded, NoCreditTerms, OnAccount
from domain.settlement import Settlement
from domain.settlements import Settlements
from domain.work_orders import WorkOrders
from tests.unit.support import (
    CUSTOMER,
    VEHICLE,
    clerk,
    events_stored,
    labor,
    load,
    on_roster,
    part,
    request,
    stock_part,
)
from tests.unit.test_settlement import CASHIER, MANAGER, TECH

BILL = Decimal("900.00")  # 1.5 h of brake labor and a set of pads, the customer's
VISITS = 3


def ready_visit(app: ServiceCore, wos: WorkOrders, customer_id: UUID | None = None) -> UUID:
    """A visit of the customer (a new one without `customer_id`) ready for settlement."""
    wo = UUID(wos.open(request(), store_id="S01", customer=dict(CUSTOMER),
                       vehicle=dict(VEHICLE), mileage=42_000, complaints=["brake noise"],
                       customer_id=customer_id).body["id"])
    wos.check_in(request(), wo, mileage_in=42_010, fuel_level=40)
    ids = [str(add(request(), wo, 1, data).body["line_id"]) for add, data in (
        (wos.add_labor_line, labor()), (wos.add_part_line, part()))]
    for line_id in ids:
        wos.authorize_line(request(), wo, line_id, channel="phone", decision="approved")
    wos.dispatch(MANAGER, wo, 1, technician_id="tech-zhao")
    wos.issue_part(clerk(), wo, ids[1])
    wos.clock_on(TECH, wo, 1)
    wos.clock_off(TECH, wo, 1)
    wos.complete_job(TECH, wo, 1)
    wos.quality_check(MANAGER, wo, 1, passed=True)
    return wo


def fleet(app: ServiceCore, visits: int) -> tuple[Settlements, UUID, list[UUID]]:
    """`visits` confirmed visits of one customer, 900.00 each on the customer's bill."""
    on_roster(app, "tech-zhao")
    stock_part(app, qty="20")
    wos, money = WorkOrders(app), Settlements(app)
    first = ready_visit(app, wos)
    customer_id = load(app, first).customer_id
    orders = [first, *(ready_visit(app, wos, customer_id) for _ in range(visits - 1))]
    for wo in orders:
        drafted = money.draft(CASHIER, wo)
        money.confirm(CASHIER, UUID(drafted.body["id"]))
    return money, customer_id, orders


def settlement(app: ServiceCore, wo: UUID) -> Settlement:
    found: Any = app.repository.get(Settlement.create_id(wo))
    assert isinstance(found, Settlement)
    return found


def account_balance(app: ServiceCore, customer_id: UUID) -> Decimal:
    customer: Any = app.repository.get(customer_id)
    assert isinstance(customer, Customer)
    return sum((open_on_account(app.repository.get(sid))  # type: ignore[arg-type]
                for sid in dict.fromkeys(customer.account_charges)), Decimal("0.00"))


def entries(app: ServiceCore, orders: list[UUID]) -> list[dict[str, Any]]:
    """Every journal entry the visits' settlements posted: settlings, reversals, payments."""
    found: list[dict[str, Any]] = []
    for wo in orders:
        for e in app.events.get(Settlement.create_id(wo)):
            if isinstance(e, Settlement.Settled | Settlement.Reversed):
                found += e.entries
            elif isinstance(e, Settlement.PaymentTaken):
                found.append(e.entry)
    return found


def test_a_charge_needs_terms_a_manager_and_room_under_the_limit() -> None:
    app = ServiceCore()
    money, customer_id, (wo, other) = fleet(app, 2)
    accounts = OnAccount(app)
    sid = Settlement.create_id(wo)
    before = events_stored(app)
    with pytest.raises(NoCreditTerms):
        accounts.charge(CASHIER, sid)
    with pytest.raises(NotPermitted):
        accounts.set_terms(CASHIER, customer_id, limit="1000.00", days=30, reason="fleet")
    assert events_stored(app) == before
    accounts.set_terms(MANAGER, customer_id, limit="1000.00", days=30, reason="fleet")
    charged = accounts.charge(CASHIER, sid).body
    assert charged["status"] == "settled"
    assert charged["charged"]["due_on"] == "2026-05-31"  # 30 days after 2026-05-01
    assert load(app, wo).status == "settled"  # the car may leave
    # 900.00 open, 1000.00 the limit: the next 900.00 is refused naming the figures.
    before = events_stored(app)
    with pytest.raises(CreditLimitExceeded) as refused:
        accounts.charge(CASHIER, Settlement.create_id(other))
    assert refused.value.extra == {"balance": "900.00", "limit": "1000.00", "amount": "900.00",
                                   "available": "100.00"}
    assert events_stored(app) == before
    assert settlement(app, other).status == "confirmed"
    # A charged visit is not charged twice; paid, the room comes back.
    with pytest.raises(IllegalTransition):
        accounts.charge(CASHIER, sid)
    money.pay(CASHIER, work_order_id=wo, method="cash", amount="900.00")
    assert accounts.charge(CASHIER, Settlement.create_id(other)).body["status"] == "settled"
    assert account_balance(app, customer_id) == BILL


STEPS = st.lists(st.tuples(st.sampled_from(["charge", "pay"]), st.integers(0, VISITS - 1),
                           st.integers(1, 130)), max_size=10)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(limit=st.integers(1, 30).map(lambda n: Decimal(n * 100)), steps=STEPS)
def test_the_account_is_the_charges_less_the_payments_within_the_limit(
        limit: Decimal, steps: list[tuple[str, int, int]]) -> None:
    app = ServiceCore()
    money, customer_id, orders = fleet(app, VISITS)
    accounts = OnAccount(app)
    accounts.set_terms(MANAGER, customer_id, limit=str(limit), days=30, reason="fleet")
    charges = payments = Decimal("0.00")
    for step, i, share in steps:
        wo = orders[i]
        s = settlement(app, wo)
        open_before = account_balance(app, customer_id)
        stored = events_stored(app)
        if step == "charge":
            amount = s.outstanding("customer")
            fits = s.status == "confirmed" and amount > 0 and open_before + amount <= limit
            try:
                accounts.charge(CASHIER, s.id)
            except DomainError:
                assert not fits
                assert events_stored(app) == stored  # nothing of a refusal is stored
                continue
            assert fits
            charges += amount
        else:
            amount = (BILL * share / 100).quantize(Decimal("0.01"))
            left = s.outstanding("customer")
            try:
                money.pay(CASHIER, work_order_id=wo, method="cash", amount=str(amount))
            except DomainError:
                assert amount > left  # overpaying is refused
                assert events_stored(app) == stored
                continue
            if open_on_account(s) > 0:  # a payment on the account
                payments += amount
        balance = account_balance(app, customer_id)
        assert balance == charges - payments
        assert Decimal("0.00") <= balance <= limit
        customer: Any = app.repository.get(customer_id)
        assert sum(customer.account_open.values(), Decimal("0.00")) == balance
        posted = entries(app, orders)
        assert all(sum((p["debit"] for p in e["postings"]), Decimal(0))
                   == sum((p["credit"] for p in e["postings"]), Decimal(0)) for e in posted)
        # customer receivable holds what the account owes (a visit paid at the till nets 0;
        # money taken on a bill not yet settled is owed back until it settles)
        unsettled = sum((settlement(app, w).paid("customer") for w in orders
                         if settlement(app, w).status == "confirmed"), Decimal("0.00"))
        assert balances(posted).get("1122", Decimal("0.00")) == balance - unsettled


def charged_visit() -> tuple[ServiceCore, Settlements, UUID, UUID]:
    """A visit of a customer with a limit of 1000.00, charged to account: (app, settlements,
    customer, work order)."""
    app = ServiceCore()
    money, customer_id, (wo,) = fleet(app, 1)
    accounts = OnAccount(app)
    accounts.set_terms(MANAGER, customer_id, limit="1000.00", days=30, reason="fleet")
    accounts.charge(CASHIER, Settlement.create_id(wo))
    return app, money, customer_id, wo


def test_a_reversal_ends_the_charge_and_the_visit_may_be_charged_again() -> None:
    app, money, customer_id, wo = charged_visit()
    sid = Settlement.create_id(wo)
    money.reverse(MANAGER, sid, reason="wrong pads billed")
    assert account_balance(app, customer_id) == 0
    assert balances(entries(app, [wo])).get("1122", Decimal("0.00")) == 0
    money.confirm(CASHIER, UUID(money.draft(CASHIER, wo).body["id"]))
    OnAccount(app).charge(CASHIER, sid)
    assert account_balance(app, customer_id) == BILL
    customer: Any = app.repository.get(customer_id)
    assert customer.account_open == {str(wo): BILL}


@pytest.mark.parametrize("stored_before", [False, True])
def test_a_reversed_charge_leaves_no_account_entry_and_a_till_payment_is_not_taken_for_one(
        monkeypatch: pytest.MonkeyPatch, stored_before: bool) -> None:
    app, money, customer_id, wo = charged_visit()
    sid = Settlement.create_id(wo)
    # The charge reversed: the account holds nothing of the visit, listed or open (reversed
    # before the reversal ended the charge, `stored_before`, the entry stayed).
    with monkeypatch.context() as before:
        if stored_before:
            before.setattr(settlements_module, "end_stale_charge", lambda *args: None)
        money.reverse(MANAGER, sid, reason="wrong pads billed")
    customer: Any = app.repository.get(customer_id)
    assert (customer.account_open == {}) != stored_before
    # Settled again at the till, 100.00 of it returned and paid again: money paid again on a
    # visit paid at the till (its spend given back), not a payment on an account it never owed.
    money.confirm(CASHIER, UUID(money.draft(CASHIER, wo).body["id"]))
    paid = money.pay(CASHIER, work_order_id=wo, method="cash", amount=str(BILL))
    asked = money.request_refund(CASHIER, sid, payment_id=paid.body["payment_id"],
                                 amount="100.00", reason="pads price corrected",
                                 kind="payment_return")
    money.decide_refund(MANAGER, sid, str(asked.body["refund_id"]), approve=True)
    money.pay(CASHIER, work_order_id=wo, method="cash", amount="100.00")
    last = list(app.events.get(customer_id))[-1]
    assert isinstance(last, Customer.PaidAgain) and last.amount == Decimal("100.00"), last
    customer = app.repository.get(customer_id)
    assert customer.account_open == {}
