"""Charge to account (挂账) of a long-lived fleet customer, in memory: a charge reads the charges
still open, not every charge of the customer's history, and a charge paid off that a refund
makes owe again is counted again. The balance a charge reads is always the sum of every open
charge, and never above the limit once a charge or a refund is taken."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from domain.account_open import open_on_account
from domain.application import ServiceCore
from domain.common import DomainError
from domain.customer import Customer
from domain.on_account import CreditLimitExceeded, OnAccount
from domain.settlement import Settlement
from tests.unit.support import stock_part
from tests.unit.test_on_account import BILL, fleet, settlement
from tests.unit.test_settlement import CASHIER, MANAGER


@contextmanager
def settlement_loads(app: ServiceCore) -> Iterator[list[UUID]]:
    """The settlements the event store is asked for while the block runs (the real store is
    read: only the calls are noted)."""
    seen: list[UUID] = []
    get = app.repository.get

    def counted(aggregate_id: UUID, *args: Any, **kwargs: Any) -> Any:
        found = get(aggregate_id, *args, **kwargs)
        if isinstance(found, Settlement):
            seen.append(aggregate_id)
        return found

    app.repository.get = counted  # type: ignore[method-assign]
    try:
        yield seen
    finally:
        app.repository.get = get  # type: ignore[method-assign]


def customer_of(app: ServiceCore, customer_id: UUID) -> Any:
    found: Any = app.repository.get(customer_id)
    assert isinstance(found, Customer)
    return found


def next_charge(history: int) -> tuple[Customer, list[UUID]]:
    """A fleet customer after `history` charges each paid off, then one more charge: the
    customer, and the settlements that last charge read (the bench's figures too)."""
    app = ServiceCore()
    if history + 1 > 20:  # fleet() brings 20 parts, one a visit
        stock_part(app, qty=str(history + 1), supplier_doc="DN-FLEET")
    money, customer_id, orders = fleet(app, history + 1)
    accounts = OnAccount(app)
    accounts.set_terms(MANAGER, customer_id, limit="1000.00", days=30, reason="fleet")
    for wo in orders[:-1]:
        accounts.charge(CASHIER, Settlement.create_id(wo))
        money.pay(CASHIER, work_order_id=wo, method="cash", amount=str(BILL))
    with settlement_loads(app) as seen:
        accounts.charge(CASHIER, Settlement.create_id(orders[-1]))
    return customer_of(app, customer_id), seen


def reads_of_the_next_charge(history: int) -> tuple[int, int]:
    """(settlements the next charge reads, charges the customer lists) after `history` charges
    each paid off."""
    customer, seen = next_charge(history)
    return len(seen), len(customer.account_charges)


def test_a_charge_reads_the_open_charges_not_the_whole_history() -> None:
    # the charged visit (peeked at for the locks, then loaded) and the one paid off since the
    # last charge, dropped from the list; before: 4 and 9, one more per charge ever made
    assert reads_of_the_next_charge(2) == reads_of_the_next_charge(7) == (3, 1)


def test_a_refund_makes_a_charge_paid_off_count_again() -> None:
    app = ServiceCore()
    money, customer_id, (first, second, third) = fleet(app, 3)
    accounts = OnAccount(app)
    accounts.set_terms(MANAGER, customer_id, limit="2000.00", days=30, reason="fleet")
    accounts.charge(CASHIER, Settlement.create_id(first))
    paid = money.pay(CASHIER, work_order_id=first, method="cash", amount=str(BILL)).body
    accounts.charge(CASHIER, Settlement.create_id(second))  # reads the first paid off
    assert customer_of(app, customer_id).account_charges == [Settlement.create_id(second)]
    sid = Settlement.create_id(first)
    refund = money.request_refund(CASHIER, sid, payment_id=paid["payment_id"],
                                  amount=str(BILL), reason="paid twice by the fleet",
                                  kind="payment_return").body
    money.decide_refund(MANAGER, sid, refund["refund_id"], approve=True)
    assert open_on_account(settlement(app, first)) == BILL  # owed again
    assert customer_of(app, customer_id).account_charges == [
        Settlement.create_id(second), sid]
    with pytest.raises(CreditLimitExceeded) as refused:
        accounts.charge(CASHIER, Settlement.create_id(third))
    assert refused.value.extra["balance"] == "1800.00"


VISITS = 3
STEPS = st.lists(st.tuples(st.sampled_from(["charge", "pay", "refund"]),
                           st.integers(0, VISITS - 1), st.sampled_from([40, 100])),
                 max_size=12)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(limit=st.integers(9, 30).map(lambda n: Decimal(n * 100)), steps=STEPS)
@example(limit=Decimal(2000), steps=[("charge", 0, 100), ("pay", 0, 100), ("charge", 1, 100),
                                     ("refund", 0, 100), ("charge", 2, 100)])
def test_the_listed_charges_hold_every_open_charge_within_the_limit(
        limit: Decimal, steps: list[tuple[str, int, int]]) -> None:
    app = ServiceCore()
    money, customer_id, orders = fleet(app, VISITS)
    accounts = OnAccount(app)
    accounts.set_terms(MANAGER, customer_id, limit=str(limit), days=30, reason="fleet")
    payments: dict[int, list[tuple[str, str]]] = {i: [] for i in range(VISITS)}
    for step, i, share in steps:
        wo, sid = orders[i], Settlement.create_id(orders[i])
        # a share of the bill, or all that is left of it
        amount = min((BILL * share / 100).quantize(Decimal("0.01")),
                     settlement(app, wo).outstanding("customer"))
        try:
            if step == "charge":
                accounts.charge(CASHIER, sid)
            elif step == "pay":
                paid = money.pay(CASHIER, work_order_id=wo, method="cash", amount=str(amount))
                payments[i].append((paid.body["payment_id"], str(amount)))
            elif payments[i]:
                payment_id, value = payments[i].pop()
                asked = money.request_refund(CASHIER, sid, payment_id=payment_id,
                                             amount=value, reason="money back",
                                             kind="payment_return").body
                money.decide_refund(MANAGER, sid, asked["refund_id"], approve=True)
        except DomainError:
            pass
        customer = customer_of(app, customer_id)
        opened = {Settlement.create_id(w): open_on_account(settlement(app, w)) for w in orders}
        # every open charge is listed: the balance a charge reads is the sum of them all
        assert {s for s, left in opened.items() if left > 0} <= set(customer.account_charges)
        assert sum(opened.values(), Decimal("0.00")) <= limit


def test_a_customer_keeps_no_account_entry_paid_off() -> None:
    app = ServiceCore()
    money, customer_id, (wo,) = fleet(app, 1)
    accounts = OnAccount(app)
    accounts.set_terms(MANAGER, customer_id, limit="1000.00", days=30, reason="fleet")
    accounts.charge(CASHIER, Settlement.create_id(wo))
    money.pay(CASHIER, work_order_id=wo, method="cash", amount="400.00")
    assert customer_of(app, customer_id).account_open == {str(wo): Decimal("500.00")}
    money.pay(CASHIER, work_order_id=wo, method="cash", amount="500.00")
    assert customer_of(app, customer_id).account_open == {}
