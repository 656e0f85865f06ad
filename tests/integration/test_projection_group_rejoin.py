"""A view that left its projection group goes back to it once healthy again (its own loop ran
`rejoin_seconds` without a failure, applied batches and reached the head): its loop ends, the
group applies it again, every event once. A view whose failure persists stays alone."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

import psycopg

from servicecore.container import Container
from tests.integration.support import head, open_order
from tests.integration.test_projection_group import (
    Ledger,
    _fresh,
    _position,
    _receipts,
    _rows,
    _until,
    _view,
)
from workers.projection_group import ProjectionGroup
from workers.projection_runner import ProjectionRunner
from workers.supervisor import Supervisor

DEADLINE = 60.0  # the batches' statement timeout: far longer than the waits below
LOCK_WAIT = 1.0  # SERVICECORE_PROJECTION_LOCK_TIMEOUT_SECONDS
REJOIN = 1.0  # SERVICECORE_PROJECTION_REJOIN_SECONDS


class ThreadLedger(Ledger):
    """The ledger, noting which thread (a supervised loop's, by its name) applied each event."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.threads: dict[int, str] = {}

    def apply(self, conn: psycopg.Connection[Any], events: Sequence[tuple[int, Any]],
              suffix: str = "") -> None:
        super().apply(conn, events, suffix)
        for nid, _ in events:
            self.threads[nid] = threading.current_thread().name


def _group(container: Container, supervisor: Supervisor, views: Sequence[Any], suffix: str,
           rejoin_batches: int, rejoin_seconds: float,
           ) -> tuple[ProjectionGroup, list[ProjectionRunner]]:
    """As the container wires it: a view that leaves runs as `projection-<view>`."""
    app, pool = container.app, container.pool
    runners = [ProjectionRunner(app, pool, view, suffix=suffix, batch_size=2,
                                deadline_seconds=DEADLINE, lock_timeout_seconds=LOCK_WAIT)
               for view in views]
    group = ProjectionGroup(
        app, pool, list(runners), batch_size=2, deadline_seconds=DEADLINE,
        lock_timeout_seconds=LOCK_WAIT, rejoin_seconds=rejoin_seconds,
        rejoin_batches=rejoin_batches,
        on_alone=lambda r: supervisor.start("projection-" + r.position_name, r.run,
                                            r.is_connected))
    return group, runners


def test_a_view_that_left_on_a_lock_rejoins_its_group_once_healthy(
        container: Container, store_id: str) -> None:
    app, pool = container.app, container.pool
    start = head(app)
    ledger = ThreadLedger("aa_ledger")  # first in name order
    others = [_view(container, name) for name in ("audit_index", "stock")]
    for view in [ledger, *others]:
        _fresh(container, view, "_rj", start)
    _fresh(container, _view(container, "stock"), "_rjref", start)
    supervisor = Supervisor(container.database_url)
    group, runners = _group(container, supervisor, [ledger, *others], "_rj", 2, REJOIN)
    supervisor.start("projections-rj", group.run, group.is_connected, group.idle)
    alone = "projection-aa_ledger_rj"
    holder = psycopg.connect(container.database_url)
    try:
        _until(lambda: all(r.active for r in runners), "the group did not take its views")
        holder.execute("LOCK TABLE group_ledger_rj IN ACCESS EXCLUSIVE MODE")
        _receipts(container, store_id, 2)
        _until(lambda: group.alone == [runners[0]] and alone in supervisor.states(),
               "the locked view did not leave its group", seconds=40.0)
        _until(lambda: supervisor.states()[alone]["restarts"] >= 1,
               "the view's own loop did not fail on the lock")
        holder.rollback()  # the nightly lock is over

        # Events keep coming: the view catches up on its own, then goes back to the group.
        deadline = time.monotonic() + 90.0
        while runners[0] not in group.runners:
            assert time.monotonic() < deadline, "the healthy view never went back to its group"
            open_order(container.work_orders, store_id)
            time.sleep(0.3)
        assert group.runners == runners and group.alone == [] and group.returning == []
        assert alone not in supervisor.states()  # its own loop is gone
        assert runners[0].active and runners[0].rejoins == 1
        assert group.idle() is None

        # From now on the group applies it with the others, every event once.
        back = head(app)
        _receipts(container, store_id, 2)
        for _ in range(2):
            open_order(container.work_orders, store_id)
        last = head(app)
        _until(lambda: all(_position(container, v.name + "_rj") == last
                           for v in [ledger, *others]),
               "the group did not apply the events after the view came back", seconds=40.0)
        with pool.connection() as conn:
            ids = [r[0] for r in conn.execute("SELECT id FROM group_ledger_rj ORDER BY id")]
            expected = [r[0] for r in conn.execute(
                "SELECT notification_id FROM servicecore_events WHERE notification_id > %s "
                "AND notification_id <= %s ORDER BY notification_id", (start, last))]
        assert ids == expected
        assert {ledger.threads[nid] for nid in ids if nid > back} == {"projections-rj"}
        stock = _view(container, "stock")
        ProjectionRunner(app, pool, stock, suffix="_rjref").catch_up()
        assert _rows(container, stock, "_rj") == _rows(container, stock, "_rjref")
        assert supervisor.states()["projections-rj"]["restarts"] == 0
        assert not supervisor.problems()
    finally:
        holder.close()
        supervisor.stop()


def test_a_view_whose_lock_persists_never_rejoins(container: Container, store_id: str) -> None:
    start = head(container.app)
    ledger = Ledger("ac_ledger")
    audit = _view(container, "audit_index")
    for view in (ledger, audit):
        _fresh(container, view, "_rsl", start)
    supervisor = Supervisor(container.database_url, max_backoff=2.0)
    group, runners = _group(container, supervisor, [ledger, audit], "_rsl", 1, REJOIN)
    supervisor.start("projections-rsl", group.run, group.is_connected, group.idle)
    alone = "projection-ac_ledger_rsl"
    holder = psycopg.connect(container.database_url)
    try:
        _until(lambda: all(r.active for r in runners), "the group did not take its views")
        holder.execute("LOCK TABLE group_ledger_rsl IN ACCESS EXCLUSIVE MODE")
        open_order(container.work_orders, store_id)
        _until(lambda: group.alone == [runners[0]] and alone in supervisor.states(),
               "the locked view did not leave its group", seconds=40.0)
        # Several rejoin periods, events coming all along: it fails each time, stays alone.
        until = time.monotonic() + 6 * REJOIN
        while time.monotonic() < until:
            open_order(container.work_orders, store_id)
            assert group.runners == runners[1:] and group.alone == [runners[0]]
            assert alone in supervisor.states()
            time.sleep(0.3)
        assert runners[0].rejoins == 0 and group.returning == []
        assert supervisor.states()[alone]["restarts"] >= 2
        last = head(container.app)  # the other view keeps up meanwhile
        _until(lambda: _position(container, "audit_index_rsl") == last,
               "the other view did not keep up")
    finally:
        holder.close()
        supervisor.stop()


def test_a_view_that_keeps_failing_now_and_then_stays_alone(
        container: Container, store_id: str) -> None:
    """Its batches succeed between its failures, and it reaches the head; but it fails again
    sooner than the rejoin period each time, so it never goes back and forth."""
    start = head(container.app)
    ledger = Ledger("ad_ledger")
    audit = _view(container, "audit_index")
    for view in (ledger, audit):
        _fresh(container, view, "_rsf", start)
    # restarts within 0.5 s: far within the period, so the failures come back sooner
    supervisor = Supervisor(container.database_url, first_backoff=0.2, max_backoff=0.5)
    group, runners = _group(container, supervisor, [ledger, audit], "_rsf", 1, 3.0)
    supervisor.start("projections-rsf", group.run, group.is_connected, group.idle)
    alone = "projection-ad_ledger_rsf"
    try:
        _until(lambda: all(r.active for r in runners), "the group did not take its views")
        for _ in range(5):
            failed = runners[0].failed_at
            ledger.poisoned.set()
            open_order(container.work_orders, store_id)
            _until(lambda: runners[0].failed_at != failed, "the view did not fail")  # noqa: B023
            ledger.poisoned.clear()
            _until(lambda: group.alone == [runners[0]], "the failing view did not leave")
            # Mended for now: it applies the event it stopped at, and the next ones.
            applied = ledger.calls
            open_order(container.work_orders, store_id)
            _until(lambda: ledger.calls > applied and runners[0].poison is None,  # noqa: B023
                   "the view did not apply its events once mended")
            time.sleep(0.3)
            assert group.alone == [runners[0]] and runners[0] not in group.runners
            assert alone in supervisor.states()
        assert runners[0].rejoins == 0 and runners[0].clean_batches >= 1
    finally:
        supervisor.stop()


def test_a_group_every_view_of_which_left_takes_one_back(
        container: Container, store_id: str) -> None:
    """With no view left, the group lets its connection go (`idle`); a view healthy again
    brings it back to work."""
    start = head(container.app)
    ledger = Ledger("ae_ledger")
    _fresh(container, ledger, "_ri", start)
    supervisor = Supervisor(container.database_url)
    group, runners = _group(container, supervisor, [ledger], "_ri", 1, REJOIN)
    supervisor.start("projections-ri", group.run, group.is_connected, group.idle)
    try:
        _until(lambda: runners[0].active, "the group did not take its view")
        ledger.poisoned.set()
        open_order(container.work_orders, store_id)
        _until(lambda: supervisor.states()["projections-ri"]["state"] == "idle",
               "the group without views is not idle", seconds=40.0)
        assert not group.connected and group.runners == []
        ledger.poisoned.clear()
        deadline = time.monotonic() + 90.0
        while runners[0] not in group.runners:
            assert time.monotonic() < deadline, "the view never went back to its group"
            open_order(container.work_orders, store_id)
            time.sleep(0.3)
        _until(lambda: supervisor.states()["projections-ri"]["state"] == "running"
               and group.connected, "the group did not run again")
        assert "projection-ae_ledger_ri" not in supervisor.states()
        open_order(container.work_orders, store_id)
        last = head(container.app)
        _until(lambda: _position(container, "ae_ledger_ri") == last,
               "the group did not apply the view again")
        with container.pool.connection() as conn:
            assert conn.execute("SELECT count(*) FROM group_ledger_ri").fetchone() == \
                conn.execute("SELECT count(*) FROM servicecore_events WHERE notification_id "
                             "> %s AND notification_id <= %s", (start, last)).fetchone()
    finally:
        supervisor.stop()
