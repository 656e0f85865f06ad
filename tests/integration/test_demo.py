"""The demo histories: varied visits, in the store's working hours, and nothing in the future."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from analytics.kpis import Filters, run
from analytics.loader import AnalyticsLoader
from domain.repair_guarantee import class_of_op_code
from domain.work_order import WorkOrder
from projections.evidence import one_snapshot
from projections.warranty_claim import warranty_claim
from servicecore.container import Container
from servicecore.demo import load_demo, load_history
from servicecore.demo_catalog import MAINTENANCE, REPAIRS, ZONE
from tests.integration.test_money_support import wait_for_projection

NOW = datetime(2025, 6, 11, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai: today's visits unfinished


def events_of(container: Container, start: int, stores: set[str]) -> Iterator[Any]:
    """The events stored after notification `start` for these stores."""
    app = container.app
    while batch := app.recorder.select_notifications(start=start + 1, limit=1000,
                                                     inclusive_of_start=True):
        for notification in batch:
            event = app.mapper.to_domain_event(notification)
            audit = getattr(event, "audit", None)
            if audit is not None and audit.store_id in stores:
                yield event
        start = batch[-1].id


def head(container: Container) -> int:
    return container.app.recorder.max_notification_id() or 0


def test_the_small_demo_is_varied_and_never_in_the_future(container: Container,
                                                          tmp_path: Path) -> None:
    store = "DM" + uuid.uuid4().hex[:6].upper()
    before = head(container)
    assert load_demo(container.work_orders, container.inventory, visits=36, stores=(store,),
                     settlements=container.settlements, aftercare=container.aftercare,
                     now=NOW) == 36
    events = list(events_of(container, before, {store}))
    assert events and max(e.audit.at for e in events) <= NOW
    opened = [e for e in events if isinstance(e, WorkOrder.Opened)]
    assert len(opened) == 36
    local = [e.audit.at.astimezone(ZONE) for e in opened]
    assert all(9 <= t.hour < 16 for t in local)  # working hours in Shanghai, not in UTC
    assert max(local).date() == NOW.astimezone(ZONE).date()  # today has visits
    assert len({t.date() for t in local}) >= 14  # spread over weeks
    failed_qc = [e for e in events if isinstance(e, WorkOrder.QualityChecked) and not e.passed]
    assert failed_qc

    loader = AnalyticsLoader(container.app, tmp_path / "demo.duckdb")
    try:
        loader.catch_up()
        conn = loader.conn
        conn.execute("SET TimeZone = 'Asia/Shanghai'")

        def one(sql: str) -> Any:
            return conn.execute(sql, [store]).fetchall()[0][0]

        assert one("SELECT count(DISTINCT complaint) FROM fact_work_orders "
                   "WHERE store_id = ?") >= 8
        assert one("SELECT count(DISTINCT brand) FROM fact_work_orders WHERE store_id = ?") >= 4
        assert one("SELECT list(DISTINCT pay_type ORDER BY pay_type) FROM fact_labor_lines "
                   "WHERE store_id = ?") == ["customer", "insurance", "internal", "warranty"]
        statuses = set(one("SELECT list(DISTINCT status) FROM fact_work_orders "
                           "WHERE store_id = ?"))
        assert {"cancelled", "closed", "delivered"} <= statuses
        assert statuses & {"opened", "checked_in", "in_progress", "ready_for_settlement"}
        assert one("SELECT count(*) FROM fact_part_lines WHERE store_id = ? "
                   "AND status = 'declined'") >= 1
        assert one("SELECT count(DISTINCT csi) FROM fact_follow_ups WHERE store_id = ?") >= 3
        assert one("SELECT count(*) FROM fact_settlements WHERE store_id = ? "
                   "AND discount > 0") >= 1
        names = conn.execute("SELECT technician_id, name FROM dim_technician "
                             "WHERE store_id = ? ORDER BY 1", [store]).fetchall()
        assert len(names) == 4 and all(name for _tech, name in names)
        assert len({tech for tech, _name in names}) == 4
        dispatched = one("SELECT count(DISTINCT technician_id) FROM fact_labor_lines "
                         "WHERE store_id = ?")
        assert dispatched >= 3
        comebacks = run(conn, "comeback_rate", Filters(store_id=store))["rows"][0]
        assert comebacks["comebacks"] >= 1
    finally:
        loader.close()


def test_make_runs_demo_now_has_nothing_in_the_future(container: Container) -> None:
    store = "DN" + uuid.uuid4().hex[:6].upper()
    before = head(container)
    load_demo(container.work_orders, container.inventory, visits=8, stores=(store,),
              settlements=container.settlements, aftercare=container.aftercare)
    after = datetime.now(UTC)
    events = list(events_of(container, before, {store}))
    assert len([e for e in events if isinstance(e, WorkOrder.Opened)]) == 8
    assert max(e.audit.at for e in events) <= after


@pytest.mark.slow
def test_the_history_at_scale_never_runs_past_now(container: Container) -> None:
    store = "DH" + uuid.uuid4().hex[:6].upper()
    before = head(container)
    figures = load_history(container.work_orders, container.inventory, container.settlements,
                           container.aftercare, stores=(store,), months=1, per_day=1.0,
                           lanes=1, now=NOW)
    assert figures.errors == 0, figures.error_samples
    events = list(events_of(container, before, {store}))
    assert figures.visits > 20 and max(e.audit.at for e in events) <= NOW


def test_an_auditor_walking_the_small_demo_finds_odometers_forward_and_claims_complete(
        container: Container) -> None:
    """Every car's odometer readings (opening, check-in, delivery) only go forward from visit
    to visit, and every warranty claim of the demo carries its 3C: nothing an OEM would reject."""
    # The store's name seeds its visits: in this store, on this day, a car comes back for the
    # third time, after a second visit at a higher mileage than its first.
    store = "AUD05"
    before = head(container)
    load_demo(container.work_orders, container.inventory, visits=36, stores=(store,),
              settlements=container.settlements, aftercare=container.aftercare,
              now=datetime(2026, 12, 4, 20, 0, tzinfo=UTC))
    events = list(events_of(container, before, {store}))
    vins = {e.originator_id: e.vehicle["vin"] for e in events
            if isinstance(e, WorkOrder.Opened)}
    readings: dict[str, list[tuple[datetime, int]]] = {}
    for e in events:
        km = e.mileage if isinstance(e, WorkOrder.Opened) else \
            e.details["mileage_in"] if isinstance(e, WorkOrder.CheckedIn) else \
            e.mileage_out if isinstance(e, WorkOrder.Delivered) else None
        if km is not None:
            readings.setdefault(vins[e.originator_id], []).append((e.audit.at, km))
    assert any(len(seen) > 6 for seen in readings.values())  # a car seen three times
    for vin, seen in readings.items():
        kms = [km for _, km in sorted(seen)]
        assert kms == sorted(kms), (vin, sorted(seen))
    claimed = {e.originator_id for e in events if isinstance(e, WorkOrder.LineAdded)
               and e.line["pay_type"] == "warranty"}
    assert claimed
    wait_for_projection(container, "work_orders")
    with container.pool.connection() as conn, one_snapshot(conn):
        problems = [warranty_claim(container.app, conn, wo, [store])["problems"]
                    for wo in claimed]
    # The demo puts no car's sale date on file: each claim says its coverage could not be
    # checked, a warning that leaves it complete; nothing else is wrong.
    assert [[(p["kind"], p["level"]) for p in found] for found in problems] == [
        [("coverage", "warning")]] * len(claimed)


def test_the_small_demos_comebacks_return_within_the_earlier_visits_guarantee(
        container: Container, tmp_path: Path) -> None:
    """Every demo car back with its earlier visit's complaint is counted as a comeback (within
    that visit's guarantee), and the catalogue's labor operations span the guarantee classes."""
    store = "CB" + uuid.uuid4().hex[:6].upper()
    load_demo(container.work_orders, container.inventory, visits=72, stores=(store,),
              settlements=container.settlements, aftercare=container.aftercare, now=NOW)
    loader = AnalyticsLoader(container.app, tmp_path / "comebacks.duckdb")
    try:
        loader.catch_up()
        conn = loader.conn
        # the visits that came back with the complaint of an earlier visit of the same car
        returned = conn.execute("""
            SELECT count(*) FROM fact_work_orders w
            WHERE w.store_id = ? AND w.status <> 'cancelled' AND EXISTS (
                SELECT 1 FROM fact_work_orders e WHERE e.vin = w.vin
                  AND e.complaint = w.complaint AND e.opened_at < w.opened_at)""",
                                [store]).fetchall()[0][0]
        counted = run(conn, "comeback_rate", Filters(store_id=store))["rows"][0]
        assert returned >= 3 and counted["comebacks"] == returned
        assert 0 < counted["comeback_rate"] < 0.2
        ops = [op for (op,) in conn.execute(
            "SELECT DISTINCT op_code FROM fact_labor_lines WHERE store_id = ?", [store]
        ).fetchall()]
        # which repairs a store's 72 visits draw depends on its (random) name; the catalogue
        # they are drawn from spans the classes, and every loaded operation has its class
        catalogue = {class_of_op_code(op) for op in [m[0] for m in MAINTENANCE]
                     + [r[1] for r in REPAIRS]}
        assert catalogue == {"minor", "second_level", "assembly"}
        assert ops and {class_of_op_code(op) for op in ops} <= catalogue
    finally:
        loader.close()
