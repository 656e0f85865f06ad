"""A charge that drops a fleet customer's paid-off charges from their list (the prune) and a
refund approval that makes one of them owe again (the reopen), at the same instant in two API
processes on real PostgreSQL: both decide on the same customer, one saves first, the other
conflicts on the customer's stream and is retried on fresh state. Whichever saves first, the
account's list names every open charge afterwards: the balance a charge reads from it is the
visits' true open total, exactly the limit here, and nothing is lost (domain/account_open.py).

Each command's first attempt waits, once decided, until the other has decided too, and the one
meant to save second waits until the first has saved: the conflict is certain, not a chance
of the timing."""

from __future__ import annotations

import threading
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from domain.account_open import note_reopened_charges, open_on_account
from domain.customer import Customer
from domain.on_account import OnAccount
from domain.session import Session
from domain.settlement import Settlement
from servicecore.container import Container
from tests.integration.support import load, together
from tests.integration.test_money_support import req, second_process
from tests.integration.test_on_account_concurrency import _refund_asked_on_a_charged_visit

LIMIT = Decimal("550.00")  # the second visit's 450.00 and the 100.00 the refund reopens


@pytest.mark.parametrize("saves_first", ["charge", "refund"])
def test_a_prune_and_a_reopen_at_once_lose_no_open_charge(
        container: Container, database_url: str, tmp_path: Path, store_id: str,
        monkeypatch: pytest.MonkeyPatch, saves_first: str) -> None:
    # Two visits of one fleet customer (450.00 each). The first: 300.00 deposit, 150.00
    # charged to account and paid off since, 100.00 of the deposit asked back.
    (first, second), refund_id = _refund_asked_on_a_charged_visit(
        container, store_id, monkeypatch, limit=str(LIMIT), paid_off=True)
    customer_id = load(container.app, Settlement, first).customer_id
    assert open_on_account(load(container.app, Settlement, first)) == 0

    # Each command's attempts, counted as they reach their save.
    real = note_reopened_charges  # run by ServiceCore before each save
    decided = threading.Barrier(2, timeout=30)
    saved = {"charge": threading.Event(), "refund": threading.Event()}
    attempts = {"charge": 0, "refund": 0}
    acting = threading.local()

    def before_save(session: Session) -> None:
        real(session)
        who: str = acting.who
        attempts[who] += 1
        if attempts[who] == 1:
            decided.wait()
            if who != saves_first:
                assert saved[saves_first].wait(30)

    monkeypatch.setattr("domain.application.note_reopened_charges", before_save)
    other = second_process(database_url, tmp_path)
    try:
        def act(i: int) -> Any:
            acting.who = ("refund", "charge")[i]
            try:
                if i == 0:  # the manager, in this process: the refund makes the first owe
                    return container.settlements.decide_refund(
                        req(store_id, "manager"), first, refund_id, approve=True)
                # the cashier, in the other: the second visit charged, the first read paid off
                return OnAccount(other.app).charge(req(store_id, user="cash-2"), second)
            finally:
                saved[acting.who].set()

        outcomes = together(2, act)
    finally:
        other.close()
    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    # one conflict: the one that saved second decided again, on the first one's state
    assert attempts == {saves_first: 1, {"charge": "refund", "refund": "charge"}[saves_first]: 2}

    customer = load(container.app, Customer, customer_id)
    stored = {sid: load(container.app, Settlement, sid) for sid in (first, second)}
    assert [open_on_account(stored[sid]) for sid in (first, second)] == [
        Decimal("100.00"), Decimal("450.00")]
    # Both open charges are listed: the balance a charge reads is the true one, the limit.
    assert {first, second} <= set(customer.account_charges)
    listed = sum((open_on_account(load(container.app, Settlement, sid))
                  for sid in dict.fromkeys(customer.account_charges)), Decimal("0.00"))
    assert listed == LIMIT
    closed = [e for e in container.app.events.get(customer_id)
              if isinstance(e, Customer.AccountChargesClosed)]
    # the charge pruned the first visit only when it saved before the reopen
    assert [e.settlement_ids for e in closed] == ([[first]] if saves_first == "charge" else [])
