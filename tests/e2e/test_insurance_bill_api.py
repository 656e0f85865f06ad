"""An insurance repair over HTTP, the shop settling with the insurer directly: the insurer's
assessment on the work order, the insurer's bill capped at what it approved less the
deductible, the customer's bill with the deductible, the excess and their own lines, a
supplementary assessment redrafting the draft, and the ledger balancing to the fen."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient

from tests.e2e.test_money_api import worked_and_passed
from tests.e2e.test_parts_api import Auth, get, post, received_part, store_staff

PICC = {"insurer": "中国人保 PICC", "claim_number": "PICC-2026-0012345"}


def body_shop_visit(client: TestClient, auth: Auth, store_id: str,
                    vin: str = "LSVAU218XN2183294") -> str:
    """A customer's wash (L1 0.5 h at 200.00 = 100.00), the insurer's bumper repair (L2 2 h at
    300.00 = 600.00) and the insurer's bumper part (L3 450.00, cost 200.00), QC passed.
    Returns the work order's id."""
    clerk, advisor, manager, tech = store_staff(auth, store_id)
    number = received_part(client, clerk, store_id, 2)
    opened = post(client, "/work-orders", advisor, {
        "store_id": store_id, "customer": {"name": "王伟", "phone": "13800000004"},
        "vehicle": {"vin": vin, "plate": "沪D12345", "brand": "Volkswagen"},
        "mileage": 30000, "kind": "insurance", "complaints": ["rear bumper cracked"]}, 201)
    wo = f"/work-orders/{opened['id']}"
    post(client, f"{wo}/check-in", advisor, {"mileage_in": 30010, "fuel_level": 50})
    lines = [
        post(client, f"{wo}/jobs/1/labor-lines", advisor, {
            "op_code": "WASH", "description": "wash", "hours": "0.5",
            "hourly_rate": "200.00"})["line_id"],
        post(client, f"{wo}/jobs/1/labor-lines", advisor, {
            "op_code": "BODY01", "description": "repair rear bumper", "hours": "2",
            "hourly_rate": "300.00", "pay_type": "insurance"})["line_id"],
        post(client, f"{wo}/jobs/1/part-lines", advisor, {
            "part_number": number, "qty": 1, "pay_type": "insurance"})["line_id"]]
    for line in lines:
        post(client, f"{wo}/lines/{line}/authorization", advisor,
             {"decision": "approved", "channel": "in_person"})
    worked_and_passed(client, wo, store_id, clerk, manager, tech, issued=lines[2])
    return str(opened["id"])


def amounts(bill: dict[str, Any]) -> list[tuple[str, str]]:
    return [(ln["line_id"], ln["gross"]) for ln in bill["lines"]]


def test_the_insurer_pays_what_it_approved_less_the_deductible_the_customer_the_rest(
        client: TestClient, auth: Auth, store_id: str) -> None:
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    cashier = auth("cashier", "cash-" + store_id, [store_id])
    manager = auth("manager", "mgr-" + store_id, [store_id])
    wo_id = body_shop_visit(client, auth, store_id)
    url = f"/work-orders/{wo_id}/insurance-assessment"
    # The insurer's assessor approved 900.00 of the 1,050.00 of insurance work; the policy's
    # deductible is 200.00. The advisor records it on the work order.
    assessed = post(client, url, advisor, {**PICC, "report_number": "RPT-88",
                                           "approved_amount": "900.00",
                                           "deductible": "200.00"})
    assert assessed["assessment"] == {**PICC, "report_number": "RPT-88",
                                      "approved_amount": "900.00", "deductible": "200.00"}
    assert assessed["status"] == "open" and assessed["redrafted"] is False
    # The cashier drafts: no insurer to type again, the assessment names it.
    drafted = post(client, "/settlements", cashier, {"work_order_id": wo_id}, 201)
    sid = drafted["id"]
    assert drafted["bills"]["insurance"]["total"] == "700.00"   # 900.00 − 200.00
    assert drafted["bills"]["customer"]["total"] == "450.00"    # 100.00 + 200.00 + 150.00
    # A change without a reason is refused, and nothing is stored.
    bare = client.post(url, headers=advisor, json={**PICC, "approved_amount": "1050.00",
                                                   "deductible": "200.00"})
    assert bare.status_code == 422 and "reason" in bare.json()["detail"]
    assert bare.headers["content-type"].startswith("application/problem+json")
    # The supplementary assessment (追加定损) approves everything: the draft follows at once.
    again = post(client, url, advisor, {**PICC, "approved_amount": "1050.00",
                                        "deductible": "200.00",
                                        "reason": "supplementary assessment"})
    assert again["redrafted"] is True and again["version"] == drafted["version"] + 2
    assert again["discounts_dropped"] == {}  # none was given on the old draft
    assert again["bills"]["insurance"]["total"] == "850.00"
    assert again["bills"]["customer"]["total"] == "300.00"
    # Another claim on the draft than the assessment's is a mistake.
    other = client.post("/settlements", headers=cashier, json={
        "work_order_id": wo_id, "insurance": {**PICC, "claim_number": "PICC-OTHER"}})
    assert other.status_code == 422 and other.json()["assessed"] == PICC

    # The deductible is the customer's to pay; the cashier may still give 10.00 off it.
    post(client, f"/settlements/{sid}/discounts", cashier, {
        "line_id": "L2", "amount": "10.00", "reason": "member's discount"})
    confirmed = post(client, f"/settlements/{sid}/confirmation", cashier)
    late = client.post(url, headers=advisor, json={**PICC, "approved_amount": "800.00",
                                                   "reason": "insurer lowered it"})
    assert late.status_code == 409 and "reverse" in late.json()["detail"]
    # The customer pays their bill; the visit is settled; the insurer owes its bill.
    paid = post(client, "/payments", cashier, {"work_order_id": wo_id, "method": "cash",
                                               "amount": "290.00", "tendered": "300.00"}, 201)
    assert paid["settled"] is True and confirmed["bills"]["insurance"]["outstanding"] == "850.00"
    # The settlement view shows the split and the claim on both bills.
    detail = get(client, f"/settlements/{sid}", cashier, wait_for=paid["notification_id"])
    insurance, customer = detail["bills"]["insurance"], detail["bills"]["customer"]
    assert insurance["payer"] == PICC
    assert insurance["assessment"] == {"approved_amount": "1050.00", "deductible": "200.00",
                                       "excess": "0.00", "report_number": None}
    assert customer["insurance_share"] == {**PICC, "deductible": "200.00", "excess": "0.00"}
    assert detail["insurance_assessment"] == {**PICC, "report_number": None,
                                              "approved_amount": "1050.00",
                                              "deductible": "200.00"}
    # The auditor's replay of the settlement shows the same.
    replayed = get(client, f"/settlements/{sid}", cashier, as_of=datetime.now(UTC).isoformat())
    assert {k: replayed[k] for k in detail} == detail
    assert amounts(insurance) == [("L2", "485.71"), ("L3", "364.29")]
    assert amounts(customer) == [("L1", "100.00"), ("L2", "114.29"), ("L3", "85.71")]
    assert (customer["lines"][1]["net"], customer["lines"][1]["insurance_deductible"],
            customer["total"]) == ("104.29", "114.29", "290.00")
    assert [ln.get("deductible_of") for ln in customer["lines"]] == [None, "insurance",
                                                                     "insurance"]
    for bill in (insurance, customer):
        assert Decimal(bill["vat"]) == sum(Decimal(ln["vat"]) for ln in bill["lines"])
    status = {b["kind"]: b for b in detail["bill_status"]}
    assert (status["insurance"]["outstanding"], status["customer"]["outstanding"]) == (
        "850.00", "0.00")
    # The insurer remits; the ledger balances and the receivables are cleared.
    remitted = post(client, "/payments", cashier, {
        "work_order_id": wo_id, "bill": "insurance", "method": "bank_transfer",
        "amount": "850.00", "provider_ref": "PICC-REMIT-" + store_id}, 201)
    month = datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")
    finance = auth("finance", "fin-" + store_id, [store_id])
    balance = get(client, "/ledger/trial-balance", finance, month=month,
                  wait_for=remitted["notification_id"])
    assert balance["balanced"] is True
    accounts = {row["account"]: Decimal(row["balance"]) for row in balance["accounts"]}
    assert accounts.get("1124", Decimal(0)) == 0 and accounts.get("1122", Decimal(0)) == 0
    # revenue and VAT add up to both bills: 1,150.00 of work less the 10.00 discount
    assert -(accounts["6001"] + accounts["6002"] + accounts["2221"]) == Decimal("1140.00")
    # A manager's reversal opens it to a new assessment again.
    post(client, f"/settlements/{sid}/reversal", manager, {"reason": "insurer lowered it"})
    lowered = post(client, url, advisor, {**PICC, "approved_amount": "800.00",
                                          "deductible": "200.00",
                                          "reason": "insurer lowered it"})
    assert lowered["status"] == "open" and lowered["assessment"]["approved_amount"] == "800.00"


def test_a_bad_assessment_is_refused_with_a_problem_and_stores_nothing(
        client: TestClient, auth: Auth, store_id: str) -> None:
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    technician = auth("technician", "tech-" + store_id, [store_id])
    wo_id = body_shop_visit(client, auth, store_id)
    url = f"/work-orders/{wo_id}/insurance-assessment"
    for body in ({**PICC, "approved_amount": "100.00", "deductible": "200.00"},
                 {**PICC, "approved_amount": "-1"},
                 {**PICC, "approved_amount": "1.001"},
                 {"insurer": "PICC", "approved_amount": "100.00"}):
        answer = client.post(url, headers=advisor, json=body)
        assert answer.status_code == 422, body
        assert answer.headers["content-type"].startswith("application/problem+json")
    assert client.post(url, headers=technician, json={
        **PICC, "approved_amount": "100.00"}).status_code == 403
    unknown = client.post("/work-orders/00000000-0000-4000-8000-00000000dead/"
                          "insurance-assessment", headers=advisor,
                          json={**PICC, "approved_amount": "100.00"})
    assert unknown.status_code == 404
    # Nothing was stored: the first real assessment opens the settlement stream, and the
    # settlement view shows it before any bill is drafted.
    first = post(client, url, advisor, {**PICC, "approved_amount": "900.00"})
    assert first["version"] == 2  # opened, assessed
    view = get(client, f"/settlements/{first['id']}", advisor,
               wait_for=first["notification_id"])
    assert (view["status"], view["bills"], view["insurance_assessment"]["approved_amount"]) == (
        "open", {}, "900.00")
