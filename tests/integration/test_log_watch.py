"""One LogWatch for a process's runners: who is told what, and nothing lost without it."""

from __future__ import annotations

import threading
import time
from typing import Any
from uuid import uuid4

import psycopg

from servicecore.container import Container
from servicecore.schema import EVENTS_TABLE
from tests.integration.kafka_support import wait_until
from tests.integration.support import head, open_order, request
from workers.log_watch import LogWatch
from workers.projection_runner import SAFETY_SECONDS, ProjectionRunner


def _view(container: Container, name: str) -> ProjectionRunner:
    view = next(v for v in container.views if v.name == name)
    return ProjectionRunner(container.app, container.pool, view, suffix="_watch",
                            idle_advance_seconds=60.0)


def _stored(conn: psycopg.Connection[Any], after: int, upto: int) -> int:
    row = conn.execute(f"SELECT count(*) FROM {EVENTS_TABLE} WHERE notification_id > %s "
                       "AND notification_id <= %s", (after, upto)).fetchone()
    assert row is not None
    return int(row[0])


def _flags(runner: ProjectionRunner) -> tuple[bool, int]:
    return runner._own, runner._others


def test_the_live_runners_share_one_watch(container: Container) -> None:
    watches = {id(r.watch) for r in container.runners}
    assert len(watches) == 1 and container.runners[0].watch is not None
    assert container.runners[0].watch.runners == container.runners


def test_the_watch_tells_each_runner_whether_an_event_of_its_own_arrived(
        container: Container, store_id: str) -> None:
    watch = LogWatch(container.app)
    orders, stock = _view(container, "work_orders"), _view(container, "stock")
    watch.subscribe(orders)
    watch.subscribe(stock)
    watch.seen = head(container.app)
    for runner in (orders, stock):
        runner._own, runner._others = False, 0
    with container.pool.connection() as conn:
        watch.look(conn)  # nothing new: nobody is told anything
        assert _flags(orders) == (False, 0) and _flags(stock) == (False, 0)

        # A work order opens: the work-order view is told it has work, the stock view only
        # that events it does not handle came.
        before = head(container.app)
        open_order(container.work_orders, store_id)
        watch.look(conn)
        # what the look could read: the ids after `before` are not all this command's when
        # another writer's insert took one of them and commits later (or rolls back: a gap)
        new = _stored(conn, before, watch.seen)
        assert _flags(orders) == (True, 0)
        assert _flags(stock) == (False, new)
        assert watch.seen == head(container.app)

        # A part is registered: the stock view's own event.
        orders._own = False
        container.inventory.register_part(
            request(store_id, "manager"), part_number="W" + uuid4().hex[:8].upper(),
            details={"name": "wiper", "unit": "pc", "category": "maintenance"},
            list_price="40.00")
        watch.look(conn)
        assert _flags(stock) == (True, new)
        assert orders._own is False and orders._others == 1


def test_a_watched_runner_holds_only_while_what_it_was_told_is_not_its_own(
        container: Container) -> None:
    runner = _view(container, "work_orders")
    runner._own, runner._others = False, 0
    # Told nothing: it waits for a signal, at most SAFETY_SECONDS, then looks itself.
    assert runner.watched_hold() == SAFETY_SECONDS
    # Only others', and it moved a moment ago: it may wait what is left of the hold.
    runner.advanced_at = time.monotonic()
    runner.signal(False, 3)
    waits = runner.watched_hold()
    assert waits is not None and 0 < waits <= 60.0
    # Long enough ago: now.
    runner.advanced_at = time.monotonic() - 61.0
    assert runner.watched_hold() is None
    # A batch's worth of others': now.
    runner.advanced_at = time.monotonic()
    runner.signal(False, runner.batch_size)
    assert runner.watched_hold() is None
    # An event of its own: now.
    runner._others = 1
    runner.signal(True, 0)
    assert runner.watched_hold() is None
    # A view that handles everything never holds.
    audit = _view(container, "audit_index")
    audit._own, audit._others = False, 0
    audit.advanced_at = time.monotonic()
    audit.signal(False, 1)
    assert audit.watched_hold() is None


class CountingCondition(threading.Condition):
    """The runner's condition, counting the wake-ups it is sent."""

    def __init__(self) -> None:
        super().__init__()
        self.wakeups = 0

    def notify(self, n: int = 1) -> None:
        self.wakeups += 1
        super().notify(n)


def test_a_runner_holding_for_others_events_is_not_woken_by_more_of_them(
        container: Container) -> None:
    runner = _view(container, "work_orders")
    runner._signalled = woken = CountingCondition()
    runner._own, runner._others = False, 0
    runner.advanced_at = time.monotonic()
    runner.signal(False, 1)  # the first: it leaves its SAFETY_SECONDS wait for the hold
    assert woken.wakeups == 1 and runner.watched_hold() is not None
    runner.signal(False, 2)  # more while it holds: its hold ends when it would anyway
    assert woken.wakeups == 1 and runner._others == 3
    runner.signal(False, runner.batch_size)  # a batch's worth: now
    assert woken.wakeups == 2 and runner.watched_hold() is None
    runner._others = 1
    runner.signal(True, 0)  # its own: now
    assert woken.wakeups == 3 and runner.watched_hold() is None
    # A view that handles everything is woken every time (it never holds).
    audit = _view(container, "audit_index")
    audit._signalled = audit_woken = CountingCondition()
    audit._own, audit._others = False, 1
    audit.signal(False, 1)
    assert audit_woken.wakeups == 1


def test_a_watched_runner_whose_watch_never_tells_it_still_reaches_the_head(
        container: Container, store_id: str) -> None:
    """The watch only wakes: without it (here: never started) the runner still follows the log
    by looking itself every SAFETY_SECONDS, skipping and repeating nothing."""
    runner = _view(container, "work_orders")
    LogWatch(container.app).subscribe(runner)
    with container.pool.connection() as conn, conn.transaction():
        for statement in runner.view.drop("_watch"):
            conn.execute(statement)
        runner.view.create(conn, "_watch")
        conn.execute("DELETE FROM projection_positions WHERE name = %s", (runner.position_name,))
    stop = threading.Event()
    thread = threading.Thread(target=runner.run, args=(stop, container.database_url),
                              daemon=True)
    thread.start()
    try:
        wait_until(lambda: runner.position() >= head(container.app), 30, "the catch-up")
        open_order(container.work_orders, store_id)
        last = head(container.app)
        wait_until(lambda: runner.position() >= last, 10, "the new event, without a signal")
        live_runner = next(r for r in container.runners if r.view.name == "work_orders")
        wait_until(lambda: live_runner.position() >= last, 10, "the live view")
        with container.pool.connection() as conn:
            watched = conn.execute("SELECT id, version FROM wo_view_watch ORDER BY id").fetchall()
            live = conn.execute("SELECT id, version FROM wo_view WHERE id = ANY(%s) ORDER BY id",
                                ([r[0] for r in watched],)).fetchall()
        assert watched and watched == live
    finally:
        stop.set()
        thread.join(timeout=5)
        with container.pool.connection() as conn, conn.transaction():
            for statement in runner.view.drop("_watch"):
                conn.execute(statement)
            conn.execute("DELETE FROM projection_positions WHERE name = %s",
                         (runner.position_name,))
