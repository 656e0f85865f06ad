"""A KPI or the monthly report asked for a store the system has never seen is 422 problem+json
naming `store_id` (and the stores there are), as a command naming such a store is, not empty
rows an analyst would read as "nothing happened there"; a store that exists answers any period,
empty or not."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from analytics.loader import AnalyticsLoader
from servicecore.container import Container
from tests.conftest import settings_for
from tests.e2e.test_parts_api import Auth, received_part
from tests.integration.analytics_support import publish_analytics

LONG_AGO = {"date_from": "2020-01-01", "date_to": "2020-01-31"}


def unknown_store(client: TestClient, headers: dict[str, str], store: str,
                  known: list[str] | None = None) -> None:
    """Every way of asking for `store`'s figures is refused naming it."""
    for url, params in (("/analytics/kpis/csi", {}),
                        ("/analytics/kpis/parts_turnover", {"format": "csv"}),
                        ("/analytics/reports/monthly", {"month": "2026-11"})):
        got = client.get(url, headers=headers, params={"store_id": store, **params})
        assert got.status_code == 422, (url, got.status_code, got.text)
        assert got.headers["content-type"].startswith("application/problem+json")
        body: dict[str, Any] = got.json()
        assert (body["field"], body["store_id"]) == ("store_id", store), body
        assert store in body["detail"]
        if known is not None:
            assert body["known_stores"] == known, body


def answered(client: TestClient, headers: dict[str, str], store: str) -> None:
    for url, params in (("/analytics/kpis/csi", LONG_AGO),
                        ("/analytics/kpis/parts_turnover", LONG_AGO),
                        ("/analytics/reports/monthly", {"month": "2020-01"})):
        got = client.get(url, headers=headers, params={"store_id": store, **params})
        assert got.status_code == 200, (url, got.text)


def test_a_store_never_seen_is_refused_and_a_quiet_one_answers(
        client: TestClient, container: Container, auth: Auth, store_id: str) -> None:
    # The store holds stock (no work order yet): seen, though not on any visit.
    received_part(client, auth("parts_clerk", stores=[store_id]), store_id, 2)
    publish_analytics(container)
    analyst = auth("analyst", stores=["*"])  # a token for every store of the group
    unknown_store(client, analyst, store_id + "X")
    # The store that exists answers a period in which nothing happened there.
    answered(client, analyst, store_id)
    # A store on the caller's own token is the group's, whether it has figures or not.
    fresh = store_id + "N"
    answered(client, auth("analyst", stores=[fresh]), fresh)


def test_with_the_group_s_stores_configured_only_they_answer(
        group_client: TestClient, container: Container, database_url: str, tmp_path: Path,
        auth: Auth, group_stores: tuple[str, str]) -> None:
    here, there = group_stores
    # The group process's own snapshot (its settings name its own analytic file).
    path = settings_for(database_url, tmp_path, create_tables=False,
                        stores=list(group_stores)).analytics_path
    loader = AnalyticsLoader(container.app, path)
    try:
        loader.catch_up()
        assert loader.publish(force=True)
    finally:
        loader.close()
    analyst = auth("analyst", stores=["*"])
    unknown_store(group_client, analyst, here + "X", sorted(group_stores))
    # A configured store with no record at all answers, empty.
    answered(group_client, analyst, there)
