"""A warranty visit's electronic repair record over HTTP, against what the 三包 rules ask of the
record of each visit (DOMAIN.md): time in and out, mileage, the fault, the inspection's result,
the work done with its labor hours and fee, the parts with what they cost, and the towing,
loaner or travel paid for the customer; and what the repair regulation asks of the maintenance
file: the staff who did each work item, each part traced to the lot it was bought in."""

from __future__ import annotations

from decimal import Decimal

from fastapi.testclient import TestClient

from tests.e2e.test_parts_api import Auth, get, head, on_roster, post, received_part, store_staff
from tests.scratch_systems import served_module

served, container, client = served_module("sc_repair_record", projections=True)


def test_the_repair_record_carries_the_sanbao_items_of_a_warranty_visit(
        client: TestClient, auth: Auth, store_id: str) -> None:
    clerk, advisor, manager, tech = store_staff(auth, store_id)
    cashier = auth("cashier", "cash-" + store_id, [store_id])
    auditor = auth("auditor", "aud-" + store_id, [store_id])
    number = received_part(client, clerk, store_id, 3)
    # The car comes in on a tow truck: a brake caliper leaks, under warranty.
    opened = post(client, "/work-orders", advisor, {
        "store_id": store_id, "customer": {"name": "刘洋", "phone": "13800000031"},
        "vehicle": {"vin": "LSVAU218XN2183294", "plate": "沪C31000", "brand": "Volkswagen"},
        "mileage": 12000, "complaints": ["brake pedal soft"]}, 201)
    wo, wo_id = f"/work-orders/{opened['id']}", opened["id"]
    post(client, f"{wo}/check-in", advisor, {"mileage_in": 12004, "fuel_level": 30})
    post(client, f"{wo}/jobs/1/diagnosis", tech, {
        "cause": "caliper seal leaking", "correction": "replace caliper", "fault_codes": []})
    warranty = {"coverage_code": "C-10"}
    lines = [post(client, f"{wo}/jobs/1/labor-lines", advisor, {
        "op_code": "BRK20", "description": "replace caliper", "hours": "1.2",
        "hourly_rate": "250.00", "pay_type": "warranty", "warranty": warranty})["line_id"],
        post(client, f"{wo}/jobs/1/part-lines", advisor, {
            "part_number": number, "qty": 1, "pay_type": "warranty",
            "warranty": {**warranty, "causal_part": number}})["line_id"]]
    for line in lines:
        post(client, f"{wo}/lines/{line}/authorization", advisor,
             {"decision": "approved", "channel": "in_person"})
    post(client, f"{wo}/compensations", advisor, {"kind": "towing", "amount": "350.00",
                                                  "reference": "TOW-5521"})
    # The first inspection fails (the pedal is still soft); bled again, the second passes.
    on_roster(client, manager, store_id, "tech-" + store_id)
    post(client, f"{wo}/jobs/1/dispatch", manager, {"technician_id": "tech-" + store_id})
    post(client, f"{wo}/lines/{lines[1]}/issue", clerk, {})
    for _ in range(2):
        for step in ("clock-on", "clock-off", "complete"):
            post(client, f"{wo}/jobs/1/{step}", tech)
        passed = _ == 1
        post(client, f"{wo}/jobs/1/quality-check", manager,
             {"passed": passed, **({} if passed else {"reason": "pedal still soft"})})
    # Settled (the OEM pays all of it), delivered with the odometer read again.
    sid = post(client, "/settlements", cashier, {"work_order_id": wo_id}, 201)["id"]
    post(client, f"/settlements/{sid}/confirmation", cashier)
    post(client, f"{wo}/delivery", advisor, {"mileage_out": 12009, "acknowledged_by": "刘洋"})
    record = get(client, f"/work-orders/{wo_id}/repair-record", auditor)
    doc = get(client, wo, auditor, wait_for=head(client))
    # The 13 elements are there, as before.
    assert (record["mileage_in"], record["labor_hours"]) == (12004, "1.2")
    assert [p["part_code"] for p in record["parts"]] == [number]
    # Labor hours and fee, the parts and what they cost: as billed, whoever pays.
    assert [(w["op_code"], w["labor_hours"], w["fee"]) for w in record["work_items"]] == [
        ("BRK20", "1.2", "300.00")]
    assert record["labor_fee"] == "300.00"
    assert [(p["quantity"], p["amount"]) for p in record["parts"]] == [("1", "450.00")]
    assert record["material_cost"] == "450.00"
    # ... and together what the settlement's bills ask, whoever pays them.
    settled = get(client, f"/settlements/{sid}", cashier, wait_for=head(client))
    assert sum(Decimal(b["total"]) for b in settled["bills"].values()) == (
        Decimal(record["labor_fee"]) + Decimal(record["material_cost"]))
    # Time in and out, mileage out: the check-in and the delivery.
    assert record["time_in"] == doc["check_in"]["at"]
    assert record["time_out"] is not None and record["time_out"] >= record["settled_at"]
    assert record["mileage_out"] == 12009
    # The inspection's result: passed, after one failure, and who inspected.
    assert [(i["job_no"], i["passed"], i["failures"], i["inspector"])
            for i in record["inspections"]] == [(1, True, 1, "mgr-" + store_id)]
    # Who did the work (the technician who clocked on its job) and where the part
    # came from: its lot, whose receipt names the supplier and the delivery note.
    [item] = record["work_items"]
    assert [t["technician_id"] for t in item["technicians"]] == ["tech-" + store_id]
    [part] = record["parts"]
    assert [lot["qty"] for lot in part["lots"]] == ["1"]
    lot = get(client, f"/stock/lots/{part['lots'][0]['lot_id']}", auditor)
    assert (lot["part_number"], lot["supplier"], lot["supplier_doc"]) == (number, "S", "DN-1")
    # The tow the shop paid for.
    assert [(c["kind"], c["amount"], c["reference"]) for c in record["compensations"]] == [
        ("towing", "350.00", "TOW-5521")]
