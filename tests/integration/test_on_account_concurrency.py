"""Two cashiers in two API processes charge two visits of one fleet customer to account at the
same instant, on real PostgreSQL: each fits the limit alone, not both together, and only one
is charged (the charges conflict on the customer's stream; the retry sees the first)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import tests.integration.test_money_support as money_support
from domain.common import VersionConflict
from domain.on_account import CreditLimitExceeded, OnAccount, open_on_account
from domain.settlement import Settlement
from domain.work_order import WorkOrder
from servicecore.container import Container
from tests.integration.support import CUSTOMER, VEHICLE, load, request, together
from tests.integration.test_money_support import draft, ready_visit, req, second_process


def test_two_charges_at_once_never_pass_the_limit_together(
        container: Container, database_url: str, tmp_path: Path, store_id: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Two visits (450.00 of labor each) of one customer, confirmed.
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
    settlements = []
    for wo in (first, second):
        sid = draft(container, store_id, wo)
        container.settlements.confirm(req(store_id), sid)
        settlements.append(sid)
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
