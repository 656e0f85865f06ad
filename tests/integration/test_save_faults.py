"""Saves under faults: big events, a connection lost before or after COMMIT, racing readers.

A save whose connection drops while it is in flight must never be decided again blindly: the
recorder finds out whether it committed (its command id) and answers that; only a save that
provably stored nothing is sent again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from uuid import NAMESPACE_URL, UUID, uuid4, uuid5

import psycopg
import pytest
from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import IntegrityError, OperationalError

from domain.application import ServiceCore
from domain.work_order import WorkOrder
from domain.work_orders import WorkOrders
from projections.audit import APPEND_LOCK_SQL, stored_command
from servicecore.container import Container, eventsourcing_env
from servicecore.deadline import request_waits
from servicecore.event_store import CommitUnknown, EventRecorder, _Save
from servicecore.pool import open_pool, share_pool
from servicecore.schema import APPEND_LOCK, COMMANDS_TABLE, EVENTS_TABLE
from tests.conftest import settings_for
from tests.integration.faults import FaultyProxy, faulty_proxy, local_port
from tests.integration.support import head, open_order


class Note(Aggregate):
    """A stand-in stream whose one event carries as many bytes as a test needs."""

    @event("Written")
    def __init__(self, text: str) -> None:
        self.text = text


class Keyed(Aggregate):
    """A stream named by a key: two creations with one key are the same stream."""

    @staticmethod
    def create_id(key: str) -> UUID:
        return uuid5(NAMESPACE_URL, key)

    @event("Created")
    def __init__(self, key: str, text: str) -> None:
        self.text = text


@pytest.fixture
def proxy(database_url: str) -> Iterator[FaultyProxy]:
    with faulty_proxy(database_url) as running:
        yield running


@pytest.fixture
def proxied(proxy: FaultyProxy, container: Container, tmp_path: Path) -> Iterator[ServiceCore]:
    """An application whose event store connections go through the proxy."""
    settings = settings_for(proxy.url, tmp_path, create_tables=False)
    app = ServiceCore(env=eventsourcing_env(proxy.url, settings),
                      personal_data=container.app.personal_data)
    assert isinstance(app.recorder, EventRecorder)
    yield app
    app.close()


def _work_orders_of(app: ServiceCore, store_id: str) -> list[UUID]:
    """Every work order of the store in the log (a store of its own per test)."""
    found = []
    start = 1
    while batch := app.recorder.select_notifications(start=start, limit=1000):
        found += [UUID(str(n.originator_id)) for n in batch
                  if n.topic.endswith(":WorkOrder.Opened")
                  and app.repository.get(n.originator_id).store_id == store_id]
        start = batch[-1].id + 1
    return found


def _arm_then_append(app: ServiceCore, proxy: FaultyProxy, moment: str, *,
                     then_away: bool = False) -> None:
    """Cut the connection of the very next append (not the loads before it); `then_away`:
    and refuse every new connection from that moment on."""
    recorder = app.recorder
    assert isinstance(recorder, EventRecorder)
    plain = recorder._append

    def append(conn: psycopg.Connection, params: dict,  # type: ignore[type-arg]
               **kwargs: str) -> dict[UUID, list[int]]:
        recorder._append = plain  # type: ignore[method-assign]
        proxy.cut(moment, local_port(conn))
        if then_away:
            proxy.refuse_new()
        return plain(conn, params, **kwargs)

    recorder._append = append  # type: ignore[method-assign]


@pytest.mark.parametrize("megabytes", [1, 5])
def test_a_big_event_is_stored_whole_and_later_saves_go_on(container: Container,
                                                           megabytes: int) -> None:
    app = container.app
    text = "制动异响" * (megabytes * 1024 * 1024 // 12)
    big = Note(text)

    app.save(big)

    assert app.repository.get(big.id).text == text
    # Nothing was left holding the append lock: another writer's save completes at once.
    done = threading.Event()
    threading.Thread(target=lambda: (app.save(Note("next")), done.set()), daemon=True).start()
    assert done.wait(10), "a save after the big one hung"


def test_a_save_whose_answer_is_lost_after_commit_is_answered_not_repeated(
        proxied: ServiceCore, proxy: FaultyProxy, container: Container, store_id: str,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="servicecore.event_store")
    work_orders = WorkOrders(proxied, container.settings.store_timezone)
    before = head(proxied)

    # The advisor opens a work order; the server commits, then the connection drops before
    # the answer reaches us (no Idempotency-Key: only the command id can tell).
    _arm_then_append(proxied, proxy, "reply")
    answer = open_order(work_orders, store_id)

    assert proxy.cuts == 1
    assert "had committed" in caplog.text
    # The answer is the stored command's: one work order, numbered once, nothing twice.
    assert _work_orders_of(proxied, store_id) == [UUID(answer["id"])]
    assert answer["number"].endswith("-000001")
    assert answer["notification_id"] == head(proxied)
    stored = proxied.recorder.select_notifications(start=before + 1, limit=100)
    assert sum(n.topic.endswith("WorkOrder.Opened") for n in stored) == 1


def test_a_lost_answer_is_resolved_with_a_connect_timeout_in_the_database_url(
        proxy: FaultyProxy, container: Container, store_id: str, tmp_path: Path) -> None:
    # Production URLs often carry libpq options such as connect_timeout; the commit check
    # opens a connection of its own from the same parameters.
    url = proxy.url + " connect_timeout=10"
    settings = settings_for(url, tmp_path, create_tables=False)
    app = ServiceCore(env=eventsourcing_env(url, settings),
                      personal_data=container.app.personal_data)
    pool = open_pool(url, settings)
    share_pool(app, pool)  # as build() does
    try:
        work_orders = WorkOrders(app, container.settings.store_timezone)
        _arm_then_append(app, proxy, "reply")
        answer = open_order(work_orders, store_id)
        assert proxy.cuts == 1
        assert _work_orders_of(app, store_id) == [UUID(answer["id"])]
        assert answer["number"].endswith("-000001")
    finally:
        app.close()
        pool.close()


def test_a_request_lost_before_the_server_saw_it_is_sent_again_once(
        proxied: ServiceCore, proxy: FaultyProxy, container: Container, store_id: str,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="servicecore.event_store")
    work_orders = WorkOrders(proxied, container.settings.store_timezone)

    # The network swallows the statement: the backend stays idle, nothing is committed; the
    # recorder ends that backend, finds no command row, and sends the save again.
    _arm_then_append(proxied, proxy, "request")
    answer = open_order(work_orders, store_id)

    assert proxy.cuts == 1
    assert "had not committed; sending it again" in caplog.text
    assert _work_orders_of(proxied, store_id) == [UUID(answer["id"])]
    assert answer["number"].endswith("-000001")


def test_a_save_killed_while_waiting_for_the_append_lock_is_stored_once(
        container: Container, database_url: str, store_id: str) -> None:
    app = container.app
    outcome: dict[str, object] = {}

    with psycopg.connect(database_url, autocommit=True) as holder:
        # Another transaction holds the append lock, so the save waits inside its INSERT.
        holder.execute(f"SELECT pg_advisory_lock({APPEND_LOCK})")
        worker = threading.Thread(
            target=lambda: outcome.update(answer=open_order(container.work_orders, store_id)))
        worker.start()
        waiting = None
        for _ in range(200):
            waiting = holder.execute(  # pg_locks is server-wide: this database's append lock
                "SELECT l.pid FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
                "WHERE l.locktype = 'advisory' AND NOT l.granted "
                "AND a.datname = current_database() AND a.usename = current_user").fetchone()
            if waiting:
                break
            time.sleep(0.05)
        assert waiting is not None, "the save never waited for the append lock"
        # An operator terminates that backend: the client's connection is lost mid-statement.
        holder.execute("SELECT pg_terminate_backend(%s)", (waiting[0],))
        time.sleep(0.3)
        holder.execute(f"SELECT pg_advisory_unlock({APPEND_LOCK})")
        worker.join(30)

    answer = outcome["answer"]
    assert isinstance(answer, dict)
    assert _work_orders_of(app, store_id) == [UUID(answer["id"])]
    assert isinstance(app.repository.get(UUID(answer["id"])), WorkOrder)


def test_an_unreachable_database_leaves_the_outcome_unknown_not_guessed(
        proxied: ServiceCore, proxy: FaultyProxy, container: Container) -> None:
    recorder = proxied.recorder
    assert isinstance(recorder, EventRecorder)
    recorder.resolve_seconds = 1.0
    proxied.save(Note("a connection is open"))
    # The answer is lost after COMMIT, and the database stays out of reach after that.
    _arm_then_append(proxied, proxy, "reply", then_away=True)

    with pytest.raises(CommitUnknown) as unknown:
        proxied.save(Note("was it stored?"))

    # The error names the save's command id; asked on a connection that reaches the database,
    # the command registry tells: the answer was lost after COMMIT, so it was stored.
    command_id = unknown.value.command_id
    assert isinstance(command_id, UUID)
    with container.pool.connection() as conn:
        found = stored_command(conn, command_id)
        assert stored_command(conn, uuid4()) is None
    assert found is not None and found["stored"] and len(found["notification_ids"]) == 1
    (stored,) = container.app.recorder.select_notifications(
        start=found["notification_ids"][0], limit=1)
    assert b"was it stored?" in stored.state


@pytest.mark.parametrize(("left", "window"), [(None, "1.5"), (3.0, "3.0"), (-5.0, "2.0")])
def test_the_commit_check_takes_what_is_left_of_the_request(
        proxied: ServiceCore, proxy: FaultyProxy, monkeypatch: pytest.MonkeyPatch,
        left: float | None, window: str) -> None:
    recorder = proxied.recorder
    assert isinstance(recorder, EventRecorder)
    recorder.resolve_seconds = 1.5
    proxied.save(Note("a connection is open"))
    if left is not None:  # a request with `left` seconds to its deadline
        recorder.resolve_seconds = 600.0
        monkeypatch.setattr("servicecore.event_store.time_left", lambda: left)
    _arm_then_append(proxied, proxy, "reply", then_away=True)

    with pytest.raises(CommitUnknown) as unknown:
        proxied.save(Note("was it stored?"))

    # Outside a request: `resolve_seconds`; in one: what is left of it, one look at least.
    assert f"did not come back within {window} s" in str(unknown.value)


def test_the_command_lookup_takes_the_same_lock_as_appends() -> None:
    assert APPEND_LOCK_SQL == f"SELECT pg_advisory_xact_lock({APPEND_LOCK})"


def test_every_save_records_its_command_and_tailing_readers_miss_nothing(
        container: Container, database_url: str) -> None:
    app = container.app
    start = head(app)
    seen: list[int] = []
    stop = threading.Event()

    def tail() -> None:
        # A reader that follows the log the way projections do: from its position onwards.
        position = start
        while not stop.is_set() or position < head(app):
            batch = app.recorder.select_notifications(start=position + 1, limit=50)
            seen.extend(n.id for n in batch)
            position = batch[-1].id if batch else position

    def write(count: int) -> None:
        for _ in range(count):
            app.save(Note("x"), Note("y"))

    reader = threading.Thread(target=tail)
    reader.start()
    writers = [threading.Thread(target=write, args=(40,)) for _ in range(8)]
    for w in writers:
        w.start()
    for w in writers:
        w.join()
    stop.set()
    reader.join(30)

    with psycopg.connect(database_url) as conn:
        stored = [r[0] for r in conn.execute(
            f"SELECT notification_id FROM {EVENTS_TABLE} WHERE notification_id > %s "
            "ORDER BY notification_id", (start,))]
        commands = conn.execute(
            f"SELECT count(*), sum(cardinality(notification_ids)) FROM {COMMANDS_TABLE} "
            "WHERE notification_ids[1] > %s", (start,)).fetchone()
        together = conn.execute(
            f"SELECT max(saves) FROM (SELECT count(*) AS saves FROM {COMMANDS_TABLE} "
            "WHERE notification_ids[1] > %s GROUP BY xmin) AS t", (start,)).fetchone()
    assert len(stored) >= 8 * 40 * 2
    assert seen == stored  # every id, once, in order, although 8 writers raced the reader
    assert commands is not None
    assert commands[1] == len(stored)
    # Saves that queued behind another's statement went together (group commit): one
    # transaction (the rows' xmin) carried several saves' command rows.
    assert together is not None and together[0] > 1


def test_a_conflict_in_a_group_of_saves_fails_only_its_own_save(
        container: Container, database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    app = container.app
    outcomes: dict[str, object] = {}
    recorder = app.recorder
    assert isinstance(recorder, EventRecorder)
    sizes: list[int] = []
    send = recorder._send_batch

    def counted(batch: list) -> None:  # type: ignore[type-arg]
        sizes.append(len(batch))
        send(batch)

    monkeypatch.setattr(recorder, "_send_batch", counted)

    def save(name: str, *aggregates: Aggregate) -> None:
        try:
            app.save(*aggregates)
            outcomes[name] = "stored"
        except IntegrityError:
            outcomes[name] = "conflict"

    key = str(uuid4())
    blocker, third = Note("blocker"), Note("third")
    # Two creations of the same stream (same id, version 1), queued together with a third save
    # while another save's statement waits for the append lock.
    second, duplicate = Keyed(key, "second"), Keyed(key, "duplicate")
    with psycopg.connect(database_url, autocommit=True) as holder:
        holder.execute(f"SELECT pg_advisory_lock({APPEND_LOCK})")
        threads = [threading.Thread(target=save, args=("blocker", blocker))]
        threads[0].start()
        time.sleep(0.3)  # the blocker's statement now waits for the lock; the rest queue
        for name, note in (("second", second), ("duplicate", duplicate), ("third", third)):
            threads.append(threading.Thread(target=save, args=(name, note)))
            threads[-1].start()
        time.sleep(0.3)
        holder.execute(f"SELECT pg_advisory_unlock({APPEND_LOCK})")
        for thread in threads:
            thread.join(30)

    assert 3 in sizes  # second, duplicate and third went as one statement, first
    assert outcomes["blocker"] == outcomes["third"] == "stored"
    assert sorted([outcomes["second"], outcomes["duplicate"]]) == ["conflict", "stored"]
    assert app.repository.get(third.id).text == "third"


def test_a_request_waiting_behind_another_save_stops_at_its_deadline(
        container: Container, database_url: str) -> None:
    app = container.app
    recorder = app.recorder
    assert isinstance(recorder, EventRecorder)
    outcomes: dict[str, object] = {}

    def save(name: str, note: Note, deadline: float | None) -> None:
        try:
            with request_waits(deadline, "an API request"):
                app.save(note)
            outcomes[name] = "stored"
        except OperationalError as error:
            outcomes[name] = error

    blocker, late = Note("blocker"), Note("late")
    with psycopg.connect(database_url, autocommit=True) as holder:
        holder.execute(f"SELECT pg_advisory_lock({APPEND_LOCK})")
        first = threading.Thread(target=save, args=("blocker", blocker, None))
        first.start()
        time.sleep(0.3)  # the blocker's statement now waits for the append lock
        # A request's save queues behind it; its deadline passes while the lock is held: it
        # is answered then, not sent (and so nothing stored), as the lock is still held.
        second = threading.Thread(target=save, args=("late", late, 0.5))
        second.start()
        second.join(60)
        assert "late" in outcomes, "the request waited past its deadline for its turn"
        holder.execute(f"SELECT pg_advisory_unlock({APPEND_LOCK})")
        first.join(30)

    refused = outcomes["late"]
    assert isinstance(refused, OperationalError) and not isinstance(refused, CommitUnknown)
    assert "not sent" in str(refused)
    assert outcomes["blocker"] == "stored"
    assert app.repository.get(blocker.id).text == "blocker"
    with pytest.raises(AggregateNotFoundError):
        app.repository.get(late.id)
    # The next save is sent at once (the queue holds nothing of the request that left).
    app.save(Note("next"))


def test_a_save_sent_with_others_is_undecided_when_its_request_ends(
        container: Container) -> None:
    recorder = container.app.recorder
    assert isinstance(recorder, EventRecorder)
    sent = _Save(uuid4(), [])
    with pytest.raises(CommitUnknown) as unknown, recorder._turn:
        recorder._give_up_turn(sent)  # taken into another save's statement, not queued
    assert unknown.value.command_id == sent.command_id
