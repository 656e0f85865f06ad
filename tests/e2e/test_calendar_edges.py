"""Values at the far edge of the calendar: a month of year 0000 passes the `YYYY-MM` pattern,
and Python's dates have no year 0. Each is 422 naming the parameter, never a 500."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from analytics.kpis import CATALOGUE
from tests.e2e.test_api_contract import problem

Auth = Callable[..., dict[str, str]]
# The roles that read what a `month` names: the finance desk's days and ledger, the analyst's
# KPIs and monthly report.
READERS = ("finance", "analyst", "manager", "auditor")


def month_routes(document: dict[str, Any]) -> list[tuple[str, set[str]]]:
    """Every GET of the document that takes `month`, with its other required parameters."""
    found = []
    for path, operations in document["paths"].items():
        parameters = operations.get("get", {}).get("parameters", [])
        if any(p["in"] == "query" and p["name"] == "month" for p in parameters):
            found.append((path, {p["name"] for p in parameters
                                 if p["in"] == "query" and p.get("required")} - {"month"}))
    return found


def test_a_month_of_year_0000_is_422_naming_month_on_every_route(
        client: TestClient, auth: Auth, store_id: str) -> None:
    """`/day-end?month=0000-01`, `/analytics/reports/monthly?month=0000-01` and
    `/analytics/kpis/{name}?month=0000-01` answered 500: the month's first day was made
    before its year was checked."""
    routes = month_routes(client.get("/openapi.json").json())
    assert {"/day-end", "/analytics/reports/monthly", "/analytics/kpis/{name}"} <= \
        {path for path, _ in routes}
    kpi = next(iter(CATALOGUE))
    for path, required in routes:
        assert not required, f"{path} needs {required}: give it a value here"
        # the month is checked before anything is looked up: an unknown customer will do
        url = path.replace("{name}", kpi).replace("{customer_id}", str(uuid.uuid4()))
        assert "{" not in url, f"{path}: give its path parameter a value here"
        for month in ("0000-01", "0000-12"):
            for role in READERS:
                response = client.get(url, params={"month": month},
                                      headers=auth(role, f"{role}-1", [store_id]))
                if response.status_code != 403:
                    break
            body = problem(response, 422, "invalid-input")
            assert body.get("field") == "month", (path, body)
