"""The name the customer signs the delivery with is personal data like the name on the work
order: sealed with the customer's key in `WorkOrder.Delivered`, opened for the desk and the
auditor (who is recorded reading it), and unreadable everywhere once the customer is erased."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID

from fastapi.testclient import TestClient

from domain.pii import ERASED
from domain.work_order import WorkOrder
from servicecore.container import Container
from tests.integration.audit_support import Desk, at, new_vin
from tests.integration.support import Auth, head, post

SIGNED_BY = "李娜"  # the customer's own name (Desk opens every visit for 李娜)


def _delivered_visit(container: Container) -> tuple[Desk, UUID]:
    shop = Desk(container)
    day = "2025-06-02"
    wo = shop.open(new_vin(), ["squeak from the front brakes"], at(day, "09:00"))
    shop.check_in(wo, 12_000, at(day, "09:05"))
    line = shop.labor(wo, 1, "BRK-PAD", "1.0", at(day, "09:10"))
    shop.approve(wo, [line], at(day, "09:15"))
    shop.repair(wo, 1, shop.t1, at(day, "10:00"), at(day, "11:00"))
    shop.settle(wo, at(day, "11:30"))
    shop.deliver(wo, 12_010, at(day, "12:00"))
    return shop, wo


def _delivered_event(container: Container, wo: UUID) -> Any:
    events = [e for e in container.app.events.get(wo) if isinstance(e, WorkOrder.Delivered)]
    assert len(events) == 1
    return events[0]


def _acknowledgements(client: TestClient, headers: dict[str, str], wo: UUID,
                      wait_for: int) -> tuple[str, ...]:
    """Who signed, as the work order, its history, the visit's timeline, the events of the
    delivery's request and the audit log show it."""
    doc = client.get(f"/work-orders/{wo}", params={"wait_for": wait_for}, headers=headers)
    assert doc.status_code == 200 and "X-Read-Model-Stale" not in doc.headers
    history = client.get(f"/work-orders/{wo}/history", headers=headers).json()["items"]
    (delivered,) = [h for h in history if h["event"] == "WorkOrder.Delivered"]
    timeline = client.get(f"/audit/work-orders/{wo}/timeline", params={"wait_for": wait_for},
                          headers=headers).json()["items"]
    (step,) = [t for t in timeline if t["event"] == "WorkOrder.Delivered"]
    (request,) = [e for e in client.get("/audit/events", headers=headers, params={
        "correlation_id": step["correlation_id"], "wait_for": wait_for}).json()["events"]
        if e["event"] == "WorkOrder.Delivered"]  # the follow-up scheduled beside it
    (logged,) = client.get("/audit/log", headers=headers, params={
        "event_type": "WorkOrder.Delivered", "store_id": step["actor"]["store_id"],
        "wait_for": wait_for}).json()["items"]
    return (doc.json()["delivery"]["acknowledgement"]["acknowledged_by"],
            *(item["changes"]["acknowledgement"]["acknowledged_by"]
              for item in (delivered, step, request, logged)))


def test_the_name_that_signed_for_the_car_is_sealed_and_erased_with_the_customer(
        client: TestClient, auth: Auth, container: Container) -> None:
    shop, wo = _delivered_visit(container)
    auditor = auth("auditor", "aud-1", [shop.store])
    delivered = _delivered_event(container, wo)
    customer_id = container.app.repository.get(wo).customer_id

    # The event holds a sealed token, not the name ...
    stored = delivered.acknowledgement["acknowledged_by"]
    assert stored.startswith("pii1:") and SIGNED_BY not in stored

    # ... the auditor reads it opened, and the read of her data is recorded.
    before = head(container.app)
    assert _acknowledgements(client, auditor, wo, before) == (SIGNED_BY,) * 5
    reads = [container.app.mapper.to_domain_event(n) for n in
             container.app.recorder.select_notifications(start=before + 1, limit=100)]
    assert reads and {type(e).__qualname__ for e in reads} == {"DataAccess.PersonalDataRead"}
    assert {e.customer_id for e in reads} == {customer_id}

    # She asks to be erased: the name she signed with is gone from every answer.
    erased = post(client, f"/customers/{customer_id}/erasure", auth("manager", "m", [shop.store]),
                  {"reason": "customer request under PIPL art. 47"})
    assert _acknowledgements(client, auditor, wo, erased["notification_id"]) == (ERASED,) * 5
    manager = auth("manager", "mgr", [shop.store])
    assert _acknowledgements(client, manager, wo, erased["notification_id"]) == (ERASED,) * 5


def test_a_delivery_after_the_erasure_keeps_no_name(
        client: TestClient, auth: Auth, container: Container) -> None:
    shop = Desk(container)
    day = "2025-06-03"
    wo = shop.open(new_vin(), ["oil change"], at(day, "09:00"))
    shop.check_in(wo, 12_000, at(day, "09:05"))
    line = shop.labor(wo, 1, "OIL", "0.5", at(day, "09:10"))
    shop.approve(wo, [line], at(day, "09:15"))
    shop.repair(wo, 1, shop.t1, at(day, "10:00"), at(day, "10:30"))
    shop.settle(wo, at(day, "11:00"))
    customer_id = container.app.repository.get(wo).customer_id
    container.customers.erase(shop.r("manager", at(day, "11:10") + timedelta(minutes=1)),
                              customer_id, reason="customer request under PIPL art. 47")

    shop.deliver(wo, 12_005, at(day, "12:00"))

    assert _delivered_event(container, wo).acknowledgement["acknowledged_by"] == ERASED
    assert container.app.personal_data.keys.get_key(customer_id) is None  # no key made again
    auditor = auth("auditor", "aud-1", [shop.store])
    assert _acknowledgements(client, auditor, wo, head(container.app)) == (ERASED,) * 5
