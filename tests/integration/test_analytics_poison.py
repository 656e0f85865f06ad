"""A poison event for the analytics loader (a handler that raises on it, a state that does not
decode): the loader loads every event before it, once, stops on it and says which one and why;
a database that is away is not taken for one."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import duckdb
import psycopg
import pytest

from analytics.events import EventSource
from analytics.fold import HANDLERS, Fold
from analytics.loader import REVISION, AnalyticsLoader
from analytics.poison import PoisonEvent
from analytics.publish import info_path, snapshot_path
from servicecore.container import Container
from tests.integration.kafka_support import wait_until
from tests.integration.support import head, open_order
from tests.integration.test_analytics_faults import orders_loaded, position_of
from tests.scratch_systems import module_container
from workers.process import analytics_details
from workers.supervisor import Supervisor

OPENED = "WorkOrder.Opened"

# Each loader here reads the log from event 0 (a reload, again): a log of the module's own.
container = module_container("sc_poison")


def _opened(container: Container, after: int) -> list[tuple[int, str]]:
    """The work orders opened after `after`: notification id and topic."""
    with container.pool.connection() as conn:
        return [(int(r[0]), str(r[1])) for r in conn.execute(
            "SELECT notification_id, topic FROM servicecore_events WHERE notification_id > %s "
            "AND split_part(topic, ':', 2) = %s ORDER BY notification_id", (after, OPENED))]


def _before(container: Container, position: int) -> int:
    with container.pool.connection() as conn:
        found = conn.execute("SELECT max(notification_id) FROM servicecore_events "
                             "WHERE notification_id < %s", (position,)).fetchone()
    assert found is not None
    return int(found[0])


def _poison_the_second_of_three(container: Container, store_id: str,
                                monkeypatch: pytest.MonkeyPatch) -> tuple[int, str]:
    """Three visits opened in the store; the fold fails on the second one's `Opened` event
    (the others fold as before): its (position, topic)."""
    start = head(container.app)
    for _ in range(3):
        open_order(container.work_orders, store_id)
    poison, topic = _opened(container, start)[1]
    handler = HANDLERS[OPENED]

    def picky(fold: Fold, event: Any, position: int) -> None:
        if position == poison:
            raise RuntimeError("cannot fold this event")
        handler(fold, event, position)

    monkeypatch.setitem(HANDLERS, OPENED, picky)
    return poison, topic


def test_the_loader_loads_the_events_before_a_poison_event_once_and_stops_on_it(
        container: Container, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store_id = "AP" + uuid.uuid4().hex[:6].upper()
    handler = HANDLERS[OPENED]
    poison, topic = _poison_the_second_of_three(container, store_id, monkeypatch)
    loader = AnalyticsLoader(container.app, tmp_path / "analytics.duckdb")
    try:
        # One batch would hold every event: those before the poison are loaded all the same.
        with pytest.raises(PoisonEvent) as raised:
            loader.catch_up()
        assert (raised.value.position, raised.value.topic) == (poison, topic)
        assert str(raised.value) == (f"analytics loader stops at event {poison} ({topic}): "
                                     "RuntimeError: cannot fold this event")
        assert loader.position() == _before(container, poison)
        assert orders_loaded(loader, store_id) == 1
        assert analytics_details(loader)["stopped_at"] == {
            "position": poison, "topic": topic, "error": "RuntimeError: cannot fold this event"}

        # Met again (its loop started again): it stops there at once, nothing moved.
        with pytest.raises(PoisonEvent):
            loader.run_batch()
        assert loader.position() == _before(container, poison)

        # Mended: the rest follows, every event once.
        monkeypatch.setitem(HANDLERS, OPENED, handler)
        loader.catch_up()
        assert loader.poison is None and analytics_details(loader)["stopped_at"] is None
        assert loader.position() == head(container.app)
        assert orders_loaded(loader, store_id) == 3
    finally:
        loader.close()


def test_a_state_that_does_not_decode_stops_the_supervised_loader_after_the_ones_before_it(
        container: Container, tmp_path: Path) -> None:
    store_id = "AP" + uuid.uuid4().hex[:6].upper()
    start = head(container.app)
    for _ in range(3):
        open_order(container.work_orders, store_id)
    poison, topic = _opened(container, start)[2]
    loader = AnalyticsLoader(container.app, tmp_path / "analytics.duckdb", batch_size=1000)
    decoded = loader.source._decoded

    def broken(rows: list[tuple[Any, ...]]) -> Any:
        if any(row[0] == poison for row in rows):
            raise ValueError("state is not JSON")
        return decoded(rows)

    loader.source._decoded = broken  # type: ignore[method-assign]
    supervisor = Supervisor("unused", first_backoff=0.1, max_backoff=0.2)
    try:
        supervisor.start("analytics", lambda stop, _conninfo: loader.run(stop))
        wait_until(lambda: supervisor.states()["analytics"]["restarts"] >= 2, 30,
                   "the loader to fail on the poison event")
        assert (f"PoisonEvent: analytics loader stops at event {poison} ({topic}): "
                "ValueError: state is not JSON") == supervisor.states()["analytics"]["last_error"]
        assert position_of(loader) == _before(container, poison)
        assert orders_loaded(loader, store_id) == 2
    finally:
        supervisor.stop(timeout=10)
        loader.close()


def test_a_database_that_is_away_fails_the_batch_and_is_not_taken_for_a_poison_event(
        container: Container, tmp_path: Path) -> None:
    open_order(container.work_orders, "AP" + uuid.uuid4().hex[:6].upper())
    loader = AnalyticsLoader(container.app, tmp_path / "analytics.duckdb")
    reads = 0

    def away(after: int, limit: int) -> Any:
        nonlocal reads
        reads += 1
        raise psycopg.OperationalError("connection refused")

    loader.source.read = away  # type: ignore[method-assign]
    try:
        with pytest.raises(psycopg.OperationalError):
            loader.run_batch()
        assert reads == 1 and loader.poison is None and loader.position() == 0
    finally:
        loader.close()


def test_a_reload_that_stops_on_a_poison_event_resumes_there_when_started_again(
        container: Container, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store_id = "AP" + uuid.uuid4().hex[:6].upper()
    path = tmp_path / "analytics.duckdb"
    open_order(container.work_orders, store_id)
    loader = AnalyticsLoader(container.app, path, batch_size=1000)
    loader.catch_up()
    loader.close()
    handler = HANDLERS[OPENED]
    poison, topic = _poison_the_second_of_three(container, store_id, monkeypatch)
    read = EventSource.read
    starts: list[int] = []  # where each batch read began

    def reads(source: EventSource, after: int, limit: int) -> Any:
        starts.append(after)
        return read(source, after, limit)

    monkeypatch.setattr(EventSource, "read", reads)
    # A loader of a newer fold reloads the tables from event 0 and meets the poison event.
    loader = AnalyticsLoader(container.app, path, batch_size=1000, revision=REVISION + 1)
    try:
        with pytest.raises(PoisonEvent):
            loader.reload_if_revised()
        assert min(starts) == 0
        assert analytics_details(loader)["stopped_at"] == {
            "position": poison, "topic": topic, "error": "RuntimeError: cannot fold this event"}

        # Started again (as the supervisor does): it takes up the reload where it stopped,
        # tries the poison event alone, and stops there again.
        starts.clear()
        with pytest.raises(PoisonEvent):
            loader.reload_if_revised()
        assert starts == [_before(container, poison)]
        assert analytics_details(loader)["stopped_at"]["position"] == poison

        # Mended: the reload goes on from there to the head and takes the file's place.
        monkeypatch.setitem(HANDLERS, OPENED, handler)
        starts.clear()
        assert loader.reload_if_revised()
        assert min(starts) == _before(container, poison)
        assert loader.poison is None and analytics_details(loader)["stopped_at"] is None
        assert loader.written_by() == REVISION + 1 and loader.position() == head(container.app)
        assert orders_loaded(loader, store_id) == 4
    finally:
        loader.close()


@pytest.mark.parametrize("error", [RecursionError, RuntimeError])
def test_the_events_before_a_poison_event_reach_the_published_snapshot(
        container: Container, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        error: type[Exception]) -> None:
    """Before, the snapshot the readers open stayed at its last publication for as long as the
    loader stood at the poison event (each run raised before it published)."""
    store_id = "AS" + uuid.uuid4().hex[:6].upper()
    loader = AnalyticsLoader(container.app, tmp_path / "analytics.duckdb", publish_every=0.0)
    loader.catch_up()
    loader.publish(force=True)
    published = loader.published_position
    start = head(container.app)
    for _ in range(3):
        open_order(container.work_orders, store_id)
    poison = _opened(container, start)[1][0]
    handler = HANDLERS[OPENED]

    def picky(fold: Fold, event: Any, position: int) -> None:
        if position == poison:
            raise error("the fold cannot take this event")  # e.g. too deep a recursion
        handler(fold, event, position)

    monkeypatch.setitem(HANDLERS, OPENED, picky)
    supervisor = Supervisor("unused", first_backoff=0.1, max_backoff=0.2)
    try:
        supervisor.start("analytics", lambda stop, _conninfo: loader.run(stop))
        wait_until(lambda: loader.poison is not None, 30, "the loader to stop on the event")
        assert f"{error.__name__}: the fold cannot take this event" in str(loader.poison)
        wait_until(lambda: supervisor.states()["analytics"]["restarts"] >= 2, 30,
                   "the loader to be started again on it")
        assert supervisor.states()["analytics"]["state"] in ("restarting", "running")
        before = _before(container, poison)
        assert published < before
        info = json.loads(info_path(loader.path).read_text())
        with duckdb.connect(str(snapshot_path(loader.path)), read_only=True) as snapshot:
            found = snapshot.execute("SELECT position FROM analytics_position").fetchone()
            opened = snapshot.execute("SELECT count(*) FROM fact_work_orders "
                                      "WHERE store_id = ?", [store_id]).fetchone()
        assert info["position"] == (found[0] if found else None) == before
        assert opened == (1,)  # the one before the poison event, whole
    finally:
        supervisor.stop(timeout=10)
        loader.close()
