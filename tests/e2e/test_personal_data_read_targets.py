"""A recorded read of personal data names the endpoint the auditor asked, without the personal
values they searched by: the phone typed into a work-order search is not kept in the read's
event (which no erasure can reach), and a read recorded before, which kept it, reads redacted;
the stored bytes stay as they were, so the hash chain still verifies."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

import psycopg
import pytest
from fastapi.testclient import TestClient

from domain.data_access import DataAccess
from projections.hash_chain import EVENTS_TABLE
from servicecore import cli
from servicecore.container import Container
from tests.e2e.test_parts_api import get, head, post
from tests.integration.audit_support import new_vin
from tests.integration.support import Auth, request

PHONE = "13712345678"


def _raw_states(url: str, after: int) -> list[bytes]:
    """The stored bytes of every event after `after`, as the events table holds them."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(f"SELECT state FROM {EVENTS_TABLE} WHERE notification_id > %s "
                            "ORDER BY notification_id", (after,)).fetchall()
    return [bytes(row[0]) for row in rows]


def _reads(client: TestClient, headers: dict[str, str], customer_id: str) -> list[Any]:
    return get(client, "/audit/personal-data-reads", headers,  # type: ignore[no-any-return]
               customer_id=customer_id, wait_for=head(client))["items"]


def _verified(url: str, capsys: pytest.CaptureFixture[str],
              monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """`servicecore audit verify` as an operator runs it: exit 0 and its JSON answer."""
    monkeypatch.setenv("DATABASE_URL", url)
    assert cli.main(["audit", "verify", "--quiet"]) == 0
    answer: dict[str, Any] = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    return answer


def _visit(client: TestClient, auth: Auth, store_id: str) -> str:
    """王芳 (phone PHONE) brings her car in; her customer id."""
    opened = post(client, "/work-orders", auth("advisor", "adv-1", [store_id]), {
        "store_id": store_id, "customer": {"name": "王芳", "phone": PHONE},
        "vehicle": {"vin": new_vin(), "plate": "沪C22222"}, "mileage": 30_000,
        "complaints": ["brake noise"]}, 201)
    doc = get(client, f"/work-orders/{opened['id']}", auth("manager", "mgr-1", [store_id]),
              wait_for=opened["notification_id"])
    return str(doc["customer"]["id"])


def test_a_search_by_phone_is_recorded_without_the_phone(
        client: TestClient, auth: Auth, container: Container, database_url: str,
        store_id: str, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    customer_id = _visit(client, auth, store_id)
    auditor = auth("auditor", "aud-zhang", [store_id])
    manager = auth("manager", "mgr-1", [store_id])

    # The auditor looks the visit up by her phone: the list shows her name and phone ...
    before = head(client)
    found = get(client, "/work-orders", auditor, customer_phone=PHONE, limit=5,
                wait_for=before)["items"]
    assert [item["customer_phone"] for item in found] == [PHONE]

    # ... and the read is recorded, naming the search without the number she typed: not in the
    # event as the table stores it, not in the reads listed.
    states = _raw_states(database_url, before)
    assert len(states) == 1 and PHONE.encode() not in states[0]
    assert b"customer_phone=[redacted]" in states[0]
    (read,) = _reads(client, manager, customer_id)
    assert read["endpoint"] == f"GET /work-orders?customer_phone=[redacted]&limit=5&wait_for={before}"
    assert read["purpose"] == "work-order list"

    # She is erased: nothing of her phone is left in the reads of her data, and the chain holds.
    post(client, f"/customers/{customer_id}/erasure", manager, {"reason": "PIPL request"})
    reads = client.get("/audit/personal-data-reads", headers=manager,
                       params={"customer_id": customer_id, "wait_for": head(client)})
    assert reads.status_code == 200 and len(reads.json()["items"]) == 1
    assert PHONE not in reads.text
    assert _verified(database_url, capsys, monkeypatch)["ok"] is True


def test_a_read_recorded_with_the_phone_before_reads_redacted(
        client: TestClient, auth: Auth, container: Container, database_url: str,
        store_id: str, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    customer_id = _visit(client, auth, store_id)
    manager = auth("manager", "mgr-1", [store_id])

    # A read as an earlier version stored it: version 1 of the event, the query verbatim.
    app = container.app
    caller = request(store_id, "auditor", "aud-li").caller
    read = DataAccess(audit=caller.audit(store_id), customer_id=UUID(customer_id),
                      endpoint=f"GET /work-orders?customer_phone={PHONE}&store_id={store_id}",
                      purpose="work-order list")
    stored = app.mapper.to_stored_event(read.collect_events()[0])
    state = json.loads(stored.state)
    state.pop("class_version", None)  # version 1 wrote none
    state["endpoint"] = f"GET /work-orders?customer_phone={PHONE}&store_id={store_id}"
    before = head(client)
    app.recorder.insert_events([stored.__class__(
        stored.originator_id, stored.originator_version, stored.topic,
        json.dumps(state).encode())])

    # Its stored bytes keep the phone (they cannot change); every reader shows it redacted,
    # before her erasure and after it, and the chain still verifies.
    (raw,) = _raw_states(database_url, before)
    assert PHONE.encode() in raw
    redacted = f"GET /work-orders?customer_phone=[redacted]&store_id={store_id}"
    auditor = auth("auditor", "aud-wang", [store_id])
    assert _endpoints_shown(client, manager, auditor, customer_id) == [redacted] * 3
    post(client, f"/customers/{customer_id}/erasure", manager, {"reason": "PIPL request"})
    assert _endpoints_shown(client, manager, auditor, customer_id) == [redacted] * 3
    assert _verified(database_url, capsys, monkeypatch)["ok"] is True


def _endpoints_shown(client: TestClient, manager: dict[str, str], auditor: dict[str, str],
                     customer_id: str) -> list[str]:
    """The old read's endpoint as the reads of her data, the audit log and the events of its
    request show it (none showing the phone anywhere)."""
    (listed,) = _reads(client, manager, customer_id)
    shown = [listed["endpoint"]]
    for url, params in (("/audit/log", {"event_type": "DataAccess.PersonalDataRead",
                                        "user_id": "aud-li", "store_id": listed["store_id"]}),
                        ("/audit/events", {"correlation_id": listed["correlation_id"]})):
        answer = client.get(url, headers=auditor, params={**params, "wait_for": head(client)})
        assert answer.status_code == 200, answer.text
        assert PHONE not in answer.text
        shown += [entry["changes"]["endpoint"] for entry in answer.json()["items"]]
    return shown
