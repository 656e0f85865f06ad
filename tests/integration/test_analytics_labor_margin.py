"""Labor gross margin, unapplied time and months of supply through the API, against figures
worked out by hand: a technician's hourly cost raised between two visits costs each visit's
clocked time at the rate in force when it was clocked on; a file loaded by the fold before
hourly costs were loaded gets them when the loader starts.

All times are UTC between 02:00 and 10:00 (10:00-18:00 in Shanghai), far from any day boundary.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
from fastapi.testclient import TestClient

from analytics.kpis import Filters, run
from analytics.loader import REVISION, AnalyticsLoader
from servicecore.container import Container
from servicecore.demo import make_vin
from tests.integration.analytics_support import Shop, at

APRIL = {"date_from": "2025-04-01", "date_to": "2025-04-30"}


def april(c: Container, store: str) -> Shop:
    """Two settled visits worked by t1, whose hourly cost goes from 80.00 to 100.00 between
    them; t1 on shift 8 h on each visit's day; 10 oil filters at 40.00 in stock, 3 sold."""
    shop = Shop(c, store)
    technicians = c.technicians
    # 1 April: t1's profile at 80.00 an hour, shifts 08:00-17:00 less an hour's break (8 h)
    technicians.set_profile(shop.r("manager", at("2025-04-01", "02:00")), shop.t1,
                            store_id=store, skills={}, hourly_cost="80.00")
    technicians.plan_shifts(shop.r("manager", at("2025-04-01", "02:05")), shop.t1, [
        {"day": day, "start": "08:00", "end": "17:00", "break_minutes": 60}
        for day in ("2025-04-02", "2025-04-04")])
    shop.register(shop.p1, "oil filter", "100.00", at("2025-03-01", "03:00"))
    shop.receive(shop.p1, 10, "40.00", at("2025-03-01", "03:00"))

    # 2 April: 2.0 h of customer labor at 226.00 with VAT (452.00, of it 52.00 VAT: 400.00
    # sold) and 3 oil filters; t1 clocks 04:00-06:00 (2 h) at 80.00: 160.00
    d = "2025-04-02"
    wo, _ = shop.open(make_vin(shop.rng), "service", "repair", at(d, "03:00"))
    c.work_orders.check_in(shop.r("advisor", at(d, "03:10")), wo, mileage_in=30_010,
                           fuel_level=50)
    lines = [shop.labor(wo, "2.0", "226.00", at(d, "03:15")),
             shop.part(wo, shop.p1, 3, at(d, "03:16"))]
    shop.approve(wo, lines, at(d, "03:20"))
    shop.workshop(wo, shop.t1, at(d, "04:00"), at(d, "06:00"), issue=(lines[1],))
    shop.settle(wo, at(d, "07:00"), [("cash", "752.00")])

    # 3 April: t1's cost raised to 100.00 an hour
    technicians.set_profile(shop.r("manager", at("2025-04-03", "02:00")), shop.t1,
                            store_id=store, skills={}, hourly_cost="100.00",
                            reason="annual review")

    # 4 April: 1.0 h at 226.00 (200.00 sold); t1 clocks 04:00-05:30 (1.5 h) at 100.00: 150.00
    d = "2025-04-04"
    wo, _ = shop.open(make_vin(shop.rng), "noise", "repair", at(d, "03:00"))
    c.work_orders.check_in(shop.r("advisor", at(d, "03:10")), wo, mileage_in=30_010,
                           fuel_level=50)
    shop.approve(wo, [shop.labor(wo, "1.0", "226.00", at(d, "03:15"))], at(d, "03:20"))
    shop.workshop(wo, shop.t1, at(d, "04:00"), at(d, "05:30"))
    shop.settle(wo, at(d, "07:00"), [("cash", "226.00")])
    return shop


def loaded(c: Container, path: Path) -> None:
    loader = AnalyticsLoader(c.app, path)
    try:
        loader.catch_up()
        assert loader.publish(force=True)
    finally:
        loader.close()


def kpi(client: TestClient, headers: dict[str, str], name: str, store: str
        ) -> list[dict[str, Any]]:
    got = client.get(f"/analytics/kpis/{name}", headers=headers,
                     params={"store_id": store, **APRIL})
    assert got.status_code == 200, got.text
    return list(got.json()["rows"])


def test_the_margin_costs_each_visit_at_the_hourly_cost_of_its_day(
        container: Container, client: TestClient, auth: Callable[..., dict[str, str]]) -> None:
    store = "LM" + uuid.uuid4().hex[:6].upper()
    shop = april(container, store)
    loaded(container, container.settings.analytics_path)
    analyst = auth("analyst", "ana-lm", [store])

    [row] = kpi(client, analyst, "labor_gross_margin", store)
    # 400.00 + 200.00 sold; 2 h x 80.00 + 1.5 h x 100.00 = 310.00; 290.00 / 600.00 = 0.4833
    assert row == {"store_id": store, "labor_sales_ex_vat": "600.00", "clocked_seconds": 12_600,
                   "hours_clocked": "3.50", "seconds_without_cost": 0,
                   "hours_without_cost": "0.00", "labor_cost": "310.00",
                   "labor_gross_profit": "290.00", "labor_gross_margin": "0.4833"}
    as_csv = client.get("/analytics/kpis/labor_gross_margin", headers=analyst,
                        params={"store_id": store, "format": "csv", **APRIL})
    [line] = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert (line["labor_cost"], line["labor_gross_margin"]) == ("310.00", "0.4833")

    # 16 h on shift, 3.5 h clocked: productivity 0.21875 rounds (half up) to 0.2188, unapplied
    # time is the rest, 0.7812, so that the two add up to 1
    [tech] = kpi(client, analyst, "productivity", store)
    assert tech["technician_id"] == shop.t1
    assert (tech["hours_available"], tech["hours_clocked"]) == ("16.00", "3.50")
    assert (tech["productivity"], tech["unapplied_time"]) == ("0.2188", "0.7812")

    # 3 filters at 40.00 sold in April's 30 days (120.00: 43.84 a month, 30 x 12 / 365
    # months); 7 left, 280.00: 280 x 12 x 30 / (365 x 120) = 2.30 months of supply
    [parts] = kpi(client, analyst, "parts_turnover", store)
    assert (parts["cost_of_parts_sold"], parts["inventory_end"]) == ("120.00", "280.00")
    assert parts["months_of_supply"] == "2.30"


def test_a_file_from_before_hourly_costs_gets_them_when_the_loader_starts(
        container: Container, tmp_path: Path) -> None:
    store = "LR" + uuid.uuid4().hex[:6].upper()
    april(container, store)
    path = tmp_path / "analytics.duckdb"
    loaded(container, path)
    with duckdb.connect(str(path)) as conn:  # as revision 6 of the fold left it
        conn.execute("DELETE FROM fact_hourly_costs")
        conn.execute("UPDATE analytics_position SET revision = 6")
    loader = AnalyticsLoader(container.app, path)
    try:
        assert REVISION > 6 and loader.reload_if_revised()
        costs = loader.conn.execute(
            "SELECT hourly_cost FROM fact_hourly_costs WHERE store_id = ? ORDER BY set_at",
            [store]).fetchall()
        [row] = run(loader.conn, "labor_gross_margin",
                    Filters(store_id=store, date_from=at("2025-04-01", "00:00").date()))["rows"]
    finally:
        loader.close()
    assert [c for (c,) in costs] == [80, 100]
    assert str(row["labor_cost"]) == "310.00"
