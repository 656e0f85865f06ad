"""Warranty lines over HTTP: a coverage deductible (the customer pays it, the OEM is billed the
line less it; the claim, the bills and the repair record say so) and sublet work (claimed with
the outside shop's supplier, invoice and cost)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.e2e.test_money_api import Auth
from tests.e2e.test_parts_api import get, head, on_roster, post
from tests.e2e.workshop_steps import worked_and_passed_qc


def test_the_deductible_is_the_customers_and_the_oem_is_billed_the_rest(
        client: TestClient, auth: Auth, store_id: str) -> None:
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    manager = auth("manager", "mgr-" + store_id, [store_id])
    tech = auth("technician", "tech-" + store_id, [store_id])
    cashier = auth("cashier", "cash-" + store_id, [store_id])
    auditor = auth("auditor", "aud-" + store_id, [store_id])
    # An extended-warranty repair: the coverage leaves 100.00 of each repair to the customer.
    opened = post(client, "/work-orders", advisor, {
        "store_id": store_id, "customer": {"name": "王伟", "phone": "13800000002"},
        "vehicle": {"vin": "LSVAU218XN2183294", "plate": "沪B12345", "brand": "Volkswagen"},
        "mileage": 70000, "kind": "warranty", "complaints": ["transmission slips"]}, 201)
    wo_id = opened["id"]
    wo = f"/work-orders/{wo_id}"
    post(client, f"{wo}/check-in", advisor, {"mileage_in": 70010, "fuel_level": 50})
    post(client, f"{wo}/jobs/1/diagnosis", advisor, {
        "cause": "valve body solenoid sticks", "correction": "replace solenoid",
        "fault_codes": ["P0752"]})
    labor = {"op_code": "TRN-SOL", "description": "replace shift solenoid", "hours": "2.0",
             "hourly_rate": "300.00", "pay_type": "warranty"}
    # A deductible above the line's price is refused, and nothing is stored.
    refused = client.post(f"{wo}/jobs/1/labor-lines", headers=advisor, json={
        **labor, "warranty": {"coverage_code": "EXT-5Y", "deductible": "600.01"}})
    assert refused.status_code == 422, refused.text
    assert "deductible" in refused.json()["detail"]
    line = post(client, f"{wo}/jobs/1/labor-lines", advisor, {
        **labor, "warranty": {"coverage_code": "EXT-5Y", "deductible": "100.00"}})["line_id"]
    assert line == "L1"
    post(client, f"{wo}/lines/{line}/authorization", advisor,
         {"decision": "approved", "channel": "in_person"})
    on_roster(client, manager, store_id, "tech-" + store_id)
    worked_and_passed_qc(client, wo, manager, tech, "tech-" + store_id)
    # Settlement: the warranty bill asks 500.00, the customer bill the 100.00 deductible.
    sid = post(client, "/settlements", cashier, {"work_order_id": wo_id}, 201)["id"]
    drafted = post(client, f"/settlements/{sid}/confirmation", cashier)
    assert {k: b["total"] for k, b in drafted["bills"].items()} == {
        "customer": "100.00", "warranty": "500.00"}
    assert drafted["status"] == "confirmed"  # the customer still owes the deductible
    settled = post(client, "/payments", cashier, {"work_order_id": wo_id, "method": "cash",
                                                  "amount": "100.00"}, 201)
    assert settled["status"] == "settled"
    bills = {b["kind"]: b for b in get(client, f"/settlements/{sid}", cashier,
                                       wait_for=head(client))["bills"].values()}
    [owed] = bills["customer"]["lines"]
    assert (owed["line_id"], owed["deductible_of"], owed["gross"], owed["vat"]) == (
        "L1", "warranty", "100.00", "11.50")
    [oem] = bills["warranty"]["lines"]
    assert (oem["gross"], oem["deductible"], oem["net"]) == ("500.00", "100.00", "500.00")
    # The claim: list price 600.00, the deductible 100.00 the customer paid, 500.00 billed.
    claim = get(client, f"{wo}/warranty-claim", auditor)
    [claimed] = claim["jobs"][0]["labor"]
    assert (claimed["amount"], claimed["deductible"], claimed["deductible_billed"],
            claimed["billed_amount"]) == ("600.00", "100.00", "100.00", "500.00")
    totals = claim["totals"]
    assert (totals["list_price"], totals["deductible"], totals["discount"],
            totals["billed"]) == ("600.00", "100.00", "0.00", "500.00")
    bill = claim["settlement"]["warranty_bill"]
    assert (bill["deductible"], bill["total"], bill["lines"][0]["deductible"]) == (
        "100.00", "500.00", "100.00")
    # No sale date on file for the car: its coverage could not be checked, a warning alone.
    assert [(p["kind"], p["level"]) for p in claim["problems"]
            if p["kind"] != "qualification"] == [("coverage", "warning")]
    page = client.get(f"{wo}/warranty-claim", headers=auditor, params={"format": "html"}).text
    assert "Deductible (the customer&#x27;s)" in page and "500.00" in page
    # The repair record lists the work once (the deductible is money, not a second job).
    record = get(client, f"{wo}/repair-record", auditor)
    assert [w["op_code"] for w in record["work_items"]] == ["TRN-SOL"]
    assert record["labor_hours"] == "2.0"


def test_sublet_work_is_claimed_with_the_outside_shops_invoice(
        client: TestClient, auth: Auth, store_id: str) -> None:
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    auditor = auth("auditor", "aud-" + store_id, [store_id])
    opened = post(client, "/work-orders", advisor, {
        "store_id": store_id, "customer": {"name": "王伟", "phone": "13800000002"},
        "vehicle": {"vin": "LSVAU218XN2183294", "plate": "沪B12345", "brand": "Volkswagen"},
        "mileage": 20000, "kind": "warranty", "complaints": ["windscreen cracked by itself"]},
        201)
    wo = f"/work-orders/{opened['id']}"
    post(client, f"{wo}/check-in", advisor, {"mileage_in": 20010, "fuel_level": 50})
    glass = {"op_code": "SUB-GLASS", "description": "windscreen replaced by glass shop",
             "hours": "1", "hourly_rate": "1500.00", "pay_type": "warranty",
             "warranty": {"coverage_code": "W-3Y"}}
    # A sublet without its invoice is refused, and nothing is stored.
    refused = client.post(f"{wo}/jobs/1/labor-lines", headers=advisor, json={
        **glass, "sublet": {"supplier": "Shanghai Auto Glass", "cost": "1200.00"}})
    assert refused.status_code == 422, refused.text
    line = post(client, f"{wo}/jobs/1/labor-lines", advisor, {**glass, "sublet": {
        "supplier": "Shanghai Auto Glass", "invoice_ref": "INV-88123", "cost": "1200.00"}})
    assert line["line_id"] == "L1"
    post(client, f"{wo}/lines/L1/authorization", advisor,
         {"decision": "approved", "channel": "in_person"})
    claim = get(client, f"{wo}/warranty-claim", auditor)
    [claimed] = claim["jobs"][0]["labor"]
    assert (claimed["op_code"], claimed["amount"], claimed["sublet_invoice"]) == (
        "SUB-GLASS", "1500.00", {"supplier": "Shanghai Auto Glass", "invoice_ref": "INV-88123",
                                 "cost": "1200.00"})
    assert claim["totals"]["sublet_cost"] == "1200.00"
    page = client.get(f"{wo}/warranty-claim", headers=auditor, params={"format": "html"}).text
    assert "Shanghai Auto Glass, invoice INV-88123, cost 1200.00" in page


def test_deposits_may_cover_the_deductible_the_customer_approved(
        client: TestClient, auth: Auth, store_id: str) -> None:
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    cashier = auth("cashier", "cash-" + store_id, [store_id])
    opened = post(client, "/work-orders", advisor, {
        "store_id": store_id, "customer": {"name": "王伟", "phone": "13800000002"},
        "vehicle": {"vin": "LSVAU218XN2183294", "plate": "沪B12345", "brand": "Volkswagen"},
        "mileage": 70000, "complaints": ["transmission slips"]}, 201)
    wo_id = opened["id"]
    wo = f"/work-orders/{wo_id}"
    post(client, f"{wo}/check-in", advisor, {"mileage_in": 70010, "fuel_level": 50})
    # The customer's own 150.00 of work, and a warranty repair leaving them 100.00.
    lines = [post(client, f"{wo}/jobs/1/labor-lines", advisor, {
        "op_code": "ATF-CHG", "description": "gearbox oil change", "hours": "0.5",
        "hourly_rate": "300.00"})["line_id"],
        post(client, f"{wo}/jobs/1/labor-lines", advisor, {
            "op_code": "TRN-SOL", "description": "replace shift solenoid", "hours": "2.0",
            "hourly_rate": "300.00", "pay_type": "warranty",
            "warranty": {"coverage_code": "EXT-5Y", "deductible": "100.00"}})["line_id"]]
    for line in lines:
        post(client, f"{wo}/lines/{line}/authorization", advisor,
             {"decision": "approved", "channel": "in_person"})
    # The deposit may take what the customer will owe: 150.00 + the 100.00 deductible.
    over = client.post("/payments", headers=cashier, json={
        "work_order_id": wo_id, "method": "cash", "amount": "250.01"})
    assert over.status_code == 422, over.text
    assert (over.json()["limit"], over.json()["basis"]) == ("250.00", "approved_estimate")
    paid = post(client, "/payments", cashier, {"work_order_id": wo_id, "method": "cash",
                                               "amount": "250.00"}, 201)
    assert paid["deposits"] == "250.00"


def test_the_estimate_shows_the_customers_deductible_as_the_bills_charge_it(
        client: TestClient, auth: Auth, store_id: str) -> None:
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    manager = auth("manager", "mgr-" + store_id, [store_id])
    tech = auth("technician", "tech-" + store_id, [store_id])
    cashier = auth("cashier", "cash-" + store_id, [store_id])
    opened = post(client, "/work-orders", advisor, {
        "store_id": store_id, "customer": {"name": "王伟", "phone": "13800000002"},
        "vehicle": {"vin": "LSVAU218XN2183294", "plate": "沪B12345", "brand": "Volkswagen"},
        "mileage": 70000, "complaints": ["transmission slips"]}, 201)
    wo_id = opened["id"]
    wo = f"/work-orders/{wo_id}"
    post(client, f"{wo}/check-in", advisor, {"mileage_in": 70010, "fuel_level": 50})
    # The estimate: the customer's 150.00 oil change, and a 600.00 warranty repair whose
    # coverage leaves 100.00 to the customer.
    post(client, f"{wo}/jobs/1/labor-lines", advisor, {
        "op_code": "ATF-CHG", "description": "gearbox oil change", "hours": "0.5",
        "hourly_rate": "300.00"})
    post(client, f"{wo}/jobs/1/labor-lines", advisor, {
        "op_code": "TRN-SOL", "description": "replace shift solenoid", "hours": "2.0",
        "hourly_rate": "300.00", "pay_type": "warranty",
        "warranty": {"coverage_code": "EXT-5Y", "deductible": "100.00"}})
    get(client, wo, advisor, wait_for=head(client))
    link = post(client, f"{wo}/progress-link", advisor, {}, 201)
    page = "/progress/" + link["url"].rsplit("/", 1)[1]

    # What the customer is asked to approve: each line's price and their share of it.
    asked = client.get(page, headers={"Accept": "application/json"}).json()
    shares = {ln["line_id"]: (ln["price"], ln["customer_share"], ln["covered_share"])
              for ln in asked["awaiting_decision"]}
    assert shares == {"L1": ("150.00", "150.00", "0.00"), "L2": ("600.00", "100.00", "500.00")}
    html = client.get(page, headers={"Accept": "text/html"}).text
    assert "Your share</span> ¥100.00" in html

    for line in ("L1", "L2"):
        post(client, f"{wo}/lines/{line}/authorization", advisor,
             {"decision": "approved", "channel": "in_person"})
    doc = get(client, wo, advisor, wait_for=head(client))
    # the approved estimate: the customer owes 250.00 (their line and the deductible), the
    # OEM is asked 500.00
    assert doc["totals"] == {
        "customer": {"labor": "250.00", "parts": "0.00", "vat": "28.76", "total": "250.00"},
        "warranty": {"labor": "500.00", "parts": "0.00", "vat": "57.52", "total": "500.00",
                     "deductible": "100.00"}}
    approved = client.get(page, headers={"Accept": "application/json"}).json()
    assert (approved["approved_total"], approved["covered"]) == ("250.00", {"warranty": "500.00"})

    # The bills, once the work is done, say the same.
    on_roster(client, manager, store_id, "tech-" + store_id)
    worked_and_passed_qc(client, wo, manager, tech, "tech-" + store_id)
    drafted = post(client, "/settlements", cashier, {"work_order_id": wo_id}, 201)
    assert {k: b["total"] for k, b in drafted["bills"].items()} == {
        "customer": "250.00", "warranty": "500.00"}
