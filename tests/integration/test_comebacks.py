"""Comebacks within the repair quality-guarantee period of the earlier visit's class: the
comeback_rate KPI and the comebacks list, on a scenario worked out by hand.

Every earlier visit is delivered at 05:00 UTC on its day; every return opens at 03:00 UTC.

| VIN | earlier visit (op code: class) | return | comeback? |
|---|---|---|---|
| A | 1 May, brake noise, BRK-PAD: minor (10 d) | 8 May (6.9 d, +800 km), brake noise | yes |
| B | 1 May, gearbox noise, GBX-OH: assembly (100 d) | 30 Jun (59.9 d, +3,000 km) | yes |
| C | 1 May, rattle, BODY-RTL: minor | 16 May (14.9 d): past 10 days | no (the old 30-day rule: yes) |
| D | 1 May, engine knock, ENG-OH-1: assembly | 20 May, +25,000 km: past 20,000 km | no |
| E | 1 May, brake noise, BRK-PAD: minor | 3 May, "air conditioning not cold" | no: other complaint |
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from decimal import Decimal

import duckdb
import pytest
from fastapi.testclient import TestClient

from analytics.kpis import Filters, run
from analytics.loader import AnalyticsLoader
from servicecore.container import Container
from servicecore.demo import make_vin
from tests.integration.analytics_support import Shop, at, publish_analytics


def period(store: str) -> Filters:
    """2 May - 30 June: the returns, not the earlier visits."""
    return Filters(store_id=store, date_from=date(2025, 5, 2), date_to=date(2025, 6, 30))


def _visit(shop: Shop, vin: str, complaint: str, op_code: str, day: str, mileage: int,
           tech: str) -> str:
    """One paid and delivered visit; its work-order number."""
    c, opened = shop.c, at(day, "01:00")
    wo, _ = shop.open(vin, complaint, "repair", opened)
    c.work_orders.check_in(shop.r("advisor", opened + timedelta(minutes=5)), wo,
                           mileage_in=mileage, fuel_level=50)
    line = shop.labor(wo, "1.0", "300.00", opened + timedelta(minutes=10), op_code=op_code)
    shop.approve(wo, [line], opened + timedelta(minutes=15))
    shop.workshop(wo, tech, opened + timedelta(minutes=40), opened + timedelta(hours=2))
    shop.settle(wo, opened + timedelta(hours=3), [("wechat_pay", "300.00")])
    c.aftercare.deliver(shop.r("advisor", at(day, "05:00")), wo, mileage_out=mileage + 5,
                        acknowledged_by="customer")
    return str(c.work_orders.app.repository.get(wo).number)


def _return(shop: Shop, vin: str, complaint: str, day: str, mileage: int) -> str:
    wo, _ = shop.open(vin, complaint, "repair", at(day, "03:00"))
    shop.c.work_orders.check_in(shop.r("advisor", at(day, "03:05")), wo, mileage_in=mileage,
                                fuel_level=50)
    return str(shop.c.work_orders.app.repository.get(wo).number)


@pytest.fixture(scope="module")
def loaded(container: Container, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[tuple[duckdb.DuckDBPyConnection, str, dict[str, str]]]:
    store = "CB" + uuid.uuid4().hex[:6].upper()
    shop = Shop(container, store)
    a, b, c, d, e = (make_vin(shop.rng) for _ in range(5))
    n = {
        "a1": _visit(shop, a, "brake noise", "BRK-PAD", "2025-05-01", 40_000, shop.t1),
        "b1": _visit(shop, b, "gearbox noise", "GBX-OH", "2025-05-01", 60_000, shop.t2),
        "c1": _visit(shop, c, "rattle", "BODY-RTL", "2025-05-01", 32_000, shop.t1),
        "d1": _visit(shop, d, "engine knock", "ENG-OH-1", "2025-05-01", 31_000, shop.t1),
        "e1": _visit(shop, e, "brake noise", "BRK-PAD", "2025-05-01", 50_000, shop.t1),
    }
    n["e2"] = _return(shop, e, "air conditioning not cold", "2025-05-03", 50_100)
    n["a2"] = _return(shop, a, " Brake Noise ", "2025-05-08", 40_800)
    n["c2"] = _return(shop, c, "rattle", "2025-05-16", 32_300)
    n["d2"] = _return(shop, d, "engine knock", "2025-05-20", 56_000)
    n["b2"] = _return(shop, b, "gearbox noise", "2025-06-30", 63_000)
    loader = AnalyticsLoader(container.app, tmp_path_factory.mktemp("cb") / "a.duckdb")
    loader.catch_up()
    loader.conn.execute("SET TimeZone = 'UTC'")
    yield loader.conn, store, {**n, "t1": shop.t1, "t2": shop.t2}
    loader.close()


Loaded = tuple[duckdb.DuckDBPyConnection, str, dict[str, str]]


def test_comeback_rate_uses_the_guarantee_of_the_earlier_visits_class(loaded: Loaded) -> None:
    conn, store, _ = loaded
    (row,) = run(conn, "comeback_rate", period(store))["rows"]
    # opened 2 May - 30 June: the five returns; comebacks A (minor, 6.9 d) and B (assembly,
    # 59.9 d); not C (minor, 14.9 d), D (20 May but 25,000 km on), E (another complaint)
    assert (row["work_orders"], row["comebacks"]) == (5, 2)
    assert row["comeback_rate"] == Decimal("0.4000")


def test_comebacks_list_names_both_visits_the_class_and_the_technician(loaded: Loaded) -> None:
    conn, store, n = loaded
    rows = run(conn, "comebacks", period(store))["rows"]
    got = {r["work_order"]: r for r in rows}
    assert list(got) == [n["b2"], n["a2"]]  # latest first
    b, a = got[n["b2"]], got[n["a2"]]
    assert (b["earlier_work_order"], b["repair_class"], b["guarantee_days"],
            b["guarantee_km"]) == (n["b1"], "assembly", 100, 20_000)
    assert (b["days_between"], b["km_between"]) == (Decimal("59.9"), 3_000)
    assert b["earlier_technicians"] == n["t2"]
    assert (a["earlier_work_order"], a["repair_class"], a["complaint"]) == (
        n["a1"], "minor", "brake noise")
    assert (a["days_between"], a["km_between"]) == (Decimal("6.9"), 800)
    assert a["earlier_technicians"] == n["t1"]
    assert len(a["vin"]) == 17


def test_a_period_counts_the_comebacks_opened_in_it(loaded: Loaded) -> None:
    conn, store, n = loaded
    may = Filters(store_id=store, date_from=date(2025, 5, 2), date_to=date(2025, 5, 31))
    assert [r["work_order"] for r in run(conn, "comebacks", may)["rows"]] == [n["a2"]]
    (row,) = run(conn, "comeback_rate", may)["rows"]
    assert (row["work_orders"], row["comebacks"]) == (4, 1)


def test_the_service_manager_gets_the_list_over_http(
        container: Container, client: TestClient, auth: Callable[..., dict[str, str]],
        loaded: Loaded) -> None:
    _, store, n = loaded
    publish_analytics(container)
    query = f"store_id={store}&date_from=2025-05-02&date_to=2025-06-30"
    manager = auth("manager", "mgr-1", [store])
    got = client.get(f"/analytics/kpis/comebacks?{query}", headers=manager)
    assert got.status_code == 200, got.text
    assert [(r["work_order"], r["earlier_work_order"], r["repair_class"])
            for r in got.json()["rows"]] == [(n["b2"], n["b1"], "assembly"),
                                             (n["a2"], n["a1"], "minor")]
    as_csv = client.get(f"/analytics/kpis/comebacks?{query}&format=csv", headers=manager)
    assert as_csv.status_code == 200
    assert [r["earlier_technicians"] for r in csv.DictReader(io.StringIO(as_csv.text))] == [
        n["t2"], n["t1"]]
    assert client.get(f"/analytics/kpis/comebacks?{query}",
                      headers=auth("advisor", "adv-1", [store])).status_code == 403
