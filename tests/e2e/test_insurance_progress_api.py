"""An insurance repair as the customer and the front desk read it: under the insurer's
assessment the progress page shows what the customer owes of the insurance lines (the
deductible and the excess, per line as the bills split them, or as a total while a part is
not issued), and the work order shows the assessment."""

from __future__ import annotations

import copy
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient

from projections.progress_page import public_view
from projections.work_order_doc_settlement import refresh_totals
from tests.e2e.test_insurance_bill_api import PICC, body_shop_visit
from tests.e2e.test_parts_api import Auth, get, head, post
from tests.e2e.test_progress_page import HTML, page_path, share


def test_the_progress_page_shows_the_customers_share_under_the_assessment(
        client: TestClient, auth: Auth, store_id: str) -> None:
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    cashier = auth("cashier", "cash-" + store_id, [store_id])
    wo_id = body_shop_visit(client, auth, store_id)
    page = page_path(share(client, advisor, wo_id)) + ".json"
    before = get(client, f"/work-orders/{wo_id}", advisor, wait_for=head(client))
    # Without an assessment the insurer covers its lines whole: the customer owes the wash.
    shown = get(client, page, {}, wait_for=head(client))
    assert [(ln["line_id"], ln["customer_share"]) for ln in shown["approved"]] == [
        ("L1", "100.00"), ("L2", "0.00"), ("L3", "0.00")]
    assert shown["approved_total"] == "100.00" and shown["insurance"] is None
    assert "insurance_assessment" not in before

    # The insurer approves 900.00 of the 1,050.00 of insurance work, deductible 200.00.
    assessed = post(client, f"/work-orders/{wo_id}/insurance-assessment", advisor, {
        **PICC, "approved_amount": "900.00", "deductible": "200.00"})
    shown = get(client, page, {}, wait_for=assessed["notification_id"])
    drafted = post(client, "/settlements", cashier, {"work_order_id": wo_id}, 201)
    bills = get(client, f"/settlements/{drafted['id']}", cashier,
                wait_for=drafted["notification_id"])["bills"]
    customer_bill = bills["customer"]
    by_bills = {ln["line_id"]: ln["gross"] for ln in customer_bill["lines"]
                if ln.get("deductible_of") == "insurance"}
    # Each insurance line shows the customer's part of it as the bills split it, to the fen.
    assert {ln["line_id"]: ln["customer_share"] for ln in shown["approved"]
            if ln["pay_type"] == "insurance"} == by_bills
    assert sorted(by_bills) == ["L2", "L3"]
    for line in shown["approved"]:
        assert float(line["customer_share"]) + float(line["covered_share"]) == \
            float(line["price"])
    assert shown["approved_total"] == customer_bill["total"] == "450.00"
    assert shown["covered"] == {"insurance": bills["insurance"]["total"]} == {
        "insurance": "700.00"}
    assert shown["insurance"] == {**PICC, "approved_amount": "900.00", "deductible": "200.00",
                                  "excess": "150.00", "total": "350.00", "by_line": True}
    html = client.get(page_path(share(client, advisor, wo_id)), headers=HTML).text
    assert PICC["claim_number"] in html and "免赔额" in html and "¥350.00" in html
    assert "¥150.00" in html and "¥450.00" in html

    # The front desk's work order shows the assessment; its version (the ETag) is the work
    # order's own, the settlement's event does not move it.
    doc = get(client, f"/work-orders/{wo_id}", advisor, wait_for=assessed["notification_id"])
    assert doc["insurance_assessment"] == {**PICC, "report_number": None,
                                           "approved_amount": "900.00", "deductible": "200.00",
                                           "master_insurer": None}  # no insurer has the name
    assert doc["version"] == before["version"]
    # The work-order list splits its totals the same way: the customer's total is the
    # customer bill's, the insurer's its bill's, the deductible and excess named.
    listed = get(client, f"/work-orders?number={doc['number']}", advisor,
                 wait_for=assessed["notification_id"])["items"]
    totals = listed[0]["totals"]
    assert (totals["customer"]["total"], totals["insurance"]["total"]) == (
        customer_bill["total"], bills["insurance"]["total"]) == ("450.00", "700.00")
    assert (totals["customer"]["insurance_share"], totals["insurance"]["deductible"],
            totals["insurance"]["excess"]) == ("350.00", "200.00", "150.00")
    unassessed = {"customer": before["totals"]["customer"]["total"],
                  "insurance": before["totals"]["insurance"]["total"]}
    assert unassessed == {"customer": "100.00", "insurance": "1050.00"}

    # While an approved insurance part is not issued (so nothing is drafted yet) the bills
    # cannot split per line: the page shows the share of the approved estimate as a total.
    unissued = copy.deepcopy(doc)
    next(ln for ln in unissued["lines"] if ln["line_id"] == "L3")["issued_qty"] = "0"
    unissued["bills"] = None
    refresh_totals(unissued)
    view = public_view(unissued, ZoneInfo("Asia/Shanghai"))
    assert view["insurance"]["total"] == "350.00" and view["insurance"]["by_line"] is False
    assert [(ln["line_id"], ln["customer_share"]) for ln in view["approved"]] == [
        ("L1", "100.00"), ("L2", None), ("L3", None)]
    assert view["approved_total"] == "450.00"
