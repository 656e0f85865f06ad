"""The complaint cases' KPIs over HTTP (`GET /analytics/kpis/{name}`): two visits, two
complaints (one taken through to closure within its deadlines, one left waiting) and a
suggestion give 100.00 complaints per 100 visits, an on-time closure rate and a first-contact
rate of 1.0000; the figures are strings as every decimal of the API, the suggestion counts in
none, another store's cases in none of this store's."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient

from analytics.loader import AnalyticsLoader
from servicecore.container import Container
from tests.e2e.test_parts_api import Auth, get, post
from tests.integration.audit_support import new_vin
from tests.scratch_systems import served_module

served, container, client = served_module("sc_grievance_kpis")


def _visit(client: TestClient, advisor: dict[str, str], store_id: str) -> str:
    opened = post(client, "/work-orders", advisor, {
        "store_id": store_id, "customer": {"name": "王伟", "phone": "13800000001"},
        "vehicle": {"vin": new_vin()}, "mileage": 30000, "complaints": ["brake noise"]}, 201)
    return str(opened["customer_id"])


def _case(client: TestClient, advisor: dict[str, str], store_id: str, customer: str,
          kind: str) -> str:
    made = post(client, f"/stores/{store_id}/grievances", advisor, {
        "customer_id": customer, "kind": kind, "channel": "phone",
        "category": "waiting_time", "severity": "normal",
        "words": "等了三个小时没人理 waited three hours"}, 201)
    return f"/grievances/{made['id']}"


def test_complaint_kpis_from_a_small_history(container: Container, client: TestClient,
                                             auth: Auth, store_id: str) -> None:
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    analyst = auth("analyst", "ana-" + store_id, [store_id])
    customer = _visit(client, advisor, store_id)
    _visit(client, advisor, store_id)
    answered = _case(client, advisor, store_id, customer, "complaint")
    post(client, f"{answered}/assignment", advisor, {"owner": "adv-" + store_id})
    post(client, f"{answered}/first-contact", advisor, {"note": "called back"})
    post(client, f"{answered}/resolution", advisor, {"resolution": "apologised, free wash",
                                                     "accepted": True})
    post(client, f"{answered}/closure", advisor, {})
    _case(client, advisor, store_id, customer, "complaint")  # waiting, not yet due
    _case(client, advisor, store_id, customer, "suggestion")
    other = "X" + store_id[:7]  # another store: a visit and a complaint of its own
    elsewhere = auth("advisor", "adv-" + other, [other])
    _case(client, elsewhere, other, _visit(client, elsewhere, other), "complaint")
    loader = AnalyticsLoader(container.app, container.settings.analytics_path)
    try:
        loader.catch_up()
        assert loader.publish(force=True)
    finally:
        loader.close()
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()  # a day either side: midnight
    days = {"date_from": (today - timedelta(days=1)).isoformat(),
            "date_to": (today + timedelta(days=1)).isoformat()}

    def kpi(name: str) -> dict[str, Any]:
        body = get(client, f"/analytics/kpis/{name}", analyst, store_id=store_id, **days)
        assert body["filters"]["store_id"] == store_id and body["formula"]
        (row,) = body["rows"]
        return row  # type: ignore[no-any-return]

    assert kpi("complaints_per_100_visits") == {
        "complaints": 2, "work_orders": 2, "complaints_per_100_visits": "100.00"}
    assert kpi("complaint_on_time_closure") == {
        "closed": 1, "closed_on_time": 1, "on_time_closure_rate": "1.0000", "reopened": 0}
    assert kpi("complaint_first_contact") == {
        "contacted": 1, "contacted_on_time": 1, "first_contact_on_time_rate": "1.0000",
        "waiting_past_due": 0}
    listed = {k["name"] for k in get(client, "/analytics/kpis", analyst)["items"]}
    assert {"complaints_per_100_visits", "complaint_on_time_closure",
            "complaint_first_contact"} <= listed
    csv = client.get("/analytics/kpis/complaints_per_100_visits", headers=analyst,
                     params={"store_id": store_id, "format": "csv", **days})
    assert csv.status_code == 200 and "100.00" in csv.text
    # the monthly report carries both beside the month before (no cases then)
    month = get(client, "/analytics/reports/monthly", analyst, store_id=store_id,
                month=datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m"))
    figures = {row["figure"]: row for row in month["rows"]}
    assert figures["complaints_per_100_visits"]["value"] == "100.00"
    assert figures["complaint_on_time_closure"]["value"] == "1.0000"
    assert figures["complaint_on_time_closure"]["previous_month"] is None
