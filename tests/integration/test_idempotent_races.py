"""A retry racing its own first attempt in another API process (the client timed out and sent
the command again, with the same Idempotency-Key, to another replica): whichever of the two
decides on state the other has already changed must answer what was stored, not an error that
says the command failed when it was applied.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from domain.application import CommandResult
from domain.work_order import WorkOrder
from servicecore.container import Container
from tests.integration.support import load
from tests.integration.test_money_support import draft, ready_visit, req, second_process


@pytest.fixture
def replica(database_url: str, tmp_path: Path) -> Iterator[Container]:
    system = second_process(database_url, tmp_path)
    yield system
    system.close()


def first_attempt_lands_while(replica: Container, stream_id: UUID,
                              first_attempt: Callable[[], CommandResult], *,
                              after_load: bool) -> list[CommandResult]:
    """The first attempt (on the other process) is stored while the replica's retry loads
    `stream_id`: before it reads the stream (`after_load=False`: the retry decides on the
    changed state) or just after (the retry decides on the state before, and its save
    conflicts)."""
    repository = replica.app.repository
    plain = repository.get
    landed: list[CommandResult] = []

    def get(aggregate_id: UUID, **kwargs: Any) -> Any:
        if aggregate_id != stream_id or landed:
            return plain(aggregate_id, **kwargs)
        if after_load:
            found = plain(aggregate_id, **kwargs)
            landed.append(first_attempt())
            return found
        landed.append(first_attempt())
        return plain(aggregate_id, **kwargs)

    repository.get = get  # type: ignore[method-assign]
    return landed


@pytest.mark.parametrize("after_load", [False, True], ids=["before-load", "after-load"])
def test_a_payment_retried_on_another_process_answers_the_stored_payment(
        container: Container, replica: Container, store_id: str, after_load: bool) -> None:
    work_order_id = ready_visit(container, store_id)
    settlement_id = draft(container, store_id, work_order_id)
    container.settlements.confirm(req(store_id), settlement_id)
    owed = Decimal("450.00")

    def pay(system: Container) -> CommandResult:
        return system.settlements.pay(req(store_id, user="cash-race", key=f"till-7-{work_order_id}"),
                                      work_order_id=work_order_id, method="cash", amount=owed,
                                      tendered=owed)

    landed = first_attempt_lands_while(replica, work_order_id, lambda: pay(container),
                                       after_load=after_load)
    retry = pay(replica)

    assert len(landed) == 1
    first = landed[0]
    assert retry.replayed and not first.replayed
    assert retry.body == first.body
    assert load(container.app, WorkOrder, work_order_id).status == "settled"
    payments = [e for e in container.app.events.get(settlement_id)
                if type(e).__name__ == "PaymentTaken"]
    assert len(payments) == 1


@pytest.mark.parametrize("after_load", [False, True], ids=["before-load", "after-load"])
@pytest.mark.parametrize("if_match", [1, None], ids=["if-match", "no-if-match"])
@pytest.mark.parametrize("looked_up", [False, True], ids=["looks", "route-looked"])
def test_a_retried_check_in_answers_the_stored_check_in(
        container: Container, replica: Container, store_id: str, after_load: bool,
        if_match: int | None, looked_up: bool) -> None:
    """A check-in is legal once: the retry that decides after its first attempt was stored
    finds the vehicle checked in (409), or the version moved past its If-Match (412). So
    too when the retry's route has just looked the key up, found nothing, and its first
    attempt does not look again (`key_looked_up`): the first attempt is stored after that
    look, and the refusal or the save's conflict on the key's record answers it."""
    from tests.integration.support import open_order

    work_order_id = UUID(open_order(container.work_orders, store_id)["id"])

    def check_in(system: Container, looked: bool = False) -> CommandResult:
        request = req(store_id, "advisor", "adv-race", key=f"desk-3-{work_order_id}",
                      expected_version=if_match)
        if looked:
            assert system.app.remembered(request) is None
            request = replace(request, key_looked_up=True)
        return system.work_orders.check_in(request, work_order_id, mileage_in=42_010,
                                           fuel_level=40)

    landed = first_attempt_lands_while(replica, work_order_id, lambda: check_in(container),
                                       after_load=after_load)
    retry = check_in(replica, looked_up)

    assert retry.replayed and retry.body == landed[0].body
    assert load(container.app, WorkOrder, work_order_id).version == 2


@pytest.mark.parametrize("after_load", [False, True], ids=["before-load", "after-load"])
@pytest.mark.parametrize("if_match", [1, None], ids=["if-match", "no-if-match"])
def test_a_retried_job_after_the_route_found_no_answer_answers_the_stored_job(
        container: Container, replica: Container, store_id: str, after_load: bool,
        if_match: int | None) -> None:
    """A job can be added again and again: only the key tells the retry from a new job. The
    retry's route looked the key up and found nothing (`key_looked_up`), then the first
    attempt was stored: the retry answers the stored job and adds none (the first attempt
    skips the look-up, a later one must not)."""
    from tests.integration.support import open_order

    work_order_id = UUID(open_order(container.work_orders, store_id)["id"])

    def add_job(system: Container, looked: bool = False) -> CommandResult:
        request = req(store_id, "advisor", "adv-race", key=f"job-2-{work_order_id}",
                      expected_version=if_match)
        if looked:
            assert system.app.remembered(request) is None
            request = replace(request, key_looked_up=True)
        return system.work_orders.add_job(request, work_order_id, complaint="wipers smear")

    landed = first_attempt_lands_while(replica, work_order_id, lambda: add_job(container),
                                       after_load=after_load)
    retry = add_job(replica, True)

    assert retry.replayed and retry.body == landed[0].body
    assert len(load(container.app, WorkOrder, work_order_id).jobs) == 2
