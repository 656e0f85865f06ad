"""A list read over a period refuses a period that runs backwards, one way on every route:
422 problem+json naming the period's end (`date_to`, `at_to`, `opened_to`), where a period
running forwards, or open at either end, is read."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.e2e.test_parts_api import Auth

PERIODS = [
    ("/payments", "finance", "date_from", "date_to", "2026-05-02", "2026-05-01"),
    ("/refunds", "manager", "date_from", "date_to", "2026-05-02", "2026-05-01"),
    ("/write-offs", "finance", "date_from", "date_to", "2026-05-02", "2026-05-01"),
    ("/stock/movements", "auditor", "at_from", "at_to", "2026-05-02T00:00:00Z",
     "2026-05-01T00:00:00Z"),
    ("/work-orders", "manager", "opened_from", "opened_to", "2026-05-02T00:00:00+08:00",
     "2026-05-01T23:59:59+08:00"),
]


@pytest.mark.parametrize(("url", "role", "start", "end", "later", "earlier"), PERIODS)
def test_a_period_running_backwards_is_refused_naming_its_end(
        client: TestClient, auth: Auth, store_id: str, url: str, role: str, start: str,
        end: str, later: str, earlier: str) -> None:
    headers = auth(role, f"{role}-{store_id}", [store_id])
    backwards = client.get(url, headers=headers, params={start: later, end: earlier})
    assert backwards.status_code == 422, backwards.text
    assert backwards.headers["content-type"] == "application/problem+json"
    assert backwards.json()["field"] == end
    for params in ({start: earlier, end: later}, {start: later, end: later}, {start: later},
                   {end: earlier}):
        read = client.get(url, headers=headers, params=params)
        assert read.status_code == 200, (params, read.text)
        assert read.json()["total"] == 0
