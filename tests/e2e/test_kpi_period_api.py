"""A KPI asked for without `date_to` ends on the store's today (SERVICECORE_STORE_TIMEZONE), the
day every other date of the KPIs is counted in, not on the server's calendar day."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from servicecore.container import Container, build
from tests.conftest import settings_for
from tests.e2e.test_parts_api import get, new_part, post
from tests.integration.analytics_support import publish_analytics

Auth = Callable[..., dict[str, str]]
# UTC+14: from 10:00 UTC on, the store's day is already UTC's tomorrow (the hours when a shop
# east of Greenwich has opened its new day and the server's calendar has not); run before 10:00
# UTC the two days are one and the test cannot tell them apart.
ZONE = "Etc/GMT-14"


@pytest.fixture
def far_east(database_url: str, tmp_path: Path) -> Iterator[tuple[Container, TestClient]]:
    system = build(settings_for(database_url, tmp_path, store_timezone=ZONE))
    try:
        with TestClient(create_app(system.api_context())) as http:
            yield system, http
    finally:
        system.close()


def test_a_kpi_without_date_to_counts_the_stores_today(
        far_east: tuple[Container, TestClient], auth: Auth, store_id: str) -> None:
    system, client = far_east
    clerk = auth("parts_clerk", "clerk-1", [store_id])
    analyst = auth("analyst", "ana-1", [store_id])
    number = new_part(client, clerk, min_stock=0)
    post(client, f"/stock/{store_id}/{number}/receipts", clerk, {
        "qty": 4, "unit_cost": "250.00", "supplier": "S", "supplier_doc": "DN-1"}, 201)
    publish_analytics(system)
    today = datetime.now(ZoneInfo(ZONE)).date()
    assert today >= datetime.now(UTC).date()
    # The receipt is dated the store's today: with that day named, and without naming any.
    named = get(client, "/analytics/kpis/parts_turnover", analyst, store_id=store_id,
                date_to=today.isoformat())["rows"]
    unnamed = get(client, "/analytics/kpis/parts_turnover", analyst, store_id=store_id)["rows"]
    assert named[0]["inventory_end"] == "1000.00"
    assert unnamed == named
