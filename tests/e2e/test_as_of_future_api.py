"""`?as_of=` in the future is refused alike on every endpoint that takes it (422
`as-of-in-the-future` with the server's time), never answered with the present as if it were
history; today is the day so far."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient

from tests.e2e.test_money_api import confirmed_settlement
from tests.e2e.test_parts_api import Auth, get


def future(client: TestClient, url: str, headers: dict[str, str], as_of: str,
           **params: Any) -> dict[str, Any]:
    before = datetime.now(UTC)
    response = client.get(url, headers=headers, params={"as_of": as_of, **params})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["type"].endswith("/as-of-in-the-future")
    assert body["title"] == "as_of is in the future" and body["field"] == "as_of"
    now = datetime.fromisoformat(body["now"])
    assert before - timedelta(seconds=1) <= now <= datetime.now(UTC) + timedelta(seconds=1)
    assert body["now"] in body["detail"]
    return body


def test_a_future_as_of_is_refused_on_every_endpoint_and_today_is_now(
        client: TestClient, auth: Auth, store_id: str) -> None:
    auditor = auth("auditor", "aud-" + store_id, [store_id])
    wo_id, sid = confirmed_settlement(client, auth, store_id)
    wo = get(client, f"/work-orders/{wo_id}", auditor)
    part_number = next(ln["part_number"] for ln in wo["lines"] if ln["kind"] == "part")
    item = f"/stock/{store_id}/{part_number}"
    zone = ZoneInfo("Asia/Shanghai")
    tomorrow = (datetime.now(zone) + timedelta(days=1)).date().isoformat()
    in_an_hour = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    for url in (f"/work-orders/{wo_id}", f"/settlements/{sid}", item):
        for as_of in (in_an_hour, tomorrow, "2999-01-01T00:00:00+08:00"):
            future(client, url, auditor, as_of)
    future(client, "/audit/sanbao", auditor, tomorrow)

    # Today is answered as it stands now, and says so: the moment replayed is the server's.
    today = datetime.now(zone).date().isoformat()
    before = datetime.now(UTC)
    settlement = get(client, f"/settlements/{sid}", auditor, as_of=today)
    stock = get(client, item, auditor, as_of=today)
    for answered in (settlement["as_of"], stock["as_of"]):
        moment = datetime.fromisoformat(answered)
        assert before <= moment <= datetime.now(UTC)
    assert settlement["status"] == "confirmed" and stock["on_hand"] == "4"
    assert get(client, f"/work-orders/{wo_id}", auditor, as_of=today)["id"] == wo_id
    assert get(client, "/audit/sanbao", auditor, as_of=today) is not None
    # A moment just past is history as before.
    now = datetime.now(UTC).isoformat()
    assert get(client, f"/settlements/{sid}", auditor, as_of=now)["status"] == "confirmed"


def test_a_client_clock_a_few_seconds_ahead_is_answered_as_now_and_further_is_refused(
        client: TestClient, auth: Auth, store_id: str) -> None:
    auditor = auth("auditor", "aud-" + store_id, [store_id])
    wo_id, sid = confirmed_settlement(client, auth, store_id)
    # the default skew is 5 s: 2 s ahead is now, the answer says the server's moment
    before = datetime.now(UTC)
    ahead = (before + timedelta(seconds=2)).isoformat()
    answered = get(client, f"/settlements/{sid}", auditor, as_of=ahead)
    assert answered["status"] == "confirmed"
    assert before <= datetime.fromisoformat(answered["as_of"]) <= datetime.now(UTC)
    assert get(client, f"/work-orders/{wo_id}", auditor, as_of=ahead)["id"] == wo_id
    # 30 s ahead is the future
    future(client, f"/settlements/{sid}", auditor,
           (datetime.now(UTC) + timedelta(seconds=30)).isoformat())
