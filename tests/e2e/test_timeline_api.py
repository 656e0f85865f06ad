"""The visit's timeline speaks as a stream's history does: the same `actor`, paged the same
way (`limit`, `offset`; `{total, limit, offset, items}`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from tests.e2e.test_audit_trail_api import full_visit
from tests.e2e.test_parts_api import get, head

Auth = Callable[..., dict[str, str]]
ACTOR = {"user_id", "role", "store_id", "at", "correlation_id", "idempotency_key"}


def test_an_event_has_one_actor_in_its_history_and_in_the_timeline(
        client: TestClient, auth: Auth, store_id: str) -> None:
    visit = full_visit(client, auth, store_id)
    wo_id = visit["work_order_id"]
    auditor = auth("auditor", "aud-1", [store_id])
    timeline = get(client, f"/audit/work-orders/{wo_id}/timeline", auditor,
                   wait_for=head(client))
    history = get(client, f"/work-orders/{wo_id}/history", auditor)["items"]
    in_timeline = {e["version"]: e for e in timeline["items"] if e["stream_id"] == wo_id}
    assert len(in_timeline) == len(history) > 5
    for entry in history:
        also = in_timeline[entry["version"]]
        assert set(entry["actor"]) == ACTOR
        assert entry["actor"] == also["actor"], entry["event"]
        # what clients read beside the actor stays, and says the same
        assert (also["at"], also["correlation_id"], also["idempotency_key"]) == (
            entry["actor"]["at"], entry["actor"]["correlation_id"],
            entry["actor"]["idempotency_key"])
    # the documents say so too
    doc = client.get("/openapi.json").json()["components"]["schemas"]
    assert doc["HistoryEntry"]["properties"]["actor"] == doc["AuditEntry"]["properties"]["actor"]
    assert set(doc["Actor"]["required"]) == ACTOR


def test_the_timeline_is_paged_as_a_history_is(client: TestClient, auth: Auth,
                                               store_id: str) -> None:
    visit = full_visit(client, auth, store_id)
    url = f"/audit/work-orders/{visit['work_order_id']}/timeline"
    auditor = auth("auditor", "aud-1", [store_id])
    whole = get(client, url, auditor, wait_for=head(client))
    total = whole["total"]
    assert (whole["limit"], whole["offset"], len(whole["items"])) == (500, 0, total) and total > 20
    pages: list[dict[str, Any]] = []
    for offset in range(0, total, 7):
        page = get(client, url, auditor, limit=7, offset=offset)
        assert (page["total"], page["limit"], page["offset"]) == (total, 7, offset)
        # every page names the visit and counts all of its streams' events
        assert (page["number"], page["streams"]) == (whole["number"], whole["streams"])
        pages += page["items"]
    assert pages == whole["items"]
    assert sum(s["events"] for s in whole["streams"]) == total
    assert get(client, url, auditor, offset=total)["items"] == []
    for bad in ({"limit": 0}, {"limit": 1001}, {"offset": -1}):
        refused = client.get(url, params=bad, headers=auditor)
        assert refused.status_code == 422, bad
    # the same parameters as a history, in the document too
    doc = client.get("/openapi.json").json()["paths"]

    def paging(path: str) -> list[Any]:
        return [p for p in doc[path]["get"]["parameters"] if p["name"] in ("limit", "offset")]

    assert paging("/audit/work-orders/{work_order_id}/timeline") == paging(
        "/work-orders/{work_order_id}/history")
