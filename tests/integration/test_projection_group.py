"""The views of a process in one group: one transaction per batch for every view with work,
each view at its own position, the same rows as a runner per view, exactly once."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any
from uuid import uuid4

import psycopg
import pytest

from analytics.poison import PoisonEvent
from projections.base import ReadModel
from servicecore.container import Container
from tests.integration.support import head, open_order, request
from workers.projection_group import ProjectionGroup
from workers.projection_runner import SAFETY_SECONDS, ProjectionRunner
from workers.supervisor import Supervisor


def _view(container: Container, name: str) -> ReadModel:
    return next(v for v in container.views if v.name == name)


def _fresh(container: Container, view: ReadModel, suffix: str, position: int) -> None:
    """Empty tables `<table><suffix>` and the view's position there set to `position`."""
    with container.pool.connection() as conn, conn.transaction():
        for statement in view.drop(suffix):
            conn.execute(statement)
        view.create(conn, suffix)
        conn.execute("INSERT INTO projection_positions (name, position) VALUES (%s, %s) "
                     "ON CONFLICT (name) DO UPDATE SET position = EXCLUDED.position",
                     (view.name + suffix, position))


def _rows(container: Container, view: ReadModel, suffix: str) -> dict[str, list[str]]:
    with container.pool.connection() as conn:
        return {table: sorted(str(r[0]) for r in conn.execute(
            f"SELECT to_jsonb(t) FROM {table}{suffix} AS t").fetchall())
            for table in view.tables}


def _position(container: Container, name: str) -> int:
    with container.pool.connection() as conn:
        row = conn.execute("SELECT position FROM projection_positions WHERE name = %s",
                           (name,)).fetchone()
    return int(row[0]) if row else 0


def _receipts(container: Container, store_id: str, count: int) -> None:
    """Parts registered and received: events of the stock view, and of the audit index."""
    for n in range(count):
        number = f"G{n}" + uuid4().hex[:6].upper()
        container.inventory.register_part(
            request(store_id, "manager"), part_number=number,
            details={"name": "oil filter", "unit": "pc", "category": "maintenance"},
            list_price="45.00")
        container.inventory.receive(request(store_id, "manager"), store_id, number, qty=10,
                                    unit_cost="20.00", supplier="Mann", supplier_doc=f"DN-{n}")


class Ledger(ReadModel):
    """A test view: one row per event (primary key: a second application fails), and a
    failure after its rows are written while `poisoned` is set."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.tables = {"group_ledger": "id bigint PRIMARY KEY, view text NOT NULL"}
        self.poisoned = threading.Event()
        self.calls = 0

    def apply(self, conn: psycopg.Connection[Any], events: Sequence[tuple[int, Any]],
              suffix: str = "") -> None:
        self.calls += 1
        with conn.cursor() as cur:
            cur.executemany(f"INSERT INTO group_ledger{suffix} (id, view) VALUES (%s, %s)",
                            [(nid, self.name) for nid, _ in events])
        if self.poisoned.is_set():
            raise RuntimeError("cannot apply this event")


def test_a_group_of_views_at_different_positions_gives_the_rows_of_a_runner_each(
        container: Container, store_id: str) -> None:
    # Events of every kind the three views handle (after those of other tests: the stock
    # view's fresh tables know no item opened before `before`).
    before = head(container.app)
    for _ in range(3):
        open_order(container.work_orders, store_id)
    _receipts(container, store_id, 3)
    last = head(container.app)
    views = [_view(container, n) for n in ("stock", "audit_index", "work_orders")]
    # The views stand at different positions: the stock view far behind (just rebuilt, say),
    # the audit index and the work-order view a few events apart near the head.
    starts = {"stock": before, "audit_index": last - 4, "work_orders": last - 7}
    assert last - before > 5 + 7  # the stock view more than a batch behind the other two
    for suffix in ("_grp", "_one"):
        for view in views:
            _fresh(container, view, suffix, starts[view.name])

    # Separately: a runner and its own transactions per view.
    for view in views:
        ProjectionRunner(container.app, container.pool, view, suffix="_one").catch_up()

    # As a group, 5 events per batch.
    group = ProjectionGroup(container.app, container.pool, [
        ProjectionRunner(container.app, container.pool, view, suffix="_grp", batch_size=5)
        for view in views], batch_size=5)
    moved = group.run_batch()
    # The stock view, more than a batch behind, is left to batches of its own; the two near
    # the front share one read: the audit index gets only what lies after its own position.
    assert [r.view.name for r in group.behind] == ["stock"]
    assert "stock" not in moved
    assert 0 < moved["audit_index_grp"] < moved["work_orders_grp"] <= 5
    assert _position(container, "audit_index_grp") > starts["audit_index"]
    group.catch_up()

    for view in views:
        assert _position(container, view.name + "_grp") == _position(
            container, view.name + "_one") == last
        assert _rows(container, view, "_grp") == _rows(container, view, "_one"), view.name


def _stock_and_ledger(container: Container, start: int, *suffixes: str
                      ) -> tuple[ReadModel, Ledger]:
    """The stock view and a ledger named after it ("zz_": applied after the stock view's rows
    in a group's batch), fresh at `start` under each of `suffixes`."""
    stock, ledger = _view(container, "stock"), Ledger("zz_ledger")
    for suffix in suffixes:
        _fresh(container, stock, suffix, start)
        _fresh(container, ledger, suffix, start)
    return stock, ledger


def test_a_failing_view_rolls_back_the_whole_batch_and_a_retry_applies_each_event_once(
        container: Container, store_id: str) -> None:
    start = head(container.app)
    _receipts(container, store_id, 2)
    last = head(container.app)
    stock, ledger = _stock_and_ledger(container, start, "_fail", "_ref")
    ProjectionRunner(container.app, container.pool, stock, suffix="_ref").catch_up()
    stock_runner = ProjectionRunner(container.app, container.pool, stock, suffix="_fail")
    ledger_runner = ProjectionRunner(container.app, container.pool, ledger, suffix="_fail")
    group = ProjectionGroup(container.app, container.pool, [stock_runner, ledger_runner])

    # The ledger fails after the stock view applied its share in the same transaction:
    # nothing of the batch stays, neither rows nor positions.
    ledger.poisoned.set()
    with pytest.raises(RuntimeError, match="cannot apply"):
        group.run_batch()
    assert _position(container, "stock_fail") == _position(container, "zz_ledger_fail") == start
    assert _rows(container, stock, "_fail") == {t: [] for t in stock.tables}
    assert _rows(container, ledger, "_fail") == {"group_ledger": []}

    # Retried once the cause is gone: each event applied once (the ledger's primary key would
    # refuse a second), the stock rows those of a runner of its own.
    ledger.poisoned.clear()
    group.catch_up()
    assert _position(container, "stock_fail") == _position(container, "zz_ledger_fail") == last
    with container.pool.connection() as conn:
        ids = [r[0] for r in conn.execute("SELECT id FROM group_ledger_fail ORDER BY id")]
        expected = [r[0] for r in conn.execute(
            "SELECT notification_id FROM servicecore_events WHERE notification_id > %s "
            "AND notification_id <= %s ORDER BY notification_id", (start, last))]
    assert ids == expected
    assert _rows(container, stock, "_fail") == _rows(container, stock, "_ref")


def test_after_a_failed_batch_a_failing_view_stops_only_itself(
        container: Container, store_id: str) -> None:
    start = head(container.app)
    _receipts(container, store_id, 1)
    last = head(container.app)
    stock, ledger = _stock_and_ledger(container, start, "_solo")
    group = ProjectionGroup(container.app, container.pool, [  # one event per batch
        ProjectionRunner(container.app, container.pool, stock, suffix="_solo", batch_size=1),
        ProjectionRunner(container.app, container.pool, ledger, suffix="_solo", batch_size=1)],
        batch_size=1)
    ledger.poisoned.set()

    # The group's batch fails: the next batches run one transaction per view ...
    with pytest.raises(RuntimeError):
        group._batch(list(group.runners))
    assert group.solo and _position(container, "stock_solo") == start
    # ... so the stock view reaches the head (a batch a round) while the ledger still fails,
    # on the first event after its position.
    for _ in range(last - start):
        with pytest.raises(PoisonEvent, match="RuntimeError: cannot apply"):
            group._batch(list(group.runners))
    assert _position(container, "stock_solo") == last
    assert _position(container, "zz_ledger_solo") == start
    assert group.solo

    # The cause gone, a round of them succeeds and the views share batches again.
    ledger.poisoned.clear()
    group._batch(list(group.runners))
    assert not group.solo
    group.catch_up()
    assert _position(container, "zz_ledger_solo") == last
    with container.pool.connection() as conn:
        assert conn.execute("SELECT count(*) FROM group_ledger_solo").fetchone() == \
            conn.execute("SELECT count(*) FROM servicecore_events WHERE notification_id > %s "
                         "AND notification_id <= %s", (start, last)).fetchone()


def test_after_a_failed_batch_no_view_waits_for_another_to_reach_a_head_that_keeps_moving(
        container: Container, store_id: str, monkeypatch: pytest.MonkeyPatch) -> None:
    start = head(container.app)
    _receipts(container, store_id, 1)
    stock, ledger = _stock_and_ledger(container, start, "_fair")
    stock_runner = ProjectionRunner(container.app, container.pool, stock, suffix="_fair",
                                    batch_size=1)
    ledger_runner = ProjectionRunner(container.app, container.pool, ledger, suffix="_fair",
                                     batch_size=1)
    group = ProjectionGroup(container.app, container.pool, [stock_runner, ledger_runner],
                            batch_size=1)
    # Events keep coming faster than the stock view follows alone: a receipt after each of
    # its batches (more than one event), for its first 30 batches.
    ledger_seen: list[int] = []  # the ledger's position at each of the stock view's batches
    own_batch = stock_runner.run_batch

    def batch_then_write() -> int:
        ledger_seen.append(_position(container, "zz_ledger_fair"))
        count = own_batch()
        if len(ledger_seen) <= 30:
            _receipts(container, store_id, 1)
        return count

    monkeypatch.setattr(stock_runner, "run_batch", batch_then_write)
    group.solo = True  # as after a failed batch: one transaction per view

    # A round is one batch of each view: the ledger gets its turn after the stock view's
    # first batch, not once the stock view caught up with a head that keeps moving.
    group._batch(list(group.runners))
    assert ledger_seen == [start]
    assert _position(container, "stock_fair") == _position(container, "zz_ledger_fair") \
        == start + 1 < head(container.app)
    assert not group.solo  # a round succeeded: batches shared again
    monkeypatch.undo()
    group.catch_up()
    assert _position(container, "stock_fair") == _position(container, "zz_ledger_fair") \
        == head(container.app)


def _until(done: Any, what: str, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not done():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_a_view_failing_on_its_own_leaves_the_group_and_the_others_go_on_at_once(
        container: Container, store_id: str) -> None:
    start = head(container.app)
    stock, ledger = _stock_and_ledger(container, start, "_lv")
    stock_runner = ProjectionRunner(container.app, container.pool, stock, suffix="_lv")
    ledger_runner = ProjectionRunner(container.app, container.pool, ledger, suffix="_lv")
    supervisor = Supervisor(container.database_url)
    group = ProjectionGroup(  # as the container wires it: a view that leaves, supervised
        container.app, container.pool, [stock_runner, ledger_runner],
        on_alone=lambda r: supervisor.start("alone-" + r.position_name, r.run, r.is_connected))
    ledger.poisoned.set()
    supervisor.start("group-lv", group.run, group.is_connected)
    try:
        _receipts(container, store_id, 1)
        # The group's batch fails (the supervisor starts the group again), then one
        # transaction per view: the ledger fails on its own and leaves the group.
        _until(lambda: group.alone == [ledger_runner], "the ledger did not leave the group")
        assert group.runners == [stock_runner]

        # From then on the stock view follows the log without the group failing again,
        # while the ledger, a loop of its own, fails and is started again by itself.
        _receipts(container, store_id, 2)
        last = head(container.app)
        _until(lambda: _position(container, "stock_lv") == last, "the stock view stopped")
        _until(lambda: supervisor.states()["alone-zz_ledger_lv"]["restarts"] >= 1,
               "the ledger's own loop did not fail")
        states = supervisor.states()
        assert states["group-lv"]["restarts"] == 1 and states["group-lv"]["state"] == "running"
        assert "cannot apply" in states["alone-zz_ledger_lv"]["last_error"]
        assert _position(container, "zz_ledger_lv") == start
        assert _rows(container, stock, "_lv") != {t: [] for t in stock.tables}

        # The cause gone, the ledger catches up alone: every event once (its primary key).
        ledger.poisoned.clear()
        _until(lambda: _position(container, "zz_ledger_lv") == last, "the ledger stayed behind")
        with container.pool.connection() as conn:
            assert conn.execute("SELECT count(*) FROM group_ledger_lv").fetchone() == \
                conn.execute("SELECT count(*) FROM servicecore_events WHERE notification_id "
                             "> %s AND notification_id <= %s", (start, last)).fetchone()
    finally:
        supervisor.stop()


def test_a_second_group_waits_on_standby_while_the_first_holds_the_views(
        container: Container, store_id: str) -> None:
    # The live group of the container holds every view's lock: a second group stays on
    # standby, and so leaves every view alone.
    group = ProjectionGroup(container.app, container.pool, container.make_runners())
    stop = threading.Event()
    thread = threading.Thread(target=group.run, args=(stop, container.database_url),
                              daemon=True)
    thread.start()
    try:
        before = head(container.app)
        open_order(container.work_orders, store_id)
        live = next(r for r in container.runners if r.view.name == "work_orders")
        assert live.active
        stop.wait(1.5)
        assert group.connected
        assert not any(r.active for r in group.runners)
        assert all(r.processed == 0 for r in group.runners)
        assert head(container.app) > before
    finally:
        stop.set()
        thread.join(timeout=5)
    assert not thread.is_alive()


def test_a_view_holding_for_others_events_is_left_out_and_joins_when_its_hold_ends(
        container: Container, store_id: str) -> None:
    start = head(container.app)
    container.inventory.register_part(  # an event of the stock view, not of the work orders
        request(store_id, "manager"), part_number="H" + uuid4().hex[:8].upper(),
        details={"name": "air filter", "unit": "pc", "category": "maintenance"},
        list_price="60.00")
    last = head(container.app)
    orders = ProjectionRunner(container.app, container.pool, _view(container, "work_orders"),
                              suffix="_gh", idle_advance_seconds=60.0)
    stock = ProjectionRunner(container.app, container.pool, _view(container, "stock"),
                             suffix="_gh")
    for runner in (orders, stock):
        _fresh(container, runner.view, "_gh", start)
    group = ProjectionGroup(container.app, container.pool, [orders, stock])

    # The log watch told the stock view of its own event, the work-order view of others'
    # only, a moment after it last moved: the stock view is due, the work-order view holds.
    now = time.monotonic()
    stock._own = True
    orders._own, orders._others, orders.advanced_at = False, last - start, now
    assert group._hold(stock, now) is None
    held = group._hold(orders, now)
    assert held is not None and 0 < held <= 60.0
    group._batch([r for r in group.runners if group._hold(r, now) is None])
    assert _position(container, "stock_gh") == last
    assert _position(container, "work_orders_gh") == start

    # Its hold over, it is due and moves past them.
    orders.advanced_at = time.monotonic() - 61.0
    assert group._hold(orders, time.monotonic()) is None
    group._batch([orders])
    assert _position(container, "work_orders_gh") == last

    # Told nothing, it still runs a batch SAFETY_SECONDS after its last one.
    orders._others = 0
    assert group._hold(orders, time.monotonic()) is not None
    group.batched_at[orders.position_name] = time.monotonic() - SAFETY_SECONDS - 1
    assert group._hold(orders, time.monotonic()) is None
