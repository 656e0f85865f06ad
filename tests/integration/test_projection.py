"""The work-order projection: restart without loss or doubling, live rebuild, standby runner."""

from __future__ import annotations

import threading
import time
from typing import Any
from uuid import UUID, uuid4

import pytest
from fastapi.testclient import TestClient

from projections.base import ReadModel
from projections.work_orders import WorkOrdersView
from servicecore.container import Container
from servicecore.schema import EVENTS_TABLE
from tests.integration.kafka_support import wait_until
from tests.integration.support import (
    LABOR,
    Auth,
    head,
    http_open,
    open_order,
    post,
    request,
    stream_ids_of,
)
from tests.scratch_systems import served_module
from workers.projection_rebuild import rebuild
from workers.projection_runner import ProjectionRunner

OPENED = "domain.work_order:WorkOrder.Opened"

# Views here are built and rebuilt from event 0: a served system of the module's own (as the
# application's role, its projections followed, as the session's are), not the session's log.
served, container, client = served_module("sc_projection", projections=True)
Row = tuple[UUID, str, int, dict[str, Any]]


class Crash(Exception):
    """The worker process dies in the middle of a batch."""


def _seed(container: Container, store_id: str, orders: int = 4) -> None:
    """A few visits: opened, checked in, two lines priced, one approved; one customer erased."""
    wos = container.work_orders
    for n in range(orders):
        answer = open_order(wos, store_id, customer={"name": f"客户{n}", "phone": f"1390000{n:04d}"})
        work_order_id = UUID(answer["id"])
        wos.check_in(request(store_id), work_order_id, mileage_in=42_100, fuel_level=50)
        for op in ("BRK-PAD", "CLEAN"):
            wos.add_labor_line(request(store_id), work_order_id, 1, {**LABOR, "op_code": op})
        wos.authorize_line(request(store_id), work_order_id, "L1", decision="approved",
                           channel="phone")


def _fresh(container: Container, view: ReadModel, suffix: str) -> None:
    with container.pool.connection() as conn, conn.transaction():
        for statement in view.drop(suffix):
            conn.execute(statement)
        view.create(conn, suffix)
        conn.execute("DELETE FROM projection_positions WHERE name = %s", (view.name + suffix,))


def _rows(container: Container, suffix: str = "") -> list[Row]:
    with container.pool.connection() as conn:
        return conn.execute(
            f"SELECT id, status, version, doc FROM wo_view{suffix} ORDER BY id").fetchall()


def _last_versions(container: Container, ids: list[UUID]) -> dict[UUID, int]:
    with container.pool.connection() as conn:
        rows = conn.execute(
            f"SELECT originator_id, max(originator_version) FROM {EVENTS_TABLE} "
            "WHERE originator_id = ANY(%s) GROUP BY originator_id", (ids,)).fetchall()
    return {row[0]: row[1] for row in rows}


def test_a_projection_restarted_mid_stream_equals_a_full_rebuild(container: Container,
                                                                 store_id: str) -> None:
    app = container.app
    _seed(container, store_id)
    view = WorkOrdersView(app.personal_data)
    _fresh(container, view, "_t1")
    _fresh(container, view, "_t2")

    # The first worker applies three batches of seven events, then dies inside the fourth.
    first = ProjectionRunner(app, container.pool, view, batch_size=7, suffix="_t1")
    assert [first.run_batch() for _ in range(3)] == [7, 7, 7]
    rows_before_crash = _rows(container, "_t1")
    with container.pool.connection() as conn, pytest.raises(Crash), conn.transaction():
        assert first.apply_batch(conn) == 7
        raise Crash
    # The dead batch left neither rows nor a moved position.
    assert first.position() > 0
    assert _rows(container, "_t1") == rows_before_crash
    stopped_at = first.position()

    # A new worker process starts with the same tables and catches up from the saved position.
    restarted = ProjectionRunner(app, container.pool, view, batch_size=7, suffix="_t1")
    applied = restarted.catch_up()
    assert applied == len(app.recorder.select_notifications(start=stopped_at + 1,
                                                            limit=1_000_000))

    # Another table set is built in one go.
    ProjectionRunner(app, container.pool, view, batch_size=500, suffix="_t2").catch_up()

    # Both equal, row for row; one row per work-order stream, at its last version.
    restarted_rows, rebuilt_rows = _rows(container, "_t1"), _rows(container, "_t2")
    assert restarted_rows == rebuilt_rows
    assert {row[0] for row in rebuilt_rows} == stream_ids_of(app, OPENED)
    assert {row[0]: row[2] for row in rebuilt_rows} == _last_versions(
        container, [row[0] for row in rebuilt_rows])
    # Nothing doubled: each seeded order has exactly its two lines; positions are at the head.
    ours = [row for row in rebuilt_rows if row[3]["store_id"] == store_id]
    assert len(ours) == 4 and all(len(row[3]["lines"]) == 2 for row in ours)
    assert restarted.position() == head(app)
    assert ProjectionRunner(app, container.pool, view, suffix="_t2").position() == head(app)


def test_rebuild_while_serving_keeps_answering_and_ends_equal(
        client: TestClient, auth: Auth, container: Container, store_id: str) -> None:
    advisor = auth("advisor", "adv-li", [store_id])
    _seed(container, store_id, orders=3)
    opened = http_open(client, auth, store_id)
    wo = f"/work-orders/{opened['id']}"
    assert client.get(f"{wo}?wait_for={head(container.app)}", headers=advisor).status_code == 200
    live_before = _rows(container)

    # An operator rebuilds the work-order view while the live runner follows the log.
    view = container.views[0]
    outcome: dict[str, Any] = {}
    worker = threading.Thread(target=lambda: outcome.update(
        rebuild(container.app, container.pool, view, batch_size=5)))
    worker.start()

    # Meanwhile the desk keeps reading, and checks the car in.
    statuses: list[int] = []
    checked: dict[str, Any] | None = None
    while worker.is_alive() or not statuses:
        statuses.append(client.get(wo, headers=advisor).status_code)
        if checked is None:
            checked = post(client, f"{wo}/check-in", advisor,
                           {"mileage_in": 42_010, "fuel_level": 40})
    worker.join(timeout=30)
    assert outcome["events"] > 0
    assert set(statuses) == {200}

    # Afterwards the live view serves the check-in made during the rebuild ...
    assert checked is not None
    after = client.get(f"{wo}?wait_for={checked['notification_id']}", headers=advisor)
    assert after.status_code == 200 and after.json()["status"] == "checked_in"
    assert after.headers.get("X-Read-Model-Stale") is None

    # ... and equals a projection built from scratch, and the old rows except our work order.
    _fresh(container, view, "_t3")
    ProjectionRunner(container.app, container.pool, view, suffix="_t3").catch_up()
    live_after = _rows(container)
    assert live_after == _rows(container, "_t3")
    assert [r for r in live_after if str(r[0]) != opened["id"]] == [
        r for r in live_before if str(r[0]) != opened["id"]]


def test_a_second_runner_waits_on_standby_while_the_first_holds_the_lock(
        client: TestClient, auth: Auth, container: Container, store_id: str) -> None:
    advisor = auth("advisor", "adv-li", [store_id])
    live = next(r for r in container.runners if r.view.name == "work_orders")
    assert live.active

    # A second worker for the same projection starts.
    standby = ProjectionRunner(container.app, container.pool, container.views[0])
    stop = threading.Event()
    thread = threading.Thread(target=standby.run, args=(stop, container.database_url),
                              daemon=True)
    thread.start()

    # New events arrive: the live runner applies them ...
    opened = http_open(client, auth, store_id)
    seen = client.get(f"/work-orders/{opened['id']}?wait_for={opened['notification_id']}",
                      headers=advisor)
    assert seen.status_code == 200 and "X-Read-Model-Stale" not in seen.headers

    # ... while the standby neither takes the lock nor applies anything for two seconds.
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        assert not standby.active
        assert standby.processed == 0
        time.sleep(0.1)
    assert live.active

    # Told to stop, the standby leaves promptly.
    stop.set()
    thread.join(timeout=5)
    assert not thread.is_alive()
    assert standby.processed == 0


def _part(container: Container, store_id: str) -> None:
    """One event the work-order view does not handle (a part enters the master)."""
    container.inventory.register_part(
        request(store_id, "manager"), part_number="HOLD" + uuid4().hex[:8].upper(),
        details={"name": "cabin filter", "unit": "pc", "category": "maintenance"},
        list_price="80.00")


def test_a_view_holds_its_position_only_while_all_that_follows_is_not_its_own(
        container: Container, store_id: str) -> None:
    view = next(v for v in container.views if v.name == "work_orders")
    runner = ProjectionRunner(container.app, container.pool, view, suffix="_hold",
                              idle_advance_seconds=60.0)
    with container.pool.connection() as conn:
        conn.execute("INSERT INTO projection_positions (name, position) VALUES (%s, %s) "
                     "ON CONFLICT (name) DO UPDATE SET position = EXCLUDED.position",
                     (runner.position_name, head(container.app)))

        def hold() -> float | None:
            return runner.may_hold(conn)

        # Never moved while following (just started): the next batch runs at once.
        _part(container, store_id)
        assert hold() is None
        # It moved a moment ago and only events of other views follow: it may wait, at most
        # what is left of idle_advance_seconds.
        runner.advanced_at = time.monotonic()
        waits = hold()
        assert waits is not None and 0 < waits <= 60.0
        # Long enough ago: it moves past them now.
        runner.advanced_at = time.monotonic() - 61.0
        assert hold() is None
        runner.advanced_at = time.monotonic()
        # An event of its own among them: applied at once, with the others before it.
        open_order(container.work_orders, store_id)
        _part(container, store_id)
        assert hold() is None
        # Without a hold (0 s), and for a view that handles everything, nothing waits.
        eager = ProjectionRunner(container.app, container.pool, view, suffix="_hold",
                                 idle_advance_seconds=0.0)
        eager.advanced_at = time.monotonic()
        audit = next(v for v in container.views if v.handles is None)
        every = ProjectionRunner(container.app, container.pool, audit, suffix="_hold",
                                 idle_advance_seconds=60.0)
        every.advanced_at = time.monotonic()
        conn.execute("UPDATE projection_positions SET position = %s WHERE name = %s",
                     (head(container.app), runner.position_name))
        _part(container, store_id)
        assert runner.may_hold(conn) is not None
        assert eager.may_hold(conn) is None
        assert every.may_hold(conn) is None
        # Nothing after the position: nothing to hold (the runner waits for a notification).
        conn.execute("UPDATE projection_positions SET position = %s WHERE name = %s",
                     (head(container.app), runner.position_name))
        assert hold() is None
        conn.execute("DELETE FROM projection_positions WHERE name = %s", (runner.position_name,))


def test_a_view_that_holds_still_reaches_the_head_of_the_log(
        container: Container, store_id: str) -> None:
    live = next(r for r in container.runners if r.view.name == "work_orders")
    assert live.idle_advance_seconds > 0
    # A burst of events the work-order view does not handle, then none: the live runner
    # moves past all of them, within idle_advance_seconds of its last move.
    for _ in range(5):
        _part(container, store_id)
    last = head(container.app)
    wait_until(lambda: live.position() >= last, 10, "the work-order view to pass the parts")
