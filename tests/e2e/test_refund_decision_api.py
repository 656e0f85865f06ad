"""A refund's decision names the refund by its id alone (refund ids are unique); naming its
visit as well, as before, still works and must name the right one."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from fastapi.testclient import TestClient

from tests.e2e.test_money_api import confirmed_settlement
from tests.e2e.test_parts_api import get, head, post

Auth = Callable[..., dict[str, str]]


def refunds_asked(client: TestClient, auth: Auth, store_id: str) -> tuple[str, list[str]]:
    """A paid visit with two refunds of 10.00 asked by its cashier: (work order, refund ids)."""
    cashier = auth("cashier", "cash-" + store_id, [store_id])
    wo_id, _ = confirmed_settlement(client, auth, store_id)
    paid = post(client, "/payments", cashier, {"work_order_id": wo_id, "method": "alipay",
                                               "amount": "300.00", "provider_ref": "ALI-"
                                               + uuid.uuid4().hex[:8]}, 201)
    return wo_id, [post(client, "/refunds", cashier, {
        "work_order_id": wo_id, "payment_id": paid["payment_id"], "amount": "10.00",
        "reason": "goodwill"}, 201)["refund_id"] for _ in range(2)]


def test_a_refund_is_decided_by_its_id_alone(client: TestClient, auth: Auth,
                                             store_id: str) -> None:
    manager = auth("manager", "mgr-" + store_id, [store_id])
    wo_id, (first, second) = refunds_asked(client, auth, store_id)
    # straight after the request (the finance view may not have it yet)
    approved = post(client, f"/refunds/{first}/decision", manager, {"approve": True})
    assert (approved["refund_id"], approved["refund_status"]) == (first, "approved")
    # The decision names the refund's kind, as the request's answer and the queue do.
    assert approved["kind"] == "payment_return"
    assert approved["deposits"] == "0.00"
    # the old body, naming the visit, still works
    rejected = post(client, f"/refunds/{second}/decision", manager, {
        "work_order_id": wo_id, "approve": False, "reason": "the customer withdrew it"})
    assert (rejected["refund_status"], rejected["kind"]) == ("rejected", "payment_return")
    settlement = get(client, f"/settlements/{approved['id']}", manager,
                     wait_for=rejected["notification_id"])
    assert {r["refund_id"]: r["status"] for r in settlement["refunds"]} == {
        first: "approved", second: "rejected"}


def test_a_refund_id_no_visit_has_is_not_found(client: TestClient, auth: Auth,
                                               store_id: str) -> None:
    manager = auth("manager", "mgr-" + store_id, [store_id])
    wo_id, (first, _) = refunds_asked(client, auth, store_id)
    other_wo, _ = refunds_asked(client, auth, store_id + "B")
    before = head(client)
    unknown = client.post("/refunds/RF-000000000000/decision", headers=manager,
                          json={"approve": True})
    assert unknown.status_code == 404, unknown.text
    assert unknown.headers["content-type"] == "application/problem+json"
    # another store's manager does not find it; naming the visit twice is refused; a visit
    # that is not the refund's is refused as before
    elsewhere = client.post(f"/refunds/{first}/decision", json={"approve": True},
                            headers=auth("manager", "mgr-x", [store_id + "B"]))
    assert elsewhere.status_code == 404, elsewhere.text
    both = client.post(f"/refunds/{first}/decision", headers=manager, json={
        "work_order_id": wo_id, "settlement_id": str(uuid.uuid4()), "approve": True})
    assert both.status_code == 422
    wrong = client.post(f"/refunds/{first}/decision", json={"work_order_id": other_wo,
                                                            "approve": True},
                        headers=auth("manager", "mgr-y", [store_id, store_id + "B"]))
    assert wrong.status_code == 422 and first in wrong.json()["detail"]
    # A refund id no visit has is not found, whether or not the body names a visit.
    named = client.post("/refunds/RF-000000000000/decision", headers=manager,
                        json={"work_order_id": wo_id, "approve": True})
    assert named.status_code == 404, named.text
    assert "RF-000000000000" in named.json()["detail"]
    assert head(client) == before  # nothing was stored
