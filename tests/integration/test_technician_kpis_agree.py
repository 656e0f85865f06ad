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
    assert (eff["clocked_seconds"], eff["hours_clocked"]) == (256, Decimal("0.0711"))
