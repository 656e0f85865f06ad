"""Concurrent money commands on real PostgreSQL, in one process and across two.

Settlement numbers stay gap-free and unique when many cashiers confirm at once from two API
processes; two cashiers paying the same bill never overpay it nor settle the visit twice, and
the journal still balances.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest
from fastapi.testclient import TestClient

from domain.application import CommandResult
from domain.cashier_day import CashierDay, DayClosed
from domain.common import VersionConflict
from domain.counter import DocumentCounter
from domain.settlement import Settlement
from domain.settlement_state import SettlementError
from projections.trial_balance import trial_balance
from servicecore.container import Container
from tests.integration.support import Auth, load, together
from tests.integration.test_money_support import (
    ZONE,
    count_conflicts,
    draft,
    events_of,
    ready_visit,
    req,
    second_process,
    this_year,
    today,
    topics_of,
    wait_for_projection,
    work_order,
)

VISITS = 16  # confirmed from 16 threads, half in each of two processes


def _prepare(container: Container, store_id: str, count: int) -> list[tuple[UUID, UUID]]:
    """`count` drafted visits, prepared in parallel (one technician each)."""
    def one(i: int) -> tuple[UUID, UUID]:
        work_order_id = ready_visit(container, store_id, tech=f"tech-{store_id}-{i}")
        return work_order_id, draft(container, store_id, work_order_id)

    prepared = together(count, one)
    assert not [p for p in prepared if isinstance(p, Exception)], prepared
    return [p for p in prepared if isinstance(p, tuple)]


def test_concurrent_confirmations_from_two_processes_number_gap_free(
        container: Container, database_url: str, tmp_path: Path, store_id: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    visits = _prepare(container, store_id, VISITS)
    other = second_process(database_url, tmp_path)
    conflicts = count_conflicts(monkeypatch, container, other)
    retries: list[int] = []
    try:
        processes = (container, other)

        # Sixteen cashiers confirm at the same instant, eight through each API process. A
        # VersionConflict (the server's own retries exhausted) is retried by the "client".
        def confirm(i: int) -> str:
            settlements = processes[i % 2].settlements
            for attempt in range(20):
                try:
                    body = settlements.confirm(req(store_id, user=f"cash-{i}"),
                                               visits[i][1]).body
                except VersionConflict:
                    continue
                retries.append(attempt)
                return str(body["number"])
            raise AssertionError("confirmation kept conflicting")

        results = together(VISITS, confirm)
    finally:
        other.close()

    # Every confirmation succeeded, numbers 000001..000016 each exactly once.
    assert not [r for r in results if isinstance(r, Exception)], results
    numbers = [r for r in results if isinstance(r, str)]
    prefix = f"SET-{store_id}-{this_year()}-"
    assert sorted(numbers) == [f"{prefix}{n:06d}" for n in range(1, VISITS + 1)]
    # Each on a different settlement, as stored in the settlement and its work order.
    stored = {sid: load(container.app, Settlement, sid) for _, sid in visits}
    assert {sid: s.number for sid, s in stored.items()} == {
        visits[i][1]: numbers[i] for i in range(VISITS)}
    assert all(s.numbers == [s.number] and s.status == "confirmed" for s in stored.values())
    for work_order_id, sid in visits:
        assert work_order(container, work_order_id).settlement == {"id": sid,
                                                                   "number": stored[sid].number}
    # The counter took exactly sixteen numbers, no lost update, its last value the highest.
    counter_id = DocumentCounter.create_id("settlement", store_id, this_year())
    counter = load(container.app, DocumentCounter, counter_id)
    assert counter.last == VISITS
    assert topics_of(container, counter_id) == ["DocumentCounter.Started"] + [
        "DocumentCounter.Taken"] * VISITS
    # The read model lists the same numbers.
    wait_for_projection(container)
    with container.pool.connection() as conn:
        listed = conn.execute("SELECT id, number FROM settlements WHERE store_id = %s",
                              (store_id,)).fetchall()
    assert dict(listed) == {sid: s.number for sid, s in stored.items()}
    print(f"confirmations: {conflicts[0]} version conflicts retried by the server, "
          f"{sum(retries)} VersionConflict retried by the client")


def _assert_settled_once_and_balanced(container: Container, store_id: str,
                                      settled: list[tuple[UUID, UUID]]) -> None:
    """One WorkOrder.Settled / Settlement.Settled per visit; one settlement posting in the
    journal; the store's trial balance balances in every month."""
    for work_order_id, sid in settled:
        assert topics_of(container, work_order_id).count("WorkOrder.Settled") == 1
        assert topics_of(container, sid).count("Settlement.Settled") == 1
    wait_for_projection(container)
    with container.pool.connection() as conn:
        for _, sid in settled:
            entries = conn.execute(
                """SELECT count(DISTINCT notification_id) FROM journal
                   WHERE settlement_id = %s AND memo LIKE 'settlement %%'""", (sid,)).fetchone()
            assert entries == (1,)
        months = [m for (m,) in conn.execute(
            "SELECT DISTINCT month FROM journal WHERE store_id = %s", (store_id,)).fetchall()]
        assert months
        for month in months:
            balance = trial_balance(conn, [store_id], month=month)
            assert balance["balanced"] is True and balance["debit"] > 0, balance
        total = conn.execute("SELECT sum(debit), sum(credit) FROM journal WHERE store_id = %s",
                             (store_id,)).fetchone()
    assert total is not None and total[0] == total[1]


def test_two_cashiers_paying_the_same_bill_over_http_exactly_one_is_taken(
        client: TestClient, auth: Auth, container: Container, store_id: str) -> None:
    rounds: list[tuple[UUID, UUID]] = []
    for n in range(3):
        work_order_id = ready_visit(container, store_id)
        sid = draft(container, store_id, work_order_id)
        container.settlements.confirm(req(store_id), sid)
        cashiers = [auth("cashier", f"cash-{n}-{i}-{store_id}", [store_id]) for i in range(2)]

        # Two cashiers each take the full 450 for the same visit, at the same instant.
        def pay(i: int, wo: UUID = work_order_id, heads: Any = cashiers) -> httpx.Response:
            response: httpx.Response = client.post("/payments", headers=heads[i], json={
                "work_order_id": str(wo), "method": "cash", "amount": "450.00"})
            return response

        responses = [r for r in together(2, pay) if isinstance(r, httpx.Response)]
        assert sorted(r.status_code for r in responses) == [201, 409], [r.text for r in responses]
        won = next(r for r in responses if r.status_code == 201).json()
        lost = next(r for r in responses if r.status_code == 409)
        assert won["settled"] is True
        # The second saw the bill already paid: an overpayment, with nothing outstanding.
        assert lost.json()["type"].endswith("/illegal-transition")
        assert lost.json()["outstanding"] == "0.00" and "overpayment" in lost.json()["detail"]
        loser = f"cash-{n}-{responses.index(lost)}-{store_id}"
        assert container.app.recorder.select_events(
            CashierDay.create_id(store_id, loser, today())) == []
        settlement = load(container.app, Settlement, sid)
        assert len(settlement.payments) == 1 and settlement.paid("customer") == Decimal("450.00")
        rounds.append((work_order_id, sid))
    _assert_settled_once_and_balanced(container, store_id, rounds)


@pytest.mark.parametrize(("amount", "left"), [("450.00", "0.00"), ("300.00", "150.00")],
                         ids=["full", "partial"])
def test_two_processes_paying_the_same_bill_never_overpay_or_settle_twice(
        container: Container, database_url: str, tmp_path: Path, store_id: str, amount: str,
        left: str, monkeypatch: pytest.MonkeyPatch) -> None:
    other = second_process(database_url, tmp_path)
    conflicts = count_conflicts(monkeypatch, container, other)
    settled: list[tuple[UUID, UUID]] = []
    try:
        processes = (container, other)
        for n in range(4):
            work_order_id = ready_visit(container, store_id)
            sid = draft(container, store_id, work_order_id)
            container.settlements.confirm(req(store_id), sid)

            # Two API processes each take `amount` on the 450 bill at the same instant: only
            # the event store's optimistic concurrency stands between them.
            def pay(i: int, wo: UUID = work_order_id, n: int = n) -> CommandResult:
                return processes[i].settlements.pay(
                    req(store_id, user=f"cash-{n}-{i}"), work_order_id=wo, method="cash",
                    amount=amount)

            results = together(2, pay)
            taken = [r for r in results if isinstance(r, CommandResult)]
            refused = [r for r in results if isinstance(r, Exception)]
            assert len(taken) == 1 and len(refused) == 1, results
            assert isinstance(refused[0], SettlementError), refused
            assert refused[0].extra["outstanding"] == left
            assert taken[0].body["settled"] is (left == "0.00")
            loser = f"cash-{n}-{results.index(refused[0])}"
            assert container.app.recorder.select_events(
                CashierDay.create_id(store_id, loser, today())) == []
            settlement = load(container.app, Settlement, sid)
            assert len(settlement.payments) == 1
            assert settlement.outstanding("customer") == Decimal(left)
            assert settlement.status == ("settled" if left == "0.00" else "confirmed")
            assert work_order(container, work_order_id).status == (
                "settled" if left == "0.00" else "ready_for_settlement")
            if left == "0.00":
                settled.append((work_order_id, sid))
            else:
                assert "WorkOrder.Settled" not in topics_of(container, work_order_id)
    finally:
        other.close()
    print(f"payments ({amount}): {conflicts[0]} version conflicts retried by the server")
    _assert_settled_once_and_balanced(container, store_id, settled)
    month = datetime.now(ZONE).strftime("%Y-%m")
    with container.pool.connection() as conn:
        receivable = conn.execute(
            """SELECT coalesce(sum(debit - credit), 0) FROM journal
               WHERE store_id = %s AND month = %s AND account = '1122'""",
            (store_id, month)).fetchone()
    # Fully paid visits leave nothing owed; partial payments on unsettled bills are credits.
    assert receivable == ((Decimal(0),) if left == "0.00" else (Decimal("-1200.00"),))


def test_a_payment_racing_the_day_end_close_is_in_the_closed_totals_or_refused(
        container: Container, database_url: str, tmp_path: Path, store_id: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    other = second_process(database_url, tmp_path)
    conflicts = count_conflicts(monkeypatch, container, other)
    outcomes: list[str] = []
    try:
        for n in range(4):
            work_order_id = ready_visit(container, store_id)
            sid = draft(container, store_id, work_order_id)
            container.settlements.confirm(req(store_id), sid)
            cashier = f"cash-close-{n}"

            # One process takes 100 cash into the cashier's day while the other closes it.
            def act(i: int, wo: UUID = work_order_id, cashier: str = cashier) -> CommandResult:
                if i == 0:
                    return container.settlements.pay(req(store_id, user=cashier),
                                                     work_order_id=wo, method="cash",
                                                     amount="100.00")
                return other.settlements.close_day(req(store_id, user=cashier),
                                                   store_id=store_id, counted_cash="100.00",
                                                   reason="counted at the close")

            paid, closed = together(2, act)
            assert isinstance(closed, CommandResult), closed
            day_events = events_of(container, CashierDay.create_id(store_id, cashier, today()))
            names = [type(e).__name__ for e in day_events]
            # Nothing ever lands in a closed day; the close's totals are what came in before.
            assert names[-1] == "Closed" and names.count("Closed") == 1, names
            close = day_events[-1]
            settlement = load(container.app, Settlement, sid)
            if isinstance(paid, CommandResult):
                outcomes.append("paid first")
                assert names.count("MoneyIn") == 1
                assert close.totals == {"cash": Decimal("100.00")} and close.variance == 0
                assert settlement.paid("customer") == Decimal("100.00")
            else:
                outcomes.append("closed first")
                assert isinstance(paid, DayClosed), paid
                assert "MoneyIn" not in names
                assert close.totals == {} and close.variance == Decimal("100.00")
                assert settlement.payments == {}
    finally:
        other.close()
    print(f"payment vs close: {outcomes}, {conflicts[0]} version conflicts retried")
