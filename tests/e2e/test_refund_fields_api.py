"""A refund the cashier cannot ask names the body field at fault (`field` of the 422), as every
422 about a body field does: a payment of another visit, a red-letter invoice on a payment
return, a decision naming a visit that is not the refund's."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from fastapi.testclient import TestClient

from tests.e2e.test_money_api import confirmed_settlement
from tests.e2e.test_parts_api import head, post
from tests.e2e.test_refund_decision_api import refunds_asked

Auth = Callable[..., dict[str, str]]


def _paid(client: TestClient, auth: Auth, store_id: str) -> tuple[str, str, str]:
    """A confirmed visit paid 100.00 by card: (work order id, settlement id, payment id)."""
    cashier = auth("cashier", "cash-" + store_id, [store_id])
    wo_id, settlement_id = confirmed_settlement(client, auth, store_id)
    paid = post(client, "/payments", cashier, {
        "work_order_id": wo_id, "method": "bank_card", "amount": "100.00",
        "provider_ref": "POS-" + uuid.uuid4().hex[:8]}, 201)
    return wo_id, settlement_id, paid["payment_id"]


def test_a_refund_of_another_visits_payment_names_payment_id(client: TestClient, auth: Auth,
                                                             store_id: str) -> None:
    cashier = auth("cashier", "cash-" + store_id, [store_id])
    visit, settlement, _ = _paid(client, auth, store_id)
    _, _, elsewhere = _paid(client, auth, store_id)
    before = head(client)
    for key in ({"work_order_id": visit}, {"settlement_id": settlement}):
        refused = client.post("/refunds", headers=cashier, json={
            **key, "payment_id": elsewhere, "amount": "10.00", "reason": "goodwill"})
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["field"] == "payment_id", refused.text
        assert elsewhere in refused.json()["detail"]
    assert head(client) == before  # nothing stored


def test_the_other_refusals_of_a_refund_name_their_field(
        client: TestClient, auth: Auth, store_id: str) -> None:
    cashier = auth("cashier", "cash-" + store_id, [store_id])
    visit, _, payment = _paid(client, auth, store_id)
    asked = {"work_order_id": visit, "payment_id": payment, "amount": "10.00",
             "reason": "goodwill"}
    before = head(client)
    for field, value in (("red_invoice_number", "12345678"), ("amount", "10.001")):
        refused = client.post("/refunds", headers=cashier, json={**asked, field: value})
        assert refused.status_code == 422, refused.text
        assert refused.json()["field"] == field, refused.text
    assert head(client) == before


def test_a_decision_naming_another_visit_names_the_field_it_came_in(
        client: TestClient, auth: Auth, store_id: str) -> None:
    manager = auth("manager", "mgr-y", [store_id, store_id + "B"])
    _, (first, _) = refunds_asked(client, auth, store_id)
    other_wo, _ = refunds_asked(client, auth, store_id + "B")
    _, other_settlement = confirmed_settlement(client, auth, store_id)
    before = head(client)
    for field, value in (("work_order_id", other_wo), ("settlement_id", other_settlement)):
        wrong = client.post(f"/refunds/{first}/decision", headers=manager,
                            json={field: value, "approve": True})
        assert wrong.status_code == 422, wrong.text
        assert wrong.json()["field"] == field, wrong.text
        assert first in wrong.json()["detail"]
    assert head(client) == before
