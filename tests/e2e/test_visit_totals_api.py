"""What each payer owes for an insurance repair, read everywhere the front desk and the
customer read it: the work order, the list, the progress page (JSON and HTML) and the
work order `as_of` agree with the settlement's bills to the fen — the estimate under the
insurer's assessment before a draft, the drafted bills with their discounts after, the
estimate again once the settlement is reversed."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient

from tests.e2e.test_insurance_bill_api import PICC, body_shop_visit
from tests.e2e.test_parts_api import Auth, get, post
from tests.e2e.test_progress_page import HTML, page_path, share


def owed(totals: dict[str, Any]) -> dict[str, str]:
    return {payer: figures["total"] for payer, figures in totals.items()}


def everywhere(client: TestClient, advisor: dict[str, str], wo_id: str, page: str,
               after: int) -> dict[str, Any]:
    """The totals as the work order, the list, the work order `as_of` now and the progress
    page show them, once the view has applied notification `after`."""
    doc = get(client, f"/work-orders/{wo_id}", advisor, wait_for=after)
    listed = get(client, f"/work-orders?number={doc['number']}", advisor)["items"][0]
    replayed = get(client, f"/work-orders/{wo_id}", advisor,
                   as_of=datetime.now(UTC).isoformat())
    shown = get(client, page + ".json", {})
    assert listed["totals"] == doc["totals"] == replayed["totals"]
    assert listed["totals_basis"] == doc["totals_basis"] == replayed["totals_basis"]
    assert shown["approved_total"] == doc["totals"].get("customer", {}).get("total", "0.00")
    return {"doc": doc, "shown": shown}


def test_every_read_of_the_visit_owes_what_the_bills_charge(
        client: TestClient, auth: Auth, store_id: str) -> None:
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    cashier = auth("cashier", "cash-" + store_id, [store_id])
    manager = auth("manager", "mgr-" + store_id, [store_id])
    wo_id = body_shop_visit(client, auth, store_id)
    page = page_path(share(client, advisor, wo_id))

    # The insurer approves 900.00 of the 1,050.00 of insurance work, deductible 200.00: before
    # any draft the work order itself (not only the list and the page) owes the estimate under
    # the assessment — the customer the wash, the deductible and the excess.
    assessed = post(client, f"/work-orders/{wo_id}/insurance-assessment", advisor, {
        **PICC, "approved_amount": "900.00", "deductible": "200.00"})
    seen = everywhere(client, advisor, wo_id, page, assessed["notification_id"])
    doc = seen["doc"]
    assert doc["totals_basis"] == "estimate" and doc.get("bills") is None
    assert owed(doc["totals"]) == {"customer": "450.00", "insurance": "700.00"}
    assert (doc["totals"]["customer"]["insurance_share"], doc["totals"]["insurance"]["excess"],
            doc["totals"]["insurance"]["deductible"]) == ("350.00", "150.00", "200.00")

    # The cashier drafts; a manager takes 45.00 off the customer bill and 20.00 off the
    # insurer's bumper repair. Every read owes what the bills now charge.
    drafted = post(client, "/settlements", cashier, {"work_order_id": wo_id}, 201)
    sid = drafted["id"]
    post(client, f"/settlements/{sid}/discounts", manager,
         {"amount": "45.00", "reason": "member's discount"})
    given = post(client, f"/settlements/{sid}/discounts", manager, {
        "bill": "insurance", "line_id": "L2", "amount": "20.00", "reason": "insurer's rate"})
    bills = get(client, f"/settlements/{sid}", cashier, wait_for=given["notification_id"])[
        "bills"]
    assert (bills["customer"]["total"], bills["insurance"]["total"]) == ("405.00", "680.00")
    seen = everywhere(client, advisor, wo_id, page, given["notification_id"])
    doc, shown = seen["doc"], seen["shown"]
    assert doc["totals_basis"] == "bills"
    for payer, figures in doc["totals"].items():
        bill = bills[payer]
        assert {k: figures[k] for k in ("labor", "parts", "vat", "total", "discount")} == {
            k: bill[k] for k in ("labor", "parts", "vat", "total", "discount")}, payer
    assert owed(doc["totals"]) == {"customer": "405.00", "insurance": "680.00"}
    assert doc["totals"]["customer"]["insurance_share"] == "350.00"
    assert shown["approved_total"] == "405.00"
    assert shown["covered"] == {"insurance": "680.00"}
    # Each line shows what the customer bill and the insurer's bill charge for it.
    per_line: dict[str, dict[str, str]] = {}
    for payer in ("customer", "insurance"):
        for line in bills[payer]["lines"]:
            per_line.setdefault(line["line_id"], {"customer": "0.00", "insurance": "0.00"})[
                payer] = line["net"]
    assert {ln["line_id"]: (ln["customer_share"], ln["covered_share"])
            for ln in shown["approved"]} == {
        key: (net["customer"], net["insurance"]) for key, net in per_line.items()}
    assert per_line["L1"] == {"customer": "90.00", "insurance": "0.00"}
    assert sum(float(ln["customer_share"]) for ln in shown["approved"]) == 405.00
    assert sum(float(ln["covered_share"]) for ln in shown["approved"]) == 680.00
    html = client.get(page, headers=HTML).text
    assert "¥405.00" in html
    # The wash (100.00, the customer's own line) shows what the bill charges for it after the
    # member's discount, as the insurance lines show the customer's part: the shares on the
    # page add up to the 405.00 it asks for.
    assert "Your share</span> ¥90.00" in html

    # Confirmed, then reversed by a manager: no bills, the estimate again.
    post(client, f"/settlements/{sid}/confirmation", cashier)
    reversed_ = post(client, f"/settlements/{sid}/reversal", manager,
                     {"reason": "insurer lowered it"})
    seen = everywhere(client, advisor, wo_id, page, reversed_["notification_id"])
    assert seen["doc"]["totals_basis"] == "estimate" and seen["doc"]["bills"] is None
    assert owed(seen["doc"]["totals"]) == {"customer": "450.00", "insurance": "700.00"}
    # As the work order stood while drafted, discounts given: the bills' totals.
    then = get(client, f"/work-orders/{wo_id}", advisor,
               as_of=get(client, f"/settlements/{sid}/history", cashier)["items"][-3][
                   "actor"]["at"])
    assert then["totals_basis"] == "bills"
    assert owed(then["totals"]) == {"customer": "405.00", "insurance": "680.00"}


def test_the_progress_page_shows_each_lines_discount_as_the_drafted_bills_give_it(
        client: TestClient, auth: Auth, store_id: str) -> None:
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    cashier = auth("cashier", "cash-" + store_id, [store_id])
    manager = auth("manager", "mgr-" + store_id, [store_id])
    wo_id = body_shop_visit(client, auth, store_id)
    page = page_path(share(client, advisor, wo_id))
    assessed = post(client, f"/work-orders/{wo_id}/insurance-assessment", advisor, {
        **PICC, "approved_amount": "900.00", "deductible": "200.00"})
    before = get(client, page + ".json", {}, wait_for=assessed["notification_id"])
    # before a draft no line has a discount to show
    assert {ln["line_id"]: ln["discount"] for ln in before["approved"]} == dict.fromkeys(
        (ln["line_id"] for ln in before["approved"]), None)

    # Drafted; 45.00 off the customer bill (spread over its lines) and 20.00 off the
    # insurer's bumper repair (L2).
    sid = post(client, "/settlements", cashier, {"work_order_id": wo_id}, 201)["id"]
    post(client, f"/settlements/{sid}/discounts", manager,
         {"amount": "45.00", "reason": "member's discount"})
    given = post(client, f"/settlements/{sid}/discounts", manager, {
        "bill": "insurance", "line_id": "L2", "amount": "20.00", "reason": "insurer's rate"})
    bills = get(client, f"/settlements/{sid}", cashier, wait_for=given["notification_id"])[
        "bills"]
    seen = everywhere(client, advisor, wo_id, page, given["notification_id"])
    doc, shown = seen["doc"], seen["shown"]

    # each approved line's discount is what the bills take off it, summed over the bills
    expected: dict[str, Decimal] = {}
    for bill in bills.values():
        for line in bill["lines"]:
            expected[line["line_id"]] = expected.get(line["line_id"], Decimal(0)) + Decimal(
                line["discount"])
    lines = {ln["line_id"]: ln for ln in shown["approved"]}
    assert {k: Decimal(ln["discount"]) for k, ln in lines.items()} == expected
    assert Decimal(lines["L2"]["discount"]) >= 20
    # the lines' discounts add up to the work order's totals' discounts, and each line's
    # price less its discount is what the customer's and the insurer's bills charge for it
    assert sum(expected.values()) == sum(
        Decimal(figures["discount"]) for figures in doc["totals"].values()) == Decimal("65.00")
    for ln in lines.values():
        assert Decimal(ln["price"]) - Decimal(ln["discount"]) == Decimal(
            ln["customer_share"]) + Decimal(ln["covered_share"]), ln["line_id"]
    html = client.get(page, headers=HTML).text
    assert f"Discount</span> -¥{lines['L2']['discount']}" in html
