"""Two cashiers in two API processes charge two visits of one fleet customer to account at the
same instant, on real PostgreSQL: each fits the limit alone, not both together, and only one
is charged (the charges conflict on the customer's stream; the retry sees the first). A refund
approved on a charged visit puts its money back on the account: approved in one process while
another visit of the customer is charged in the other, the account never passes the limit
(the approval saves the customer's stream too, and checks the limit as a charge does)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

import tests.integration.test_money_support as money_support
from domain.account_open import open_on_account
from domain.common import VersionConflict
from domain.on_account import CreditLimitExceeded, OnAccount
from domain.settlement import Settlement
from domain.work_order import WorkOrder
from servicecore.container import Container
from tests.integration.support import CUSTOMER, VEHICLE, load, request, together
from tests.integration.test_money_support import draft, ready_visit, req, second_process


def _same_customer_visits(container: Container, store_id: str,
                          monkeypatch: pytest.MonkeyPatch) -> tuple[UUID, list[UUID]]:
    """Two visits (450.00 of labor each) of one customer, drafted: (customer, settlements)."""
    first = ready_visit(container, store_id, tech=f"tech-{store_id}-0")
    customer_id = load(container.app, WorkOrder, first).customer_id

    def same_customer(wos: Any, store: str, *, at: datetime | None = None) -> dict[str, Any]:
        opened = wos.open(request(store, at=at), store_id=store, customer=dict(CUSTOMER),
                          vehicle=dict(VEHICLE), mileage=42_000, complaints=["brake noise"],
                          customer_id=customer_id)
        return dict(opened.body)

    monkeypatch.setattr(money_support, "open_order", same_customer)
    second = ready_visit(container, store_id, tech=f"tech-{store_id}-1")
    assert load(container.app, WorkOrder, second).customer_id == customer_id
    return customer_id, [draft(container, store_id, wo) for wo in (first, second)]


def _refund_asked_on_a_charged_visit(container: Container, store_id: str,
                                     monkeypatch: pytest.MonkeyPatch, *, limit: str = "600.00",
                                     paid_off: bool = False) -> tuple[list[UUID], str]:
    """Limit 600.00. The first visit: 300.00 deposit, confirmed, 150.00 charged to account
    (and paid off since, with `paid_off`), 100.00 of the deposit asked back; the second
    confirmed, 450.00 outstanding (it fits the limit now, 150 + 450, not once the refund puts
    100.00 back on the account). (settlements, refund id)."""
    customer_id, (first, second) = _same_customer_visits(container, store_id, monkeypatch)
    money = container.settlements
    wo = load(container.app, Settlement, first).work_order_id
    paid = money.pay(req(store_id), work_order_id=wo, method="cash", amount="300.00")
    for sid in (first, second):
        money.confirm(req(store_id), sid)
    OnAccount(container.app).set_terms(req(store_id, "manager"), customer_id, limit=limit,
                                       days=30, reason="fleet contract")
    OnAccount(container.app).charge(req(store_id), first)
    if paid_off:
        money.pay(req(store_id), work_order_id=wo, method="cash", amount="150.00")
    asked = money.request_refund(req(store_id), first, payment_id=paid.body["payment_id"],
                                 amount="100.00", reason="deposit too high",
                                 kind="payment_return")
    return [first, second], str(asked.body["refund_id"])


def test_a_refund_on_a_charged_visit_is_refused_past_the_limit(
        container: Container, store_id: str, monkeypatch: pytest.MonkeyPatch) -> None:
    (first, second), refund_id = _refund_asked_on_a_charged_visit(
        container, store_id, monkeypatch)
    OnAccount(container.app).charge(req(store_id), second)
    with pytest.raises(CreditLimitExceeded) as refused:
        container.settlements.decide_refund(req(store_id, "manager"), first, refund_id,
                                            approve=True)
    assert refused.value.extra["available"] == "0.00"
    stored = [load(container.app, Settlement, sid) for sid in (first, second)]
    assert stored[0].refunds[refund_id]["status"] == "requested"
    assert sum((open_on_account(s) for s in stored), Decimal("0.00")) == Decimal("600.00")


def test_a_refund_and_a_charge_at_once_never_pass_the_limit_together(
        container: Container, database_url: str, tmp_path: Path, store_id: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    settlements, refund_id = _refund_asked_on_a_charged_visit(container, store_id, monkeypatch)
    other = second_process(database_url, tmp_path)
    try:
        processes = (container, other)

        def act(i: int) -> str:
            for _ in range(10):
                try:
                    if i == 0:
                        processes[i].settlements.decide_refund(
                            req(store_id, "manager"), settlements[0], refund_id, approve=True)
                    else:
                        OnAccount(processes[i].app).charge(req(store_id, user="cash-1"),
                                                           settlements[1])
                except VersionConflict:
                    continue
                except CreditLimitExceeded:
                    return "refused"
                return "done"
            raise AssertionError("the command kept conflicting")

        outcomes = together(2, act)
    finally:
        other.close()
    assert sorted(map(str, outcomes)) == ["done", "refused"], outcomes
    stored = [load(container.app, Settlement, sid) for sid in settlements]
    assert sum((open_on_account(s) for s in stored), Decimal("0.00")) <= Decimal("600.00")


def test_two_charges_at_once_never_pass_the_limit_together(
        container: Container, database_url: str, tmp_path: Path, store_id: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Two visits (450.00 of labor each) of one customer, confirmed.
    customer_id, settlements = _same_customer_visits(container, store_id, monkeypatch)
    for sid in settlements:
        container.settlements.confirm(req(store_id), sid)
    OnAccount(container.app).set_terms(req(store_id, "manager"), customer_id, limit="600.00",
                                       days=30, reason="fleet contract")

    # At the same instant, one cashier in each process.
    other = second_process(database_url, tmp_path)
    try:
        processes = (container, other)

        def charge(i: int) -> str:
            for _ in range(10):
                try:
                    OnAccount(processes[i].app).charge(req(store_id, user=f"cash-{i}"),
                                                       settlements[i])
                except VersionConflict:
                    continue
                except CreditLimitExceeded:
                    return "refused"
                return "charged"
            raise AssertionError("the charge kept conflicting")

        outcomes = together(2, charge)
    finally:
        other.close()
    assert sorted(map(str, outcomes)) == ["charged", "refused"], outcomes
    stored = [load(container.app, Settlement, sid) for sid in settlements]
    assert sorted(s.status for s in stored) == ["confirmed", "settled"]
    assert sum((open_on_account(s) for s in stored), Decimal("0.00")) == Decimal("450.00")
