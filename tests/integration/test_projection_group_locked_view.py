"""A view whose table another session holds locked (a `LOCK TABLE` left open, an analyst's
long transaction, a migration) does not hold back the other views of its group: they keep up
with the log while the lock is held, and the locked view catches up, every event once, when
it is let go."""

from __future__ import annotations

import time

import psycopg

from projections.base import ReadModel
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
from workers.lock_waits import lock_wait
from workers.projection_group import ProjectionGroup
from workers.projection_health import stalls
from workers.projection_runner import ProjectionRunner
from workers.supervisor import Supervisor

DEADLINE = 60.0  # the batches' statement timeout: far longer than the waits below
LOCK_WAIT = 1.0  # SERVICECORE_PROJECTION_LOCK_TIMEOUT_SECONDS


def test_a_view_whose_table_is_locked_fails_alone_and_the_others_keep_up(
        container: Container, store_id: str) -> None:
    app, pool = container.app, container.pool
    start = head(app)
    ledger = Ledger("aa_ledger")  # first in name order: its turn comes first in a round
    others = [_view(container, name) for name in ("audit_index", "stock", "work_orders")]
    for view in [ledger, *others]:
        _fresh(container, view, "_lk", start)
    _fresh(container, _view(container, "stock"), "_lkref", start)

    def runner(view: ReadModel) -> ProjectionRunner:
        return ProjectionRunner(app, pool, view, suffix="_lk", batch_size=2,
                                deadline_seconds=DEADLINE, lock_timeout_seconds=LOCK_WAIT)

    runners = [runner(view) for view in [ledger, *others]]
    supervisor = Supervisor(container.database_url)
    group = ProjectionGroup(  # as the container wires it: a view that leaves, supervised
        app, pool, runners, batch_size=2, deadline_seconds=DEADLINE,
        lock_timeout_seconds=LOCK_WAIT,
        on_alone=lambda r: supervisor.start("alone-" + r.position_name, r.run, r.is_connected))
    supervisor.start("group-lk", group.run, group.is_connected)
    holder = psycopg.connect(container.database_url)
    try:
        _until(lambda: all(r.active for r in runners), "the group did not take its views")
        holder.execute("LOCK TABLE group_ledger_lk IN ACCESS EXCLUSIVE MODE")
        _receipts(container, store_id, 3)
        for _ in range(2):
            open_order(container.work_orders, store_id)
        last = head(app)

        # While the lock is held, every other view reaches the head (batches of 2 events:
        # several batches each) ...
        _until(lambda: all(_position(container, v.name + "_lk") == last for v in others),
               "the other views were held back by the locked one", seconds=40.0)
        # ... the locked view has applied nothing, and its loop says why.
        assert _position(container, "aa_ledger_lk") == start
        _until(lambda: any("aa_ledger_lk" in problem and "lock" in problem
                           for problem in supervisor.problems()),
               "no loop names the locked view and its lock")
        _until(lambda: any("aa_ledger_lk" in reason and "locked by another session" in reason
                           for reason in stalls(runners, 0.5)),
               "the view's stall does not say its tables are locked")
        assert holder.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS
        # The group itself never failed: the database answered all along.
        assert supervisor.states()["group-lk"]["restarts"] == 0
        assert group.alone == [runners[0]]

        # Let go, the locked view catches up: every event once (the ledger's primary key
        # would refuse a second), each with its position.
        holder.rollback()
        _until(lambda: _position(container, "aa_ledger_lk") == last,
               "the locked view did not catch up", seconds=60.0)
        with pool.connection() as conn:
            ids = [r[0] for r in conn.execute("SELECT id FROM group_ledger_lk ORDER BY id")]
            expected = [r[0] for r in conn.execute(
                "SELECT notification_id FROM servicecore_events WHERE notification_id > %s "
                "AND notification_id <= %s ORDER BY notification_id", (start, last))]
        assert ids == expected
        # The others' rows are those of a runner that applied each event once.
        stock = _view(container, "stock")
        ProjectionRunner(app, pool, stock, suffix="_lkref").catch_up()
        assert _rows(container, stock, "_lk") == _rows(container, stock, "_lkref")
        _until(lambda: not supervisor.problems(), "a loop still reports a problem")
    finally:
        holder.close()
        supervisor.stop()


def test_a_lock_on_the_event_log_is_every_views_wait_and_none_leaves_the_group(
        container: Container, owner_database_url: str, store_id: str) -> None:
    app, pool = container.app, container.pool
    start = head(app)
    ledger = Ledger("ab_ledger")
    views = [ledger, _view(container, "audit_index"), _view(container, "stock")]
    for view in views:
        _fresh(container, view, "_ev", start)
    _receipts(container, store_id, 2)
    last = head(app)
    runners = [ProjectionRunner(app, pool, view, suffix="_ev", deadline_seconds=DEADLINE,
                                lock_timeout_seconds=0.2) for view in views]
    supervisor = Supervisor(container.database_url)
    group = ProjectionGroup(
        app, pool, list(runners), deadline_seconds=DEADLINE, lock_timeout_seconds=0.2,
        on_alone=lambda r: supervisor.start("alone-" + r.position_name, r.run, r.is_connected))
    holder = psycopg.connect(owner_database_url)  # a migration holding the log
    try:
        holder.execute("LOCK TABLE servicecore_events IN ACCESS EXCLUSIVE MODE")
        supervisor.start("group-ev", group.run, group.is_connected)
        _until(lambda: all(r.active for r in runners), "the group did not take its views")
        time.sleep(2.0)  # ten lock timeouts: the batch reading the log waits all along
        assert all(_position(container, v.name + "_ev") == start for v in views)
        holder.rollback()
        _until(lambda: all(_position(container, v.name + "_ev") == last for v in views),
               "the views did not catch up once the log was let go")
        assert group.alone == [] and group.runners == runners
        assert supervisor.states()["group-ev"]["restarts"] == 0
        with pool.connection() as conn:  # every event once
            assert conn.execute("SELECT count(*) FROM group_ledger_ev").fetchone() == \
                conn.execute("SELECT count(*) FROM servicecore_events WHERE notification_id "
                             "> %s AND notification_id <= %s", (start, last)).fetchone()
    finally:
        holder.close()
        supervisor.stop()


def test_a_lock_wait_is_told_from_the_database_being_away(container: Container) -> None:
    """A wait the lock timeout ended, or a statement timeout met while waiting for a row of
    the view's tables, is the view's; a statement timeout elsewhere stays the database's."""
    with container.pool.connection() as setup:
        setup.execute("DROP TABLE IF EXISTS lock_wait_probe")
        setup.execute("CREATE TABLE lock_wait_probe (id int PRIMARY KEY)")
        setup.execute("INSERT INTO lock_wait_probe VALUES (1)")
    failures: dict[str, Exception] = {}

    def fail(name: str, setting: str, statement: str) -> None:
        with psycopg.connect(container.database_url) as conn:
            try:
                with conn.transaction():
                    conn.execute(f"SET LOCAL {setting} = '200ms'")
                    conn.execute(statement)
            except psycopg.Error as error:
                failures[name] = error

    with psycopg.connect(container.database_url) as holder:
        holder.execute("UPDATE lock_wait_probe SET id = 1")  # its row, locked
        fail("lock timeout", "lock_timeout", "UPDATE lock_wait_probe SET id = 1")
        fail("row wait", "statement_timeout", "UPDATE lock_wait_probe SET id = 1")
        holder.rollback()
        holder.execute("LOCK TABLE lock_wait_probe IN ACCESS EXCLUSIVE MODE")
        fail("table lock", "lock_timeout", "INSERT INTO lock_wait_probe VALUES (2)")
        holder.rollback()
    fail("slow", "statement_timeout", "SELECT pg_sleep(2)")
    with container.pool.connection() as setup:
        setup.execute("DROP TABLE lock_wait_probe")

    tables = {"lock_wait_probe"}
    assert set(failures) == {"lock timeout", "row wait", "table lock", "slow"}
    assert all(isinstance(error, psycopg.OperationalError) for error in failures.values())
    assert lock_wait(failures["lock timeout"], tables)
    assert lock_wait(failures["table lock"], tables)
    assert lock_wait(failures["row wait"], tables)
    assert not lock_wait(failures["row wait"], {"another_table"})
    assert not lock_wait(failures["slow"], tables)
