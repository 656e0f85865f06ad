"""What the cashier and the finance clerk trip over at the till and over the bank's statement:
a payment or a close dated tomorrow names the field to correct, the close's answer says what was
counted and why, the internal bill takes no tax invoice, and a statement line is matched by hand
to no payment its source never carries nor to one that took less than the line brought in."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient

from tests.e2e.test_api_contract import problem
from tests.e2e.test_money_api import confirmed_settlement
from tests.e2e.test_parts_api import Auth, get, head, post


def _today() -> str:
    return datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()


def test_a_payment_or_a_close_dated_tomorrow_names_business_date(
        client: TestClient, auth: Auth, store_id: str) -> None:
    cashier = auth("cashier", "cash-" + store_id, [store_id])
    wo_id, sid = confirmed_settlement(client, auth, store_id)
    tomorrow = (datetime.now(ZoneInfo("Asia/Shanghai")).date() + timedelta(days=1)).isoformat()
    early = client.post("/payments", headers=cashier, json={
        "work_order_id": wo_id, "method": "cash", "amount": "100.00",
        "business_date": tomorrow})
    assert problem(early, 422, "invalid-input")["field"] == "business_date"
    closing = client.post("/day-end", headers=cashier, json={
        "store_id": store_id, "counted_cash": "0.00", "business_date": tomorrow})
    assert problem(closing, 422, "invalid-input")["field"] == "business_date"
    # Nothing was taken: the bill still asks for all of it.
    assert get(client, f"/settlements/{sid}", cashier, wait_for=head(client))["payments"] == []


def test_the_close_answers_what_was_counted_and_why(
        client: TestClient, auth: Auth, store_id: str) -> None:
    cashier = auth("cashier", "cash-" + store_id, [store_id])
    wo_id, _ = confirmed_settlement(client, auth, store_id)
    post(client, "/payments", cashier, {"work_order_id": wo_id, "method": "cash",
                                        "amount": "300.00", "tendered": "500.00"}, 201)
    closed = post(client, "/day-end", cashier, {"store_id": store_id, "counted_cash": "290.00",
                                                "reason": " 10.00 short, note pinned "})
    assert {k: closed[k] for k in ("expected_cash", "counted_cash", "variance", "reason")} == {
        "expected_cash": "300.00", "counted_cash": "290.00", "variance": "-10.00",
        "reason": "10.00 short, note pinned"}
