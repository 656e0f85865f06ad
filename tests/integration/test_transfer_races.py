"""Transfers sent from suggestions under concurrency, on real PostgreSQL: a store short of a part
is sent what it needs once, however the sends interleave and however late the views are.

Each race is made certain rather than likely: both sends read what they decide on before
either saves (a barrier where they read it), so the second can only learn of the first through
the streams it changes — an API process's two requests through the in-process stream locks,
two processes through the event store's optimistic concurrency.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from fastapi.testclient import TestClient

import api.routes.transfer_suggestions as route
import domain.transfer_suggesting as suggesting
from domain.application import CommandResult
from domain.transfer_suggesting import TransferPlanChanged, send_suggested
from servicecore.container import Container
from tests.integration.support import Auth, together
from tests.integration.test_parts_support import (
    item_of,
    new_part,
    receive,
    req,
    second_process,
    wait_for_projection,
)

D = Decimal


@pytest.fixture
def rival(database_url: str, tmp_path: Path) -> Iterator[Container]:
    """A second API process on the same database: its own cache and stream locks."""
    system = second_process(database_url, tmp_path)
    yield system
    system.close()


def _group(store_id: str) -> tuple[str, str, str]:
    return store_id, store_id + "B", store_id + "C"


def _short_store(container: Container, here: str, donors: dict[str, int]) -> str:
    """A part `here` holds none of (minimum 4, reorder 4: it needs 4) and the donors hold
    `donors[store]` of (minimum 0: they spare it all)."""
    number = new_part(container, here)
    container.inventory.set_levels(req(here), here, number, min_stock=4, reorder_qty=4)
    for store, qty in donors.items():
        receive(container, store, number, qty)
    assert item_of(container, here, number).available == 0
    return number


def _in_transit(container: Container, here: str, number: str) -> Decimal:
    """What the stock view shows on its way to the store, once it has caught up."""
    wait_for_projection(container)
    with container.pool.connection() as conn:
        row = conn.execute("SELECT COALESCE(sum(qty), 0) FROM transfers WHERE to_store = %s "
                           "AND part_number = %s AND status = 'in_transit'",
                           (here, number)).fetchone()
    assert row is not None
    return D(row[0])


def _meeting(monkeypatch: pytest.MonkeyPatch, module: Any, name: str, parties: int,
             at_call: int = 1) -> None:
    """`module.name` waits, the `at_call`th time each thread calls it, until `parties` threads
    have got there: each has read what it decides on before any of them goes on."""
    barrier = threading.Barrier(parties, timeout=20)
    calls = threading.local()
    original: Callable[..., Any] = getattr(module, name)

    def meet(*args: Any, **kwargs: Any) -> Any:
        found = original(*args, **kwargs)
        calls.n = getattr(calls, "n", 0) + 1
        if calls.n == at_call:
            barrier.wait()
        return found

    monkeypatch.setattr(module, name, meet)


def _sent(results: list[CommandResult | Exception]) -> list[dict[str, Any]]:
    return [t for r in results if isinstance(r, CommandResult) for t in r.body["transfers"]]


@pytest.mark.parametrize("donors", ["one_donor", "two_donors"])
def test_two_processes_sending_the_same_suggestion_at_once_send_it_once(
        container: Container, rival: Container, store_id: str, donors: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    here, b, c = _group(store_id)
    number = _short_store(container, here, {b: 20, c: 20})
    # One donor: both sends take from B (which has plenty: its item alone does not stop the
    # second). Two donors: one asks B, the other C; no stream of a donor is shared.
    lines = [[{"part_number": number, "from_store": b, "qty": "4"}],
             [{"part_number": number, "from_store": b if donors == "one_donor" else c,
               "qty": "4"}]]
    # both read the receiver's stock item (and, before it, what is coming to it) before
    # either saves; the stock view, as both read it, shows nothing in transit
    _meeting(monkeypatch, suggesting, "existing_stock", 2)
    systems = (container, rival)
    clerk = req(here, stores=(here, b, c))
    results = together(2, lambda i: send_suggested(
        systems[i].inventory, clerk, to_store=here, lines=lines[i], in_transit={},
        waiting={}))
    assert len(_sent(results)) == 1, results
    [refused] = [r for r in results if isinstance(r, Exception)]
    assert isinstance(refused, TransferPlanChanged), refused
    assert (refused.extra["part_number"], refused.extra["needed"]) == (number, "0")
    assert _in_transit(container, here, number) == 4


@pytest.mark.parametrize("sent_before", ["none", "one"])
def test_a_send_saved_while_another_decides_makes_the_other_send_nothing(
        container: Container, rival: Container, store_id: str, sent_before: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    here, b, c = _group(store_id)
    number = _short_store(container, here, {b: 20, c: 20})
    clerk = req(here, stores=(here, b, c))
    if sent_before == "one":  # what is coming to the store has a history: 1 of 4 received
        first = container.inventory.transfer(clerk, from_store=c, to_store=here,
                                             part_number=number, qty="1", reason="by hand")
        container.inventory.receive_transfer(req(here), UUID(first.body["id"]))
        container.inventory.set_levels(req(here), here, number, min_stock=5, reorder_qty=4)
    rival_sent: list[CommandResult] = []
    original = suggesting.existing_stock
    calls = []

    def other_process_sends_meanwhile(*args: Any, **kwargs: Any) -> Any:
        found = original(*args, **kwargs)
        calls.append(args)
        if len(calls) == 1:  # this command has read the receiver: the rival sends, all of it
            rival_sent.append(send_suggested(rival.inventory, clerk, to_store=here, lines=[
                {"part_number": number, "from_store": b, "qty": "4"}], in_transit={},
                waiting={}))
        return found

    monkeypatch.setattr(suggesting, "existing_stock", other_process_sends_meanwhile)
    with pytest.raises(TransferPlanChanged) as refused:
        send_suggested(container.inventory, clerk, to_store=here, lines=[
            {"part_number": number, "from_store": c, "qty": "4"}], in_transit={}, waiting={})
    assert (refused.value.extra["part_number"], refused.value.extra["needed"]) == (number, "0")
    assert [t["from_store"] for t in rival_sent[0].body["transfers"]] == [b]
    assert _in_transit(container, here, number) == 4


def test_two_requests_sending_the_same_suggestion_at_once_send_it_once(
        client: TestClient, auth: Auth, container: Container, store_id: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    here, b, c = _group(store_id)
    number = _short_store(container, here, {b: 20, c: 3})
    clerk = auth("parts_clerk", "clerk-group", [here, b, c])
    # both requests read the views (caught up with the log, nothing in transit yet) before
    # either sends: the list's plan, B's 4, for both
    _meeting(monkeypatch, route, "coming_and_waiting", 2)
    answers = together(2, lambda _: client.post(
        "/transfers/from-suggestions", headers=clerk, json={"to_store": here}))
    statuses = sorted(a.status_code for a in answers if not isinstance(a, Exception))
    assert statuses == [201, 409], answers
    [sent] = [a.json() for a in answers if not isinstance(a, Exception) and a.status_code == 201]
    [refused] = [a for a in answers if not isinstance(a, Exception) and a.status_code == 409]
    assert [(t["from_store"], t["qty"]) for t in sent["transfers"]] == [(b, "4")]
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert (refused.json()["part_number"], refused.json()["needed"]) == (number, "0")
    assert _in_transit(container, here, number) == 4


def test_a_send_right_after_another_before_the_view_shows_it_sends_nothing(
        container: Container, store_id: str) -> None:
    here, b, c = _group(store_id)
    number = _short_store(container, here, {b: 20, c: 20})
    clerk = req(here, stores=(here, b, c))
    first = send_suggested(container.inventory, clerk, to_store=here, lines=[
        {"part_number": number, "from_store": b, "qty": "4"}], in_transit={}, waiting={})
    assert [t["qty"] for t in first.body["transfers"]] == ["4"]
    # the view has not shown B's transfer yet (as the command is told): C is refused
    with pytest.raises(TransferPlanChanged) as refused:
        send_suggested(container.inventory, clerk, to_store=here, lines=[
            {"part_number": number, "from_store": c, "qty": "4"}], in_transit={}, waiting={})
    assert (refused.value.extra["part_number"], refused.value.extra["needed"]) == (number, "0")
    # booked in, it is on hand: still nothing needed; nothing in transit any more
    container.inventory.receive_transfer(req(here),
                                         UUID(first.body["transfers"][0]["transfer_id"]))
    with pytest.raises(TransferPlanChanged):
        send_suggested(container.inventory, clerk, to_store=here, lines=[
            {"part_number": number, "from_store": c, "qty": "4"}], in_transit={}, waiting={})
    assert _in_transit(container, here, number) == 0
    assert item_of(container, here, number).available == 4


def test_two_stores_drawing_on_one_donors_spare_at_once_take_it_once(
        container: Container, rival: Container, store_id: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    here, b, other = _group(store_id)
    number = _short_store(container, here, {b: 4})
    container.inventory.set_levels(req(other), other, number, min_stock=4, reorder_qty=4)
    # both read B's stock item (4 to spare; each read after its receiver's) before either
    # saves; each asks all 4
    _meeting(monkeypatch, suggesting, "existing_stock", 2, at_call=2)
    systems = (container, rival)
    receivers = (here, other)
    clerk = req(here, stores=(here, b, other))
    results = together(2, lambda i: send_suggested(
        systems[i].inventory, clerk, to_store=receivers[i],
        lines=[{"part_number": number, "from_store": b, "qty": "4"}], in_transit={},
        waiting={}))
    assert len(_sent(results)) == 1, results
    [refused] = [r for r in results if isinstance(r, Exception)]
    assert isinstance(refused, TransferPlanChanged), refused
    assert (refused.extra["from_store"], refused.extra["spare"]) == (b, "0")
    assert item_of(container, b, number).on_hand == 0
