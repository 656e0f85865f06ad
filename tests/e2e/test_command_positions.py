"""A command that changes nothing — a repeat, or a retry replayed by its Idempotency-Key —
answers where the state it answers was made, never `notification_id: null`, so `?wait_for=`
reads your write after a repeat as after the first time."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from fastapi.testclient import TestClient

from tests.e2e.test_parts_api import get, post

Auth = Callable[..., dict[str, str]]


def test_a_repeat_answers_the_position_of_the_state_it_answers(client: TestClient, auth: Auth,
                                                               store_id: str) -> None:
    advisor = auth("advisor", stores=[store_id])
    customer = post(client, "/customers", advisor, {
        "store_id": store_id, "name": "陈静", "phones": ["13912345678"]}, 201)
    url = f"/customers/{customer['id']}/consents"
    given = post(client, url, advisor, {"channel": "wechat", "granted": True})
    # other streams move the log on meanwhile
    post(client, "/customers", advisor, {"store_id": store_id, "name": "李", "phones": ["13900000001"]}, 201)
    again = post(client, url, advisor, {"channel": "wechat", "granted": True})
    assert again["version"] == given["version"]  # nothing was stored
    assert again["notification_id"] == given["notification_id"] is not None
    answer = client.get(f"/customers/{customer['id']}", headers=advisor,
                        params={"wait_for": again["notification_id"]})
    assert answer.status_code == 200 and "X-Read-Model-Stale" not in answer.headers
    assert answer.json()["consent"]["wechat"]["granted"] is True

    # A retry with the first request's key: the first answer, and the first position.
    key = {**advisor, "Idempotency-Key": str(uuid.uuid4())}
    withdrawn = post(client, url, key, {"channel": "wechat", "granted": False})
    post(client, "/customers", advisor, {"store_id": store_id, "name": "王", "phones": ["13900000002"]}, 201)
    replayed = client.post(url, headers=key, json={"channel": "wechat", "granted": False})
    assert replayed.headers["Idempotent-Replayed"] == "true"
    assert replayed.json() == withdrawn
    # a repeat without the key changes nothing either: the withdrawal's own event (the first
    # answer's may be the key's record, saved in the same transaction)
    repeat = post(client, url, advisor, {"channel": "wechat", "granted": False})
    assert again["notification_id"] < repeat["notification_id"] <= withdrawn["notification_id"]
    assert get(client, f"/customers/{customer['id']}", advisor,
               wait_for=repeat["notification_id"])["consent"]["wechat"]["granted"] is False
