"""A warranty injector job over HTTP: the serials of the fitted and the removed injectors, the
photo of the failure, what the claim package asks for while they are missing, the refusals
(problem+json), corrections with a reason, retries, and the history and timeline."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.e2e.test_money_api import Auth
from tests.e2e.test_parts_api import get, new_part, on_roster, post

SHA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
PHOTO = {"kind": "photo", "sha256": SHA, "media_type": "image/jpeg", "size": 2_481_152,
         "uri": "s3://evidence/injector.jpg", "caption": "cracked nozzle"}


def injector_visit(client: TestClient, auth: Auth, store_id: str,
                   vin: str = "LSVAU218XN2183294") -> tuple[str, str, str]:
    """A diagnosed warranty job: 2 injectors on a warranty part line, approved and issued.
    Returns (work-order URL, its id, the part line's id)."""
    clerk = auth("parts_clerk", "clerk-" + store_id, [store_id])
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    manager = auth("manager", "mgr-" + store_id, [store_id])
    number = new_part(client, clerk, min_stock=0)
    post(client, f"/stock/{store_id}/{number}/receipts", clerk, {
        "qty": 4, "unit_cost": "600.00", "supplier": "Bosch", "supplier_doc": "DN-7"}, 201)
    opened = post(client, "/work-orders", advisor, {
        "store_id": store_id, "customer": {"name": "王伟", "phone": "13800000002"},
        "vehicle": {"vin": vin, "brand": "Volkswagen"},
        "mileage": 30000, "complaints": ["rough idle"], "kind": "warranty"}, 201)
    wo = f"/work-orders/{opened['id']}"
    post(client, f"{wo}/check-in", advisor, {"mileage_in": 30010, "fuel_level": 50})
    post(client, f"{wo}/jobs/1/diagnosis", advisor, {
        "cause": "injector 2 nozzle cracked", "correction": "replace injectors 2 and 3",
        "fault_codes": ["P0202"]})
    line = post(client, f"{wo}/jobs/1/part-lines", advisor, {
        "part_number": number, "qty": 2, "pay_type": "warranty",
        "warranty": {"coverage_code": "W-3Y"}})["line_id"]
    labor = post(client, f"{wo}/jobs/1/labor-lines", advisor, {
        "op_code": "INJ-RPL", "description": "replace injectors", "hours": "1.2",
        "hourly_rate": "300.00", "pay_type": "warranty", "warranty": {"coverage_code": "W-3Y"}})
    for line_id in (line, labor["line_id"]):
        post(client, f"{wo}/lines/{line_id}/authorization", advisor,
             {"decision": "approved", "channel": "in_person"})
    on_roster(client, manager, store_id, "tech-" + store_id)
    post(client, f"{wo}/jobs/1/dispatch", manager, {"technician_id": "tech-" + store_id})
    post(client, f"{wo}/lines/{line}/issue", clerk, {})
    return wo, opened["id"], line


def problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    return response.json()  # type: ignore[no-any-return]


def part_records(claim: dict[str, Any]) -> list[list[str]]:
    return [p["missing"] for p in claim["problems"] if p["kind"] == "part_records"]


def test_serials_and_evidence_complete_the_claim(client: TestClient, auth: Auth,
                                                 store_id: str) -> None:
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    tech = auth("technician", "tech-" + store_id, [store_id])
    auditor = auth("auditor", "aud-" + store_id, [store_id])
    cashier = auth("cashier", "cash-" + store_id, [store_id])
    wo, wo_id, line = injector_visit(client, auth, store_id)
    claim_url = f"/work-orders/{wo_id}/warranty-claim"
    # Nothing recorded yet: the claim is built and lists what the OEM will ask for.
    claim = get(client, claim_url, auditor)
    assert claim["complete"] is False
    assert part_records(claim) == [["removed_serial", "evidence"]]
    assert claim["jobs"][0]["parts"][0]["serials"] is None
    # Refused, each a problem+json that stores nothing: a serial with a space, three for two
    # issued, a part kept for return without its tag, a labor line, a line the visit lacks.
    bad = problem(client.post(f"{wo}/lines/{line}/serials", headers=tech,
                              json={"fitted": ["INJ 01"]}), 422)
    assert (bad["type"].endswith("/invalid-input"), bad["field"]) == (True, "serial")
    too_many = problem(client.post(f"{wo}/lines/{line}/serials", headers=tech,
                                   json={"fitted": ["A-001", "A-002", "A-003"]}), 422)
    assert (too_many["field"], too_many["issued_qty"], too_many["count"]) == ("fitted", "2", 3)
    untagged = problem(client.post(f"{wo}/lines/{line}/serials", headers=tech, json={
        "removed": [{"serial": "OLD-1", "disposition": "kept_for_return"}]}), 422)
    assert untagged["field"] == "tag"
    labor_line = problem(client.post(f"{wo}/lines/L2/serials", headers=tech,
                                     json={"fitted": ["A-001"]}), 422)
    assert (labor_line["field"], labor_line["line_id"]) == ("line_id", "L2")
    assert problem(client.post(f"{wo}/lines/{line}/serials", headers=tech,
                               json={"fitted": [], "removed": []}), 422)["field"] == "fitted"
    assert problem(client.post(f"{wo}/lines/L9/serials", headers=tech,
                               json={"fitted": ["A-001"]}), 404)["line_id"] == "L9"
    problem(client.post(f"{wo}/lines/{line}/serials", headers=cashier,
                        json={"fitted": ["A-001"]}), 403)
    before = get(client, f"{wo}/history", auditor)["total"]
    # The technician records the new injectors and one removed part sent to scrap.
    body = {"fitted": ["inj-2201", "INJ-2202"],
            "removed": [{"serial": "INJ-0907", "disposition": "scrapped"}]}
    first = client.post(f"{wo}/lines/{line}/serials", headers={
        **tech, "Idempotency-Key": "serials-" + wo_id}, json=body)
    assert first.status_code == 200, first.text
    assert first.json()["fitted"] == ["INJ-2201", "INJ-2202"]
    retried = client.post(f"{wo}/lines/{line}/serials", headers={
        **tech, "Idempotency-Key": "serials-" + wo_id}, json=body)
    assert retried.headers.get("Idempotent-Replayed") == "true"
    assert retried.json()["version"] == first.json()["version"]
    assert get(client, f"{wo}/history", auditor)["total"] == before + 1
    # Still incomplete: one removed serial of two, and the removed part was not kept.
    assert part_records(get(client, claim_url, auditor)) == [
        ["removed_serial", "return_tag", "evidence"]]
    # Another record without a reason is 409 naming what is recorded; a stale If-Match is 412.
    correction = {"fitted": ["INJ-2201", "INJ-2202"], "removed": [
        {"serial": "INJ-0907", "disposition": "kept_for_return", "tag": "WT-0117"},
        {"serial": "INJ-0908", "disposition": "kept_for_return", "tag": "WT-0118"}]}
    conflict = problem(client.post(f"{wo}/lines/{line}/serials", headers=advisor,
                                   json=correction), 409)
    assert conflict["recorded"]["fitted"] == ["INJ-2201", "INJ-2202"]
    problem(client.post(f"{wo}/lines/{line}/serials", headers={**advisor, "If-Match": '"3"'},
                        json={**correction, "reason": "both injectors kept for the OEM"}), 412)
    corrected = post(client, f"{wo}/lines/{line}/serials", advisor,
                     {**correction, "reason": "both injectors kept for the OEM"})
    assert corrected["recorded"] is True
    # The same again stores nothing.
    again = post(client, f"{wo}/lines/{line}/serials", advisor,
                 {**correction, "reason": "both injectors kept for the OEM"})
    assert (again["recorded"], again["version"]) == (False, corrected["version"])
    # The photo of the cracked nozzle, on the line; bad references are 422, the same file 409.
    for wrong in ({"sha256": "z" * 64}, {"media_type": "application/pdf"}, {"size": 0},
                  {"size": 10**9}, {"uri": "a b"}, {"kind": "video"}):
        problem(client.post(f"{wo}/evidence", headers=tech,
                            json={**PHOTO, "line_id": line, **wrong}), 422)
    problem(client.post(f"{wo}/evidence", headers=tech, json={**PHOTO, "job_no": 5}), 422)
    added = post(client, f"{wo}/evidence", tech, {**PHOTO, "line_id": line}, 201)
    assert (added["evidence_id"], added["job_no"]) == ("E1", 1)
    assert problem(client.post(f"{wo}/evidence", headers=tech,
                               json={**PHOTO, "line_id": line}), 409)["evidence_id"] == "E1"
    # Now the claim is complete, and shows them.
    claim = get(client, claim_url, auditor)
    # Warnings alone: the car's sale date is not on file, the removed injectors are not in
    # failed-part custody yet (POST /failed-parts).
    assert claim["complete"] is True
    assert [(p["kind"], p["level"]) for p in claim["problems"]] == [("coverage", "warning"),
                                                                    ("custody", "warning")]
    [part] = claim["jobs"][0]["parts"]
    assert [r["tag"] for r in part["serials"]["removed"]] == ["WT-0117", "WT-0118"]
    assert [c["reason"] for c in part["serials"]["corrections"]] == [
        "both injectors kept for the OEM"]
    assert [(e["evidence_id"], e["sha256"], e["by"]) for e in claim["jobs"][0]["evidence_refs"]] \
        == [("E1", SHA, "tech-" + store_id)]
    page = client.get(claim_url, headers=auditor, params={"format": "html"}).text
    assert "INJ-0908" in page and "WT-0118" in page and "s3://evidence/injector.jpg" in page
    # The work order's view shows them too.
    doc = get(client, f"/work-orders/{wo_id}", auditor, wait_for=added["notification_id"])
    [shown] = [ln for ln in doc["lines"] if ln["line_id"] == line]
    assert (shown["serials"]["removed"][1]["serial"], shown["serials"]["corrections"]) == (
        "INJ-0908", 1)
    assert [e["evidence_id"] for e in doc["evidence_refs"]] == ["E1"]
    # A reference given by mistake is withdrawn at the desk, with a reason: the claim asks again.
    problem(client.post(f"{wo}/evidence/E1/withdrawal", headers=tech,
                        json={"reason": "wrong car"}), 403)
    problem(client.post(f"{wo}/evidence/E7/withdrawal", headers=advisor,
                        json={"reason": "wrong car"}), 404)
    withdrawn = post(client, f"{wo}/evidence/E1/withdrawal", advisor,
                     {"reason": "photo of another car"})
    assert part_records(get(client, claim_url, auditor)) == [["evidence"]]
    # The history and the visit's timeline name who recorded what, and why a correction.
    history = get(client, f"{wo}/history", auditor)["items"]
    recorded = [e for e in history if e["event"] == "WorkOrder.SerialsRecorded"]
    assert [(e["actor"]["user_id"], e["actor"]["role"], e["reason"]) for e in recorded] == [
        ("tech-" + store_id, "technician", None),
        ("adv-" + store_id, "advisor", "both injectors kept for the OEM")]
    assert recorded[0]["actor"]["idempotency_key"] == "serials-" + wo_id
    assert recorded[1]["changes"]["previous"]["removed"][0]["disposition"] == "scrapped"
    timeline = get(client, f"/audit/work-orders/{wo_id}/timeline", auditor,
                   wait_for=withdrawn["notification_id"])["items"]
    assert [(e["event"], e["actor"]["user_id"]) for e in timeline
            if e["event"].startswith("WorkOrder.Evidence")] == [
        ("WorkOrder.EvidenceAdded", "tech-" + store_id),
        ("WorkOrder.EvidenceWithdrawn", "adv-" + store_id)]
