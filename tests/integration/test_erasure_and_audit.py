"""Erasure on request (crypto-shredding) and audit reads: history and state as of a moment."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient

from domain.customer import Customer
from domain.pii import ERASED
from servicecore.container import Container
from tests.integration.support import (
    LABOR,
    VIN,
    Auth,
    head,
    http_open,
    load,
    open_order,
    post,
    request,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
T0 = datetime(2024, 3, 1, 9, 0, tzinfo=SHANGHAI)


def _key_rows(container: Container, customer_id: str) -> int:
    with container.pool.connection() as conn:
        row = conn.execute("SELECT count(*) FROM customer_keys WHERE customer_id = %s",
                           (UUID(customer_id),)).fetchone()
    return int(row[0]) if row else 0


def test_the_customer_stream_is_named_by_the_customer_id_the_work_order_carries(
        container: Container, store_id: str) -> None:
    # Opening a work order for a new customer registers that customer.
    answer = open_order(container.work_orders, store_id)

    # The customer id in the answer (and on the work order) names the Customer stream,
    # so erasure and repeat visits (customer_id=...) can find it.
    customer = load(container.app, Customer, UUID(answer["customer_id"]))
    assert customer.store_id == store_id and not customer.erased


def test_erasing_a_customer_shreds_personal_data_everywhere_and_keeps_the_facts(
        client: TestClient, auth: Auth, container: Container, store_id: str) -> None:
    advisor = auth("advisor", "adv-li", [store_id])
    manager = auth("manager", "mgr-wang", [store_id])
    phone = f"139{int(store_id[1:], 16) % 10**8:08d}"

    # The advisor opens a work order for 陈静; the view finds it by her phone.
    opened = http_open(client, auth, store_id, customer={"name": "陈静", "phone": phone})
    wo = f"/work-orders/{opened['id']}"
    found = client.get("/work-orders", params={"customer_phone": phone,
                                               "wait_for": opened["notification_id"]},
                       headers=advisor).json()
    assert [item["id"] for item in found["items"]] == [opened["id"]]
    assert _key_rows(container, opened["customer_id"]) == 1

    # She asks to be erased (PIPL); the manager records it with a reason.
    erased = post(client, f"/customers/{opened['customer_id']}/erasure", manager,
                  {"reason": "customer request under PIPL art. 47"})

    # The work order reads her name and phone as erased ...
    detail = client.get(f"{wo}?wait_for={erased['notification_id']}", headers=advisor)
    assert detail.status_code == 200 and "X-Read-Model-Stale" not in detail.headers
    doc = detail.json()
    assert doc["customer"]["name"] == ERASED and doc["customer"]["phone"] == ERASED
    assert doc["vehicle"]["vin"] == VIN and doc["status"] == "opened"

    # ... the old phone finds nothing any more ...
    gone = client.get("/work-orders", params={"customer_phone": phone}, headers=advisor).json()
    assert gone["total"] == 0 and gone["items"] == []

    # ... the audit history shows the Opened event's personal fields erased, other facts intact ...
    history = client.get(f"{wo}/history", headers=auth("auditor", "aud-1", [store_id]))
    assert history.status_code == 200
    changes = history.json()["items"][0]["changes"]
    assert history.json()["items"][0]["event"] == "WorkOrder.Opened"
    assert changes["customer"]["name"] == ERASED and changes["customer"]["phone"] == ERASED
    assert changes["vehicle"]["vin"] == VIN and changes["vehicle"]["plate"] == "沪A12345"
    assert changes["mileage"] == 42_000 and changes["number"] == opened["number"]
    assert changes["complaints"] == ["brake noise at low speed"]

    # ... and her key is gone from the key table.
    assert _key_rows(container, opened["customer_id"]) == 0


def test_erasing_twice_is_an_illegal_transition_and_an_unknown_customer_is_404(
        client: TestClient, auth: Auth, container: Container, store_id: str) -> None:
    manager = auth("manager", "mgr-wang", [store_id])
    opened = http_open(client, auth, store_id)
    reason = {"reason": "customer request"}

    # The first erasure is accepted; the second is refused with 409.
    post(client, f"/customers/{opened['customer_id']}/erasure", manager, reason)
    again = client.post(f"/customers/{opened['customer_id']}/erasure", json=reason,
                        headers=manager)
    assert again.status_code == 409 and again.json()["type"].endswith("/illegal-transition")

    # A work order id is not a customer id.
    wrong = client.post(f"/customers/{opened['id']}/erasure", json=reason, headers=manager)
    assert wrong.status_code == 404


def _visit_in_the_past(container: Container, store_id: str) -> str:
    """Opened 09:00, checked in 09:10, a line priced 09:30, approved 10:00 (1 March 2024)."""
    wos = container.work_orders
    work_order_id = UUID(open_order(wos, store_id, at=T0)["id"])
    wos.check_in(request(store_id, at=T0 + timedelta(minutes=10)), work_order_id,
                 mileage_in=42_010, fuel_level=40)
    wos.add_labor_line(request(store_id, at=T0 + timedelta(minutes=30)), work_order_id, 1, LABOR)
    wos.authorize_line(request(store_id, at=T0 + timedelta(hours=1)), work_order_id, "L1",
                       decision="approved", channel="phone")
    return str(work_order_id)


def _as_of(client: TestClient, headers: dict[str, str], work_order_id: str,
           at: str) -> tuple[int, dict[str, Any]]:
    response = client.get(f"/work-orders/{work_order_id}", params={"as_of": at}, headers=headers)
    return response.status_code, response.json()


def test_as_of_returns_the_work_order_as_it_stood_at_that_moment(
        client: TestClient, auth: Auth, container: Container, store_id: str) -> None:
    auditor = auth("auditor", "aud-1", [store_id])
    work_order_id = _visit_in_the_past(container, store_id)

    # 09:20 Shanghai: checked in, nothing priced yet.
    status, doc = _as_of(client, auditor, work_order_id, "2024-03-01T09:20:00+08:00")
    assert status == 200
    assert doc["status"] == "checked_in" and doc["lines"] == [] and doc["version"] == 2
    assert doc["customer"]["name"] == "陈静"

    # The same moment written in UTC gives the same answer.
    assert _as_of(client, auditor, work_order_id, "2024-03-01T01:20:00Z") == (200, doc)

    # 09:45: one labor line, still awaiting the customer's decision.
    status, doc = _as_of(client, auditor, work_order_id, "2024-03-01T09:45:00+08:00")
    assert status == 200 and [line["status"] for line in doc["lines"]] == ["pending"]

    # Now: approved.
    status, doc = _as_of(client, auditor, work_order_id, "2024-03-01T10:00:00+08:00")
    assert [line["status"] for line in doc["lines"]] == ["approved"] and doc["version"] == 4

    # Before it was opened the work order did not exist: 404 problem+json.
    before = client.get(f"/work-orders/{work_order_id}",
                        params={"as_of": "2024-03-01T08:59:59+08:00"}, headers=auditor)
    assert before.status_code == 404
    assert before.headers["content-type"] == "application/problem+json"

    # A time without a zone is ambiguous: 422.
    naive = client.get(f"/work-orders/{work_order_id}", params={"as_of": "2024-03-01T09:20:00"},
                       headers=auditor)
    assert naive.status_code == 422

    # Another store's auditor cannot look into it at any time.
    other = auth("auditor", "aud-2", ["ELSEWHERE"])
    assert _as_of(client, other, work_order_id, "2024-03-01T10:00:00+08:00")[0] == 404


def test_history_says_who_did_what_when_and_stores_nothing(
        client: TestClient, auth: Auth, container: Container, store_id: str) -> None:
    work_order_id = _visit_in_the_past(container, store_id)
    before = head(container.app)

    # The auditor reads the history: every step, in order, with its business time.
    history = client.get(f"/work-orders/{work_order_id}/history",
                         headers=auth("auditor", "aud-1", [store_id])).json()["items"]
    assert [h["event"] for h in history] == [
        "WorkOrder.Opened", "WorkOrder.CheckedIn", "WorkOrder.LineAdded",
        "WorkOrder.LineAuthorized"]
    assert [h["version"] for h in history] == [1, 2, 3, 4]
    assert [datetime.fromisoformat(h["actor"]["at"]) for h in history] == [
        T0, T0 + timedelta(minutes=10), T0 + timedelta(minutes=30), T0 + timedelta(hours=1)]
    assert {h["actor"]["store_id"] for h in history} == {store_id}

    # Reading is not writing: the auditor's read stored only its own record (the history
    # showed the customer's name and phone), and the same read by a manager stores nothing.
    stored = [container.app.mapper.to_domain_event(n) for n in
              container.app.recorder.select_notifications(start=before + 1, limit=100)]
    assert [type(e).__qualname__ for e in stored] == ["DataAccess.PersonalDataRead"]
    assert str(stored[0].customer_id) == history[0]["changes"]["customer_id"]
    after_audit = head(container.app)
    manager = client.get(f"/work-orders/{work_order_id}/history",
                         headers=auth("manager", "mgr-1", [store_id]))
    assert manager.status_code == 200 and manager.json()["items"] == history
    assert head(container.app) == after_audit
