"""What the cashier and the finance clerk trip over at the till and over the bank's statement:
a payment or a close dated tomorrow names the field to correct, the close's answer says what was
counted and why, the internal bill takes no tax invoice, and a statement line is matched by hand
to no payment its source never carries nor to one that took less than the line brought in."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient

from tests.e2e.test_api_contract import problem
from tests.e2e.test_money_api import confirmed_settlement, worked_and_passed
from tests.e2e.test_parts_api import Auth, get, head, post, received_part, store_staff


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


def test_a_refund_above_what_the_payment_has_left_names_amount(
        client: TestClient, auth: Auth, store_id: str) -> None:
    cashier = auth("cashier", "cash-" + store_id, [store_id])
    wo_id, _ = confirmed_settlement(client, auth, store_id)
    paid = post(client, "/payments", cashier, {"work_order_id": wo_id, "method": "alipay",
                                               "amount": "900.00", "provider_ref": "A-" + store_id},
                201)
    asked = client.post("/refunds", headers=cashier, json={
        "work_order_id": wo_id, "payment_id": paid["payment_id"], "amount": "900.01",
        "reason": "customer disputes"})
    body = problem(asked, 409, "illegal-transition")
    assert (body["field"], body["refundable"]) == ("amount", "900.00")


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


def _internal_visit(client: TestClient, auth: Auth, store_id: str) -> str:
    """A customer's part and a check of a demo car the sales department pays for, QC passed.
    Returns the work order's id."""
    clerk, advisor, manager, tech = store_staff(auth, store_id)
    number = received_part(client, clerk, store_id, 2)
    opened = post(client, "/work-orders", advisor, {
        "store_id": store_id, "customer": {"name": "王伟", "phone": "13800000005"},
        "vehicle": {"vin": "LSVAU218XN2183294", "plate": "沪E12345", "brand": "Volkswagen"},
        "mileage": 3000, "complaints": ["brake noise"]}, 201)
    wo = f"/work-orders/{opened['id']}"
    post(client, f"{wo}/check-in", advisor, {"mileage_in": 3010, "fuel_level": 50})
    lines = [post(client, f"{wo}/jobs/1/labor-lines", advisor, {
        "op_code": "PDI", "description": "demo car check", "hours": "0.5",
        "hourly_rate": "200.00", "pay_type": "internal"})["line_id"],
        post(client, f"{wo}/jobs/1/part-lines", advisor, {"part_number": number,
                                                         "qty": 1})["line_id"]]
    for line in lines:
        post(client, f"{wo}/lines/{line}/authorization", advisor,
             {"decision": "approved", "channel": "in_person"})
    worked_and_passed(client, wo, store_id, clerk, manager, tech, issued=lines[1])
    return str(opened["id"])


def test_the_internal_bill_takes_no_tax_invoice(
        client: TestClient, auth: Auth, store_id: str) -> None:
    cashier = auth("cashier", "cash-" + store_id, [store_id])
    wo_id = _internal_visit(client, auth, store_id)
    sid = post(client, "/settlements", cashier, {"work_order_id": wo_id,
                                                 "internal_department": "新车销售部"}, 201)["id"]
    confirmed = post(client, f"/settlements/{sid}/confirmation", cashier)
    assert confirmed["bills"]["internal"]["total"] == "100.00"
    # The sales department is the store itself: no 发票 is issued to it, no number is used.
    refused = client.post(f"/settlements/{sid}/invoice", headers=cashier,
                          json={"bill": "internal", "invoice_no": "44001" + store_id})
    assert problem(refused, 422, "invalid-input")["field"] == "bill"
    # A blank number, or a bill the visit does not have, names the field to correct.
    for body, field in (({"bill": "customer", "invoice_no": "   "}, "invoice_no"),
                        ({"bill": "warranty", "invoice_no": "44002" + store_id}, "bill")):
        answer = client.post(f"/settlements/{sid}/invoice", headers=cashier, json=body)
        assert problem(answer, 422, "invalid-input")["field"] == field, body
    # The customer's bill takes the number the internal bill did not use.
    post(client, f"/settlements/{sid}/invoice", cashier,
         {"bill": "customer", "invoice_no": "44001" + store_id})
    detail = get(client, f"/settlements/{sid}", cashier, wait_for=head(client))
    assert {b["kind"]: b["invoice_no"] for b in detail["bill_status"]} == {
        "customer": "44001" + store_id, "internal": None}


def _paid_three_ways(client: TestClient, auth: Auth, store_id: str) -> dict[str, Any]:
    """The customer's 900.00 paid 300.00 in cash, 100.00 by WeChat Pay (reference WX-<store>)
    and 500.00 by card (POS-<store>)."""
    cashier = auth("cashier", "cash-" + store_id, [store_id])
    wo_id, sid = confirmed_settlement(client, auth, store_id)
    paid = {"settlement_id": sid}
    for method, amount, ref in (("cash", "300.00", None), ("wechat_pay", "100.00", "WX-"),
                                ("bank_card", "500.00", "POS-")):
        body = {"work_order_id": wo_id, "method": method, "amount": amount}
        if ref:
            body["provider_ref"] = ref + store_id
        paid[method] = post(client, "/payments", cashier, body, 201)["payment_id"]
    return paid


def test_a_match_by_hand_refuses_a_payment_the_source_never_carries_or_a_line_above_it(
        client: TestClient, auth: Auth, store_id: str) -> None:
    finance = auth("finance", "fin-" + store_id, [store_id])
    paid = _paid_three_ways(client, auth, store_id)
    day = _today()
    stmt = post(client, "/reconciliation/statements", finance, {
        "store_id": store_id, "source": "bank", "account": "工行 1001",
        "csv": "date,amount,reference,counterparty\n"
               f"{day},300.00,IN-1,李雷\n"               # someone's transfer, not the cash
               f"{day},100.00,WX-{store_id},财付通\n"    # WeChat's reference, on the bank's
               f"{day},650.00,POS-{store_id},银联\n"     # more than the card took
               f"{day},498.50,POS-B{store_id},银联\n"}, 201)  # the card less the fee
    page = f"/reconciliation/statements/{stmt['id']}"
    # Auto-match proposes no WeChat Pay payment for the bank's line of its reference.
    auto = post(client, f"{page}/auto-match", finance)
    assert auto["matched"] == 0
    tries = {1: ("cash", "payment_id"), 2: ("wechat_pay", "payment_id"),
             3: ("bank_card", "line_no")}
    for line_no, (method, field) in tries.items():
        refused = client.post(f"{page}/matches", headers=finance, json={
            "line_no": line_no, "settlement_id": paid["settlement_id"],
            "payment_id": paid[method], "reason": "same day, same customer"})
        assert problem(refused, 422, "invalid-input")["field"] == field, (line_no, method)
    view = get(client, page, finance, wait_for=head(client))
    assert view["matched"] == [] and len(view["unmatched_lines"]) == 4
    # The card payment, 1.50 short on the statement (the acquirer's fee), is matched by hand.
    matched = post(client, f"{page}/matches", finance, {
        "line_no": 4, "settlement_id": paid["settlement_id"], "payment_id": paid["bank_card"],
        "reason": "acquirer fee deducted"})
    view = get(client, page, finance, wait_for=matched["notification_id"])
    assert [(m["line_no"], m["payment_id"]) for m in view["matched"]] == [
        (4, paid["bank_card"])]
    assert [ln["line_no"] for ln in view["unmatched_lines"]] == [1, 2, 3]
