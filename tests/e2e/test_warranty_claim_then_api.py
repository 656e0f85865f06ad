"""An OEM auditor's questions to the claim package that the current state cannot answer: was the
technician qualified for the job on the day they worked it (their level raised since), what did
the labor-operation master say when the line was priced (its hours changed since), where has
the failed part been step by step (on the visit's timeline too) — and is every event the package shows cited in its
evidence, the OEM's steps and the failed part's custody included, so that each can be checked
against the hash chain."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.e2e.desk_clock import today
from tests.e2e.test_money_api import Auth, ready_for_settlement
from tests.e2e.test_parts_api import get, head, new_part, post
from tests.e2e.test_warranty_evidence_api import injector_visit
from tests.integration.audit_support import new_vin
from tests.integration.support import on_roster
from tests.scratch_systems import served_module

served, container, client = served_module("sc_claim_then", projections=True)
RATES = {"customer": "300.00", "warranty": "180.00", "insurance": "260.00",
         "internal": "150.00"}


def _claim(client: TestClient, wo_id: str, headers: dict[str, str]) -> dict[str, Any]:
    return get(client, f"/work-orders/{wo_id}/warranty-claim",  # type: ignore[no-any-return]
               headers, wait_for=head(client))


def _cited(claim: dict[str, Any], prefix: str) -> list[dict[str, Any]]:
    return [e for e in claim["evidence"] if e["event_type"].startswith(prefix)]


def test_the_claim_shows_the_technician_and_the_operation_as_they_were_when_the_job_was_done(
        client: TestClient, auth: Auth, store_id: str) -> None:
    manager = auth("manager", "mgr-" + store_id, [store_id])
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    clerk = auth("parts_clerk", "clerk-" + store_id, [store_id])
    auditor = auth("auditor", "aud-" + store_id, [store_id])
    tech_id = "tech-then-" + store_id
    tech = auth("technician", tech_id, [store_id])
    # The master: replacing an injector needs an engine technician of level 3, 2.0 h.
    post(client, "/labor-operations", manager, {
        "store_id": store_id, "op_code": "ENG-INJ", "description": "replace fuel injector",
        "flat_rate_hours": "2.0", "rates": RATES, "skill": "engine", "level": 3}, 201)
    on_roster(client, manager, store_id, tech_id, skills={"engine": 2})
    number = new_part(client, clerk, min_stock=0)
    post(client, f"/stock/{store_id}/{number}/receipts", clerk, {
        "qty": 2, "unit_cost": "500.00", "supplier": "Bosch", "supplier_doc": "DN-9"}, 201)
    # The warranty visit: diagnosed, a part and the master's labor line, approved.
    opened = post(client, "/work-orders", advisor, {
        "store_id": store_id, "customer": {"name": "王伟", "phone": "13800000002"},
        "vehicle": {"vin": new_vin(), "brand": "Volkswagen"}, "mileage": 30000,
        "complaints": ["engine misfire"], "kind": "warranty"}, 201)
    wo_id = opened["id"]
    wo = f"/work-orders/{wo_id}"
    post(client, f"{wo}/check-in", advisor, {"mileage_in": 30010, "fuel_level": 50})
    post(client, f"{wo}/jobs/1/diagnosis", advisor, {
        "cause": "injector 2 nozzle cracked", "correction": "replace injector 2"})
    part = post(client, f"{wo}/jobs/1/part-lines", advisor, {
        "part_number": number, "qty": 1, "pay_type": "warranty",
        "warranty": {"coverage_code": "W-3Y"}})["line_id"]
    labor = post(client, f"{wo}/jobs/1/labor-lines", advisor, {
        "op_code": "ENG-INJ", "pay_type": "warranty",
        "warranty": {"coverage_code": "W-3Y", "causal_part": number}})["line_id"]
    for line in (part, labor):
        post(client, f"{wo}/lines/{line}/authorization", advisor,
             {"decision": "approved", "channel": "in_person"})
    # The desk may not hand the job to a level-2 engine technician; the manager's override
    # does, with a reason and what it sets aside; they work.
    post(client, "/dispatch/override", manager, {
        "work_order_id": wo_id, "job_no": 1, "technician_id": tech_id,
        "reason": "the only engine technician in today"})
    post(client, f"{wo}/jobs/1/clock-on", tech)
    post(client, f"{wo}/lines/{part}/issue", clerk, {})
    post(client, f"{wo}/jobs/1/clock-off", tech)
    tag = post(client, "/failed-parts", clerk, {
        "work_order_id": wo_id, "line_id": part, "tag_number": "WT-THEN-" + store_id,
        "location": "warranty cage B2"}, 201)
    # After the job: the technician passes the level-3 exam, the guide's hours go up.
    on_roster(client, manager, store_id, tech_id, skills={"engine": 3},
              reason="passed the level-3 exam")
    changed = client.patch("/labor-operations/ENG-INJ", headers=manager, json={
        "store_id": store_id, "flat_rate_hours": "2.6", "reason": "new labor time guide"})
    assert changed.status_code == 200, changed.text
    claim = _claim(client, wo_id, auditor)
    [job] = claim["jobs"]
    # The need, from the master as the line recorded it, and the technician as they were then.
    assert job["required"]["skills"] == {"engine": {
        "level": 3, "op_code": "ENG-INJ", "line_id": labor, "source": "labor-operation master"}}
    [worked] = job["technicians"]
    qualification = worked["qualification"]
    assert (qualification["skills"], qualification["qualified"], qualification["missing"]) == (
        {"engine": 2}, False, ["engine 3 (has 2)"])
    assert qualification["as_of"] == worked["punches"][0]["clock_on"]
    assert qualification["skills_set"]["by"] == "mgr-" + store_id
    [problem] = [p for p in claim["problems"] if p["kind"] == "qualification"]
    assert (problem["level"], problem["technician_id"], problem["missing"]) == (
        "warning", tech_id, ["engine 3 (has 2)"])
    page = client.get(f"/work-orders/{wo_id}/warranty-claim?format=html", headers=auditor)
    assert page.status_code == 200 and "engine 2 (below: engine 3 (has 2))" in page.text
    # Today the technician has level 3: the live read is not what the claim is judged by.
    now = get(client, f"/technicians/{tech_id}", auditor, wait_for=head(client))
    assert now["skills"] == {"engine": 3}
    # The labor line keeps the master as it was when the line was priced.
    [line] = job["labor"]
    assert (line["flat_rate_hours"], line["master_flat_rate_hours"]) == ("2.0", "2.0")
    assert line["labor_operation"] == {"flat_rate_hours": "2.0", "hourly_rate": "180.00",
                                       "skill": "engine", "level": 3, "version": 1}
    # Evidence: the skills in force then (not the later raise) and the failed part's tag.
    [skills_set] = _cited(claim, "Technician.")
    assert skills_set["event_type"] == "Technician.SkillsSet"
    history = get(client, f"/technicians/{tech_id}/history", auditor)["items"]
    versions = [h["version"] for h in history if h["event"] == "Technician.SkillsSet"]
    assert skills_set["stream_version"] == versions[0] < versions[-1]
    [tagged] = _cited(claim, "FailedPart.")
    assert (tagged["stream_id"], tagged["event_type"]) == (tag["id"], "FailedPart.Tagged")
    [custody] = job["parts"][0]["custody"]
    assert [(s["step"], s["location"]) for s in custody["steps"]] == [
        ("Tagged", "warranty cage B2")]
    # The technician's record names the removed injector's tag WT-9999; the cage holds it
    # under its own tag: the two records disagree, and the claim says so.
    serials = f"{wo}/lines/{part}/serials"
    post(client, serials, tech, {"fitted": ["INJ-N-1"], "removed": [
        {"serial": "INJ-O-1", "disposition": "kept_for_return", "tag": "WT-9999"}]})
    [mismatch] = [p for p in _claim(client, wo_id, auditor)["problems"]
                  if p["kind"] == "custody"]
    assert (mismatch["level"], mismatch["missing"], mismatch["tag_number"],
            mismatch["serial"]) == ("warning", ["tag_match"], "WT-9999", "INJ-O-1")
    # Corrected to the cage's tag (typed in lower case): the records agree.
    post(client, serials, tech, {"fitted": ["INJ-N-1"], "removed": [
        {"serial": "INJ-O-1", "disposition": "kept_for_return",
         "tag": tag["tag_number"].lower()}], "reason": "tag number misread"})
    assert [p for p in _claim(client, wo_id, auditor)["problems"]
            if p["kind"] == "custody"] == []


def test_the_oem_steps_and_the_custody_chain_are_cited_in_the_evidence(
        client: TestClient, auth: Auth, store_id: str) -> None:
    clerk = auth("advisor", "warranty-clerk", [store_id])
    cashier = auth("cashier", "cash-" + store_id, [store_id])
    auditor = auth("auditor", "aud-" + store_id, [store_id])
    _, wo_id = ready_for_settlement(client, auth, store_id, warranty_labor=True, vin=new_vin())
    sid = post(client, "/settlements", cashier, {"work_order_id": wo_id}, 201)["id"]
    post(client, f"/settlements/{sid}/confirmation", cashier)
    url = f"/work-orders/{wo_id}/warranty-claim"
    post(client, f"{url}/submission", clerk, {"oem_claim_number": "VW-EV-1"}, 201)
    post(client, f"{url}/rejection", clerk, {"reason": "photo missing"})
    claim = _claim(client, wo_id, auditor)
    steps = claim["oem_claim"]["history"]
    cited = _cited(claim, "OemClaim.")
    assert [e["event_type"] for e in cited] == ["OemClaim.Submitted", "OemClaim.Rejected"]
    assert [e["notification_id"] for e in cited] == [s["notification_id"] for s in steps]
    assert all(e["hash"] and e["previous_hash"] for e in cited)
    # The hash the package cites is the chain's: the auditor's verify covers it.
    verified = get(client, "/audit/chain/verify", auditor)
    assert verified["ok"] is True and verified["range_to"] >= cited[-1]["notification_id"]


def test_the_visits_timeline_holds_every_custody_step_of_its_failed_parts(
        client: TestClient, auth: Auth, store_id: str) -> None:
    clerk = auth("parts_clerk", "clerk-" + store_id, [store_id])
    auditor = auth("auditor", "aud-" + store_id, [store_id])
    _, wo_id, line = injector_visit(client, auth, store_id, vin=new_vin())
    tag = post(client, "/failed-parts", clerk, {
        "work_order_id": wo_id, "line_id": line, "tag_number": "WT-TL-" + store_id,
        "location": "warranty cage B2"}, 201)
    fp = f"/failed-parts/{tag['id']}"
    post(client, f"{fp}/return-request", clerk, {"request_ref": "RR-1"})
    post(client, f"{fp}/shipment", clerk, {"shipment_ref": "SF-1", "shipped_on": today().isoformat()})
    post(client, f"{fp}/receipt", clerk, {"receipt_ref": "VW-RCV-1"})
    timeline = get(client, f"/audit/work-orders/{wo_id}/timeline", auditor,
                   wait_for=head(client))
    custody = [i["event"] for i in timeline["items"] if i["stream_type"] == "FailedPart"]
    assert custody == ["FailedPart.Tagged", "FailedPart.ReturnRequested", "FailedPart.Shipped",
                       "FailedPart.ReceivedByOem"]
    history = get(client, f"{fp}/history", auditor)["items"]
    assert [h["event"] for h in history] == custody
