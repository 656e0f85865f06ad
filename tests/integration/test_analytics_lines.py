"""The set-based fold gives the tables of the Python fold, whatever the batches, on the events
that act on a line (decisions, supply, issues and returns, a partial withdrawal, a withdrawal to
nothing, a move to a follow-on work order and the lines carried over to it), on a job's
completions and quality checks with labor lines added between them, and on a generated month
of history. (bench/README "Loading faster, eleventh step" tried folding the line events
set-based, and the fourteenth a job's completions and quality checks; these tests held them to
the Python fold.)

Needs PostgreSQL (DATABASE_URL); the helpers are those of `analytics_support`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from analytics.fold import HANDLERS
from analytics.loader import AnalyticsLoader
from servicecore.container import Container, build
from servicecore.demo import make_vin, stage_history
from tests.conftest import settings_for
from tests.databases import scratch_database
from tests.integration.analytics_support import Shop, at, python_and_set_based, req
from tests.integration.support import with_profile

DAY = "2025-05-06"


def lines_visit(container: Container, store: str) -> None:
    """One visit: a labor line approved, a part line issued, partly returned and its missing
    rest withdrawn, a part line declined, a back-ordered part line moved to a follow-on work
    order, where it is reserved, issued and returned, and one more withdrawn to nothing."""
    shop, w = Shop(container, store), container.work_orders
    shop.register(shop.p1, "oil filter", "100.00", at(DAY, "01:00"))
    shop.register(shop.p2, "brake pads", "560.00", at(DAY, "01:00"))
    shop.receive(shop.p1, 5, "40.00", at(DAY, "01:05"))
    wo, _ = shop.open(make_vin(shop.rng), "brake noise", "repair", at(DAY, "02:00"))
    w.check_in(shop.r("advisor", at(DAY, "02:01")), wo, mileage_in=30_010, fuel_level=50)
    labor = shop.labor(wo, "1.0", "300.00", at(DAY, "02:05"))
    issued, declined = shop.part(wo, shop.p1, 3, at(DAY, "02:06")), shop.part(
        wo, shop.p1, 1, at(DAY, "02:06"))
    moved = shop.part(wo, shop.p2, 2, at(DAY, "02:07"))
    shop.approve(wo, [labor, issued, moved], at(DAY, "02:10"))
    w.authorize_line(shop.r("advisor", at(DAY, "02:10")), wo, declined, decision="declined",
                     channel="phone")
    with_profile(container.technicians, shop.r("manager", at(DAY, "02:20")), shop.t1, store)
    w.dispatch(shop.r("manager", at(DAY, "02:30")), wo, 1, technician_id=shop.t1)
    w.issue_part(shop.r("parts_clerk", at(DAY, "02:40")), wo, issued)
    w.return_part(shop.r("parts_clerk", at(DAY, "02:50")), wo, issued, qty="1",
                  reason="one too many")
    w.withdraw_line(shop.r("advisor", at(DAY, "02:55")), wo, issued, reason="not needed")
    moved_to = w.move_to_follow_on(shop.r("advisor", at(DAY, "03:00")), wo, line_ids=[moved],
                                   reason="pads on back order").body["follow_on"]["id"]
    follow_on = uuid.UUID(moved_to)
    shop.receive(shop.p2, 2, "300.00", at(DAY, "04:00"))
    w.reserve_line(shop.r("parts_clerk", at(DAY, "04:05")), follow_on, "L1")
    w.check_in(shop.r("advisor", at(DAY, "04:06")), follow_on, mileage_in=30_020, fuel_level=50)
    w.dispatch(shop.r("manager", at(DAY, "04:10")), follow_on, 1, technician_id=shop.t1)
    w.issue_part(shop.r("parts_clerk", at(DAY, "04:20")), follow_on, "L1")
    w.return_part(shop.r("parts_clerk", at(DAY, "04:30")), follow_on, "L1", qty="2",
                  reason="wrong pads")
    w.withdraw_line(shop.r("advisor", at(DAY, "04:40")), follow_on, "L1", reason="elsewhere")


@pytest.fixture
def fresh(server_url: str, tmp_path: Path) -> Iterator[Container]:
    """A database of the test's own: batches of one event read only its events."""
    with scratch_database(server_url, "sc_analytics_lines") as url:
        system = build(settings_for(url, tmp_path / "var"))
        try:
            yield system
        finally:
            system.close()


def test_line_events_set_based_give_the_tables_of_the_python_fold(fresh: Container,
                                                                   tmp_path: Path) -> None:
    store = "LN" + uuid.uuid4().hex[:6].upper()
    head = fresh.app.recorder.max_notification_id() or 0
    lines_visit(fresh, store)
    events = (fresh.app.recorder.max_notification_id() or 0) - head
    reader = AnalyticsLoader(fresh.app, tmp_path / "read.duckdb")
    read = reader.source.read(head, events)
    reader.close()
    assert {q for _, _, q, _ in read.raw} >= {  # the batch is folded set-based
        "WorkOrder.CheckedIn", "WorkOrder.JobDispatched"}
    python_and_set_based(fresh, tmp_path, (1, 2, 3, 5, events, 100_000))
    loader = AnalyticsLoader(fresh.app, tmp_path / "sql1.duckdb")
    try:
        assert loader.conn.execute(
            "SELECT status, supply, issued_qty, cost, qty FROM fact_part_lines "
            "WHERE store_id = ? ORDER BY added_at, status", [store]).fetchall() == [
            ("approved", "reserved", 2, 80, 2), ("declined", None, 0, 0, 1),
            ("moved", "special_order", 0, 0, 2), ("declined", "back_order", 0, 0, 0)]
    finally:
        loader.close()


def test_a_generated_history_set_based_gives_the_tables_of_the_python_fold(
        fresh: Container, tmp_path: Path) -> None:
    """A month of two desks (`servicecore demo-data`'s generator): the set-based fold in
    batches that end anywhere in its visits, and in one batch, against the Python fold."""
    figures = stage_history(fresh, stores=("S01",), months=1, per_day=3.0, lanes=2, seed=13,
                            now=datetime(2025, 6, 11, 4, 0, tzinfo=UTC), jobs=1)
    assert figures.errors == 0 and figures.settled > 20
    python_and_set_based(fresh, tmp_path, (997, 100_000))


def test_a_batch_holds_the_handled_events_and_counts_every_event_of_its_range(
        fresh: Container, tmp_path: Path) -> None:
    """A batch holds the handled events of its range, whatever PostgreSQL sends of the others,
    and counts every event of the range (the loader's progress, `run`'s pause at the head); a
    range of events the tables leave out is a batch of none that still moves the position."""
    head = fresh.app.recorder.max_notification_id() or 0
    lines_visit(fresh, "RD" + uuid.uuid4().hex[:6].upper())
    stored = fresh.app.recorder.select_notifications(start=head + 1, limit=10_000)
    handled = {n.id for n in stored if n.topic.partition(":")[2] in HANDLERS}
    assert 0 < len(handled) < len(stored), "the visit holds events the tables leave out"
    loader = AnalyticsLoader(fresh.app, tmp_path / "read.duckdb")
    try:
        for size in (1, 3, 7, len(stored)):
            position, empty = head, 0
            while position < stored[-1].id:
                batch = loader.source.read(position, size)
                in_range = [n.id for n in stored if position < n.id <= batch.reached]
                assert batch.reached >= min(position + size, stored[-1].id), size
                assert batch.covered == len(in_range) > 0, (size, position)
                assert sorted({e.notification_id for e in batch.events} | {
                    r[0] for r in batch.raw}) == [i for i in in_range if i in handled]
                empty += not batch.events and not batch.raw
                position = batch.reached
            assert empty or size > 1, "a range of left-out events alone was read"
    finally:
        loader.close()


def job_steps_visit(container: Container, store: str) -> int:
    """One job completed, failed at QC, a labor line added, completed again and passed: the
    position of the log once the line is added and approved (before the second completion)."""
    shop, w = Shop(container, store), container.work_orders
    wo, _ = shop.open(make_vin(shop.rng), "rattle", "repair", at(DAY, "02:00"))
    w.check_in(shop.r("advisor", at(DAY, "02:01")), wo, mileage_in=30_010, fuel_level=50)
    shop.approve(wo, [shop.labor(wo, "1.0", "300.00", at(DAY, "02:05"))], at(DAY, "02:10"))
    with_profile(container.technicians, shop.r("manager", at(DAY, "02:20")), shop.t1, store)
    w.dispatch(shop.r("manager", at(DAY, "02:30")), wo, 1, technician_id=shop.t1)
    tech = (shop.t1, "technician", store)
    w.clock_on(req(*tech, at(DAY, "02:35")), wo, 1)
    w.clock_off(req(*tech, at(DAY, "02:45")), wo, 1)
    w.complete_job(req(*tech, at(DAY, "02:50")), wo, 1)
    w.quality_check(shop.r("manager", at(DAY, "02:55")), wo, 1, passed=False,
                    reason="still rattles")
    shop.approve(wo, [shop.labor(wo, "0.5", "300.00", at(DAY, "03:00"))], at(DAY, "03:05"))
    added = container.app.recorder.max_notification_id() or 0
    w.clock_on(req(*tech, at(DAY, "03:15")), wo, 1)
    w.clock_off(req(*tech, at(DAY, "03:25")), wo, 1)
    w.complete_job(req(*tech, at(DAY, "03:30")), wo, 1)
    w.quality_check(shop.r("manager", at(DAY, "03:40")), wo, 1, passed=True)
    return added


def test_job_steps_reach_the_lines_the_job_had_whatever_the_batches(fresh: Container,
                                                                    tmp_path: Path) -> None:
    """A completion reaches the labor lines its job had when it came: loaded up to the line
    added after the first completion, that line is not completed yet (as a loader following
    the log shows it between the two); at the head, both lines are."""
    store = "JS" + uuid.uuid4().hex[:6].upper()
    head = fresh.app.recorder.max_notification_id() or 0
    added = job_steps_visit(fresh, store)
    events = (fresh.app.recorder.max_notification_id() or 0) - head
    lines = ("SELECT line_id, completed_at, passed_at FROM fact_labor_lines WHERE store_id = ? "
             "ORDER BY line_id")
    for size in (1, 2, 3, 5, 100_000):
        loader = AnalyticsLoader(fresh.app, tmp_path / f"until{size}.duckdb", batch_size=size)
        try:
            loader.source.until = added
            loader.catch_up()
            assert loader.conn.execute(lines, [store]).fetchall() == [
                ("L1", at(DAY, "02:50"), None), ("L2", None, None)], size
        finally:
            loader.close()
    python_and_set_based(fresh, tmp_path, (1, 2, 3, 5, 8, events, 100_000))
    loader = AnalyticsLoader(fresh.app, tmp_path / "sql1.duckdb")
    try:
        assert loader.conn.execute(lines, [store]).fetchall() == [
            ("L1", at(DAY, "03:30"), at(DAY, "03:40")), ("L2", at(DAY, "03:30"), at(DAY, "03:40"))]
    finally:
        loader.close()
