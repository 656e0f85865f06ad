"""The warranty-claim package, assembled from the event store, checked field by field."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

import pytest

from domain.common import NotFound
from domain.failed_parts import FailedParts
from domain.integrity import link
from domain.inventory_desk import stock_stream
from domain.pii import ERASED
from domain.settlement import Settlement
from domain.technician import Technician
from domain.warranty_evidence import WarrantyEvidence
from domain.work_orders import vehicle_id
from projections.evidence import one_snapshot
from projections.warranty_claim import NothingToClaim, warranty_claim
from servicecore.container import Container
from tests.integration.audit_support import Desk, at, new_vin
from tests.integration.test_money_support import wait_for_projection


def claim_visit(c: Container) -> tuple[Desk, dict[str, Any]]:
    desk = Desk(c)
    d = "2025-06-02"
    pump = desk.part("water pump", "800.00", at("2025-05-01", "09:00"))
    coolant = desk.part("coolant G13", "60.00", at("2025-05-01", "09:00"))
    lot1 = desk.receive(pump, 1, "400.00", at("2025-05-01", "09:10"), supplier="Bosch Shanghai",
                        doc="DN-001", cert="CERT-1")
    lot2 = desk.receive(pump, 5, "420.00", at("2025-05-20", "09:10"), supplier="Mahle China",
                        doc="DN-002", cert="CERT-2")
    desk.receive(coolant, 10, "20.00", at("2025-05-01", "09:20"), supplier="FAW-VW Parts",
                 doc="DN-003")
    vin = new_vin()
    c.vehicles.register(desk.r("advisor", at("2025-01-10", "10:00")), store_id=desk.store,
                        vin=vin, plate="沪B52819", brand="Volkswagen", model="Tiguan L",
                        year=2024, sale_date="2025-01-10")
    wo = desk.open(vin, ["coolant leak at front", "wiper squeak"], at(d, "09:00"),
                   kind="warranty", mileage=18_200)
    desk.check_in(wo, 18_230, at(d, "09:10"))
    desk.diagnose(wo, 1, "water pump seal failed", "replace water pump", ["p0217"],
                  at(d, "09:40"))
    l1 = desk.labor(wo, 1, "ENG-WP", "2.4", at(d, "09:45"), description="replace water pump",
                    warranty={"coverage_code": "W-3Y", "authorization_ref": "PA-7781",
                              "causal_part": pump.lower(), "campaign_no": None})
    l2 = desk.part_line(wo, 1, pump, 2, at(d, "09:46"), warranty={"coverage_code": "W-3Y"})
    l3 = desk.part_line(wo, 1, coolant, 1, at(d, "09:47"))
    l4 = desk.labor(wo, 2, "WIPER", "0.3", at(d, "09:48"), description="replace wiper blades")
    desk.approve(wo, [l1, l2], at(d, "09:50"), channel="phone")
    desk.approve(wo, [l3], at(d, "09:51"))
    desk.approve(wo, [l4], at(d, "09:52"), channel="link", decision="declined")
    c.work_orders.reprice_line(desk.r("manager", at(d, "09:53")), wo, l3, unit_price="90.00",
                               reason="coolant price list corrected")
    w = c.work_orders
    for tech, level in ((desk.t1, 2), (desk.t2, 3)):  # ENG-WP needs an engine 2 (a profile
        # puts them on the store's roster)
        c.technicians.set_profile(desk.r("manager", at(d, "09:54")), tech, store_id=desk.store,
                                  skills={"engine": level}, hourly_cost="85.00")
    w.dispatch(desk.r("manager", at(d, "09:55")), wo, 1, technician_id=desk.t1)
    w.issue_part(desk.r("parts_clerk", at(d, "09:58")), wo, l2)
    # One pump goes back (it went back into lot 2) and another is issued: from lot 2 again,
    # since lot 1 is empty.
    w.return_part(desk.r("parts_clerk", at(d, "09:59")), wo, l2, qty=1,
                  reason="seal kit damaged in the box")
    w.issue_part(desk.r("parts_clerk", at(d, "09:59")), wo, l2)
    w.issue_part(desk.r("parts_clerk", at(d, "09:59")), wo, l3)
    w.clock_on(desk.tech(desk.t1, at(d, "10:00")), wo, 1)
    w.clock_off(desk.tech(desk.t1, at(d, "11:30")), wo, 1)
    w.dispatch(desk.r("manager", at(d, "11:35")), wo, 1, technician_id=desk.t2,
               reason="t1 called to a breakdown")
    w.clock_on(desk.tech(desk.t2, at(d, "11:40")), wo, 1)
    w.clock_off(desk.tech(desk.t2, at(d, "12:25")), wo, 1)
    w.complete_job(desk.tech(desk.t2, at(d, "12:30")), wo, 1)
    w.quality_check(desk.r("manager", at(d, "12:40")), wo, 1, passed=False,
                    reason="housing bolts not torqued")
    w.clock_on(desk.tech(desk.t2, at(d, "12:50")), wo, 1)
    w.clock_off(desk.tech(desk.t2, at(d, "13:05")), wo, 1)
    # The two failed pumps come off tagged for the OEM's return; the leak is photographed.
    records = WarrantyEvidence(c.app)
    records.record_serials(desk.tech(desk.t2, at(d, "13:06")), wo, l2,
                           fitted=["wp-5521", "WP-5522"],
                           removed=[{"serial": "WP-1107", "disposition": "kept_for_return",
                                     "tag": "WT-0031"},
                                    {"serial": "WP-1108", "disposition": "kept_for_return",
                                     "tag": "WT-0032"}])
    records.add_evidence(desk.tech(desk.t2, at(d, "13:07")), wo, line_id=l2, kind="photo",
                         sha256="ab" * 32, media_type="image/jpeg", size=1_843_200,
                         uri="s3://evidence/wp-leak.jpg", caption="coolant at the pump seal")
    for tag in ("WT-0031", "WT-0032"):  # and kept in custody under their tags
        FailedParts(c.app).tag(desk.r("parts_clerk", at(d, "13:08")), wo, line_id=l2,
                               tag_number=tag, location="warranty cage")
    w.complete_job(desk.tech(desk.t2, at(d, "13:10")), wo, 1)
    w.quality_check(desk.r("manager", at(d, "13:20")), wo, 1, passed=True)
    s = c.settlements
    sid = UUID(s.draft(desk.r("cashier", at(d, "14:00")), wo).body["id"])
    s.discount(desk.r("manager", at(d, "14:01")), sid, bill="customer", amount="20.00",
               reason="goodwill for the wait")
    s.confirm(desk.r("cashier", at(d, "14:02")), sid)
    s.record_invoice(desk.r("cashier", at(d, "14:03")), sid, bill="warranty",
                     invoice_no="INV-OEM-2025-77")
    s.pay(desk.r("cashier", at(d, "14:04")), work_order_id=wo, method="cash", amount="70.00",
          tendered="100.00")
    desk.deliver(wo, 18_236, at("2025-06-03", "10:00"))
    return desk, {"wo": wo, "vin": vin, "pump": pump, "coolant": coolant, "lot1": lot1,
                  "lot2": lot2, "sid": sid}


@pytest.fixture(scope="module")
def visit(container: Container) -> tuple[Desk, dict[str, Any], dict[str, Any]]:
    desk, facts = claim_visit(container)
    wait_for_projection(container, "failed_parts")  # which finds the visit's tags
    with container.pool.connection() as conn, one_snapshot(conn):
        claim = warranty_claim(container.app, conn, facts["wo"], [desk.store])
    return desk, facts, claim


Visit = tuple[Desk, dict[str, Any], dict[str, Any]]


def test_the_claim_names_the_car_the_visit_and_the_customer(visit: Visit) -> None:
    desk, facts, claim = visit
    year_no = f"{desk.store}-2025-000001"
    assert claim["work_order"] == {"id": str(facts["wo"]), "number": f"WO-{year_no}",
                                   "store_id": desk.store, "kind": "warranty",
                                   "status": "delivered"}
    assert claim["vehicle"] == {"vin": facts["vin"], "plate": "沪B52819", "brand": "Volkswagen",
                                "model": "Tiguan L", "year": 2024, "sale_date": "2025-01-10"}
    assert claim["customer"]["name"] == "李娜" and claim["customer"]["phone"] == "13800138000"
    assert claim["mileage"] == {"in": 18_230, "out": 18_236}
    assert claim["dates"] == {
        "opened": "2025-06-02T09:00:00+08:00", "checked_in": "2025-06-02T09:10:00+08:00",
        "completed": "2025-06-02T13:20:00+08:00",
        "settlement_confirmed": "2025-06-02T14:02:00+08:00",
        "settled": "2025-06-02T14:04:00+08:00", "delivered": "2025-06-03T10:00:00+08:00",
        "closed": None}
    bill = claim["settlement"]["warranty_bill"]
    assert claim["settlement"]["number"] == f"SET-{year_no}"
    # The OEM is billed 2.4 h x 300.00 + 2 pumps x 800.00, the VAT (13 %) inside each line.
    assert (bill["payer"], bill["invoice_no"], bill["total"], bill["vat"]) == (
        {"oem": "Volkswagen", "vin": facts["vin"]}, "INV-OEM-2025-77", "2320.00", "266.90")
    assert claim["totals"] == {"flat_rate_hours": "2.40", "clocked_hours": "2.50",
                               "labor": "720.00", "parts": "1600.00", "list_price": "2320.00",
                               "deductible": "0.00", "discount": "0.00", "billed": "2320.00",
                               "claimed_lines": 2, "sublet_cost": "0.00"}
    # Every claimed job has its 3C, every claimed part its removed serials, tags and a photo:
    # nothing for the OEM to reject.
    assert (claim["complete"], claim["problems"]) == (True, [])


def test_the_claimed_part_carries_its_serials_and_the_job_its_evidence(visit: Visit) -> None:
    desk, _, claim = visit
    [job] = claim["jobs"]
    [pump] = job["parts"]
    assert pump["serials"] == {
        "fitted": ["WP-5521", "WP-5522"],
        "removed": [{"serial": "WP-1107", "disposition": "kept_for_return", "tag": "WT-0031"},
                    {"serial": "WP-1108", "disposition": "kept_for_return", "tag": "WT-0032"}],
        "by": desk.t2, "role": "technician", "at": "2025-06-02T13:06:00+08:00",
        "corrections": []}
    [photo] = job["evidence_refs"]
    assert {k: photo[k] for k in ("evidence_id", "job_no", "line_id", "kind", "sha256",
                                  "media_type", "size", "uri", "by", "withdrawn")} == {
        "evidence_id": "E1", "job_no": 1, "line_id": pump["line_id"], "kind": "photo",
        "sha256": "ab" * 32, "media_type": "image/jpeg", "size": 1_843_200,
        "uri": "s3://evidence/wp-leak.jpg", "by": desk.t2, "withdrawn": None}
    assert {"WorkOrder.SerialsRecorded", "WorkOrder.EvidenceAdded"} <= {
        e["event_type"] for e in claim["evidence"]}


def test_each_claimed_job_has_3c_op_codes_and_every_punch(visit: Visit) -> None:
    desk, _, claim = visit
    [job] = claim["jobs"]  # job 2 (wiper, customer, declined) is not claimed
    assert {k: job[k] for k in ("job_no", "complaint", "cause", "correction", "fault_codes")} == {
        "job_no": 1, "complaint": "coolant leak at front", "cause": "water pump seal failed",
        "correction": "replace water pump", "fault_codes": ["P0217"]}
    assert job["diagnosed"] == {"by": desk.t1, "role": "technician",
                                "at": "2025-06-02T09:40:00+08:00"}
    [labor] = job["labor"]
    assert {k: labor[k] for k in ("line_id", "op_code", "description", "flat_rate_hours",
                                  "amount", "coverage_code", "campaign_no",
                                  "authorization_ref", "sublet")} == {
        "line_id": "L1", "op_code": "ENG-WP", "description": "replace water pump",
        "flat_rate_hours": "2.4", "amount": "720.00", "coverage_code": "W-3Y",
        "campaign_no": None, "authorization_ref": "PA-7781", "sublet": None}
    assert labor["billed"]["net"] == "720.00"
    # Flat-rate 2.4 h sold against 1.5 + 0.75 + 0.25 = 2.5 h clocked by two technicians.
    assert (job["flat_rate_hours"], job["clocked_hours"]) == ("2.40", "2.50")
    skills_set = {"by": desk.mgr, "role": "manager", "at": "2025-06-02T09:54:00+08:00",
                  "reason": None}
    assert job["technicians"] == [
        {"technician_id": desk.t1, "clocked_hours": "1.50", "punches": [
            {"clock_on": "2025-06-02T10:00:00+08:00", "clock_off": "2025-06-02T11:30:00+08:00",
             "hours": "1.50"}],
         "qualification": {"as_of": "2025-06-02T10:00:00+08:00", "skills": {"engine": 2},
                           "skills_set": skills_set, "qualified": True, "missing": []}},
        {"technician_id": desk.t2, "clocked_hours": "1.00", "punches": [
            {"clock_on": "2025-06-02T11:40:00+08:00", "clock_off": "2025-06-02T12:25:00+08:00",
             "hours": "0.75"},
            {"clock_on": "2025-06-02T12:50:00+08:00", "clock_off": "2025-06-02T13:05:00+08:00",
             "hours": "0.25"}],
         "qualification": {"as_of": "2025-06-02T11:40:00+08:00", "skills": {"engine": 3},
                           "skills_set": skills_set, "qualified": True, "missing": []}}]
    # ENG-WP was priced off the master: what its op code's prefix asks (engine 2).
    assert job["required"] == {"skills": {"engine": {
        "level": 2, "op_code": "ENG-WP", "line_id": "L1", "source": "op-code prefix"}},
        "unrated_op_codes": []}
    assert [d["technician_id"] for d in job["dispatches"]] == [desk.t1, desk.t2]
    assert job["dispatches"][1]["reason"] == "t1 called to a breakdown"
    assert job["quality_checks"] == [
        {"passed": False, "reason": "housing bolts not torqued", "inspector": desk.mgr,
         "at": "2025-06-02T12:40:00+08:00"},
        {"passed": True, "reason": None, "inspector": desk.mgr,
         "at": "2025-06-02T13:20:00+08:00"}]


def test_the_causal_part_is_traced_to_its_lots_and_suppliers(visit: Visit) -> None:
    _, facts, claim = visit
    [job] = claim["jobs"]
    lots = [{"lot_id": facts["lot1"], "qty": "1", "supplier": "Bosch Shanghai",
             "supplier_doc": "DN-001", "cert_ref": "CERT-1",
             "received_at": "2025-05-01T09:10:00+08:00"},
            {"lot_id": facts["lot2"], "qty": "1", "supplier": "Mahle China",
             "supplier_doc": "DN-002", "cert_ref": "CERT-2",
             "received_at": "2025-05-20T09:10:00+08:00"}]
    # Only the warranty part is claimed; the customer's coolant stays off the claim.
    [part] = job["parts"]
    assert (part["line_id"], part["part_number"], part["description"], part["qty"],
            part["issued_qty"], part["amount"], part["coverage_code"]) == (
        "L2", facts["pump"], "water pump", "2", "2", "1600.00", "W-3Y")
    # Issued 1 + 1, one returned into lot 2 and issued again from lot 2: net 1 from each lot.
    assert part["lots"] == lots
    assert [(m["movement"], m["lots"], m["reason"]) for m in part["movements"]] == [
        ("issue", [{"lot_id": facts["lot1"], "qty": "1"}, {"lot_id": facts["lot2"], "qty": "1"}],
         None),
        ("return", [{"lot_id": facts["lot2"], "qty": "1"}], "seal kit damaged in the box"),
        ("issue", [{"lot_id": facts["lot2"], "qty": "1"}], None)]
    custody = job["causal_part"].pop("custody")
    assert job["causal_part"] == {"part_number": facts["pump"], "named_on_claim": True,
                                  "description": "water pump", "line_id": "L2", "lots": lots}
    # The failed pumps are held under their tags; the line names the pump as causal.
    assert [(t["tag_number"], t["custody_status"], t["causal"], t["location"])
            for t in custody] == [("WT-0031", "held", True, "warranty cage"),
                                  ("WT-0032", "held", True, "warranty cage")]
    assert part["custody"] == custody


def test_who_approved_what_and_when(visit: Visit) -> None:
    desk, _, claim = visit
    assert [(a["what"], a.get("line_id"), a["by"], a["at"][11:16]) for a in claim["approvals"]] \
        == [("authorization", "L1", desk.adv, "09:50"), ("authorization", "L2", desk.adv, "09:50"),
            ("authorization", "L3", desk.adv, "09:51"), ("authorization", "L4", desk.adv, "09:52"),
            ("price_change", "L3", desk.mgr, "09:53"), ("discount", None, desk.mgr, "14:01")]
    by_line = {(a["what"], a.get("line_id")): a for a in claim["approvals"]}
    assert by_line[("authorization", "L1")]["channel"] == "phone"
    assert (by_line[("authorization", "L4")]["decision"],
            by_line[("authorization", "L4")]["channel"]) == ("declined", "link")
    assert by_line[("price_change", "L3")] | {"by": None} == {
        "what": "price_change", "line_id": "L3", "pay_type": "customer", "unit_price": "90.00",
        "reason": "coolant price list corrected", "by": None, "role": "manager",
        "at": "2025-06-02T09:53:00+08:00"}
    assert (by_line[("discount", None)]["amount"], by_line[("discount", None)]["approved_by"],
            by_line[("discount", None)]["reason"]) == ("20.00", desk.mgr, "goodwill for the wait")


def test_the_evidence_lists_every_event_used_as_the_log_holds_it(
        container: Container, visit: Visit) -> None:
    desk, facts, claim = visit
    evidence = claim["evidence"]
    ids = [e["notification_id"] for e in evidence]
    assert ids == sorted(set(ids))
    with container.pool.connection() as conn:
        stored = {row[0]: row[1:] for row in conn.execute(
            "SELECT notification_id, originator_id, originator_version, topic, state "
            "FROM servicecore_events WHERE notification_id = ANY(%s)", (ids,))}
    for e in evidence:
        stream, version, topic, state = stored[e["notification_id"]]
        assert (str(stream), version) == (e["stream_id"], e["stream_version"])
        assert topic.endswith(":" + e["event_type"])
        # The cited link is the chain's: recomputed from the stored event and the link before.
        assert e["hash"] == link(bytes.fromhex(e["previous_hash"]), e["notification_id"], stream,
                                 version, topic, bytes(state)).hex()
    streams = {e["stream_id"] for e in evidence}
    pump_stock = str(stock_stream(desk.store, facts["pump"]))
    tags = {t["failed_part_id"] for t in claim["jobs"][0]["parts"][0]["custody"]}
    technicians = {str(Technician.create_id(t)) for t in (desk.t1, desk.t2)}
    assert len(tags) == 2
    assert streams == {str(facts["wo"]), str(Settlement.create_id(facts["wo"])),
                       str(vehicle_id(facts["vin"])), pump_stock, *tags, *technicians}
    # Each tag's custody (tagged only, here), each technician's skills in force then.
    assert sorted(e["event_type"] for e in evidence if e["stream_id"] in tags | technicians) == [
        "FailedPart.Tagged", "FailedPart.Tagged", "Technician.SkillsSet",
        "Technician.SkillsSet"]
    # Every event of the work order, the settlement and the car; of the pump's stock, the two
    # receipts of its lots and the issue, return and issue to this work order.
    for stream in (facts["wo"], Settlement.create_id(facts["wo"]), vehicle_id(facts["vin"])):
        versions = [e["stream_version"] for e in evidence if e["stream_id"] == str(stream)]
        assert versions == list(range(1, len(container.app.recorder.select_events(stream)) + 1))
    assert sorted(e["event_type"] for e in evidence if e["stream_id"] == pump_stock) == [
        "StockItem.Issued", "StockItem.Issued", "StockItem.Received", "StockItem.Received",
        "StockItem.ReturnedFromJob"]


def test_an_erased_customer_reads_erased_and_the_rest_stays(container: Container) -> None:
    desk = Desk(container)
    wo = desk.warranty_visit(new_vin(), "engine misfire", "ENG-COIL", at("2025-07-01", "09:00"),
                             at("2025-07-01", "15:00"))
    with container.pool.connection() as conn:
        before = warranty_claim(container.app, conn, wo, [desk.store])
    container.customers.erase(desk.r("manager", at("2025-07-02", "09:00")),
                              UUID(before["customer"]["id"]), reason="customer asked (PIPL)")
    with container.pool.connection() as conn:
        after = warranty_claim(container.app, conn, wo, [desk.store])
    assert before["customer"]["name"] == "李娜"
    assert after["customer"] == {**before["customer"], "name": ERASED, "phone": ERASED}
    assert {k: v for k, v in after.items() if k != "customer"} == \
        {k: v for k, v in before.items() if k != "customer"}


def test_no_claim_without_warranty_lines_and_404_for_unknown_or_other_stores(
        container: Container) -> None:
    desk = Desk(container)
    wo = desk.open(new_vin(), ["oil service"], at("2025-07-01", "09:00"), kind="maintenance")
    desk.approve(wo, [desk.labor(wo, 1, "OIL-CHG", "0.5", at("2025-07-01", "09:05"))],
                 at("2025-07-01", "09:06"))
    claimed = desk.warranty_visit(new_vin(), "engine misfire", "ENG-COIL",
                                  at("2025-07-01", "10:00"), at("2025-07-01", "15:00"))
    with container.pool.connection() as conn:
        with pytest.raises(NothingToClaim, match="no approved warranty line"):
            warranty_claim(container.app, conn, wo, [desk.store])
        with pytest.raises(NotFound):
            warranty_claim(container.app, conn, uuid4(), ["*"])
        with pytest.raises(NotFound):
            warranty_claim(container.app, conn, claimed, ["ELSEWHERE"])
        assert warranty_claim(container.app, conn, claimed, ["*"])["work_order"]["id"] == \
            str(claimed)


def test_a_part_transferred_in_keeps_its_origin_lot_and_supplier(container: Container) -> None:
    desk, depot = Desk(container), Desk(container)
    sensor = depot.part("knock sensor", "300.00", at("2025-07-01", "09:00"))
    origin = depot.receive(sensor, 2, "120.00", at("2025-07-01", "09:10"),
                           supplier="Continental", doc="DN-77", cert="CCC-5")
    transfer = container.inventory.transfer(
        depot.r("parts_clerk", at("2025-07-02", "09:00")), from_store=depot.store,
        to_store=desk.store, part_number=sensor, qty=1, reason="the workshop needs one")
    [lot] = container.inventory.receive_transfer(desk.r("parts_clerk", at("2025-07-02", "15:00")),
                                                 UUID(transfer.body["id"])).body["lot_ids"]
    wo = desk.warranty_visit(new_vin(), "engine knocks", "ENG-KS", at("2025-07-03", "09:00"),
                             at("2025-07-03", "15:00"), part=sensor)
    with container.pool.connection() as conn:
        claim = warranty_claim(container.app, conn, wo, [desk.store])
    [job] = claim["jobs"]
    assert job["causal_part"]["named_on_claim"] is False  # no line names it: the first part
    assert job["causal_part"]["lots"] == [{
        "lot_id": lot, "qty": "1", "supplier": "Continental", "supplier_doc": "DN-77",
        "cert_ref": "CCC-5", "received_at": "2025-07-01T09:10:00+08:00",
        "transferred_from": origin, "transferred_at": "2025-07-02T15:00:00+08:00"}]
    assert "StockItem.TransferredIn" in {e["event_type"] for e in claim["evidence"]}


def test_a_mileage_below_an_earlier_visit_of_the_car_is_a_problem(container: Container) -> None:
    """OEMs check the odometer against the car's earlier visits: a claim whose mileage in is
    below a reading recorded before is rejected (a wrong entry, or a tampered odometer)."""
    desk = Desk(container)
    wound_back, fine = new_vin(), new_vin()
    # March: both cars come in for a service, one at 41,250 km, the other at 9,800 km.
    earlier = desk.open(wound_back, ["oil service"], at("2025-03-03", "09:00"),
                        kind="maintenance", mileage=41_200)
    desk.check_in(earlier, 41_250, at("2025-03-03", "09:10"))
    below = desk.open(fine, ["oil service"], at("2025-03-03", "10:00"), kind="maintenance",
                      mileage=9_800)
    # June: both back for a warranty repair at 12,000 km.
    claimed = desk.warranty_visit(wound_back, "engine misfire", "ENG-COIL",
                                  at("2025-06-02", "09:00"), at("2025-06-02", "15:00"))
    other = desk.warranty_visit(fine, "engine misfire", "ENG-COIL", at("2025-06-02", "10:00"),
                                at("2025-06-02", "16:00"))
    wait_for_projection(container, "work_orders")
    with container.pool.connection() as conn, one_snapshot(conn):
        claim = warranty_claim(container.app, conn, claimed, [desk.store])
        fine_claim = warranty_claim(container.app, conn, other, [desk.store])
    [odometer] = [p for p in claim["problems"] if p["kind"] == "mileage"]
    assert odometer == {
        "kind": "mileage", "job_no": None, "missing": [], "level": "error",
        "detail": f"mileage in 12,000 km is below the 41,250 km recorded on WO-{desk.store}"
                  "-2025-000001 at 2025-03-03T09:10:00+08:00: an OEM rejects a claim whose "
                  "odometer went back",
        "earlier": {"work_order_id": str(earlier), "number": f"WO-{desk.store}-2025-000001",
                    "km": 41_250, "at": "2025-03-03T09:10:00+08:00"}}
    assert claim["complete"] is False
    assert {(e["stream_id"], e["event_type"]) for e in claim["evidence"]} >= {
        (str(earlier), "WorkOrder.CheckedIn")}
    # No diagnosis: only the 3C (and the warning that the car's sale date is not on file).
    assert [p["kind"] for p in fine_claim["problems"] if p["kind"] != "qualification"] == [
        "coverage", "3c"]
    assert str(below) not in {e["stream_id"] for e in fine_claim["evidence"]}


def test_a_claimed_part_without_its_issue_record_is_a_problem(container: Container) -> None:
    """Auditors compare parts claimed with parts issued: a claimed part the stock never issued
    to the line, or returned and did not issue again, is charged back."""
    desk = Desk(container)
    d = "2025-08-04"
    pump = desk.part("water pump", "800.00", at(d, "08:00"))
    seal = desk.part("pump seal", "40.00", at(d, "08:00"))
    lot = desk.receive(pump, 2, "400.00", at(d, "08:10"), supplier="Bosch Shanghai", doc="DN-9")
    wo = desk.open(new_vin(), ["coolant leak"], at(d, "09:00"), kind="warranty")
    desk.check_in(wo, 12_000, at(d, "09:05"))
    desk.diagnose(wo, 1, "pump seal failed", "replace pump", [], at(d, "09:10"))
    w = container.work_orders
    claimed = [desk.labor(wo, 1, "ENG-WP", "1.0", at(d, "09:15"),
                          warranty={"coverage_code": "W-3Y"}),
               desk.part_line(wo, 1, pump, 1, at(d, "09:16"), warranty={"coverage_code": "W-3Y"}),
               desk.part_line(wo, 1, seal, 2, at(d, "09:17"), warranty={"coverage_code": "W-3Y"})]
    desk.approve(wo, claimed, at(d, "09:20"))
    # The pump is issued and goes back to the shelf; the seals never leave the store.
    w.issue_part(desk.r("parts_clerk", at(d, "09:30")), wo, claimed[1])
    w.return_part(desk.r("parts_clerk", at(d, "09:40")), wo, claimed[1], qty=1,
                  reason="wrong variant")
    with container.pool.connection() as conn:
        claim = warranty_claim(container.app, conn, wo, [desk.store])
    parts = [p for p in claim["problems"] if p["kind"] == "parts"]
    assert [(p["line_id"], p["part_number"], p["claimed_qty"], p["issued_qty"],
             p["returned_qty"]) for p in parts] == [
        ("L2", pump, "1", "0", "1"), ("L3", seal, "2", "0", "0")]
    assert "1 pc of " + pump + " but the stock shows 0 issued, 1 returned" in parts[0]["detail"]
    assert "no issue record" in parts[1]["detail"]
    assert claim["complete"] is False
    [job] = claim["jobs"]
    assert [m["movement"] for m in job["parts"][0]["movements"]] == ["issue", "return"]
    assert job["parts"][0]["lots"] == []  # net nothing left from the lot
    assert job["parts"][0]["movements"][0]["lots"] == [{"lot_id": lot, "qty": "1"}]
