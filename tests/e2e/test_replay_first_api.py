"""A retry with an Idempotency-Key is answered what was stored before any check of the route's
own (api/replays.py), but never before the token's: a token that may no longer do the action
is 403, and the same key with another request is 422, ahead of what the route checks."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from uuid import uuid4
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient

from domain.technician import PAST_DAYS
from tests.e2e.test_api_contract import opening, problem
from tests.e2e.test_parts_api import on_roster, post

Auth = Callable[..., dict[str, str]]


def test_a_token_that_may_no_longer_do_the_action_is_403_not_the_stored_answer(
        client: TestClient, auth: Auth, store_id: str) -> None:
    key = {"Idempotency-Key": str(uuid4())}
    desk = auth("advisor", f"adv-{store_id}", [store_id], **key)
    body = {"store_id": store_id, "name": "周婷", "phones": ["13900002222"]}
    first = client.post("/customers", headers=desk, json=body)
    assert first.status_code == 201, first.text
    # The same user, their role changed: the retry is refused before its answer is looked up.
    moved = auth("technician", f"adv-{store_id}", [store_id], **key)
    problem(client.post("/customers", headers=moved, json=body), 403, "forbidden")
    again = client.post("/customers", headers=desk, json=body)
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]


def test_the_same_key_with_another_request_is_422_before_the_routes_own_checks(
        client: TestClient, auth: Auth, store_id: str) -> None:
    manager = auth("manager", f"mgr-{store_id}", [store_id], **{"Idempotency-Key": str(uuid4())})
    user = f"tech-{store_id}"
    on_roster(client, auth("manager", f"mgr-{store_id}", [store_id]), store_id, user)
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()

    def shift(day: int) -> dict[str, object]:
        return {"shifts": [{"day": (today + timedelta(days=day)).isoformat(), "start": "08:30",
                            "end": "17:30"}]}

    post(client, f"/technicians/{user}/shifts", manager, shift(1))
    # A day further back than planning reaches, under the key of the shift planned: the key
    # names another request (it was a 422 for the day, which the client could not have fixed
    # by sending the key's own request again).
    refused = problem(client.post(f"/technicians/{user}/shifts", headers=manager,
                                  json=shift(-PAST_DAYS - 1)), 422, "idempotency-key-reused")
    assert "field" not in refused


def test_a_replayed_answer_is_the_routes_own_extra_fields_and_headers_included(
        client: TestClient, auth: Auth, store_id: str) -> None:
    """Routes that add to the command's answer (a Location, the car's open campaigns, a
    link's URL and QR code) answer a replay the same, made by the same function."""
    desk = auth("advisor", f"adv-{store_id}", [store_id], **{"Idempotency-Key": str(uuid4())})
    opened = client.post("/work-orders", headers=desk, json=opening(store_id))
    assert opened.status_code == 201, opened.text
    replayed = client.post("/work-orders", headers=desk, json=opening(store_id))
    assert replayed.status_code == 201 and replayed.headers["Idempotent-Replayed"] == "true"
    for name in ("Location", "ETag"):
        assert replayed.headers[name] == opened.headers[name]
    assert replayed.json()["open_campaigns"] == opened.json()["open_campaigns"] == []
    link = f"/work-orders/{opened.json()['id']}/progress-link"
    shared = auth("advisor", f"adv-{store_id}", [store_id], **{"Idempotency-Key": str(uuid4())})
    issued = client.post(link, headers=shared, json={"hours": 24})
    again = client.post(link, headers=shared, json={"hours": 24})
    assert issued.status_code == again.status_code == 201, (issued.text, again.text)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert {k: v for k, v in again.json().items() if k != "notification_id"} == \
        {k: v for k, v in issued.json().items() if k != "notification_id"}
