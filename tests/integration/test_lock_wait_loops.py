"""A loop that waits on a lock another session holds says so, and is logged ERROR in time.

Found in a probe: a projection whose table an analyst's session holds locked (`LOCK TABLE`
left open), its writes allowed to wait as long as a statement may run (the lock timeout at 0,
a batch failing only when its statement timeout, the deadline, ends it), was logged WARNING
`… lost the database (QueryCanceled: …)` at each attempt, misleading, and never at ERROR: the
rule counted failures in a row only while each run lasted less than the supervisor's
`healthy_after`, and every run here lasted the whole statement timeout. Now the rule counts the
time since the loop's last completed batch, and the line names the lock and who holds it.
"""

from __future__ import annotations

import logging
import threading
import uuid

import psycopg
import pytest

from servicecore.container import Container
from tests.integration.kafka_support import wait_until
from tests.integration.support import open_order
from tests.scratch_systems import module_container
from workers.projection_group import ProjectionGroup
from workers.projection_runner import ProjectionRunner
from workers.supervisor import Supervisor

container = module_container("lockwait")

DEADLINE = 2.0  # each failed run waits this long on the lock; longer than `healthy_after`


def position(system: Container, name: str) -> int:
    with system.pool.connection() as conn:
        row = conn.execute("SELECT position FROM projection_positions WHERE name = %s",
                           (name,)).fetchone()
    return int(row[0]) if row else 0


def test_a_view_waiting_on_a_locked_table_is_logged_as_such_and_at_error_in_time(
        container: Container, caplog: pytest.LogCaptureFixture) -> None:
    system = container
    caplog.set_level(logging.INFO, logger="workers.supervisor")
    view = next(v for v in system.views if v.name == "work_orders")
    runner = ProjectionRunner(system.app, system.pool, view, deadline_seconds=DEADLINE,
                              lock_timeout_seconds=0.0)
    loops = Supervisor(system.database_url, first_backoff=0.05, max_backoff=0.2,
                       healthy_after=DEADLINE / 2, error_after=3 * DEADLINE)
    store_id = "ST" + uuid.uuid4().hex[:6].upper()
    locker = psycopg.connect(system.database_url)
    locker_pid = locker.info.backend_pid
    name = "projection-work_orders"

    def lines(level: int, start: str) -> list[str]:
        return [r.getMessage() for r in caplog.records
                if r.levelno == level and r.getMessage().startswith(start)]

    try:
        first = open_order(system.work_orders, store_id)["notification_id"]
        loops.start(name, runner.run, lambda: runner.active)
        wait_until(lambda: position(system, "work_orders") >= first, 60,
                   "the view to apply the first order")

        # An analyst's session takes the view's table and keeps it; an order comes in. Each
        # batch waits on the lock until its statement timeout, longer than `healthy_after`.
        locker.execute("LOCK TABLE wo_view IN ACCESS EXCLUSIVE MODE")
        second = open_order(system.work_orders, store_id)["notification_id"]

        told = f"{name} has not run for"
        wait_until(lambda: bool(lines(logging.ERROR, told)), 60,
                   "one ERROR line for the view standing still on the lock")
        [error] = lines(logging.ERROR, told)
        assert f"wo_view held by pid {locker_pid}" in error, error
        waits = lines(logging.WARNING, f"{name} waits on a lock another session holds: ")
        assert waits and all(f"wo_view held by pid {locker_pid}" in w
                             and "AccessExclusiveLock" in w for w in waits), waits
        assert not lines(logging.WARNING, f"{name} lost the database"), caplog.text
        assert position(system, "work_orders") < second

        # The lock let go: the view applies the order and runs.
        locker.rollback()
        wait_until(lambda: position(system, "work_orders") >= second, 60,
                   "the view to apply the order once the lock is gone")
        wait_until(lambda: loops.states()[name]["state"] == "running", 30, "the loop to run")
        assert len(lines(logging.ERROR, told)) == 1
    finally:
        locker.close()
        loops.stop(timeout=20)
    assert not any(t.name == name and t.is_alive() for t in threading.enumerate())


def _group(system: Container, loops: Supervisor, lock_timeout: float) -> ProjectionGroup:
    """The work orders' and the stock's views as one group, wired as the container wires it
    (a view that leaves runs as a supervised loop of its own)."""
    runners = [ProjectionRunner(system.app, system.pool, view, deadline_seconds=DEADLINE,
                                lock_timeout_seconds=lock_timeout)
               for view in system.views if view.name in ("stock", "work_orders")]
    return ProjectionGroup(
        system.app, system.pool, runners, deadline_seconds=DEADLINE,
        lock_timeout_seconds=lock_timeout,
        on_alone=lambda r: loops.start("alone-" + r.position_name, r.run, r.is_connected))


@pytest.mark.parametrize("lock_timeout", [0.0, DEADLINE / 4])
def test_a_group_waiting_on_a_locked_table_names_who_holds_it(
        container: Container, caplog: pytest.LogCaptureFixture, lock_timeout: float) -> None:
    """The group's batch (several views in one transaction) and its batches one view at a
    time name the lock's holder as a loop of one view does: waits the deadline cuts (lock
    timeout 0) are logged by the supervisor; a view that gives up on its lock (a lock
    timeout) leaves the group with a line that names the holder too."""
    system = container
    caplog.set_level(logging.INFO, logger="workers")
    loops = Supervisor(system.database_url, first_backoff=0.05, max_backoff=0.2,
                       healthy_after=DEADLINE / 2, error_after=60)
    group = _group(system, loops, lock_timeout)
    store_id = "ST" + uuid.uuid4().hex[:6].upper()
    locker = psycopg.connect(system.database_url)
    held = f"wo_view held by pid {locker.info.backend_pid}"

    def lines(level: int, start: str) -> list[str]:
        return [r.getMessage() for r in caplog.records
                if r.levelno == level and r.getMessage().startswith(start)]

    try:
        first = open_order(system.work_orders, store_id)["notification_id"]
        loops.start("projections", group.run, group.is_connected)
        wait_until(lambda: position(system, "work_orders") >= first, 60,
                   "the group to apply the first order")
        locker.execute("LOCK TABLE wo_view IN ACCESS EXCLUSIVE MODE")
        second = open_order(system.work_orders, store_id)["notification_id"]

        if lock_timeout:  # the view leaves the group, saying who holds its table
            wait_until(lambda: bool(lines(logging.WARNING, "projection work_orders gave up")),
                       60, "the view to leave the group")
            [left] = lines(logging.WARNING, "projection work_orders gave up")
            assert held in left and "AccessExclusiveLock" in left, left
        else:  # the group's batch, then its batch of the view alone, each cut at the deadline
            waits = "projections waits on a lock another session holds: "
            wait_until(lambda: len(lines(logging.WARNING, waits)) >= 2, 60,
                       "two of the group's waits logged")
            assert all(held in w and "AccessExclusiveLock" in w
                       for w in lines(logging.WARNING, waits)), caplog.text
            assert not lines(logging.WARNING, "projections lost the database"), caplog.text
        assert position(system, "work_orders") < second

        locker.rollback()
        wait_until(lambda: position(system, "work_orders") >= second, 60,
                   "the view to apply the order once the lock is gone")
    finally:
        locker.close()
        loops.stop(timeout=20)
