"""Filters of the KPI catalogue that could match nothing are refused, not answered with empty
rows an analyst would read as "nothing happened": a period whose `date_to` is before its
`date_from` (dates swapped; the answer every route gives, `api.dates.ordered`), and a
`pay_type` that is none of the pay types ("Warranty", "cash"). Each is a problem+json 422
naming the `field`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient

from analytics.kpis import CATALOGUE
from servicecore.container import Container
from tests.integration.analytics_support import publish_analytics

Auth = Callable[..., dict[str, str]]
PERIODS = [k.name for k in CATALOGUE.values() if {"date_from", "date_to"} <= set(k.filters)]
PAID = [k.name for k in CATALOGUE.values() if "pay_type" in k.filters]


def refused(client: TestClient, headers: dict[str, str], name: str, field: str,
            **params: str) -> str:
    got = client.get(f"/analytics/kpis/{name}", headers=headers, params=params)
    assert got.status_code == 422, (name, got.status_code, got.text)
    assert got.headers["content-type"].startswith("application/problem+json")
    assert got.json()["field"] == field, (name, got.text)
    return str(got.json()["detail"])


@pytest.fixture
def analyst(container: Container, auth: Auth, store_id: str) -> dict[str, str]:
    publish_analytics(container)  # a snapshot to read: without one every KPI is 404
    return auth("analyst", "ana-" + store_id, [store_id])


def test_a_period_ending_before_it_starts_is_refused_naming_date_to(
        client: TestClient, analyst: dict[str, str]) -> None:
    assert {"technician_efficiency", "effective_labor_rate", "csi", "parts_turnover",
            "online_booking_conversion"} <= set(PERIODS)
    for name in PERIODS:
        detail = refused(client, analyst, name, "date_to",
                         date_from="2026-11-30", date_to="2026-11-01")
        assert detail == "date_to 2026-11-01 is before date_from 2026-11-30", detail
    # A period of one day is a period; so are a month and the same dates in CSV.
    for params in ({"date_from": "2026-11-01", "date_to": "2026-11-01"},
                   {"month": "2026-11"}, {"date_from": "2026-11-01", "format": "csv"}):
        got = client.get("/analytics/kpis/effective_labor_rate", headers=analyst, params=params)
        assert got.status_code == 200, (params, got.text)


def test_a_start_after_today_without_an_end_is_refused_naming_date_from(
        client: TestClient, analyst: dict[str, str]) -> None:
    # turnover and loss rate run to today without date_to: a date_from after it is backward too
    tomorrow = (date.today() + timedelta(days=2)).isoformat()
    for name in ("parts_turnover", "parts_loss_rate"):
        refused(client, analyst, name, "date_from", date_from=tomorrow)


def test_a_pay_type_that_is_none_of_the_pay_types_is_refused(
        client: TestClient, analyst: dict[str, str]) -> None:
    assert {"effective_labor_rate", "parts_fill_rate", "credits"} <= set(PAID)
    for name in PAID:
        for wrong in ("Warranty", "cash", "customer "):
            detail = refused(client, analyst, name, "pay_type", pay_type=wrong)
            assert "customer, warranty, insurance, internal" in detail, detail
    for right in ("customer", "warranty", "insurance", "internal"):
        got = client.get("/analytics/kpis/effective_labor_rate", headers=analyst,
                         params={"pay_type": right})
        assert got.status_code == 200, (right, got.text)
        assert got.json()["filters"]["pay_type"] == right


# a value each filter of the catalogue accepts
VALUES = {"date_from": "2026-11-01", "date_to": "2026-11-30", "store_id": None, "region": None,
          "brand": "Volkswagen", "model": "Lavida", "technician": "tech-1",
          "pay_type": "warranty"}


def test_a_filter_the_kpi_does_not_take_is_refused_naming_it(
        client: TestClient, analyst: dict[str, str]) -> None:
    # an efficiency by pay type divided one pay type's hours sold by every hour clocked
    detail = refused(client, analyst, "technician_efficiency", "pay_type", pay_type="warranty")
    assert "technician_efficiency does not take pay_type" in detail, detail
    refused(client, analyst, "csi", "technician", technician="tech-1")
    refused(client, analyst, "obsolete_stock", "date_from", date_from="2026-11-01")
    refusals = 0
    for kpi in CATALOGUE.values():
        for name, value in VALUES.items():
            if value is not None and name not in kpi.filters:
                refused(client, analyst, kpi.name, name, **{name: value})
                refusals += 1
    assert refusals > 20
    # month= gives a KPI the dates it takes: the month's last day alone to the obsolete stock
    got = client.get("/analytics/kpis/obsolete_stock", headers=analyst,
                     params={"month": "2026-11"})
    assert got.status_code == 200, got.text
    assert got.json()["filters"]["date_to"] == "2026-11-30"
    assert "date_from" not in got.json()["filters"]
