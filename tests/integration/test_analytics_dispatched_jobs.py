"""Labor added to a job after its dispatch is the dispatched technician's in the analytic
tables as in the workshop's `/technicians/kpi`, also when the job had no labor line when it was
dispatched (its approved lines were parts only), whether the loader meets the dispatch and the
new line in one batch or in two.

Needs PostgreSQL (DATABASE_URL).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from uuid import UUID

import pytest

from analytics.kpis import Filters, run
from analytics.loader import AnalyticsLoader
from analytics.reader import use_zone
from projections.workshop_queries import kpis
from servicecore.container import Container
from tests.integration.audit_support import Desk, at, new_vin
from workers.projection_runner import ProjectionRunner

DAY = date(2026, 3, 12)
D = DAY.isoformat()


def _parts_only_job(desk: Desk) -> tuple[UUID, str]:
    """A job whose only approved line is a part: dispatchable, no labor line yet."""
    part = desk.part("rear wiper blade", "80.00", at(D, "08:00"))
    desk.receive(part, 5, "30.00", at(D, "08:05"), supplier="Bosch", doc="DN-1")
    wo = desk.open(new_vin(), ["rear wiper smears"], at(D, "09:00"))
    desk.check_in(wo, 30_000, at(D, "09:05"))
    line = desk.part_line(wo, 1, part, 1, at(D, "09:10"))
    desk.approve(wo, [line], at(D, "09:11"))
    desk.on_roster(desk.t1, at(D, "09:12"))
    desk.on_roster(desk.t2, at(D, "09:12"))
    return wo, line


def _finish(desk: Desk, wo: UUID, part_line: str, tech: str) -> None:
    """The found work approved, the part issued, one clock punch, completed and passed."""
    w = desk.c.work_orders
    labor = desk.labor(wo, 1, "WIP-02", "0.8", at(D, "10:30"))
    desk.approve(wo, [labor], at(D, "10:35"))
    w.issue_part(desk.r("parts_clerk", at(D, "10:40")), wo, part_line)
    w.clock_on(desk.tech(tech, at(D, "11:00")), wo, 1)
    w.clock_off(desk.tech(tech, at(D, "12:00")), wo, 1)
    w.complete_job(desk.tech(tech, at(D, "12:05")), wo, 1)
    w.quality_check(desk.r("manager", at(D, "12:30")), wo, 1, passed=True)


def _workshop_sold(container: Container, desk: Desk) -> dict[str, str]:
    view = next(v for v in container.views if v.name == "workshop")
    ProjectionRunner(container.app, container.pool, view).catch_up()
    with container.pool.connection() as conn:
        rows = kpis(conn, [desk.store], store_id=desk.store, first=DAY, last=DAY)
    return {r["user_id"]: r["sold_hours"] for r in rows}


def _analytics_sold(loader: AnalyticsLoader, desk: Desk) -> dict[str, str]:
    use_zone(loader.conn, "Asia/Shanghai")
    found = run(loader.conn, "technician_efficiency",
                Filters(store_id=desk.store, date_from=DAY, date_to=DAY))["rows"]
    return {r["technician_id"]: str(r["hours_sold"]) for r in found}


def _labor_technicians(loader: AnalyticsLoader, wo: UUID) -> list[tuple[str, str | None]]:
    return [(op, tech) for op, tech in loader.conn.execute(
        "SELECT op_code, technician_id FROM fact_labor_lines WHERE work_order_id = ? "
        "ORDER BY line_id", [str(wo)]).fetchall()]


@pytest.mark.parametrize("batches", ["one", "two"])
def test_labor_added_to_a_job_dispatched_without_labor_is_its_technicians(
        container: Container, tmp_path: Path, batches: str) -> None:
    desk = Desk(container)
    wo, part_line = _parts_only_job(desk)
    # dispatched with parts only; then the technician finds 0.8 h of work, approved
    container.work_orders.dispatch(desk.r("manager", at(D, "10:00")), wo, 1,
                                   technician_id=desk.t1)
    loader = AnalyticsLoader(container.app, tmp_path / "jobs.duckdb")
    try:
        if batches == "two":  # the dispatch folded before the line is added
            loader.catch_up()
        _finish(desk, wo, part_line, desk.t1)
        loader.catch_up()
        assert _labor_technicians(loader, wo) == [("WIP-02", desk.t1)]
        workshop = _workshop_sold(container, desk)
        assert workshop == {desk.t1: "0.80"}
        assert _analytics_sold(loader, desk) == workshop
    finally:
        loader.close()


def test_labor_added_after_a_reassignment_is_the_new_technicians(
        container: Container, tmp_path: Path) -> None:
    desk = Desk(container)
    wo, part_line = _parts_only_job(desk)
    w = container.work_orders
    w.dispatch(desk.r("manager", at(D, "09:30")), wo, 1, technician_id=desk.t1)
    loader = AnalyticsLoader(container.app, tmp_path / "jobs.duckdb")
    try:
        loader.catch_up()
        # the manager hands the job to the second technician before any labor is found
        w.dispatch(desk.r("manager", at(D, "09:50")), wo, 1, technician_id=desk.t2,
                   reason="t1 called to a comeback")
        loader.catch_up()
        _finish(desk, wo, part_line, desk.t2)
        loader.catch_up()
        assert _labor_technicians(loader, wo) == [("WIP-02", desk.t2)]
        workshop = _workshop_sold(container, desk)
        assert workshop == {desk.t2: "0.80"}
        assert _analytics_sold(loader, desk) == workshop
    finally:
        loader.close()


def test_labor_on_a_job_not_yet_dispatched_has_no_technician_until_dispatch(
        container: Container, tmp_path: Path) -> None:
    desk = Desk(container)
    wo = desk.open(new_vin(), ["noise"], at(D, "09:00"))
    desk.check_in(wo, 30_000, at(D, "09:05"))
    line = desk.labor(wo, 1, "NVH-01", "1.0", at(D, "09:10"))
    loader = AnalyticsLoader(container.app, tmp_path / "jobs.duckdb")
    try:
        loader.catch_up()
        assert _labor_technicians(loader, wo) == [("NVH-01", None)]
        desk.approve(wo, [line], at(D, "09:11"))
        desk.on_roster(desk.t1, at(D, "09:12"))
        container.work_orders.dispatch(desk.r("manager", at(D, "09:20")), wo, 1,
                                       technician_id=desk.t1)
        loader.catch_up()
        assert _labor_technicians(loader, wo) == [("NVH-01", desk.t1)]
    finally:
        loader.close()
