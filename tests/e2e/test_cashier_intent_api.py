"""The cashier's day, walked for what it leaves open: a refund after delivery says whether the
customer owes the money again (a payment return) or not (a credit), and the day-end close waits
for the refunds its cashier asked for to be decided, naming them."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.e2e.test_api_contract import problem
from tests.e2e.test_money_api import Auth, confirmed_settlement
from tests.e2e.test_parts_api import get, head, post


def test_a_refund_after_delivery_names_its_kind_before_anything_is_owed_again(
        client: TestClient, auth: Auth, store_id: str) -> None:
    cashier = auth("cashier", "cash-" + store_id, [store_id])
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    manager = auth("manager", "mgr-" + store_id, [store_id])
    wo_id, sid = confirmed_settlement(client, auth, store_id)
    # Paid in full by card, the car handed back.
    paid = post(client, "/payments", cashier, {"work_order_id": wo_id, "method": "bank_card",
                                               "amount": "900.00", "provider_ref": "POS-D1"}, 201)
    assert paid["settled"] is True
    post(client, f"/work-orders/{wo_id}/delivery", advisor, {"mileage_out": 30012,
                                                              "acknowledged_by": "王伟"})
    # 400.00 back for the long wait, kind forgotten: refused, naming kind and what each does.
    forgot = client.post("/refunds", headers=cashier, json={
        "work_order_id": wo_id, "payment_id": paid["payment_id"], "amount": "400.00",
        "reason": "goodwill: two days' wait"})
    body = problem(forgot, 422, "invalid-input")
    assert body["field"] == "kind" and body["owed_after_return"] == "400.00"
    assert set(body["kinds"]) == {"payment_return", "credit"}
    assert "owes 400.00 again" in body["detail"] and "credit" in body["detail"]
    assert get(client, f"/settlements/{sid}", cashier, wait_for=head(client))["refunds"] == []
    # Said, the credit leaves nothing owed.
    asked = post(client, "/refunds", cashier, {
        "work_order_id": wo_id, "payment_id": paid["payment_id"], "amount": "400.00",
        "reason": "goodwill: two days' wait", "kind": "credit"}, 201)
    assert asked["kind"] == "credit"
    decided = post(client, f"/refunds/{asked['refund_id']}/decision", manager, {"approve": True})
    assert decided["bills"]["customer"]["outstanding"] == "0.00"


def test_the_close_waits_for_the_refunds_its_cashier_asked_for(
        client: TestClient, auth: Auth, store_id: str) -> None:
    cashier = auth("cashier", "cash-" + store_id, [store_id])
    other = auth("cashier", "cash2-" + store_id, [store_id])
    manager = auth("manager", "mgr-" + store_id, [store_id])
    wo_id, _ = confirmed_settlement(client, auth, store_id)
    paid = post(client, "/payments", cashier, {"work_order_id": wo_id, "method": "cash",
                                               "amount": "300.00", "tendered": "300.00"}, 201)
    asked = post(client, "/refunds", cashier, {"work_order_id": wo_id, "amount": "50.00",
                                               "payment_id": paid["payment_id"],
                                               "reason": "charged for a wash not done"}, 201)
    # The refund waits for the manager: the close is refused, naming it; nothing is closed.
    day = {"store_id": store_id, "counted_cash": "250.00"}
    early = client.post("/day-end", headers=cashier, json=day)
    body = problem(early, 409, "illegal-transition")
    assert body["code"] == "DayStillOwes"
    assert [(r["refund_id"], r["amount"], r["kind"]) for r in body["open_refunds"]] == [
        (asked["refund_id"], "50.00", "payment_return")]
    assert asked["refund_id"] in body["detail"]
    # Another cashier's day owes nothing of it: it closes.
    post(client, "/day-end", other, {"store_id": store_id, "counted_cash": "0.00"})
    # Approved, the refund leaves the cashier's day; then the day closes on what is left.
    post(client, f"/refunds/{asked['refund_id']}/decision", manager, {"approve": True})
    closed = post(client, "/day-end", cashier, day)
    assert (closed["expected_cash"], closed["variance"]) == ("250.00", "0.00")
