"""Ratios have one type across the API: a JSON string with 4 decimals ("0.8333"), as every
decimal figure (money, hours) is a string — the workshop KPIs (`GET /technicians/kpi`) and
every KPI of the analytics catalogue (`GET /analytics/kpis/{name}`, JSON and CSV) alike."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient

from servicecore.container import Container
from tests.e2e.test_parts_api import get, head, new_part, post, ready_visit
from tests.integration.analytics_support import publish_analytics

Auth = Callable[..., dict[str, str]]
RATIO = re.compile(r"^-?\d+\.\d{4}$")
# the catalogue's ratio columns (DOMAIN.md's KPI definitions)
RATIOS = {"efficiency", "productivity", "proficiency", "comeback_rate", "fill_rate",
          "reserved_at_approval_rate",
          "loss_rate", "obsolete_share", "gross_margin", "hours_share", "sales_share", "csi",
          "conversion_rate", "no_show_rate", "churn_rate", "retention_rate", "unapplied_time",
          "labor_gross_margin", "on_time_closure_rate", "first_contact_on_time_rate",
          "parts_gross_margin"}


def test_every_ratio_of_the_api_is_a_string_with_four_decimals(
        container: Container, client: TestClient, auth: Auth, store_id: str) -> None:
    clerk = auth("parts_clerk", "clerk-" + store_id, [store_id])
    manager = auth("manager", "mgr-" + store_id, [store_id])
    analyst = auth("analyst", "ana-" + store_id, [store_id])
    # A part in stock, approved on a visit (filled from stock at approval), and the
    # technician's shift and attendance today.
    number = new_part(client, clerk, min_stock=0)
    post(client, f"/stock/{store_id}/{number}/receipts", clerk, {
        "qty": 2, "unit_cost": "200.00", "supplier": "S", "supplier_doc": "DN-1"}, 201)
    ready_visit(client, auth, store_id, number)
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
    post(client, f"/technicians/tech-{store_id}/shifts", manager, {"shifts": [
        {"day": today, "start": "08:00", "end": "17:00", "break_minutes": 60}]})
    post(client, f"/technicians/tech-{store_id}/attendance", manager,
         {"day": today, "status": "partial", "hours": "8"})

    # The workshop's KPI row: 8 h available, none clocked yet.
    rows = get(client, "/technicians/kpi", manager, store_id=store_id, from_day=today,
               to_day=today, wait_for=head(client))["items"]
    [row] = [r for r in rows if r["user_id"] == f"tech-{store_id}"]
    assert (row["productivity"], row["proficiency"], row["efficiency"]) == (
        "0.0000", "0.0000", None)

    # Every KPI of the catalogue: each ratio it gives is a string with 4 decimals, in JSON as
    # in CSV; the part approved from stock fills its demand: "1.0000".
    publish_analytics(container)
    names = [k["name"] for k in get(client, "/analytics/kpis", analyst)["items"]]
    seen: dict[str, object] = {}
    for name in names:
        body = get(client, f"/analytics/kpis/{name}", analyst, store_id=store_id)
        for kpi_row in body["rows"]:
            for column in RATIOS & set(kpi_row):
                value = kpi_row[column]
                assert value is None or (isinstance(value, str) and RATIO.match(value)), (
                    name, column, value)
                seen.setdefault(f"{name}.{column}", value)
    assert seen["parts_fill_rate.fill_rate"] == "1.0000"
    assert (seen["productivity.productivity"], seen["productivity.unapplied_time"]) == (
        "0.0000", "1.0000")  # 8 h available, none clocked: all of it unapplied
    assert seen["parts_fill_rate.reserved_at_approval_rate"] == "1.0000"
    as_csv = client.get("/analytics/kpis/parts_fill_rate", headers=analyst,
                        params={"store_id": store_id, "format": "csv"})
    assert [r["fill_rate"] for r in csv.DictReader(io.StringIO(as_csv.text))] == ["1.0000"]
