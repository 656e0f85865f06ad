"""The auditor's trail over HTTP: a number found, one visit's timeline across its streams, every
event of one request, `as_of` a day, and the auditor's reads of personal data kept as events."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient

from domain.follow_up import Complaint
from domain.settlement import Settlement
from domain.stock import StockItem
from domain.technician import Technician
from servicecore.container import Container
from tests.e2e.desk_clock import commands_at, this_morning
from tests.e2e.test_parts_api import get, head, new_part, post
from tests.integration.audit_support import new_vin, older_complaint
from tests.integration.support import LABOR, open_order, request

Auth = Callable[..., dict[str, str]]
SHANGHAI = ZoneInfo("Asia/Shanghai")


def full_visit(client: TestClient, auth: Auth, store_id: str,
               vin: str = "LSVAU218XN2183294") -> dict[str, Any]:
    """A booked visit through to the follow-up, each step by whoever does it: appointment and
    arrival, a part issued (sent with its own correlation id), a manager's dispatch, clocks,
    QC, settlement paid in cash, delivery, a follow-up call and a complaint of the older
    register (`/complaints`) about the visit. Besides it a
    second visit takes the same part (its events must stay out of the first one's timeline)."""
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    manager = auth("manager", "mgr-" + store_id, [store_id])
    clerk = auth("parts_clerk", "clerk-" + store_id, [store_id])
    cashier = auth("cashier", "cash-" + store_id, [store_id])
    tech_id = "tech-" + store_id
    tech = auth("technician", tech_id, [store_id])
    today = datetime.now(SHANGHAI).date()

    # The workshop's capacity, the technician on the roster, the part on the shelf.
    post(client, "/appointments/capacity", manager, {
        "store_id": store_id, "from_day": today.isoformat(), "to_day": today.isoformat(),
        "opens": "08:00", "closes": "18:00", "bays": 2, "skill_hours": {"chassis": 8}})
    post(client, f"/technicians/{tech_id}/profile", manager,
         {"store_id": store_id, "skills": {"chassis": 3}, "hourly_cost": "85.00"})
    part_number = new_part(client, clerk, min_stock=0)
    post(client, f"/stock/{store_id}/{part_number}/receipts", clerk, {
        "qty": 5, "unit_cost": "200.00", "supplier": "FAW-VW Parts", "supplier_doc": "DN-1"}, 201)

    # 王芳 is registered, books brake work for today and arrives: the work order opens.
    customer = post(client, "/customers", advisor, {
        "store_id": store_id, "name": "王芳", "phones": ["13700001111"]}, 201)
    with commands_at(this_morning()):  # booked before its slot
        booked = post(client, "/appointments", advisor, {
            "store_id": store_id, "customer_id": customer["id"],
            "vehicle": {"vin": vin, "plate": "沪C22222"},
            "day": today.isoformat(), "arrival": "09:00", "kind": "maintenance",
            "services": [{"description": "brake noise", "op_code": "BRK01", "hours": "1.5"}]}, 201)
    arrived = post(client, f"/appointments/{booked['id']}/arrival", advisor,
                   {"mileage": 30_000, "complaints": []}, 201)
    wo_id = arrived["work_order_id"]
    wo = f"/work-orders/{wo_id}"

    # Check-in, the estimate approved, the manager dispatches the job.
    post(client, f"{wo}/check-in", advisor, {"mileage_in": 30_010, "fuel_level": 50})
    labor = post(client, f"{wo}/jobs/1/labor-lines", advisor, LABOR)["line_id"]
    part = post(client, f"{wo}/jobs/1/part-lines", advisor,
                {"part_number": part_number, "qty": 1})["line_id"]
    for line in (labor, part):
        post(client, f"{wo}/lines/{line}/authorization", advisor,
             {"decision": "approved", "channel": "in_person"})
    post(client, "/dispatch/override", manager, {"work_order_id": wo_id, "job_no": 1,
                                                 "technician_id": tech_id,
                                                 "reason": "she asked for him"})

    # The clerk issues the pad; the request carries a correlation id of its own.
    issue_correlation = "issue-" + uuid.uuid4().hex
    issued = client.post(f"{wo}/lines/{part}/issue", json={},
                         headers={**clerk, "X-Correlation-ID": issue_correlation})
    assert issued.status_code == 200, issued.text
    assert issued.headers["X-Correlation-ID"] == issue_correlation

    # Repair, QC, settlement paid in cash, delivery and the follow-up call with a complaint.
    post(client, f"{wo}/jobs/1/clock-on", tech)
    post(client, f"{wo}/jobs/1/clock-off", tech)
    post(client, f"{wo}/jobs/1/complete", tech)
    post(client, f"{wo}/jobs/1/quality-check", manager, {"passed": True})
    drafted = post(client, "/settlements", cashier, {"work_order_id": wo_id}, 201)
    confirmed = post(client, f"/settlements/{drafted['id']}/confirmation", cashier)
    total = confirmed["bills"]["customer"]["outstanding"]
    paid = post(client, "/payments", cashier, {"work_order_id": wo_id, "method": "cash",
                                               "amount": total, "tendered": total}, 201)
    assert paid["settled"] is True
    delivered = post(client, f"{wo}/delivery", advisor, {"mileage_out": 30_012,
                                                         "acknowledged_by": "王芳"})
    result = post(client, f"/follow-ups/{delivered['follow_up']['id']}/result", advisor, {
        "csi": 2, "comment": "slow"})
    assert result["work_order_status"] == "closed"
    # The complaint on the call, as the older register kept it (before calls opened cases).
    older_complaint(client.app.state.ctx.app, UUID(wo_id),  # type: ignore[attr-defined]
                    "waited two hours", user="adv-" + store_id)

    # A second visit in the same store reserves the same part.
    other = post(client, "/work-orders", advisor, {
        "store_id": store_id, "customer": {"name": "李强", "phone": "13700002222"},
        "vehicle": {"vin": vin, "plate": "沪C33333"}, "mileage": 1_000,
        "complaints": ["squeak"]}, 201)
    other_line = post(client, f"/work-orders/{other['id']}/jobs/1/part-lines", advisor,
                      {"part_number": part_number, "qty": 1})["line_id"]
    post(client, f"/work-orders/{other['id']}/lines/{other_line}/authorization", advisor,
         {"decision": "approved", "channel": "phone"})
    return {"work_order_id": wo_id, "number": arrived["work_order_number"], "settlement_id": drafted["id"],
            "settlement_number": confirmed["number"], "appointment_id": booked["id"],
            "customer_id": customer["id"], "part_number": part_number, "technician": tech_id,
            "follow_up_id": delivered["follow_up"]["id"],
            "other_work_order_id": other["id"], "other_number": other["number"],
            "issue_correlation": issue_correlation}


def _stored(container: Container) -> list[tuple[int, Any]]:
    """Every event in the log as (notification id, domain event): the ground truth."""
    app = container.app
    found, start = [], 1
    while notifications := app.recorder.select_notifications(start=start, limit=1000):
        found += [(n.id, app.mapper.to_domain_event(n)) for n in notifications]
        start = notifications[-1].id + 1
    return found


def test_the_timeline_merges_a_visits_streams_in_log_order(
        client: TestClient, auth: Auth, container: Container, store_id: str) -> None:
    visit = full_visit(client, auth, store_id)
    wo_id = UUID(visit["work_order_id"])
    auditor = auth("auditor", "aud-1", [store_id])

    answer = get(client, f"/audit/work-orders/{wo_id}/timeline", auditor, wait_for=head(client))
    entries = answer["items"]
    assert (answer["number"], answer["store_id"]) == (visit["number"], store_id)

    # Exactly the events that refer to the visit, found independently in the whole log: every
    # event of the work order, settlement, follow-up, complaint and appointment streams, the
    # stock item's events keyed to this work order, the technician's and the cashier's
    # events for it — and nothing of the second visit, the receipt or the roster.
    stored = _stored(container)
    settlement_id = Settlement.create_id(wo_id)
    complaints = {e.originator_id for _, e in stored
                  if isinstance(e, Complaint.Opened) and e.work_order_id == wo_id}
    assert len(complaints) == 1
    own_streams = {wo_id, settlement_id, UUID(visit["follow_up_id"]),
                   UUID(visit["appointment_id"]), *complaints}

    def refers_to_visit(event: Any) -> bool:
        if event.originator_id in own_streams:
            return True
        if isinstance(event, StockItem.Event):
            return str(getattr(event, "key", "")).startswith(f"{wo_id}:")
        if isinstance(event, Technician.Event):
            return getattr(event, "work_order_id", None) == str(wo_id)
        return getattr(event, "settlement_id", None) == settlement_id

    expected = [(n, e) for n, e in stored if refers_to_visit(e)]
    assert [e["notification_id"] for e in entries] == [n for n, _ in expected]
    assert [e["event"] for e in entries] == [type(e).__qualname__ for _, e in expected]
    assert [e["version"] for e in entries] == [e.originator_version for _, e in expected]

    # In log order, the visit reads as it happened.
    kinds = [e["event"] for e in entries]
    assert kinds[:3] == ["Appointment.Booked", "WorkOrder.Opened", "Appointment.Arrived"]
    for earlier, later in [("StockItem.Reserved", "Technician.JobAssigned"),
                           ("Technician.JobAssigned", "StockItem.Issued"),
                           ("StockItem.Issued", "Technician.ClockedOn"),
                           ("Technician.ClockedOff", "Settlement.Opened"),
                           ("Settlement.Confirmed", "CashierDay.MoneyIn"),
                           ("Settlement.Settled", "FollowUp.Scheduled"),
                           ("FollowUp.Completed", "WorkOrder.Closed")]:
        assert kinds.index(earlier) < kinds.index(later), (earlier, later)
    assert {e["stream_type"] for e in entries} == {
        "Appointment", "WorkOrder", "StockItem", "Technician", "Settlement", "CashierDay",
        "FollowUp", "Complaint"}
    assert {s["stream_type"]: s["events"] for s in answer["streams"]}["Settlement"] == len(
        [e for e in entries if e["stream_type"] == "Settlement"])

    # Each entry says who, when, in which request, and what changed — personal data opened.
    issued = next(e for e in entries if e["event"] == "StockItem.Issued")
    assert issued["actor"] == {"user_id": "clerk-" + store_id, "role": "parts_clerk",
                               "store_id": store_id, "at": issued["at"],
                               "correlation_id": issued["correlation_id"],
                               "idempotency_key": issued["idempotency_key"]}
    assert issued["correlation_id"] == visit["issue_correlation"]
    assert issued["changes"]["key"].startswith(f"{wo_id}:")
    override = next(e for e in entries if e["event"] == "WorkOrder.JobDispatched")
    assert "she asked for him" in override["reason"]
    opened = next(e for e in entries if e["event"] == "WorkOrder.Opened")
    assert opened["changes"]["customer"]["name"] == "王芳"
    assert opened["changes"]["number"] == visit["number"]

    # Another store's auditor does not see it; an advisor may not ask; unknown ids are 404.
    assert client.get(f"/audit/work-orders/{wo_id}/timeline",
                      headers=auth("auditor", "aud-2", ["ELSEWHERE"])).status_code == 404
    assert client.get(f"/audit/work-orders/{wo_id}/timeline",
                      headers=auth("advisor", "adv-1", [store_id])).status_code == 403
    unknown = client.get(f"/audit/work-orders/{uuid.uuid4()}/timeline", headers=auditor)
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == "application/problem+json"


def test_numbers_find_their_streams_and_filter_the_lists(
        client: TestClient, auth: Auth, store_id: str) -> None:
    visit = full_visit(client, auth, store_id)
    auditor = auth("auditor", "aud-1", [store_id])
    wait = head(client)

    # The work-order number names the work order first, then the streams that quote it.
    found = get(client, "/audit/lookup", auditor, number=visit["number"], wait_for=wait)
    assert (found["number"], found["kind"]) == (visit["number"], "work_order")
    assert found["work_order_id"] == visit["work_order_id"]
    first = found["streams"][0]
    assert (first["stream_type"], first["stream_id"]) == ("WorkOrder", visit["work_order_id"])
    assert first["history"] == f"/work-orders/{visit['work_order_id']}/history"
    assert first["timeline"] == f"/audit/work-orders/{visit['work_order_id']}/timeline"
    assert {s["stream_type"] for s in found["streams"]} == {
        "WorkOrder", "Settlement", "FollowUp", "Complaint", "Appointment"}
    assert client.get(first["history"], headers=auditor).status_code == 200

    # The settlement number names the settlement (and the work order that recorded it).
    found = get(client, "/audit/lookup", auditor, number=visit["settlement_number"])
    assert found["kind"] == "settlement" and found["work_order_id"] == visit["work_order_id"]
    assert [(s["stream_type"], s["stream_id"]) for s in found["streams"]] == [
        ("Settlement", visit["settlement_id"]), ("WorkOrder", visit["work_order_id"])]
    assert found["streams"][0]["history"] == f"/settlements/{visit['settlement_id']}/history"

    # A well-formed number nobody holds is 404; a malformed one is 422. Any other text is a
    # tax invoice number (the tax system's, of any shape): none of the store's, 404.
    year = datetime.now(SHANGHAI).year
    for number, status in ((f"WO-{store_id}-{year}-999999", 404),
                           (f"SET-{store_id}-{year}-999999", 404),
                           (f"PO-{store_id}-{year}-999999", 404),
                           (f"TR-{store_id}-{year}-999999", 404),
                           ("WO-123", 422), ("set-S01-x", 422), ("hello", 404),
                           (f"INV-{store_id}-{year}-000001", 404)):
        answer = client.get("/audit/lookup", params={"number": number}, headers=auditor)
        assert answer.status_code == status, (number, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
    assert client.get("/audit/lookup", params={"number": visit["number"]},
                      headers=auth("auditor", "aud-2", ["ELSEWHERE"])).status_code == 404
    assert client.get("/audit/lookup", params={"number": visit["number"]},
                      headers=auth("cashier", "c-1", [store_id])).status_code == 403

    # The work-order list filters by number (the store has two work orders) ...
    advisor = auth("advisor", "adv-1", [store_id])
    assert get(client, "/work-orders", advisor, wait_for=wait)["total"] == 2
    listed = get(client, "/work-orders", advisor, number=visit["number"])
    assert [item["id"] for item in listed["items"]] == [visit["work_order_id"]]
    listed = get(client, "/work-orders", advisor, number=visit["number"].lower().replace(
        store_id.lower(), store_id))
    assert [item["id"] for item in listed["items"]] == [visit["work_order_id"]]
    assert get(client, "/work-orders", advisor, number=f"WO-{store_id}-{year}-999999") == {
        "total": 0, "limit": 50, "offset": 0, "items": []}
    assert client.get("/work-orders", params={"number": "WO-1"},
                      headers=advisor).status_code == 422
    # ... and so does the settlement list.
    cashier = auth("cashier", "c-1", [store_id])
    settled = get(client, "/settlements", cashier, number=visit["settlement_number"],
                  wait_for=wait)
    assert [s["id"] for s in settled["items"]] == [visit["settlement_id"]]
    assert settled["total"] == 1
    assert client.get("/settlements", params={"number": visit["number"]},
                      headers=cashier).status_code == 422


def test_the_events_of_one_request_across_streams(
        client: TestClient, auth: Auth, container: Container, store_id: str) -> None:
    visit = full_visit(client, auth, store_id)
    auditor = auth("auditor", "aud-1", [store_id])
    correlation = visit["issue_correlation"]

    answer = get(client, "/audit/events", auditor, correlation_id=correlation,
                 wait_for=head(client))

    # Exactly the events that request stored, from the work order and the stock item.
    # (other tests of the process may have stored events of their own classes, without audit)
    expected = [(n, e) for n, e in _stored(container)
                if getattr(getattr(e, "audit", None), "correlation_id", None) == correlation]
    assert [e["notification_id"] for e in answer["events"]] == [n for n, _ in expected]
    assert {e["event"] for e in answer["events"]} >= {"WorkOrder.PartsIssued",
                                                      "StockItem.Issued"}
    assert {e["stream_id"] for e in answer["events"]} == {
        visit["work_order_id"], str(StockItem.create_id(store_id, visit["part_number"]))}
    assert {e["correlation_id"] for e in answer["events"]} == {correlation}

    # Nothing for another store's auditor, nor for a correlation id nobody sent.
    assert get(client, "/audit/events", auth("auditor", "aud-2", ["ELSEWHERE"]),
               correlation_id=correlation)["events"] == []
    assert get(client, "/audit/events", auditor, correlation_id="nobody")["events"] == []
    assert client.get("/audit/events", headers=auditor).status_code == 422


def test_one_correlation_id_sent_with_many_requests_is_listed_a_page_at_a_time(
        client: TestClient, auth: Auth, store_id: str) -> None:
    """A client may send the same X-Correlation-ID with every request of an import: the
    events of all of them were listed, each read from the event store, in one answer."""
    correlation = "import-" + uuid.uuid4().hex
    desk = {**auth("advisor", "adv-li", [store_id]), "X-Correlation-ID": correlation}
    registered = [post(client, "/customers", desk, {
        "store_id": store_id, "kind": "person", "name": f"客户{n}",
        "phones": [f"1390000{n:04d}"]}, 201) for n in range(5)]
    auditor = auth("auditor", "aud-1", [store_id])
    first = get(client, "/audit/events", auditor, correlation_id=correlation, limit=2,
                wait_for=head(client))
    assert (first["total"], first["limit"], first["offset"]) == (5, 2, 0)
    rest = get(client, "/audit/events", auditor, correlation_id=correlation, offset=2)
    assert (rest["total"], rest["limit"]) == (5, 500)
    assert [e["stream_id"] for e in first["items"] + rest["items"]] == [
        c["id"] for c in registered]
    assert first["events"] == first["items"]
    too_many = client.get("/audit/events", headers=auditor,
                          params={"correlation_id": correlation, "limit": 1001})
    assert too_many.status_code == 422, too_many.text
    assert [e["loc"] for e in too_many.json()["errors"]] == [["query", "limit"]]


def test_as_of_takes_a_day_as_its_end_in_the_stores_time_zone(
        client: TestClient, auth: Auth, container: Container, store_id: str) -> None:
    wos = container.work_orders
    t0 = datetime(2024, 3, 1, 9, 0, tzinfo=SHANGHAI)
    # Opened 1 March 09:00; checked in 2 March 23:30; a line added 3 March 01:00 Shanghai
    # time, which is still 2 March in UTC (17:00Z).
    work_order_id = UUID(open_order(wos, store_id, at=t0)["id"])
    wos.check_in(request(store_id, at=datetime(2024, 3, 2, 23, 30, tzinfo=SHANGHAI)),
                 work_order_id, mileage_in=42_010, fuel_level=40)
    wos.add_labor_line(request(store_id, at=datetime(2024, 3, 3, 1, 0, tzinfo=SHANGHAI)),
                       work_order_id, 1, LABOR)
    auditor = auth("auditor", "aud-1", [store_id])
    url = f"/work-orders/{work_order_id}"

    def version(as_of: str) -> int:
        return int(get(client, url, auditor, as_of=as_of)["version"])

    # A day is the end of that day in Shanghai: 1 March sees the opening only, 2 March the
    # check-in too but not the line added at 01:00 on the 3rd.
    assert version("2024-03-01") == 1
    assert version("2024-03-02") == 2
    assert get(client, url, auditor, as_of="2024-03-02") == get(
        client, url, auditor, as_of="2024-03-02T23:59:59.999999+08:00")
    # A moment is taken as given: the end of 2 March in UTC is after that line.
    assert version("2024-03-02T23:59:59+00:00") == 3
    assert version("2024-03-03") == 3
    # Before the opening day there was nothing; impossible days and zone-less moments are 422.
    assert client.get(url, params={"as_of": "2024-02-29"}, headers=auditor).status_code == 404
    for bad in ("2024-02-30", "2024-03-02T10:00:00", "yesterday"):
        answer = client.get(url, params={"as_of": bad}, headers=auditor)
        assert answer.status_code == 422, bad
        assert answer.headers["content-type"] == "application/problem+json"

    # The stock item's as_of reads a day the same way.
    clerk = auth("parts_clerk", "clerk-1", [store_id])
    part_number = new_part(client, clerk, min_stock=0)
    for qty, at in ((2, datetime(2024, 3, 1, 12, 0, tzinfo=SHANGHAI)),
                    (3, datetime(2024, 3, 2, 0, 30, tzinfo=SHANGHAI))):
        container.inventory.receive(request(store_id, "parts_clerk", at=at), store_id,
                                    part_number, qty=qty, unit_cost="10.00",
                                    supplier="FAW-VW Parts", supplier_doc=f"DN-{qty}")
    stock = f"/stock/{store_id}/{part_number}"
    assert get(client, stock, clerk, as_of="2024-03-01")["on_hand"] == "2"
    assert get(client, stock, clerk, as_of="2024-03-01T23:59:59+00:00")["on_hand"] == "5"
    # the end of 2 March in Shanghai, answered in UTC like every timestamp
    assert get(client, stock, clerk, as_of="2024-03-02")["as_of"] == (
        "2024-03-02T15:59:59.999999Z")


def _reads(client: TestClient, headers: dict[str, str], customer_id: str) -> list[Any]:
    return get(client, "/audit/personal-data-reads", headers,  # type: ignore[no-any-return]
               customer_id=customer_id, wait_for=head(client))["items"]


def test_purchase_order_and_transfer_numbers_find_their_streams(
        client: TestClient, auth: Auth, store_id: str) -> None:
    other = store_id + "T"
    clerk = auth("parts_clerk", stores=[store_id, other])
    auditor = auth("auditor", "aud-1", [store_id])
    part = new_part(client, clerk, min_stock=0)
    post(client, f"/stock/{store_id}/{part}/receipts", clerk, {
        "qty": 4, "unit_cost": "100.00", "supplier": "S", "supplier_doc": "DN-1"}, 201)
    order = post(client, "/purchase-orders", clerk, {
        "store_id": store_id, "supplier": "FAW-VW Parts",
        "lines": [{"part_number": part, "qty": 2, "unit_cost": "90.00"}]}, 201)
    sent = post(client, "/stock/transfers", clerk, {
        "from_store": store_id, "to_store": other, "part_number": part, "qty": 1,
        "reason": "the other store is short"}, 201)
    wait = head(client)
    # A purchase-order number names the order, with its history, as a work-order number does.
    found = get(client, "/audit/lookup", auditor, number=" po" + order["number"][2:],
                wait_for=wait)
    assert (found["number"], found["kind"], found["work_order_id"]) == (
        order["number"], "purchase_order", None)
    first = found["streams"][0]
    assert (first["stream_type"], first["stream_id"], first["history"], first["timeline"]) == (
        "PurchaseOrder", order["id"], f"/purchase-orders/{order['id']}/history", None)
    assert get(client, first["history"], auditor)["total"] >= 1
    # So does a transfer number: the transfer, whose history the auditor reads.
    found = get(client, "/audit/lookup", auditor, number=sent["number"])
    assert (found["kind"], found["streams"][0]["stream_type"],
            found["streams"][0]["stream_id"]) == ("transfer", "Transfer", sent["id"])
    history = found["streams"][0]["history"]
    assert history == f"/stock/transfers/{sent['id']}/history"
    page = get(client, history, auditor)
    assert [e["event"] for e in page["items"]][:1] == ["Transfer.Dispatched"]
    # Another store's auditor finds neither.
    elsewhere = auth("auditor", "aud-2", ["ELSEWHERE"])
    for path in (f"/audit/lookup?number={order['number']}", history):
        assert client.get(path, headers=elsewhere).status_code == 404


def test_a_follow_up_and_a_complaint_have_their_history_and_the_lookup_links_it(
        client: TestClient, auth: Auth, store_id: str) -> None:
    visit = full_visit(client, auth, store_id)
    wo_id, follow_up_id = visit["work_order_id"], visit["follow_up_id"]
    auditor = auth("auditor", "aud-1", [store_id])
    advisor = auth("advisor", "adv-1", [store_id])
    wait = head(client)

    # The visit's follow-up and complaint are found by its work order (the store's second
    # work order has neither).
    called = get(client, "/follow-ups", advisor, work_order_id=wo_id, wait_for=wait)
    assert [f["id"] for f in called["items"]] == [follow_up_id] and called["total"] == 1
    (complaint,) = get(client, "/complaints", advisor, work_order_id=wo_id)["items"]
    assert complaint["work_order_id"] == wo_id
    for listed in ("/follow-ups", "/complaints"):
        assert get(client, listed, advisor, work_order_id=visit["other_work_order_id"]) == {
            "total": 0, "limit": 200, "offset": 0, "items": []}
        assert client.get(listed, params={"work_order_id": "WO-1"},
                          headers=advisor).status_code == 422

    # The complaint is taken and resolved.
    complaint_id = complaint["id"]
    post(client, f"/complaints/{complaint_id}/assignment", advisor, {"assignee": "mgr-1"})
    post(client, f"/complaints/{complaint_id}/resolution", advisor,
         {"resolution": "apologised, free car wash"})

    # Every stream the work-order number names links its history, and each link answers
    # that stream's events, oldest first.
    found = get(client, "/audit/lookup", auditor, number=visit["number"], wait_for=head(client))
    links = {s["stream_type"]: s["history"] for s in found["streams"]}
    assert links["FollowUp"] == f"/follow-ups/{follow_up_id}/history"
    assert links["Complaint"] == f"/complaints/{complaint_id}/history"
    assert None not in links.values(), links
    for stream_type, link in links.items():
        events = get(client, link, auditor)["items"]
        assert events and all(e["event"].startswith(stream_type + ".") for e in events), link
    before = head(client)
    history = get(client, links["FollowUp"], auditor)
    assert [e["event"] for e in history["items"]] == ["FollowUp.Scheduled", "FollowUp.Completed"]
    assert history["items"][1]["changes"]["csi"] == 2
    assert history["items"][1]["actor"]["user_id"] == "adv-" + store_id
    history = get(client, links["Complaint"], auditor)
    assert [e["event"] for e in history["items"]] == [
        "Complaint.Opened", "Complaint.Assigned", "Complaint.Resolved"]
    assert history["items"][2]["changes"]["resolution"] == "apologised, free car wash"
    # Neither carries personal data: the auditor's reads recorded nothing.
    assert head(client) == before

    # Paged like every history.
    page = get(client, links["Complaint"], auditor, limit=1, offset=1)
    assert (page["total"], page["limit"], page["offset"]) == (3, 1, 1)
    assert [e["event"] for e in page["items"]] == ["Complaint.Assigned"]

    # Who may read them: as a work order's history (auditor, manager, advisor) ...
    for role in ("manager", "advisor"):
        assert client.get(links["FollowUp"], headers=auth(role, "u-1", [store_id])
                          ).status_code == 200
    for role in ("analyst", "cashier", "technician"):
        assert client.get(links["Complaint"], headers=auth(role, "u-1", [store_id])
                          ).status_code == 403
    # ... in the token's stores; an unknown id, or another stream's, is 404.
    elsewhere = auth("auditor", "aud-2", ["ELSEWHERE"])
    for url, headers in ((links["FollowUp"], elsewhere), (links["Complaint"], elsewhere),
                         (f"/follow-ups/{complaint_id}/history", auditor),
                         (f"/complaints/{follow_up_id}/history", auditor),
                         (f"/follow-ups/{wo_id}/history", auditor),
                         (f"/complaints/{uuid.uuid4()}/history", auditor)):
        answer = client.get(url, headers=headers)
        assert answer.status_code == 404, (url, answer.text)
        assert answer.json()["type"].endswith("/not-found")


def test_an_auditors_read_of_personal_data_is_recorded_and_others_are_not(
        client: TestClient, auth: Auth, container: Container, store_id: str) -> None:
    visit = full_visit(client, auth, store_id)
    wo_id, customer_id = visit["work_order_id"], visit["customer_id"]
    auditor = auth("auditor", "aud-zhang", [store_id])
    manager = auth("manager", "mgr-1", [store_id])
    assert _reads(client, manager, customer_id) == []

    # The auditor reads the visit's timeline, naming the request: it shows 王芳's name ...
    correlation = "audit-" + uuid.uuid4().hex
    before = head(client)
    timeline = client.get(f"/audit/work-orders/{wo_id}/timeline",
                          headers={**auditor, "X-Correlation-ID": correlation})
    assert timeline.status_code == 200 and timeline.headers["X-Correlation-ID"] == correlation

    # ... so exactly one event was stored: her PersonalDataRead, with who, when and why.
    stored = [e for n, e in _stored(container) if n > before]
    assert [type(e).__qualname__ for e in stored] == ["DataAccess.PersonalDataRead"]
    (read,) = _reads(client, manager, customer_id)
    assert (read["user_id"], read["role"], read["store_id"]) == ("aud-zhang", "auditor", store_id)
    assert read["correlation_id"] == correlation
    assert read["endpoint"] == f"GET /audit/work-orders/{wo_id}/timeline"
    assert read["purpose"] == "work-order timeline"
    assert read["customer_id"] == customer_id
    assert abs(datetime.fromisoformat(read["at"]) - datetime.now(SHANGHAI)) < timedelta(minutes=5)
    # Auditors may list the reads too; other roles may not.
    assert _reads(client, auditor, customer_id) == [read]
    assert client.get("/audit/personal-data-reads", params={"customer_id": customer_id},
                      headers=auth("advisor", "a-1", [store_id])).status_code == 403

    # The history, the work order and the customer 360 each record one read, newest first.
    for url in (f"/work-orders/{wo_id}/history", f"/work-orders/{wo_id}",
                f"/customers/{customer_id}", f"/customers/{customer_id}/history"):
        assert client.get(url, headers=auditor).status_code == 200, url
    reads = _reads(client, manager, customer_id)
    assert [r["purpose"] for r in reads] == [
        "customer history", "customer 360", "work order", "work-order history",
        "work-order timeline"]

    # Reads that show no personal data store nothing, and neither does a manager's read.
    before = head(client)
    for url, headers in ((f"/settlements/{visit['settlement_id']}/history", auditor),
                         ("/audit/lookup?number=" + visit["number"], auditor),
                         (f"/audit/work-orders/{wo_id}/timeline", manager),
                         (f"/customers/{customer_id}/history", manager)):
        assert client.get(url, headers=headers).status_code == 200, url
    assert head(client) == before

    # Once she is erased, her history shows "[erased]": nothing was read, nothing recorded.
    post(client, f"/customers/{customer_id}/erasure", manager, {"reason": "PIPL request"})
    before = head(client)
    history = get(client, f"/work-orders/{wo_id}/history", auditor)["items"]
    assert history[0]["changes"]["customer"]["name"] == "[erased]"
    assert head(client) == before
    # The record of the reads outlives the erasure.
    assert len(_reads(client, manager, customer_id)) == 5


def test_an_auditors_read_of_bookings_and_the_vehicle_file_is_recorded(
        client: TestClient, auth: Auth, container: Container, store_id: str) -> None:
    vin = new_vin()  # a car of its own: the file is the vehicle's, whichever store saw it
    visit = full_visit(client, auth, store_id, vin)
    customer_id = visit["customer_id"]
    auditor = auth("auditor", "aud-li", [store_id])
    manager = auth("manager", "mgr-1", [store_id])
    post(client, "/vehicles", auth("advisor", "adv-1", [store_id]), {
        "store_id": store_id, "vin": vin, "plate": "沪C22222", "owner_id": customer_id}, 201)
    reads = (f"/appointments/{visit['appointment_id']}", f"/appointments?store_id={store_id}",
             f"/vehicles/{vin}", f"/vehicles?q={vin[:8]}")

    # A manager's reads of the same answers store nothing.
    before = head(client)
    for url in reads:
        answer = client.get(url, headers=manager, params={"wait_for": before})
        assert answer.status_code == 200, url
    assert head(client) == before

    # The booking shows 王芳's name and phone; the lookup shows her as the owner; the file
    # names every owner the car had (李强 too, from his visit). Each customer shown gets one
    # recorded read per answer, with the endpoint and purpose.
    shown = client.get(f"/vehicles/{vin}", headers=manager).json()
    assert (shown["owner_id"], shown["owner_name"]) == (customer_id, "王芳")
    owners = {o["customer_id"] for o in shown["owners"] if o["name"]}
    assert customer_id in owners and len(owners) == 2
    for url in reads:
        assert client.get(url, headers=auditor).status_code == 200, url
    stored = [e for n, e in _stored(container) if n > before]
    assert {type(e).__qualname__ for e in stored} == {"DataAccess.PersonalDataRead"}
    assert sorted((e.purpose, str(e.customer_id)) for e in stored) == sorted(
        [("appointment", customer_id), ("appointment list", customer_id),
         ("vehicle lookup", customer_id)] + [("vehicle file", o) for o in owners])
    hers = _reads(client, manager, customer_id)
    assert [r["purpose"] for r in hers] == [
        "vehicle lookup", "vehicle file", "appointment list", "appointment"]
    assert [r["endpoint"] for r in hers][1::2] == [f"GET /vehicles/{vin}",
                                                   f"GET /appointments/{visit['appointment_id']}"]
    assert {(r["user_id"], r["role"], r["store_id"]) for r in hers} == {
        ("aud-li", "auditor", store_id)}
