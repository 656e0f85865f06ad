"""The monthly report (月度报表): a service manager's month, its figures the KPI catalogue's for
the same days, beside the month before (环比) and the same month a year before (同比).

A small generated history (the demo's visits, settled, delivered and followed up) of three
stores of one region, one month each: November 2025, October 2026 and November 2026 (a store's
demo leaves technicians clocked on, so each month has a store of its own)."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from domain import kpi_figures
from servicecore.container import build
from servicecore.demo import load_demo
from tests.conftest import settings_for
from tests.e2e.test_parts_api import get
from tests.integration.analytics_support import publish_analytics

Auth = Callable[..., dict[str, str]]
REPORT = "/analytics/reports/monthly"
NOVEMBER = {"date_from": "2026-11-01", "date_to": "2026-11-30"}
OCTOBER = {"date_from": "2026-10-01", "date_to": "2026-10-31"}
YEAR_AGO = {"date_from": "2025-11-01", "date_to": "2025-11-30"}


@pytest.fixture(scope="module")
def history(database_url: str, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[tuple[TestClient, list[str]]]:
    stores = ["M" + uuid.uuid4().hex[:6].upper() for _ in range(3)]
    system = build(settings_for(database_url, tmp_path_factory.mktemp("monthly"),
                                regions=dict.fromkeys(stores, "华北")))
    try:
        for store, now in zip(stores, (datetime(2025, 11, 29, 4, tzinfo=UTC),
                                       datetime(2026, 10, 30, 4, tzinfo=UTC),
                                       datetime(2026, 11, 29, 4, tzinfo=UTC)), strict=True):
            load_demo(system.work_orders, system.inventory, visits=16, stores=(store,),
                      settlements=system.settlements, aftercare=system.aftercare, now=now)
        publish_analytics(system)
        with TestClient(create_app(system.api_context())) as http:
            yield http, stores
    finally:
        system.close()


def _number(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def _catalogue(client: TestClient, headers: dict[str, str], period: dict[str, str]
               ) -> dict[str, Decimal | None]:
    """The catalogue's KPIs of the region and period, as the report names them: a KPI of one
    row per store, technician or pay type summed, its ratio divided from the sums."""
    def rows(name: str) -> list[dict[str, Any]]:
        found = get(client, f"/analytics/kpis/{name}", headers, region="华北", **period)
        assert found["filters"]["region"] == "华北"
        return found["rows"]  # type: ignore[no-any-return]

    def total(found: list[dict[str, Any]], column: str) -> Decimal:
        return sum((Decimal(r[column]) for r in found), Decimal(0))

    profit, margin = rows("gross_profit"), rows("labor_gross_margin")
    rates, techs = rows("effective_labor_rate"), rows("technician_efficiency")
    productivity = rows("productivity")
    (parts,) = (r for r in rows("parts_sales") if r["pay_type"] == "total")
    (credits,) = (r for r in rows("credits") if r["pay_type"] == "total")
    return {name: _number(value) for name, value in {
        "visits": rows("comeback_rate")[0]["work_orders"],
        "settled_work_orders": total(profit, "work_orders"),
        "revenue_ex_vat": total(profit, "revenue_ex_vat"),
        "gross_profit": total(profit, "gross_profit"),
        "gross_margin": kpi_figures.quotient(total(profit, "gross_profit"),
                                             total(profit, "revenue_ex_vat")),
        "labor_sales_ex_vat": total(rates, "labor_sales_ex_vat"),
        "labor_hours_sold": total(rates, "hours_sold"),
        "effective_labor_rate": kpi_figures.labor_rate(total(rates, "labor_sales_ex_vat"),
                                                       total(rates, "hours_sold")),
        "labor_gross_margin": kpi_figures.labor_margin(total(margin, "labor_sales_ex_vat"),
                                                       total(margin, "labor_cost")),
        "parts_sales_ex_vat": Decimal(parts["parts_sales_ex_vat"]),
        "parts_gross_margin": kpi_figures.quotient(Decimal(parts["parts_gross_profit"]),
                                                   Decimal(parts["parts_sales_ex_vat"])),
        "credits_amount": Decimal(credits["amount"]),
        "credit_notes_ex_vat": Decimal(credits["credit_notes_ex_vat"]),
        "technician_efficiency": kpi_figures.efficiency(total(techs, "hours_sold"),
                                                        int(total(techs, "clocked_seconds"))),
        "productivity": kpi_figures.productivity(int(total(productivity, "clocked_seconds")),
                                                 total(productivity, "hours_available")),
        "csi": rows("csi")[0]["csi"], "comeback_rate": rows("comeback_rate")[0]["comeback_rate"],
        "parts_fill_rate": rows("parts_fill_rate")[0]["fill_rate"],
        "parts_turns_per_year": rows("parts_turnover")[0]["turns_per_year"],
        "complaints_per_100_visits":
            rows("complaints_per_100_visits")[0]["complaints_per_100_visits"],
        "complaint_on_time_closure":
            rows("complaint_on_time_closure")[0]["on_time_closure_rate"],
        "online_booking_requests": rows("online_booking_conversion")[0]["requests"],
        "online_booking_conversion": rows("online_booking_conversion")[0]["conversion"],
    }.items()}


def test_the_months_figures_are_the_catalogues_beside_the_month_before_and_a_year_before(
        history: tuple[TestClient, list[str]], auth: Auth) -> None:
    client, stores = history
    manager = auth("manager", "mgr-north", stores)
    report = get(client, REPORT, manager, month="2026-11", region="华北")
    # The three periods: the month, the month before, the same month a year before.
    assert (report["month"], report["complete"]) == ("2026-11", True)
    assert (report["period"], report["previous_month"], report["year_ago"]) == (
        NOVEMBER, OCTOBER, YEAR_AGO)
    assert report["filters"] == {"region": "华北"}
    now, before, year_ago = (_catalogue(client, manager, period)
                             for period in (NOVEMBER, OCTOBER, YEAR_AGO))
    figures = {row["figure"]: row for row in report["rows"]}
    assert list(figures) == list(now)
    for name, row in figures.items():
        assert (_number(row["value"]), _number(row["previous_month"]),
                _number(row["year_ago"])) == (now[name], before[name], year_ago[name]), name
    # Every month of the history has its own visits and sales: a wrong period would show.
    visits = figures["visits"]
    assert visits["value"] > 0 and visits["previous_month"] > 0 and visits["year_ago"] > 0
    for name in ("revenue_ex_vat", "parts_sales_ex_vat"):
        three = {figures[name][k] for k in ("value", "previous_month", "year_ago")}
        assert len(three) == 3 and all(Decimal(amount) > 0 for amount in three), name
    # Labor sales and parts sales less the credits are the revenue, each month.
    for k in ("value", "previous_month", "year_ago"):
        assert Decimal(figures["labor_sales_ex_vat"][k]) + Decimal(
            figures["parts_sales_ex_vat"][k]) - Decimal(figures["credit_notes_ex_vat"][k]) == (
            Decimal(figures["revenue_ex_vat"][k])), k
    # The changes: value − the other; for money and counts also ÷ the other.
    revenue = figures["revenue_ex_vat"]
    assert Decimal(revenue["change_mom"]) == Decimal(revenue["value"]) - Decimal(
        revenue["previous_month"])
    assert Decimal(revenue["change_yoy_rate"]) == (Decimal(revenue["change_yoy"]) / Decimal(
        revenue["year_ago"])).quantize(Decimal("0.0001"))
    assert visits["change_yoy"] == visits["value"] - visits["year_ago"]
    # Money, hours and ratios are strings with their places; counts are numbers.
    assert isinstance(revenue["value"], str) and len(revenue["value"].split(".")[1]) == 2
    assert isinstance(visits["value"], int)
    # One store: its own month only (the store of November 2026 had no visits a year before).
    alone = {row["figure"]: row for row in get(client, REPORT, manager, month="2026-11",
                                                store_id=stores[2])["rows"]}
    assert (alone["visits"]["value"], alone["visits"]["year_ago"]) == (visits["value"], 0)
    as_csv = client.get(REPORT, headers=manager, params={"month": "2026-11", "format": "csv",
                                                         "region": "华北"})
    assert as_csv.status_code == 200 and as_csv.headers["content-type"].startswith("text/csv")
    read = {r["figure"]: r for r in csv.DictReader(io.StringIO(as_csv.text))}
    assert read["revenue_ex_vat"]["value"] == revenue["value"]
    assert read["visits"]["year_ago"] == str(visits["year_ago"])


def test_the_month_still_running_is_compared_up_to_the_same_day(
        history: tuple[TestClient, list[str]], auth: Auth) -> None:
    client, _ = history
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    report = get(client, REPORT, auth("analyst", "ana-north", ["*"]),
                 month=today.strftime("%Y-%m"))
    first = today.replace(day=1)
    before = date(first.year - (first.month == 1), (first.month - 2) % 12 + 1, 1)
    assert report["period"] == {"date_from": first.isoformat(), "date_to": today.isoformat()}
    assert report["previous_month"]["date_from"] == before.isoformat()
    assert report["year_ago"]["date_from"] == first.replace(year=first.year - 1).isoformat()
    # complete only on the month's last day
    assert report["complete"] is ((today + timedelta(days=1)).month != today.month)


@pytest.mark.parametrize("month", ["2026-13", "", "99999-01", "2026-1", "2026-00", "1900-05",
                                   "2026-11-01"])
def test_a_malformed_month_is_422(history: tuple[TestClient, list[str]], auth: Auth,
                                  month: str) -> None:
    client, stores = history
    answer = client.get(REPORT, headers=auth("manager", "mgr-" + stores[0], stores[:1]),
                        params={"month": month})
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")


def test_a_month_that_has_not_begun_or_a_role_without_analytics_is_refused(
        history: tuple[TestClient, list[str]], auth: Auth) -> None:
    client, stores = history
    store = stores[0]
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    ahead = date(today.year + (today.month == 12), today.month % 12 + 1, 1)
    manager = auth("manager", "mgr-" + store, [store])
    answer = client.get(REPORT, headers=manager, params={"month": ahead.strftime("%Y-%m")})
    assert answer.status_code == 422 and answer.json()["field"] == "month", answer.text
    assert client.get(REPORT, headers=auth("advisor", "adv-" + store, [store]),
                      params={"month": "2026-11"}).status_code == 403
    other = client.get(REPORT, headers=manager, params={"month": "2026-11",
                                                         "store_id": "ELSEWHERE"})
    assert other.status_code == 403
    unknown = client.get(REPORT, headers=manager, params={"month": "2026-11", "region": "西北"})
    assert unknown.status_code == 422 and unknown.json()["field"] == "region"



def test_parts_sales_kpi_as_json_and_csv(history: tuple[TestClient, list[str]],
                                         auth: Auth) -> None:
    client, stores = history
    manager = auth("manager", "mgr-north", stores)
    found = get(client, "/analytics/kpis/parts_sales", manager, region="华北", **NOVEMBER)
    assert found["formula"].startswith("parts sales = the part lines of the settlements")
    assert found["columns"] == ["pay_type", "part_lines", "units", "parts_sales_ex_vat",
                                "parts_cost", "parts_gross_profit", "parts_gross_margin"]
    total = found["rows"][-1]
    assert total["pay_type"] == "total" and total["part_lines"] > 0
    # money strings with 2 places, the margin with 4; the pay types add up to the total
    assert len(total["parts_sales_ex_vat"].split(".")[1]) == 2
    assert len(total["parts_gross_margin"].split(".")[1]) == 4
    assert sum(Decimal(r["parts_sales_ex_vat"]) for r in found["rows"][:-1]) == Decimal(
        total["parts_sales_ex_vat"])
    as_csv = client.get("/analytics/kpis/parts_sales", headers=manager,
                        params={"format": "csv", "region": "华北", **NOVEMBER})
    assert as_csv.status_code == 200 and as_csv.headers["content-type"].startswith("text/csv")
    read = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert read[-1]["pay_type"] == "total"
    assert read[-1]["parts_sales_ex_vat"] == total["parts_sales_ex_vat"]
