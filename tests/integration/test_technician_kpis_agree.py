"""The workshop's `/technicians/kpi` and the analytics catalogue report a technician's
efficiency, productivity and proficiency by one rule (`domain.kpi_figures`): exact hours,
one division, rounded once half up to 4 places."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from analytics.kpis import Filters, run
from analytics.loader import AnalyticsLoader
from analytics.reader import use_zone
from projections.workshop_queries import kpis
from servicecore.container import Container
from tests.integration.audit_support import Desk, at, new_vin
from workers.projection_runner import ProjectionRunner

DAY = date(2026, 3, 10)


def test_a_tie_rounds_half_up_in_both_places(container: Container, tmp_path: Path) -> None:
    desk, d = Desk(container), DAY.isoformat()
    # An 8-hour shift; a job of 0.5 h sold clocked for 256 s: 0.5 x 3600 / 256 = 7.03125,
    # a tie at the fifth place; 256 s over 8 h = 0.0088889; 0.5 h over 8 h = 0.0625.
    desk.on_roster(desk.t1, at(d, "07:00"))
    container.technicians.plan_shifts(desk.r("manager", at(d, "07:05")), desk.t1, [
        {"day": d, "start": "08:00", "end": "17:00", "break_minutes": 60}])
    wo = desk.open(new_vin(), ["squeal when braking"], at(d, "09:00"))
    desk.check_in(wo, 12_000, at(d, "09:05"))
    desk.approve(wo, [desk.labor(wo, 1, "BRK-01", "0.5", at(d, "09:10"))], at(d, "09:11"))
    on = at(d, "10:00")
    desk.repair(wo, 1, desk.t1, on, on + timedelta(seconds=256))

    view = next(v for v in container.views if v.name == "workshop")
    ProjectionRunner(container.app, container.pool, view).catch_up()
    with container.pool.connection() as conn:
        [shop] = kpis(conn, [desk.store], store_id=desk.store, first=DAY, last=DAY)
    assert (shop["efficiency"], shop["productivity"], shop["proficiency"]) == (
        "7.0313", "0.0089", "0.0625")

    loader = AnalyticsLoader(container.app, tmp_path / "kpi.duckdb")
    try:
        loader.catch_up()
        use_zone(loader.conn, "Asia/Shanghai")  # as the API's snapshot connection runs
        when = Filters(store_id=desk.store, date_from=DAY, date_to=DAY)
        [eff] = run(loader.conn, "technician_efficiency", when)["rows"]
        [prod] = run(loader.conn, "productivity", when)["rows"]
    finally:
        loader.close()
    assert eff["efficiency"] == Decimal(shop["efficiency"])
    assert (prod["productivity"], prod["proficiency"]) == (
        Decimal(shop["productivity"]), Decimal(shop["proficiency"]))
    # 256 s shown as hours to 2 places, as `/technicians/kpi` shows them
    assert (eff["clocked_seconds"], str(eff["hours_clocked"])) == (256, "0.07")


def test_hours_sold_count_on_qc_pass_with_work_added_after_dispatch(
        container: Container, tmp_path: Path) -> None:
    desk, d1, d2 = Desk(container), DAY.isoformat(), (DAY + timedelta(days=1)).isoformat()
    # A 1.0 h job dispatched; during the repair 0.5 h more is found and approved; clocked
    # 22:00-23:00 (store time), completed at 23:50, QC passed the next morning.
    wo = desk.open(new_vin(), ["knock from the rear axle"], at(d1, "09:00"))
    desk.check_in(wo, 40_000, at(d1, "09:05"))
    desk.approve(wo, [desk.labor(wo, 1, "AXL-01", "1.0", at(d1, "09:10"))], at(d1, "09:11"))
    desk.on_roster(desk.t1, at(d1, "09:12"))
    w, tech = container.work_orders, desk.t1
    w.dispatch(desk.r("manager", at(d1, "09:15")), wo, 1, technician_id=tech)
    w.clock_on(desk.tech(tech, at(d1, "22:00")), wo, 1)
    desk.approve(wo, [desk.labor(wo, 1, "AXL-02", "0.5", at(d1, "22:30"))], at(d1, "22:35"))
    w.clock_off(desk.tech(tech, at(d1, "23:00")), wo, 1)
    w.complete_job(desk.tech(tech, at(d1, "23:50")), wo, 1)
    w.quality_check(desk.r("manager", at(d2, "08:30")), wo, 1, passed=True)

    view = next(v for v in container.views if v.name == "workshop")
    ProjectionRunner(container.app, container.pool, view).catch_up()
    loader = AnalyticsLoader(container.app, tmp_path / "kpi.duckdb")
    try:
        loader.catch_up()
        use_zone(loader.conn, "Asia/Shanghai")
        for first, last in ((DAY, DAY), (DAY + timedelta(days=1),) * 2,
                            (DAY, DAY + timedelta(days=1))):
            with container.pool.connection() as conn:
                shop = kpis(conn, [desk.store], store_id=desk.store, first=first, last=last,
                            by="period")
            found = run(loader.conn, "technician_efficiency",
                        Filters(store_id=desk.store, date_from=first, date_to=last))["rows"]
            # the same hours sold and clocked, printed alike (2 places), and the same
            # efficiency, in both places
            assert [(r["sold_hours"], r["clocked_hours"], r["efficiency"]) for r in shop] == [
                (str(r["hours_sold"]), str(r["hours_clocked"]),
                 None if r["efficiency"] is None else str(r["efficiency"])) for r in found], (
                first, last)
            sold = {(DAY, DAY): "0.00", (DAY, DAY + timedelta(days=1)): "1.50"}.get(
                (first, last), "1.50")
            assert [r["sold_hours"] for r in shop] == [sold]
    finally:
        loader.close()
