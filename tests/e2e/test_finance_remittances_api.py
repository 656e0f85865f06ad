"""The finance desk works from the bank's statement: it records the OEM's remittance (a bank
receipt) and asks to pay the overpaid part back by bank (a bank refund, which a manager
approves). Money into or out of a drawer stays the cashier's: the finance role's cash
payment, its customer's transfer and its refund of a cash payment are 403, nothing stored,
and its refund goes back by bank transfer alone. In the analytic table a bank refund names
who paid it out, the approving manager, as its cashier; a refund from a drawer the cashier
whose day it left."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from analytics.loader import AnalyticsLoader
from tests.e2e.test_analytics_refunds_api import (  # noqa: F401 - `loaders` is a fixture
    _loaded,
    loaders,
)
from tests.e2e.test_bank_refunds_api import Auth, _staff
from tests.e2e.test_money_api import confirmed_settlement
from tests.e2e.test_parts_api import get, post


def _refused(client: TestClient, url: str, who: dict[str, str], body: dict[str, Any],
             status: int, field: str) -> None:
    answer = client.post(url, headers=who, json=body)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["field"] == field, answer.json()


def test_the_finance_desk_records_a_remittance_and_pays_it_back_by_bank_alone(
        client: TestClient, auth: Auth, store_id: str,
        loaders: tuple[AnalyticsLoader, ...]) -> None:  # noqa: F811
    cashier, manager, finance = _staff(auth, store_id)
    wo_id, sid = confirmed_settlement(client, auth, store_id, warranty_labor=True)
    cash = post(client, "/payments", cashier, {"work_order_id": wo_id, "method": "cash",
                                               "amount": "900.00"}, 201)
    # 20.00 of it back from the drawer before the cashier's day-end.
    drawer = post(client, "/refunds", cashier, {"work_order_id": wo_id, "amount": "20.00",
                                                "payment_id": cash["payment_id"],
                                                "reason": "overcharged",
                                                "kind": "payment_return"}, 201)
    post(client, f"/refunds/{drawer['refund_id']}/decision", manager, {"approve": True})
    day = post(client, "/day-end", cashier, {"store_id": store_id,
                                             "counted_cash": "880.00"})["business_date"]
    # From the statement: the OEM remitted 150.00 for the warranty bill, then 50.00 too many.
    remitted = post(client, "/payments", finance, {
        "work_order_id": wo_id, "bill": "warranty", "method": "bank_transfer",
        "amount": "150.00", "provider_ref": "VW-R1-" + store_id}, 201)
    assert remitted["bills"]["warranty"]["outstanding"] == "0.00"
    before = get(client, f"/settlements/{sid}", finance, wait_for=remitted["notification_id"])
    # Money into a drawer, or out of one, is the cashier's.
    for body in ({"work_order_id": wo_id, "method": "cash", "amount": "10.00"},
                 {"work_order_id": wo_id, "method": "bank_transfer", "amount": "10.00",
                  "provider_ref": "CUST-" + store_id}):
        _refused(client, "/payments", finance, body, 403, "method")
    _refused(client, "/refunds", finance, {"work_order_id": wo_id, "reason": "overpaid",
                                           "payment_id": cash["payment_id"],
                                           "amount": "10.00"}, 403, "payment_id")
    for role in ("advisor", "auditor"):  # no other role gained it
        answer = client.post("/payments", headers=auth(role, f"{role}-{store_id}", [store_id]),
                             json={"work_order_id": wo_id, "bill": "warranty",
                                   "method": "bank_transfer", "amount": "1.00",
                                   "provider_ref": "X-" + store_id})
        assert answer.status_code == 403, answer.text
    # The OEM's 30.00 goes back by bank: asked by the finance desk, approved by a manager.
    asked = post(client, "/refunds", finance, {
        "work_order_id": wo_id, "payment_id": remitted["payment_id"], "amount": "30.00",
        "reason": "the OEM overpaid"}, 201)
    decision = f"/refunds/{asked['refund_id']}/decision"
    _refused(client, decision, manager, {"approve": True, "payout_method": "cash"}, 422,
             "payout_method")
    back = post(client, decision, manager, {"approve": True, "payout_ref": "BACK-" + store_id})
    after = get(client, f"/settlements/{sid}", finance, wait_for=back["notification_id"])
    assert [p["payment_id"] for p in after["payments"]] == [
        p["payment_id"] for p in before["payments"]]  # the refused payments stored nothing
    assert [(r["requested_by"], r["payout_method"], r["bank_refund"])
            for r in after["refunds"]] == [(f"cash-{store_id}", "cash", False),
                                           (f"fin-{store_id}", "bank_transfer", True)]
    report = get(client, f"/day-end/{day}", finance, store_id=store_id)
    assert [(d["cashier_id"], d["totals"]) for d in report["cashier_days"]] == [
        (f"cash-{store_id}", {"cash": "880.00"})]  # no day of the finance desk's
    assert [(r["bill"], r["amount"]) for r in report["bank_receipts"]] == [
        ("warranty", "150.00")]
    assert [(r["bill"], r["amount"]) for r in report["bank_refunds"]] == [("warranty", "30.00")]

    conn = _loaded(loaders)
    rows = conn.execute("""SELECT kind, bill, method, amount::VARCHAR, cashier, approved_by, bank
        FROM fact_payments WHERE store_id = ? ORDER BY notification_id""",
                        [store_id]).fetchall()
    assert rows == [
        ("payment", "customer", "cash", "900.00", f"cash-{store_id}", None, False),
        ("refund", "customer", "cash", "-20.00", f"cash-{store_id}", f"mgr-{store_id}", False),
        ("payment", "warranty", "bank_transfer", "150.00", f"fin-{store_id}", None, True),
        ("refund", "warranty", "bank_transfer", "-30.00", f"mgr-{store_id}", f"mgr-{store_id}",
         True)]
    assert conn.execute("""SELECT requested_by, decided_by, bank FROM fact_refunds
        WHERE store_id = ? ORDER BY requested_at""", [store_id]).fetchall() == [
        (f"cash-{store_id}", f"mgr-{store_id}", False),
        (f"fin-{store_id}", f"mgr-{store_id}", True)]
    # The journal's cashier is the table's: who took a payment or paid a refund out.
    for who in (f"cash-{store_id}", f"fin-{store_id}", f"mgr-{store_id}"):
        mine = get(client, "/payments", finance, store_id=store_id, cashier=who)
        [[net]] = conn.execute("""SELECT coalesce(sum(amount), 0)::VARCHAR FROM fact_payments
            WHERE store_id = ? AND cashier = ?""", [store_id, who]).fetchall()
        assert mine["net"] == net, who
