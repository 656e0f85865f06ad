"""The follow-up call list (回访) tells the advisor whom to call and about which visit: the
customer's name and phone (for the roles that may read customers' personal data), the car's
plate, the visit's number and its delivery; an auditor's read of it is recorded, and an erased
customer shows nothing personal."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from fastapi.testclient import TestClient

from servicecore.container import Container
from tests.e2e.test_parts_api import Auth, get, head, post
from tests.integration.audit_support import Desk, at, new_vin

DAY = "2025-06-02"
NAME, PHONE, PLATE = "李娜", "13800138000", "沪B52819"  # as the desk opens the visit


def _delivered(shop: Desk) -> UUID:
    """A visit repaired, settled and delivered at noon: its follow-up call is scheduled."""
    wo = shop.open(new_vin(), ["squeak from the front brakes"], at(DAY, "09:00"))
    shop.check_in(wo, 12_000, at(DAY, "09:05"))
    line = shop.labor(wo, 1, "BRK-PAD", "1.0", at(DAY, "09:10"))
    shop.approve(wo, [line], at(DAY, "09:15"))
    shop.repair(wo, 1, shop.t1, at(DAY, "10:00"), at(DAY, "11:00"))
    shop.settle(wo, at(DAY, "11:30"))
    shop.deliver(wo, 12_010, at(DAY, "12:00"))
    return wo


def _call(client: TestClient, headers: dict[str, str], wo: UUID) -> Any:
    (item,) = get(client, "/follow-ups", headers, work_order_id=str(wo),
                  wait_for=head(client))["items"]
    return item


def _reads(client: TestClient, headers: dict[str, str], customer_id: UUID) -> list[Any]:
    return get(client, "/audit/personal-data-reads", headers,  # type: ignore[no-any-return]
               customer_id=str(customer_id), wait_for=head(client))["items"]


def test_the_call_list_says_whom_to_call_about_which_visit(
        client: TestClient, auth: Auth, container: Container) -> None:
    shop = Desk(container)
    wo = _delivered(shop)
    order: Any = container.app.repository.get(wo)
    advisor = auth("advisor", shop.adv, [shop.store])
    manager = auth("manager", shop.mgr, [shop.store])

    # The advisor sees whom to call, the car and the visit; the desk's read is not recorded.
    before = head(client)
    call = _call(client, advisor, wo)
    assert (call["customer_name"], call["customer_phone"], call["plate"],
            call["work_order_number"], call["status"]) == (
        NAME, PHONE, PLATE, order.number, "open")
    assert datetime.fromisoformat(call["delivered_at"]) == at(DAY, "12:00")
    assert _call(client, manager, wo)["customer_name"] == NAME
    assert head(client) == before

    # The analyst reads the calls without the customer: the same shape, nulls, nothing recorded.
    analyst = _call(client, auth("analyst", "ana-1", [shop.store]), wo)
    assert (analyst["customer_name"], analyst["customer_phone"]) == (None, None)
    assert (analyst["plate"], analyst["work_order_number"]) == (PLATE, order.number)
    assert NAME not in str(analyst) and PHONE not in str(analyst)
    assert head(client) == before

    # An auditor's read of the list is recorded: who, which customer, where and why.
    auditor = auth("auditor", "aud-wang", [shop.store])
    now = head(client)
    answer = client.get("/follow-ups", headers=auditor,
                        params={"work_order_id": str(wo), "wait_for": str(now)})
    assert answer.status_code == 200, answer.text
    assert answer.json()["items"][0]["customer_phone"] == PHONE
    (read,) = _reads(client, manager, order.customer_id)
    assert (read["user_id"], read["role"], read["store_id"], read["purpose"]) == (
        "aud-wang", "auditor", shop.store, "follow-up list")
    assert read["endpoint"] == f"GET /follow-ups?work_order_id={wo}&wait_for={now}"
    assert read["correlation_id"] == answer.headers["X-Correlation-ID"]


def test_an_erased_customers_call_shows_nothing_personal(
        client: TestClient, auth: Auth, container: Container) -> None:
    shop = Desk(container)
    wo = _delivered(shop)
    customer_id = container.app.repository.get(wo).customer_id  # type: ignore[attr-defined]
    manager = auth("manager", shop.mgr, [shop.store])
    post(client, f"/customers/{customer_id}/erasure", manager, {"reason": "PIPL request"})

    # The call stays on the list with its visit, without the customer's name or phone.
    advisor = auth("advisor", shop.adv, [shop.store])
    call = _call(client, advisor, wo)
    assert (call["customer_name"], call["customer_phone"]) == ("[erased]", "[erased]")
    assert NAME not in str(call) and PHONE not in str(call)
    assert call["status"] == "open" and call["delivered_at"] is not None

    # An auditor shown nothing personal leaves no read behind.
    before = head(client)
    assert _call(client, auth("auditor", "aud-wang", [shop.store]), wo)["customer_name"] == (
        "[erased]")
    assert head(client) == before
    assert _reads(client, manager, customer_id) == []
