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

from servicecore.container import Container
from tests.e2e.test_parts_api import Auth, get, post
from tests.integration.analytics_support import publish_analytics
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
    publish_analytics(container)
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


def test_the_complaint_kpis_by_category_and_by_channel(container: Container, client: TestClient,
                                                       auth: Auth, store_id: str) -> None:
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    analyst = auth("analyst", "ana-" + store_id, [store_id])
    customer = _visit(client, advisor, store_id)
    for _ in range(3):
        _visit(client, advisor, store_id)

    def case(category: str, channel: str, kind: str = "complaint") -> str:
        made = post(client, f"/stores/{store_id}/grievances", advisor, {
            "customer_id": customer, "kind": kind, "channel": channel, "category": category,
            "severity": "normal", "words": "the noise came back 异响又出现了"}, 201)
        return f"/grievances/{made['id']}"

    # Four visits. Repair quality by phone: contacted and closed on time; repair quality by
    # WeChat: contacted; price by phone: waiting, not yet due; a suggestion counted nowhere.
    closed = case("repair_quality", "phone")
    post(client, f"{closed}/assignment", advisor, {"owner": "adv-" + store_id})
    post(client, f"{closed}/first-contact", advisor, {})
    post(client, f"{closed}/resolution", advisor, {"resolution": "re-fitted", "accepted": True})
    post(client, f"{closed}/closure", advisor, {})
    contacted = case("repair_quality", "wechat")
    post(client, f"{contacted}/assignment", advisor, {"owner": "adv-" + store_id})
    post(client, f"{contacted}/first-contact", advisor, {})
    case("price", "phone")
    case("price", "in_store", kind="suggestion")
    publish_analytics(container)
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    days = {"date_from": (today - timedelta(days=1)).isoformat(),
            "date_to": (today + timedelta(days=1)).isoformat()}

    def rows(name: str, by: str) -> list[dict[str, Any]]:
        body = get(client, f"/analytics/kpis/{name}", analyst, store_id=store_id, by=by, **days)
        assert body["filters"]["by"] == by
        return body["rows"]  # type: ignore[no-any-return]

    none = {"closed": 0, "closed_on_time": 0, "on_time_closure_rate": None, "reopened": 0}
    quiet = {"contacted": 0, "contacted_on_time": 0, "first_contact_on_time_rate": None,
             "waiting_past_due": 0}
    # one row per category, in the domain's order, zeros where it has no complaint
    assert rows("complaints_per_100_visits", "category") == [
        {"category": c, "complaints": n, "work_orders": 4, "complaints_per_100_visits": per}
        for c, n, per in (("repair_quality", 2, "50.00"), ("service_attitude", 0, "0.00"),
                          ("price", 1, "25.00"), ("waiting_time", 0, "0.00"),
                          ("parts", 0, "0.00"), ("other", 0, "0.00"))]
    assert rows("complaint_on_time_closure", "category") == [
        {"category": "repair_quality", "closed": 1, "closed_on_time": 1,
         "on_time_closure_rate": "1.0000", "reopened": 0},
        *({"category": c, **none} for c in ("service_attitude", "price", "waiting_time",
                                             "parts", "other"))]
    assert rows("complaint_first_contact", "category")[:3] == [
        {"category": "repair_quality", "contacted": 2, "contacted_on_time": 2,
         "first_contact_on_time_rate": "1.0000", "waiting_past_due": 0},
        {"category": "service_attitude", **quiet}, {"category": "price", **quiet}]
    # and per channel
    assert [(r["channel"], r["complaints"], r["complaints_per_100_visits"])
            for r in rows("complaints_per_100_visits", "channel")] == [
        ("phone", 2, "50.00"), ("in_store", 0, "0.00"), ("wechat", 1, "25.00"),
        ("oem_hotline", 0, "0.00"), ("follow_up", 0, "0.00")]
    assert [(r["channel"], r["closed"], r["on_time_closure_rate"])
            for r in rows("complaint_on_time_closure", "channel")][:3] == [
        ("phone", 1, "1.0000"), ("in_store", 0, None), ("wechat", 0, None)]
    assert [(r["channel"], r["contacted"], r["first_contact_on_time_rate"])
            for r in rows("complaint_first_contact", "channel")][:3] == [
        ("phone", 1, "1.0000"), ("in_store", 0, None), ("wechat", 1, "1.0000")]
    # as a spreadsheet: the channel first, a row per channel
    as_csv = client.get("/analytics/kpis/complaints_per_100_visits", headers=analyst,
                        params={"store_id": store_id, "by": "channel", "format": "csv", **days})
    assert as_csv.status_code == 200
    assert as_csv.text.splitlines()[:2] == [
        "channel,complaints,work_orders,complaints_per_100_visits", "phone,2,4,50.00"]
    # the catalogue says which breakdowns each takes; an unknown one is 422 naming `by`
    listed = {k["name"]: k for k in get(client, "/analytics/kpis", analyst)["items"]}
    assert listed["complaint_first_contact"]["breakdowns"] == ["category", "channel"]
    assert listed["csi"]["breakdowns"] == []
    for name, by in (("complaints_per_100_visits", "severity"),
                     ("complaint_on_time_closure", "Category"), ("csi", "category")):
        refused = client.get(f"/analytics/kpis/{name}", headers=analyst,
                             params={"store_id": store_id, "by": by})
        assert refused.status_code == 422, refused.text
        assert refused.json()["field"] == "by" and refused.headers[
            "content-type"].startswith("application/problem+json")
