"""KPIs by region (按区域): SERVICECORE_REGIONS puts the group's stores in regions, and every KPI
that takes store_id takes `region=` for the stores of one region, within the caller's token."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from servicecore.container import Container, build
from tests.conftest import settings_for
from tests.e2e.test_parts_api import get, new_part, post
from tests.integration.analytics_support import publish_analytics

Auth = Callable[..., dict[str, str]]
TURNOVER = "/analytics/kpis/parts_turnover"


@pytest.fixture(scope="module")
def group(database_url: str, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[tuple[Container, TestClient, list[str]]]:
    """Three stores: two in 华东, one in 华南."""
    stores = ["R" + uuid.uuid4().hex[:6].upper() for _ in range(3)]
    settings = settings_for(database_url, tmp_path_factory.mktemp("regions"), stores=stores,
                            regions={stores[0]: "华东", stores[1]: "华东", stores[2]: "华南"})
    system = build(settings)
    try:
        with TestClient(create_app(system.api_context())) as http:
            yield system, http, stores
    finally:
        system.close()


@pytest.fixture(scope="module")
def loaded(group: tuple[Container, TestClient, list[str]], auth: Auth
           ) -> tuple[TestClient, list[str]]:
    """Stock worth 1000, 500 and 250 received at the three stores, loaded and published."""
    system, client, stores = group
    for store, qty in zip(stores, (4, 2, 1), strict=True):
        clerk = auth("parts_clerk", "clerk-" + store, [store])
        number = new_part(client, clerk, min_stock=0)
        post(client, f"/stock/{store}/{number}/receipts", clerk, {
            "qty": qty, "unit_cost": "250.00", "supplier": "S", "supplier_doc": "DN-1"}, 201)
    publish_analytics(system)
    return client, stores


def _inventory(client: TestClient, headers: dict[str, str], **params: str) -> str:
    body = get(client, TURNOVER, headers, **params)
    return str(body["rows"][0]["inventory_end"])


def test_a_region_counts_its_stores(loaded: tuple[TestClient, list[str]], auth: Auth) -> None:
    client, stores = loaded
    analyst = auth("analyst", "ana-group", ["*"])
    assert _inventory(client, analyst, region="华东") == "1500.00"
    assert _inventory(client, analyst, region="华南") == "250.00"
    body = get(client, TURNOVER, analyst, region="华东")
    assert body["filters"] == {"region": "华东"}
    # a store and its own region: that store
    assert _inventory(client, analyst, region="华东", store_id=stores[1]) == "500.00"
    # every KPI that takes a store takes a region
    listed = get(client, "/analytics/kpis", analyst)["items"]
    assert listed and all("region" in k["filters"] for k in listed
                          if "store_id" in k["filters"])
    as_csv = client.get(TURNOVER, headers=analyst, params={"region": "华东", "format": "csv"})
    assert as_csv.status_code == 200 and "1500.00" in as_csv.text


def test_a_token_for_some_stores_sees_only_its_stores_of_a_region(
        loaded: tuple[TestClient, list[str]], auth: Auth) -> None:
    client, stores = loaded
    first_and_south = auth("manager", "mgr-two", [stores[0], stores[2]])
    assert _inventory(client, first_and_south, region="华东") == "1000.00"
    assert _inventory(client, first_and_south, region="华南") == "250.00"
    south_only = auth("analyst", "ana-south", [stores[2]])
    refused = client.get(TURNOVER, headers=south_only, params={"region": "华东"})
    assert refused.status_code == 403, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")


def test_an_unknown_region_or_a_store_outside_it_is_422(
        loaded: tuple[TestClient, list[str]], auth: Auth) -> None:
    client, stores = loaded
    analyst = auth("analyst", "ana-group", ["*"])
    for params in ({"region": "西北"}, {"region": "华东", "store_id": stores[2]}):
        answer = client.get(TURNOVER, headers=analyst, params=params)
        assert answer.status_code == 422, answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert answer.json()["field"] == "region"
        assert "region" in answer.json()["detail"]
