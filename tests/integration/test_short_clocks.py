"""Clock punches of a few minutes reach the technician KPIs whole: the hours are kept exact
(seconds, in the workshop view as in the analytic tables) and rounded only where a row is
shown, so `/technicians/kpi` and the analytics catalogue give the same efficiency."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from analytics.kpis import Filters, run
from analytics.loader import AnalyticsLoader
from projections.workshop_queries import kpis
from servicecore.container import Container
from tests.integration.audit_support import Desk, at, new_vin
from workers.projection_runner import ProjectionRunner


def test_a_few_minutes_on_the_clock_show_as_hours(container: Container, tmp_path: Path) -> None:
    desk, d = Desk(container), "2026-03-10"
    wo = desk.open(new_vin(), ["noise from the front"], at(d, "09:00"))
    desk.check_in(wo, 12_000, at(d, "09:05"))
    desk.approve(wo, [desk.labor(wo, 1, "BRK-01", "0.5", at(d, "09:10"))], at(d, "09:11"))
    desk.on_roster(desk.t1, at(d, "09:12"))
    w, tech = container.work_orders, desk.t1
    w.dispatch(desk.r("manager", at(d, "09:15")), wo, 1, technician_id=tech)
    # Four short punches: 2, 3 and 4 minutes and 20 seconds, 9 min 20 s in all (0.1556 h).
    start = at(d, "10:00")
    for minute, seconds in ((0, 120), (10, 180), (20, 240), (30, 20)):
        on = start + timedelta(minutes=minute)
        w.clock_on(desk.tech(tech, on), wo, 1)
        w.clock_off(desk.tech(tech, on + timedelta(seconds=seconds)), wo, 1)
    w.complete_job(desk.tech(tech, at(d, "11:00")), wo, 1)
    w.quality_check(desk.r("manager", at(d, "11:05")), wo, 1, passed=True)

    # The workshop KPI row: 560 s are 0.16 h shown; efficiency from the exact hours,
    # 0.5 h sold / (560 / 3600) h = 3.2143.
    view = next(v for v in container.views if v.name == "workshop")
    ProjectionRunner(container.app, container.pool, view).catch_up()
    with container.pool.connection() as conn:
        rows = kpis(conn, [desk.store], store_id=desk.store, first=date(2026, 3, 10),
                    last=date(2026, 3, 10))
    assert [(r["clocked_hours"], r["sold_hours"], r["efficiency"]) for r in rows] == [
        ("0.16", "0.50", "3.2143")]

    # The analytic KPI: the same 560 s, shown as 0.16 h as well; the same efficiency (rounding each
    # punch to 1/10,000 h first, 0.0333 + 0.05 + 0.0667 + 0.0056, would say 3.2134).
    loader = AnalyticsLoader(container.app, tmp_path / "kpi.duckdb")
    try:
        loader.catch_up()
        found = run(loader.conn, "technician_efficiency", Filters(store_id=desk.store))["rows"]
    finally:
        loader.close()
    assert [(str(r["hours_clocked"]), str(r["hours_sold"])) for r in found] == [
        ("0.16", "0.50")]
    assert (found[0]["clocked_seconds"], found[0]["efficiency"]) == (560, Decimal("3.2143"))
