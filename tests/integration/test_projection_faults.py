"""Projection loops whose lock connection is ended under them (an operator's
pg_terminate_backend, an idle-session timeout, a dropped NAT entry).

The session advisory locks of the views go with that connection: a runner or group that went on
applying batches without noticing would no longer keep a second one on standby, and a view that
then failed on its own could not hand its lock over and would be left run by no loop at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import uuid4

import psycopg

from servicecore.container import Container
from tests.integration.kafka_support import wait_until
from tests.integration.support import head
from tests.integration.test_projection_group import (
    Ledger,
    _fresh,
    _position,
    _receipts,
    _stock_and_ledger,
)
from workers.log_watch import LogWatch
from workers.projection_group import ProjectionGroup
from workers.projection_runner import ProjectionRunner
from workers.supervisor import Supervisor

HOLDER_SQL = """
SELECT pid FROM pg_locks, (SELECT hashtext(%s)::bigint AS k) AS lock
WHERE locktype = 'advisory' AND granted AND objsubid = 1
  AND classid = ((lock.k >> 32) & 4294967295)::oid AND objid = (lock.k & 4294967295)::oid
"""


def holder(database_url: str, key: str) -> int | None:
    """The backend that holds the session advisory lock `key` (`ProjectionRunner.lock_key`)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute(HOLDER_SQL, (key,)).fetchone()
    return None if row is None else int(row[0])


def terminate(database_url: str, pid: int) -> None:
    with psycopg.connect(database_url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,))


def taken_again(database_url: str, keys: list[str], ended: int) -> bool:
    return all(holder(database_url, key) not in (None, ended) for key in keys)


def test_a_group_whose_lock_connection_ends_takes_its_locks_again_and_a_view_leaving_it_runs(
        container: Container, store_id: str) -> None:
    start = head(container.app)
    suffix = "_lk" + uuid4().hex[:4]
    stock, ledger = _stock_and_ledger(container, start, suffix)
    stock_runner = ProjectionRunner(container.app, container.pool, stock, suffix=suffix)
    ledger_runner = ProjectionRunner(container.app, container.pool, ledger, suffix=suffix)
    supervisor = Supervisor(container.database_url, first_backoff=0.2, max_backoff=0.5)
    group = ProjectionGroup(
        container.app, container.pool, [stock_runner, ledger_runner],
        on_alone=lambda r: supervisor.start("alone-" + r.position_name, r.run, r.is_connected))
    supervisor.start("group", group.run, group.is_connected)
    try:
        wait_until(lambda: stock_runner.active, 10, "the group to take its views")
        keys = [stock_runner.lock_key, ledger_runner.lock_key]
        pid = holder(container.database_url, keys[0])
        assert pid is not None and holder(container.database_url, keys[1]) == pid
        terminate(container.database_url, pid)

        # The group notices and takes its views' locks again on a new connection.
        wait_until(lambda: taken_again(container.database_url, keys, pid), 10,
                   "the group to take its views' locks again")

        # A view that now fails on its own leaves the group and runs as a loop of its own.
        ledger.poisoned.set()
        _receipts(container, store_id, 1)
        alone = "alone-" + ledger_runner.position_name
        wait_until(lambda: supervisor.states().get(alone, {}).get("restarts", 0) >= 1, 20,
                   "the ledger to fail in a loop of its own")
        ledger.poisoned.clear()
        last = head(container.app)
        wait_until(lambda: _position(container, ledger_runner.position_name) == last, 20,
                   "the ledger to catch up on its own")
        wait_until(lambda: _position(container, stock_runner.position_name) == last, 20,
                   "the stock view to follow")
        with container.pool.connection() as conn:
            assert conn.execute(f"SELECT count(*) FROM group_ledger{suffix}").fetchone() == \
                conn.execute("SELECT count(*) FROM servicecore_events WHERE notification_id "
                             "> %s AND notification_id <= %s", (start, last)).fetchone()
    finally:
        supervisor.stop()


def test_a_watched_runner_whose_lock_connection_ends_takes_its_lock_again(
        container: Container, store_id: str) -> None:
    start = head(container.app)
    suffix = "_lw" + uuid4().hex[:4]
    stock, _ = _stock_and_ledger(container, start, suffix)
    runner = ProjectionRunner(container.app, container.pool, stock, suffix=suffix)
    LogWatch(container.app).subscribe(runner)  # fed by a watch (here a silent one)
    supervisor = Supervisor(container.database_url, first_backoff=0.2, max_backoff=0.5)
    supervisor.start("runner", runner.run, runner.is_connected)
    try:
        wait_until(lambda: runner.active, 10, "the runner to take its view")
        pid = holder(container.database_url, runner.lock_key)
        assert pid is not None
        terminate(container.database_url, pid)
        wait_until(lambda: taken_again(container.database_url, [runner.lock_key], pid), 10,
                   "the runner to take its lock again")
        _receipts(container, store_id, 1)
        last = head(container.app)
        wait_until(lambda: _position(container, runner.position_name) == last, 10,
                   "the runner to follow")
    finally:
        supervisor.stop()


class Terminating(Ledger):
    """A ledger that, the first `ends` times it fails, ends the connection holding its lock
    first: the lock connection is lost just as the view fails on its own."""

    def __init__(self, name: str, database_url: str, ends: int) -> None:
        super().__init__(name)
        self.database_url = database_url
        self.lock_key = ""
        self.ends = ends

    def apply(self, conn: psycopg.Connection[Any], events: Sequence[tuple[int, Any]],
              suffix: str = "") -> None:
        if self.poisoned.is_set() and self.ends > 0:
            pid = holder(self.database_url, self.lock_key)
            if pid is not None:
                terminate(self.database_url, pid)
                self.ends -= 1
        super().apply(conn, events, suffix)


def test_a_view_leaving_the_group_as_the_lock_connection_is_lost_still_runs_on_its_own(
        container: Container, store_id: str) -> None:
    start = head(container.app)
    suffix = "_ll" + uuid4().hex[:4]
    stock, _ = _stock_and_ledger(container, start, suffix)
    # the group's batch fails (its lock connection ended too), then the ledger alone fails
    # with the new lock connection ended as well: its lock cannot be handed over
    ledger = Terminating("zz_ledger", container.database_url, ends=2)
    _fresh(container, ledger, suffix, start)
    stock_runner = ProjectionRunner(container.app, container.pool, stock, suffix=suffix)
    ledger_runner = ProjectionRunner(container.app, container.pool, ledger, suffix=suffix)
    ledger.lock_key = ledger_runner.lock_key
    supervisor = Supervisor(container.database_url, first_backoff=0.2, max_backoff=0.5)
    group = ProjectionGroup(
        container.app, container.pool, [stock_runner, ledger_runner],
        on_alone=lambda r: supervisor.start("alone-" + r.position_name, r.run, r.is_connected))
    ledger.poisoned.set()
    supervisor.start("group", group.run, group.is_connected)
    try:
        _receipts(container, store_id, 1)
        wait_until(lambda: ledger.ends == 0 and group.alone == [ledger_runner], 20,
                   "the ledger to leave the group")
        alone = "alone-" + ledger_runner.position_name
        wait_until(lambda: alone in supervisor.states(), 10,
                   "the ledger to run in a loop of its own")
        ledger.poisoned.clear()
        last = head(container.app)
        wait_until(lambda: _position(container, ledger_runner.position_name) == last, 20,
                   "the ledger to catch up on its own")
        wait_until(lambda: _position(container, stock_runner.position_name) == last, 20,
                   "the stock view to follow")
    finally:
        supervisor.stop()


def test_a_group_every_view_of_which_left_is_idle_and_readiness_follows_the_views_loops(
        container: Container, store_id: str) -> None:
    start = head(container.app)
    tag = uuid4().hex[:4]
    ledger = Ledger("zz_ledger")
    runners = []
    for suffix in (f"_ia{tag}", f"_ib{tag}"):  # one view, two tables and positions
        _fresh(container, ledger, suffix, start)
        runners.append(ProjectionRunner(container.app, container.pool, ledger, suffix=suffix))
    supervisor = Supervisor(container.database_url, first_backoff=0.2, max_backoff=0.5)
    group = ProjectionGroup(
        container.app, container.pool, list(runners),
        on_alone=lambda r: supervisor.start("projection-" + r.position_name, r.run,
                                            r.is_connected))
    ledger.poisoned.set()
    supervisor.start("group", group.run, group.is_connected, group.idle)
    try:
        _receipts(container, store_id, 1)
        wait_until(lambda: not group.runners, 20, "both views to leave the group")
        # The group says it has nothing to do and why, and holds no connection; what is
        # failing is each view's own loop, and readiness says so.
        wait_until(lambda: supervisor.states()["group"]["state"] == "idle", 10,
                   "the group to report idle")
        state = supervisor.states()["group"]
        assert state["idle"] == (f"no views: projection-zz_ledger_ia{tag}, projection-"
                                 f"zz_ledger_ib{tag} left the group and run as loops of their own")
        assert not group.connected
        alone = [f"projection-{r.position_name}" for r in runners]
        wait_until(lambda: all(supervisor.states()[n]["restarts"] >= 1 for n in alone), 20,
                   "the views' own loops to fail")
        wait_until(lambda: any(p.startswith(f"loop {alone[0]} is restarting after PoisonEvent")
                               for p in supervisor.problems()), 10,
                   "readiness to name a view's own loop")
        assert not any(p.startswith("loop group ") for p in supervisor.problems())

        # Mended: the views' loops run, and the process is ready with the group idle.
        ledger.poisoned.clear()
        last = head(container.app)
        for runner in runners:
            wait_until(lambda r=runner: _position(container, r.position_name) == last, 20,
                       "the view to catch up on its own")
        wait_until(supervisor.healthy, 10, "every loop to run again")
        assert supervisor.states()["group"]["state"] == "idle"
    finally:
        supervisor.stop()
