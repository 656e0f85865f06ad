"""Money over HTTP: a visit settled, paid, delivered, followed up and closed; refunds, day-end,
reconciliation and the ledger."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient
from psycopg.types.json import Jsonb

from servicecore.container import Container
from tests.e2e.test_parts_api import get, head, on_roster, post, received_part, store_staff
from tests.integration.audit_support import new_vin

Auth = Callable[..., dict[str, str]]


def ready_for_settlement(client: TestClient, auth: Auth, store_id: str,
                         warranty_labor: bool = False,
                         warranty_rate: str = "300.00",
                         vin: str = "LSVAU218XN2183294",
                         brand: str = "Volkswagen",
                         customer_id: str | None = None,
                         campaign_no: str = "RC2026-01") -> tuple[str, str]:
    """A visit with a customer labor line, an issued customer part (and optionally a warranty
    labor line at `warranty_rate` an hour, of campaign `campaign_no`), QC passed, the car's
    brand typed as `brand`, of a walk-in customer or the registered `customer_id`. Returns
    (work-order URL, work-order id)."""
    clerk, advisor, manager, tech = store_staff(auth, store_id)
    number = received_part(client, clerk, store_id, 5)
    customer = {"customer_id": customer_id} if customer_id else {
        "customer": {"name": "王伟", "phone": "13800000002"}}
    opened = post(client, "/work-orders", advisor, {
        "store_id": store_id, **customer,
        "vehicle": {"vin": vin, "plate": "沪B12345", "brand": brand},
        "mileage": 30000, "complaints": ["brake noise"]}, 201)
    wo = f"/work-orders/{opened['id']}"
    post(client, f"{wo}/check-in", advisor, {"mileage_in": 30010, "fuel_level": 50})
    lines = [post(client, f"{wo}/jobs/1/labor-lines", advisor, {
        "op_code": "BRK01", "description": "replace pads", "hours": "1.5",
        "hourly_rate": "300.00"})["line_id"],
        post(client, f"{wo}/jobs/1/part-lines", advisor, {"part_number": number,
                                                         "qty": 1})["line_id"]]
    if warranty_labor:
        lines.append(post(client, f"{wo}/jobs/1/labor-lines", advisor, {
            "op_code": "ECU-UPD", "description": "ECU update (campaign)", "hours": "0.5",
            "hourly_rate": warranty_rate, "pay_type": "warranty",
            "warranty": {"coverage_code": "C-22", "campaign_no": campaign_no}})["line_id"])
    for line in lines:
        post(client, f"{wo}/lines/{line}/authorization", advisor,
             {"decision": "approved", "channel": "in_person"})
    worked_and_passed(client, wo, store_id, clerk, manager, tech, issued=lines[1])
    return wo, opened["id"]


def worked_and_passed(client: TestClient, wo: str, store_id: str, clerk: dict[str, str],
                      manager: dict[str, str], tech: dict[str, str], *, issued: str) -> None:
    """Job 1 of the work order at `wo` dispatched to the store's technician (put on its
    roster), the part line `issued` issued, the job clocked on, off and completed, and QC
    passed: the visit is ready for settlement."""
    on_roster(client, manager, store_id, "tech-" + store_id)
    post(client, f"{wo}/jobs/1/dispatch", manager, {"technician_id": "tech-" + store_id})
    post(client, f"{wo}/lines/{issued}/issue", clerk, {})
    for step in ("clock-on", "clock-off", "complete"):
        post(client, f"{wo}/jobs/1/{step}", tech)
    done = post(client, f"{wo}/jobs/1/quality-check", manager, {"passed": True})
    assert done["status"] == "ready_for_settlement"



def confirmed_settlement(client: TestClient, auth: Auth, store_id: str,
                         warranty_labor: bool = False) -> tuple[str, str]:
    """A visit ready for settlement (`ready_for_settlement`), its settlement drafted and
    confirmed by the store's cashier. Returns (work-order id, settlement id)."""
    cashier = auth("cashier", "cash-" + store_id, [store_id])
    _, wo_id = ready_for_settlement(client, auth, store_id, warranty_labor)
    sid = post(client, "/settlements", cashier, {"work_order_id": wo_id}, 201)["id"]
    post(client, f"/settlements/{sid}/confirmation", cashier)
    return wo_id, sid

def test_a_visit_ends_settled_delivered_followed_up_and_closed(client: TestClient, auth: Auth,
                                                                store_id: str) -> None:
    cashier = auth("cashier", "cash-" + store_id, [store_id])
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    wo, wo_id = ready_for_settlement(client, auth, store_id, warranty_labor=True)
    # A deposit was taken at check-in (any time before confirmation works the same).
    deposit = post(client, "/payments", cashier, {"work_order_id": wo_id, "method": "cash",
                                                  "amount": "100.00", "tendered": "100.00"}, 201)
    assert deposit["status"] == "open" and deposit["deposits"] == "100.00"
    # The cashier drafts: customer bill 450 labor + 450 part; warranty bill 150 labor.
    drafted = post(client, "/settlements", cashier, {"work_order_id": wo_id}, 201)
    sid = drafted["id"]
    assert drafted["bills"]["customer"]["total"] == "900.00"
    assert drafted["bills"]["warranty"]["total"] == "150.00"
    # A small discount is the cashier's call; a large one needs a manager and a reason.
    post(client, f"/settlements/{sid}/discounts", cashier,
         {"amount": "20.00", "reason": "member's discount"})
    big = client.post(f"/settlements/{sid}/discounts", headers=cashier,
                      json={"amount": "200.00", "reason": "loyal customer"})
    assert big.status_code == 403
    # A discount on a line the bill does not carry names the line and the bill.
    stray = client.post(f"/settlements/{sid}/discounts", headers=cashier, json={
        "bill": "warranty", "line_id": "L9", "amount": "5.00", "reason": "loyal customer"})
    assert stray.status_code == 422, stray.text
    assert (stray.json()["field"], stray.json()["line_id"], stray.json()["bill"]) == (
        "line_id", "L9", "warranty")
    post(client, f"/settlements/{sid}/discounts", auth("manager", "mgr-x", [store_id]),
         {"line_id": "L1", "amount": "100.00", "reason": "loyal customer"})
    confirmed = post(client, f"/settlements/{sid}/confirmation", cashier)
    year = datetime.now(ZoneInfo("Asia/Shanghai")).year
    assert confirmed["number"] == f"SET-{store_id}-{year}-000001"
    assert confirmed["bills"]["customer"]["outstanding"] == "680.00"
    assert confirmed["deposits"] == "100.00"  # what was taken before, still (it was null)
    # Overpaying is refused; the rest by WeChat Pay settles the visit in the same transaction.
    over = client.post("/payments", headers=cashier, json={
        "work_order_id": wo_id, "method": "wechat_pay", "amount": "700.00",
        "provider_ref": "WX1"})
    assert over.status_code == 409 and over.json()["outstanding"] == "680.00"
    paid = post(client, "/payments", cashier, {"work_order_id": wo_id, "method": "wechat_pay",
                                               "amount": "680.00",
                                               "provider_ref": "WX-" + store_id}, 201)
    assert paid["settled"] is True
    doc = get(client, wo, advisor, wait_for=paid["notification_id"])
    assert doc["status"] == "settled" and doc["settlement"]["number"] == confirmed["number"]
    # The settlement shows itemised bills and the ledger balances.
    detail = get(client, f"/settlements/{sid}", cashier, wait_for=paid["notification_id"])
    customer_bill = detail["bills"]["customer"]
    assert {ln["kind"] for ln in customer_bill["lines"]} == {"labor", "part"}
    assert Decimal(customer_bill["vat"]) == sum(Decimal(ln["vat"]) for ln in customer_bill["lines"])
    month = datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")
    finance_user = auth("finance", "fin-1", [store_id])
    balance = get(client, "/ledger/trial-balance", finance_user, month=month)
    assert balance["balanced"] is True
    accounts = {row["account"]: Decimal(row["balance"]) for row in balance["accounts"]}
    assert accounts["1122"] == 0            # the customer paid everything
    assert accounts["1123"] == Decimal("150.00")  # the OEM owes the warranty bill
    # One part left inventory at FIFO cost for the job (1408) and, settled, for cost of parts
    # sold: parts inventory is what the stock valuation says is left.
    assert (accounts["6401"], accounts.get("1408", 0)) == (Decimal("200.00"), 0)
    valued = get(client, "/stock/valuation", finance_user, store_id=store_id,
                 wait_for=paid["notification_id"])
    assert accounts["1405"] == Decimal(valued["items"][0]["fifo_value"]) > 0
    # The customer earned loyalty points on what they paid (780.00 at 1 point per 10 CNY),
    # in the settling transaction.
    customer = get(client, f"/customers/{doc['customer']['id']}", advisor,
                   wait_for=paid["notification_id"])
    assert customer["points"]["balance"] == 78
    owed = get(client, "/receivables", finance_user)
    assert [(r["kind"], r["outstanding"]) for r in owed["items"]] == [("warranty", "150.00")]
    assert owed["total"] == 1
    # Delivery, then the follow-up call closes the work order; the complaint lives on as a
    # complaint case. An odometer below check-in's is refused naming the field and the reading.
    typo = client.post(f"{wo}/delivery", headers=advisor, json={"mileage_out": 3001,
                                                                "acknowledged_by": "王伟"})
    assert typo.status_code == 422, typo.text
    assert typo.json()["field"] == "mileage_out" and typo.json()["recorded"] > 3001
    delivered = post(client, f"{wo}/delivery", advisor, {"mileage_out": 30012,
                                                         "acknowledged_by": "王伟"})
    follow_up = delivered["follow_up"]["id"]
    result = post(client, f"/follow-ups/{follow_up}/result", advisor, {
        "csi": 4, "comment": "quick", "complaint": {"description": "seat was dirty"}})
    assert result["work_order_status"] == "closed"
    case = f"/grievances/{result['grievance_id']}"
    refused = client.post(f"{case}/resolution", headers=advisor,
                          json={"resolution": "cleaned", "accepted": True})
    assert refused.status_code == 409
    post(client, f"{case}/assignment", advisor, {"owner": "mgr-1"})
    post(client, f"{case}/first-contact", advisor, {})
    post(client, f"{case}/resolution", advisor,
         {"resolution": "apologised, free interior cleaning next visit", "accepted": True})
    doc = get(client, wo, advisor, wait_for=head(client))
    assert doc["status"] == "closed" and doc["delivery"]["mileage_out"] == 30012
    assert get(client, case, advisor, wait_for=head(client))["status"] == "resolved"
    # The warranty clerk's claim: delivered and closed, it waits only for the tax invoice of
    # the OEM's bill; once recorded, nothing is still to come.
    claim_url = f"{wo}/warranty-claim"
    assert [i["item"] for i in get(client, claim_url, advisor)["still_to_come"]] == [
        "warranty_invoice"]
    post(client, f"/settlements/{sid}/invoice", cashier,
         {"bill": "warranty", "invoice_no": "4400" + wo_id.replace("-", "")[:10]})
    assert get(client, claim_url, advisor)["still_to_come"] == []


def test_refund_day_end_and_reconciliation(client: TestClient, auth: Auth, store_id: str) -> None:
    cashier = auth("cashier", "cash-" + store_id, [store_id])
    manager = auth("manager", "mgr-" + store_id, [store_id])
    wo_id, sid = confirmed_settlement(client, auth, store_id)
    ref = "ALI-" + uuid.uuid4().hex[:8]
    paying = client.post("/payments", headers=cashier, json={
        "work_order_id": wo_id, "method": "cash", "amount": "300.00", "tendered": "500.00"})
    assert paying.status_code == 201 and paying.headers["Location"] == f"/settlements/{sid}"
    cash = paying.json()
    assert cash["change"] == "200.00" and cash["payment_id"].startswith("PAY-")
    ali = post(client, "/payments", cashier, {"work_order_id": wo_id, "method": "alipay",
                                              "amount": "600.00", "provider_ref": ref}, 201)
    assert ali["settled"] is True
    # A refund: the cashier asks, the cashier cannot approve, a manager does. It names the
    # visit as the payment did, by its work order, and answers as the payment did.
    both = client.post("/refunds", headers=cashier, json={
        "work_order_id": wo_id, "settlement_id": sid, "payment_id": cash["payment_id"],
        "amount": "50.00", "reason": "goodwill"})
    assert both.status_code == 422
    asking = client.post("/refunds", headers=cashier, json={
        "work_order_id": wo_id, "payment_id": cash["payment_id"], "amount": "50.00",
        "reason": "goodwill", "kind": "payment_return"})
    assert asking.status_code == 201, asking.text
    asked = asking.json()
    assert asked["id"] == cash["id"] == sid and asked["refund_id"].startswith("RF-")
    assert asking.headers["Location"] == f"/settlements/{sid}"
    url = f"/refunds/{asked['refund_id']}/decision"
    assert client.post(url, headers=cashier, json={"work_order_id": wo_id,
                                                   "approve": True}).status_code == 403
    too_much = client.post("/refunds", headers=cashier, json={
        "settlement_id": sid, "payment_id": cash["payment_id"], "amount": "260.00",
        "reason": "more than is left"})
    assert too_much.status_code == 409 and too_much.json()["refundable"] == "250.00"
    post(client, url, manager, {"work_order_id": wo_id, "approve": True})
    # Day-end: 300 − 50 cash expected; counted 245 needs a reason.
    no_reason = client.post("/day-end", headers=cashier, json={"store_id": store_id,
                                                              "counted_cash": "245.00"})
    assert (no_reason.status_code, no_reason.json()["field"]) == (422, "reason")
    closed = post(client, "/day-end", cashier, {"store_id": store_id, "counted_cash": "245.00",
                                                "reason": "5 CNY short, note pinned"})
    assert closed["expected_cash"] == "250.00" and closed["variance"] == "-5.00"
    assert closed["totals"] == {"cash": "250.00", "alipay": "600.00"}
    late = client.post("/payments", headers=cashier, json={
        "work_order_id": wo_id, "method": "cash", "amount": "1.00"})
    assert late.status_code == 409 and "closed" in late.json()["detail"]
    report = get(client, f"/day-end/{closed['business_date']}", cashier,
                 wait_for=closed["notification_id"])
    assert [d["status"] for d in report["cashier_days"]] == ["closed"]
    # The close recorded the chain's head: answered, on the report, and in the witness file
    # outside the database (projections/chain_witness.py).
    number, _, digest = closed["anchor"].partition(":")
    assert int(number) >= closed["notification_id"] and len(digest) == 64
    assert [(a["store_id"], a["cashier_id"], a["anchor"]) for a in report["chain_anchors"]
            if a["store_id"] == store_id] == [(store_id, "cash-" + store_id, closed["anchor"])]
    witnessed = client.app.state.ctx.witness_path.read_text().splitlines()
    assert closed["anchor"] in [json.loads(line)["anchor"] for line in witnessed]
    # Reconciliation: the Alipay statement matches by reference and amount.
    finance_user = auth("finance", "fin-" + store_id, [store_id])
    imported = post(client, "/reconciliation/statements", finance_user, {
        "store_id": store_id, "source": "alipay",
        "csv": f"date,amount,reference,counterparty\n{closed['business_date']},600.00,{ref},"
               f"王伟\n{closed['business_date']},88.00,UNKNOWN,someone\n"}, 201)
    stmt = f"/reconciliation/statements/{imported['id']}"
    get(client, stmt, finance_user, wait_for=imported["notification_id"])
    matched = post(client, f"{stmt}/auto-match", finance_user)
    assert matched["matched"] == 1
    view = get(client, stmt, finance_user, wait_for=matched["notification_id"])
    assert [ln["line_no"] for ln in view["matched"]] == [1]
    assert [ln["line_no"] for ln in view["unmatched_lines"]] == [2]
    again = client.post(f"{stmt}/matches", headers=finance_user, json={
        "line_no": 2, "settlement_id": sid, "payment_id": ali["payment_id"],
        "reason": "same customer"})
    assert again.status_code == 409  # that payment is already matched


def test_a_match_by_hand_refuses_money_out_and_another_stores_statement(
        client: TestClient, auth: Auth, store_id: str) -> None:
    """A reason lets a line and a payment that differ in reference or amount be matched, but no
    reason makes a line of money going out pay a bill, or one store's statement reconcile
    another store's payment; a refused match stores nothing."""
    cashier = auth("cashier", "cash-" + store_id, [store_id])
    wo_id, sid = confirmed_settlement(client, auth, store_id)
    post(client, "/payments", cashier, {"work_order_id": wo_id, "method": "cash",
                                        "amount": "300.00", "tendered": "300.00"}, 201)
    card = post(client, "/payments", cashier, {"work_order_id": wo_id, "method": "bank_card",
                                               "amount": "600.00", "provider_ref": "POS-31"}, 201)
    other = "T" + uuid.uuid4().hex[:6].upper()
    finance_user = auth("finance", "fin-" + store_id, [store_id, other])
    day = datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
    rows = (f"date,amount,reference,counterparty\n{day},300.00,CASH?,王伟\n"
            f"{day},-600.00,RF-1,王伟\n{day},598.00,POS-31X,王伟\n")
    stmt = post(client, "/reconciliation/statements", finance_user, {
        "store_id": store_id, "source": "bank", "csv": rows}, 201)
    foreign = post(client, "/reconciliation/statements", finance_user, {
        "store_id": other, "source": "bank", "csv": rows}, 201)
    tries = {
        "money out": (stmt, 2, card["payment_id"]),
        "another store": (foreign, 3, card["payment_id"])}
    for what, (statement, line_no, payment_id) in tries.items():
        refused = client.post(f"/reconciliation/statements/{statement['id']}/matches",
                              headers=finance_user, json={
                                  "line_no": line_no, "settlement_id": sid,
                                  "payment_id": payment_id, "reason": "same customer"})
        assert refused.status_code == 422, (what, refused.text)
        assert refused.headers["content-type"] == "application/problem+json"
    for statement in (stmt, foreign):
        view = get(client, f"/reconciliation/statements/{statement['id']}", finance_user,
                   wait_for=foreign["notification_id"])
        assert view["matched"] == []
    # The card payment, 2.00 short on the statement (the acquirer's fee), is matched by hand.
    matched = post(client, f"/reconciliation/statements/{stmt['id']}/matches", finance_user, {
        "line_no": 3, "settlement_id": sid, "payment_id": card["payment_id"],
        "reason": "acquirer fee deducted"})
    view = get(client, f"/reconciliation/statements/{stmt['id']}", finance_user,
               wait_for=matched["notification_id"])
    assert [(m["line_no"], m["payment_id"]) for m in view["matched"]] == [
        (3, card["payment_id"])]


def test_drafting_the_same_bills_again_keeps_the_discounts_given(
        client: TestClient, auth: Auth, store_id: str) -> None:
    """A second POST /settlements for an unchanged work order (a second desk, a double click)
    leaves the draft as it is: the discount a cashier gave on it stays, nothing is stored."""
    cashier = auth("cashier", "cash-" + store_id, [store_id])
    _, wo_id = ready_for_settlement(client, auth, store_id)
    drafted = post(client, "/settlements", cashier, {"work_order_id": wo_id}, 201)
    sid = drafted["id"]
    total = Decimal(drafted["bills"]["customer"]["total"])
    given = post(client, f"/settlements/{sid}/discounts", cashier, {
        "bill": "customer", "line_id": "L1", "amount": "30.00", "reason": "loyal customer"})
    again = post(client, "/settlements", cashier, {"work_order_id": wo_id}, 201)
    assert again["version"] == given["version"]
    assert again["bills"]["customer"]["total"] == str(total - Decimal("30.00"))
    view = get(client, f"/settlements/{sid}", cashier, wait_for=given["notification_id"])
    assert [d["amount"] for d in view["bills"]["customer"]["discounts"]] == ["30.00"]
    confirmed = post(client, f"/settlements/{sid}/confirmation", cashier)
    assert confirmed["bills"]["customer"]["total"] == str(total - Decimal("30.00"))


def test_every_discount_says_why(client: TestClient, auth: Auth, store_id: str) -> None:
    """An auditor asks of each discount why it was given: the cashier's small one too. Without
    a reason (or a blank one) it is 422 and the draft stays as it was."""
    cashier = auth("cashier", "cash-" + store_id, [store_id])
    _, wo_id = ready_for_settlement(client, auth, store_id)
    drafted = post(client, "/settlements", cashier, {"work_order_id": wo_id}, 201)
    sid = drafted["id"]
    for body in ({"amount": "20.00"}, {"amount": "20.00", "reason": "  "}):
        refused = client.post(f"/settlements/{sid}/discounts", headers=cashier, json=body)
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
    given = post(client, f"/settlements/{sid}/discounts", cashier,
                 {"amount": "20.00", "reason": "member's service discount"})
    assert given["version"] == drafted["version"] + 1  # the refused ones stored nothing
    history = get(client, f"/settlements/{sid}/history", cashier)
    discounts = [e for e in history["items"] if e["event"] == "Settlement.DiscountGiven"]
    assert [e["reason"] for e in discounts] == ["member's service discount"]


def test_a_payment_after_settlement_says_the_visit_is_settled(
        client: TestClient, auth: Auth, store_id: str) -> None:
    """The OEM pays the warranty bill after the customer settled the visit: the payment's
    answer says `settled` as its `status` does, not false beside "status": "settled"."""
    cashier = auth("cashier", "cash-" + store_id, [store_id])
    wo_id, sid = confirmed_settlement(client, auth, store_id, warranty_labor=True)
    view = get(client, f"/settlements/{sid}", cashier, wait_for=head(client))
    owed = {b["kind"]: b["outstanding"] for b in view["bill_status"]}
    customer = post(client, "/payments", cashier, {
        "work_order_id": wo_id, "method": "bank_card", "amount": owed["customer"],
        "provider_ref": "POS-41"}, 201)
    assert (customer["status"], customer["settled"]) == ("settled", True)
    oem = post(client, "/payments", cashier, {
        "work_order_id": wo_id, "bill": "warranty", "method": "bank_transfer",
        "amount": owed["warranty"], "provider_ref": "OEM-2026-41"}, 201)
    assert (oem["status"], oem["settled"]) == ("settled", True)
    assert oem["bills"]["warranty"]["outstanding"] == "0.00"


def test_a_closed_day_says_what_to_do_for_a_payment_a_refund_and_a_second_close(
        client: TestClient, auth: Auth, store_id: str) -> None:
    """Each refusal on a closed cashier day gives the advice that fits it: a correction for a
    payment, but not for a refund asked for after the close, nor for closing the day again."""
    cashier = auth("cashier", "cash-" + store_id, [store_id])
    manager = auth("manager", "mgr-" + store_id, [store_id])
    wo_id, _ = confirmed_settlement(client, auth, store_id)
    paid = post(client, "/payments", cashier, {"work_order_id": wo_id, "method": "bank_card",
                                               "amount": "100.00", "provider_ref": "POS-7"}, 201)
    day = {"store_id": store_id, "counted_cash": "0.00"}
    closed = post(client, "/day-end", cashier, day)
    asked = post(client, "/refunds", cashier, {"work_order_id": wo_id, "amount": "10.00",
                                               "payment_id": paid["payment_id"],
                                               "reason": "goodwill"}, 201)
    refusals = {
        "payment": client.post("/payments", headers=cashier, json={
            "work_order_id": wo_id, "method": "bank_card", "amount": "1.00",
            "provider_ref": "POS-8"}),
        "refund": client.post(f"/refunds/{asked['refund_id']}/decision", headers=manager,
                              json={"work_order_id": wo_id, "approve": True}),
        "close": client.post("/day-end", headers=cashier, json=day)}
    problems = {what: answer.json() for what, answer in refusals.items()}
    assert {what: answer.status_code for what, answer in refusals.items()} == dict.fromkeys(
        refusals, 409), problems
    assert all(p["code"] == "DayClosed" and p["closed_day"] == closed["business_date"]
               for p in problems.values())
    assert "correction_of=" in problems["payment"]["detail"]
    # The closed day is today's: a correction names an earlier day, so it is not "today"'s
    # to record (that is refused), but another cashier's or the next business day's.
    assert "today with correction_of" not in problems["payment"]["detail"]
    assert "another cashier" in problems["payment"]["detail"]
    same_day = client.post("/payments", headers=cashier, json={
        "work_order_id": wo_id, "method": "bank_card", "amount": "1.00", "provider_ref": "POS-9",
        "correction_of": closed["business_date"]})
    assert same_day.status_code == 422
    future = client.post("/day-end", headers=cashier, json={**day, "business_date": "2999-01-01"})
    assert future.status_code == 422
    assert future.json()["detail"] == "a day-end close cannot be dated in the future"
    assert "correction_of" not in problems["refund"]["detail"]
    assert "refund" in problems["refund"]["detail"]
    assert "correction_of" not in problems["close"]["detail"]
    assert "closed once" in problems["close"]["detail"]


def test_reversal_returns_the_work_order_and_numbers_stay_gap_free(
        client: TestClient, auth: Auth, store_id: str) -> None:
    cashier = auth("cashier", "cash-" + store_id, [store_id])
    manager = auth("manager", "mgr-" + store_id, [store_id])
    wo, wo_id = ready_for_settlement(client, auth, store_id)
    sid = post(client, "/settlements", cashier, {"work_order_id": wo_id}, 201)["id"]
    first = post(client, f"/settlements/{sid}/confirmation", cashier)["number"]
    post(client, "/payments", cashier, {"work_order_id": wo_id, "method": "bank_card",
                                        "amount": "900.00", "provider_ref": "POS-1"}, 201)
    assert client.post(f"/settlements/{sid}/reversal", headers=cashier,
                       json={"reason": "wrong pay type"}).status_code == 403
    reversed_ = post(client, f"/settlements/{sid}/reversal", manager,
                     {"reason": "the pads were a warranty part"})
    assert reversed_["reversed"] == first and reversed_["status"] == "open"
    doc = get(client, wo, manager, wait_for=reversed_["notification_id"])
    assert doc["status"] == "ready_for_settlement"
    post(client, "/settlements", cashier, {"work_order_id": wo_id}, 201)
    second = post(client, f"/settlements/{sid}/confirmation", cashier)
    assert second["number"] == first[:-6] + f"{int(first[-6:]) + 1:06d}"
    assert second["settled"] is True  # the card payment still covers the bill
    month = datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")
    balance = get(client, "/ledger/trial-balance", manager, month=month,
                  wait_for=second["notification_id"])
    assert balance["balanced"] is True


NUMBER = re.compile(r"-?\d+(\.\d+)?")
CENTS = re.compile(r"-?\d+\.\d\d")
NOT_MONEY = ("qty", "vat_rate", "account")  # a quantity, a rate, an account of the chart


def odd_amounts(answer: Any, at: str = "") -> list[tuple[str, str]]:
    """Where an answer shows a number (as a string: money is never a JSON number) with other
    than two decimals, outside the few numbers that are not money."""
    if isinstance(answer, dict):
        return [odd for key, value in answer.items() if key not in NOT_MONEY
                for odd in odd_amounts(value, f"{at}.{key}")]
    if isinstance(answer, list):
        return [odd for n, item in enumerate(answer) for odd in odd_amounts(item, f"{at}[{n}]")]
    if isinstance(answer, str) and NUMBER.fullmatch(answer) and not CENTS.fullmatch(answer):
        return [(at, answer)]
    return []


def test_every_amount_the_finance_views_show_has_two_decimals(
        client: TestClient, auth: Auth, container: Container, store_id: str) -> None:
    cashier = auth("cashier", "cash-" + store_id, [store_id])
    finance_user = auth("finance", "fin-" + store_id, [store_id])
    # A free warranty line (0.00 an hour) beside the customer's 900.00.
    _, wo_id = ready_for_settlement(client, auth, store_id, warranty_labor=True,
                                    warranty_rate="0.00")
    sid = post(client, "/settlements", cashier, {"work_order_id": wo_id}, 201)["id"]
    draft = get(client, f"/settlements/{sid}", cashier, wait_for=head(client))
    # Nothing paid yet: a sum of no payments.
    assert [b["paid"] for b in draft["bill_status"]] == ["0.00", "0.00"]
    post(client, f"/settlements/{sid}/confirmation", cashier)
    # Paid in full by card: no cash moved in the cashier's day, nothing refunded, nothing owed.
    paid = post(client, "/payments", cashier, {"work_order_id": wo_id, "method": "bank_card",
                                               "amount": "900.00", "provider_ref": "POS-0"}, 201)
    assert paid["settled"] is True
    at = paid["notification_id"]
    now = datetime.now(ZoneInfo("Asia/Shanghai"))
    month, day = now.strftime("%Y-%m"), now.date().isoformat()
    answers = {
        "settlement": get(client, f"/settlements/{sid}", cashier, wait_for=at),
        "settlements": get(client, "/settlements", cashier),
        "payments": get(client, "/payments", finance_user),
        "day-end": get(client, f"/day-end/{day}", finance_user),
        "receivables": get(client, "/receivables", finance_user),
        "ledger": get(client, "/ledger", finance_user, month=month),
        "trial balance": get(client, "/ledger/trial-balance", finance_user, month=month),
        "empty month": get(client, "/ledger/trial-balance", finance_user, month="2001-01"),
        "gross profit": get(client, "/ledger/gross-profit", finance_user),
        "by vehicle": get(client, "/ledger/gross-profit", finance_user, by="vehicle"),
    }
    # The customer's file shows the visit's bill and what was given back of it the same way.
    customer_id = get(client, f"/work-orders/{wo_id}", cashier)["customer"]["id"]
    answers["customer's visits"] = get(client, f"/customers/{customer_id}", cashier,
                                       wait_for=at)["visits"]
    assert [(v["customer_total"], v["refunded"]) for v in answers["customer's visits"][
        "items"] if v["work_order_id"] == wo_id] == [("900.00", "0.00")]
    assert {name: odd_amounts(answer) for name, answer in answers.items()} == {
        name: [] for name in answers}
    settlement = answers["settlement"]
    assert settlement["bills"]["warranty"]["total"] == "0.00"
    assert [(b["kind"], b["outstanding"]) for b in settlement["bill_status"]] == [
        ("customer", "0.00"), ("warranty", "0.00")]
    assert [p["refunded"] for p in settlement["payments"]] == ["0.00"]
    assert answers["day-end"]["cashier_days"][0]["expected_cash"] == "0.00"
    assert (answers["empty month"]["debit"], answers["empty month"]["credit"]) == ("0.00", "0.00")
    # Rows written before amounts were checked at the edge are shown the same way. The rows
    # are put back afterwards: the session's database is shared, and a rebuild of the finance
    # view (tests/integration/test_money_projection.py) compares every row with the live ones.
    with container.pool.connection() as conn:
        kept = conn.execute("SELECT revenue, bills FROM settlements WHERE id = %s",
                            (sid,)).fetchone()
        paid_rows = conn.execute("SELECT amount, refunded FROM payments WHERE settlement_id = %s",
                                 (sid,)).fetchall()
        assert kept is not None and len(paid_rows) == 1
        conn.execute("""UPDATE settlements SET revenue = 796.5, bills = jsonb_set(bills,
                        '{customer,total}', '"900"') WHERE id = %s""", (sid,))
        conn.execute("UPDATE payments SET amount = 900, refunded = 0.000 WHERE settlement_id "
                     "= %s", (sid,))
    try:
        again = get(client, f"/settlements/{sid}", cashier)
        assert (again["revenue"], again["bills"]["customer"]["total"],
                again["payments"][0]["amount"], again["payments"][0]["refunded"]) == (
            "796.50", "900.00", "900.00", "0.00")
    finally:
        with container.pool.connection() as conn:
            conn.execute("UPDATE settlements SET revenue = %s, bills = %s WHERE id = %s",
                         (kept[0], Jsonb(kept[1]), sid))
            conn.execute("UPDATE payments SET amount = %s, refunded = %s WHERE settlement_id = %s",
                         (*paid_rows[0], sid))


def test_a_goodwill_credit_after_settlement_leaves_nothing_owed(
        client: TestClient, auth: Auth, store_id: str) -> None:
    cashier = auth("cashier", "cash-" + store_id, [store_id])
    manager = auth("manager", "mgr-" + store_id, [store_id])
    finance_user = auth("finance", "fin-" + store_id, [store_id])
    wo_id, sid = confirmed_settlement(client, auth, store_id)
    # The customer pays the 900.00 in cash; the visit is settled.
    cash = post(client, "/payments", cashier, {"work_order_id": wo_id, "method": "cash",
                                               "amount": "900.00"}, 201)
    assert cash["settled"] is True
    before = get(client, "/ledger/gross-profit", finance_user, wait_for=cash["notification_id"])
    revenue = Decimal(next(r["revenue"] for r in before["items"] if r["work_order_id"] == wo_id))
    # The car waited too long: the manager grants 50.00 back as a price allowance.
    asked = post(client, "/refunds", cashier, {
        "work_order_id": wo_id, "payment_id": cash["payment_id"], "amount": "50.00",
        "reason": "goodwill: waiting time", "kind": "credit"}, 201)
    assert asked["kind"] == "credit" and asked["refund_status"] == "requested"
    decided = post(client, f"/refunds/{asked['refund_id']}/decision", manager,
                   {"work_order_id": wo_id, "approve": True})
    at = decided["notification_id"]
    # The bill asks 850.00 now, all of it paid: nothing outstanding, nothing receivable.
    detail = get(client, f"/settlements/{sid}", cashier, wait_for=at)
    assert [(b["kind"], b["total"], b["allowances"], b["paid"], b["outstanding"])
            for b in detail["bill_status"]] == [("customer", "900.00", "50.00", "850.00",
                                                 "0.00")]
    assert [(r["kind"], r["status"], r["red_invoice_number"]) for r in detail["refunds"]] == [
        ("credit", "approved", None)]
    assert get(client, "/receivables", finance_user)["items"] == []
    # As of now, the replayed settlement says the same.
    as_of = get(client, f"/settlements/{sid}", cashier,
                as_of=datetime.now(ZoneInfo("Asia/Shanghai")).isoformat())
    assert [(b["allowances"], b["outstanding"]) for b in as_of["bill_status"]] == [
        ("50.00", "0.00")]
    assert as_of["revenue"] == detail["revenue"]
    # The ledger: a sales allowance of 44.25 and its output VAT of 5.75 (13 %), cash out 50.00.
    month = datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")
    posted = [(row["account"], row["debit"], row["credit"]) for row in get(
        client, "/ledger", finance_user, month=month)["items"]
        if row["memo"].startswith(f"credit {asked['refund_id']}")]
    assert posted == [("6003", "44.25", "0.00"), ("2221", "5.75", "0.00"),
                      ("1001", "0.00", "50.00")]
    balance = get(client, "/ledger/trial-balance", finance_user, month=month)
    assert balance["balanced"] is True
    accounts = {row["account"]: Decimal(row["balance"]) for row in balance["accounts"]}
    assert accounts["1122"] == 0 and accounts["6003"] == Decimal("44.25")
    # Gross profit counts the allowance; the cashier's day expects 50.00 less cash.
    after = get(client, "/ledger/gross-profit", finance_user)
    assert Decimal(next(r["revenue"] for r in after["items"]
                        if r["work_order_id"] == wo_id)) == revenue - Decimal("44.25")
    closed = post(client, "/day-end", cashier, {"store_id": store_id, "counted_cash": "850.00"})
    assert closed["expected_cash"] == "850.00" and closed["variance"] == "0.00"


def test_a_credit_is_refused_before_settlement_and_without_its_red_letter_invoice(
        client: TestClient, auth: Auth, store_id: str) -> None:
    cashier = auth("cashier", "cash-" + store_id, [store_id])
    manager = auth("manager", "mgr-" + store_id, [store_id])
    wo_id, sid = confirmed_settlement(client, auth, store_id)
    part = post(client, "/payments", cashier, {"work_order_id": wo_id, "method": "bank_card",
                                               "amount": "400.00", "provider_ref": "POS-1"}, 201)
    credit = {"work_order_id": wo_id, "payment_id": part["payment_id"], "amount": "50.00",
              "reason": "goodwill: waiting time", "kind": "credit"}
    # Not settled yet (500.00 still owed): a credit is for a settled bill.
    early = client.post("/refunds", headers=cashier, json=credit)
    assert early.status_code == 409 and "settled" in early.json()["detail"]
    rest = post(client, "/payments", cashier, {"work_order_id": wo_id, "method": "bank_card",
                                               "amount": "500.00", "provider_ref": "POS-2"}, 201)
    assert rest["settled"] is True
    # A kind that does not exist, and a red-letter invoice on a payment return: 422.
    assert client.post("/refunds", headers=cashier,
                       json={**credit, "kind": "discount"}).status_code == 422
    returned = client.post("/refunds", headers=cashier, json={
        **credit, "kind": "payment_return", "red_invoice_number": "RED-1"})
    assert returned.status_code == 422
    # Without a tax invoice recorded there is none to write off: a red number is refused.
    unknown = client.post("/refunds", headers=cashier,
                          json={**credit, "red_invoice_number": "RED-1"})
    assert unknown.status_code == 422 and "no tax invoice" in unknown.json()["detail"]
    # Once the bill is invoiced, a credit needs the red-letter invoice's number.
    post(client, f"/settlements/{sid}/invoice", cashier, {"invoice_no": "31000012345678"})
    bare = client.post("/refunds", headers=cashier, json=credit)
    assert bare.status_code == 422 and "red_invoice_number" in bare.json()["detail"]
    asked = post(client, "/refunds", cashier, {**credit, "red_invoice_number": "RED-1"}, 201)
    decided = post(client, f"/refunds/{asked['refund_id']}/decision", manager,
                   {"work_order_id": wo_id, "approve": True})
    detail = get(client, f"/settlements/{sid}", cashier, wait_for=decided["notification_id"])
    assert [(r["kind"], r["red_invoice_number"], r["status"]) for r in detail["refunds"]] == [
        ("credit", "RED-1", "approved")]
    assert [(b["allowances"], b["outstanding"]) for b in detail["bill_status"]] == [
        ("50.00", "0.00")]
    # Never more than what was paid by that payment, less what it gave back already.
    over = client.post("/refunds", headers=cashier, json={
        **credit, "amount": "350.01", "red_invoice_number": "RED-2"})
    assert over.status_code == 409 and over.json()["refundable"] == "350.00"


def test_a_deposit_above_the_approved_estimate_is_refused_with_the_limit(
        client: TestClient, auth: Auth, store_id: str) -> None:
    cashier = auth("cashier", "cash-" + store_id, [store_id])
    _, wo_id = ready_for_settlement(client, auth, store_id)
    # The estimate approved is 1.5 h x 300.00 + the part at its list price.
    view = get(client, f"/work-orders/{wo_id}", cashier, wait_for=head(client))
    assert view["totals_basis"] == "estimate"
    estimate = view["totals"]["customer"]["total"]
    # A mistyped deposit before the bill exists is refused: nothing reaches the cashier's day.
    typo = client.post("/payments", headers=cashier, json={
        "work_order_id": wo_id, "method": "cash", "amount": "99999.00"})
    assert typo.status_code == 422 and typo.headers["content-type"] == "application/problem+json"
    problem = typo.json()
    assert (problem["limit"], problem["basis"], problem["held"]) == (
        estimate, "approved_estimate", "0.00")
    assert f"approved estimate of {estimate}" in problem["detail"]
    # The estimate itself is taken.
    paid = post(client, "/payments", cashier, {"work_order_id": wo_id, "method": "cash",
                                               "amount": estimate}, 201)
    assert paid["deposits"] == estimate


def test_receivables_per_oem_list_every_open_bill_with_its_vin(
        client: TestClient, auth: Auth, store_id: str) -> None:
    cashier = auth("cashier", "cash-" + store_id, [store_id])
    finance_user = auth("finance", "fin-" + store_id, [store_id])
    # Two cars of the same make, each with a warranty line the OEM has not paid yet.
    vins = sorted([new_vin(), new_vin()])
    numbers = []
    for vin in vins:
        _, wo_id = ready_for_settlement(client, auth, store_id, warranty_labor=True, vin=vin)
        sid = post(client, "/settlements", cashier, {"work_order_id": wo_id}, 201)["id"]
        confirmed = post(client, f"/settlements/{sid}/confirmation", cashier)
        numbers.append(confirmed["number"])
        paid = post(client, "/payments", cashier, {
            "work_order_id": wo_id, "method": "cash",
            "amount": confirmed["bills"]["customer"]["outstanding"]}, 201)
        assert paid["settled"] is True
    owed = get(client, "/receivables", finance_user, kind="warranty",
               wait_for=paid["notification_id"])
    [oem] = owed["items"]
    # The group names the OEM alone, not the first bill's VIN, and lists both bills.
    assert oem["payer"] == {"oem": "Volkswagen"}
    assert (oem["bills"], oem["outstanding"]) == (2, "300.00")
    assert [(b["settlement_number"], b["vin"], b["claim_number"], b["billed"], b["paid"],
             b["outstanding"]) for b in oem["open_bills"]] == [
        (numbers[0], vins[0], None, "150.00", "0.00", "150.00"),
        (numbers[1], vins[1], None, "150.00", "0.00", "150.00")]
