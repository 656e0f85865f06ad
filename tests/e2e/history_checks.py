"""What every `GET …/history` answers, checked the same way for each stream kind: the page in
log order with who and why, a page further on, and the refusals (problem+json)."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.e2e.test_parts_api import get


def refused(client: TestClient, url: str, headers: dict[str, str], status: int,
            **params: Any) -> dict[str, Any]:
    response = client.get(url, headers=headers, params=params)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return response.json()  # type: ignore[no-any-return]


def history(client: TestClient, url: str, headers: dict[str, str], events: list[str],
            **params: Any) -> list[dict[str, Any]]:
    """The whole history, which holds `events` in that order and nothing else, each event
    stamped with its actor; and its second event alone as the page `limit=1&offset=1`."""
    page = get(client, url, headers, **params)
    items: list[dict[str, Any]] = page["items"]
    assert [item["event"] for item in items] == events
    assert (page["total"], page["limit"], page["offset"]) == (len(events), 500, 0)
    assert [item["version"] for item in items] == list(range(1, len(events) + 1))
    assert all(item["actor"]["user_id"] and item["actor"]["role"] for item in items)
    one = get(client, url, headers, limit=1, offset=1, **params)
    assert (one["total"], one["limit"], one["offset"]) == (len(events), 1, 1)
    assert one["items"] == items[1:2]
    return items
