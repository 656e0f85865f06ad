"""One store holding a stream of every main kind, for the tests that call each route with the
identifiers of the others (tests/e2e/test_path_id_scope.py)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient

from domain.part import Part
from domain.progress_link import ProgressLinks
from domain.stock import StockItem
from domain.technician import Technician
from domain.work_orders import vehicle_id
from servicecore.container import Container
from tests.e2e.test_audit_trail_api import full_visit
from tests.e2e.test_parts_api import get, head, post
from tests.e2e.test_progress_page import page_path, share
from tests.e2e.test_warranty_evidence_api import injector_visit
from tests.integration.audit_support import new_vin

Auth = Callable[..., dict[str, str]]
NAME, PHONE, PLATE = "王芳", "13700001111", "沪C22222"
OTHER_NAME, OTHER_PHONE = "李强", "13700002222"
# The payer a bank line names, as the bank prints it: no customer of the system (an auditor's
# read of it is recorded for no customer).
PAYER = "赵敏"


@dataclass(frozen=True)
class Dataset:
    store_id: str
    streams: dict[str, str]  # stream kind -> the stream's id
    values: dict[str, str]  # path parameter -> the value naming this store's record
    markers: tuple[str, ...]  # what no answer about another kind or store may show


def build(client: TestClient, auth: Auth, container: Container, store_id: str) -> Dataset:
    """A visit through to its complaint (customer, appointment, work order, settlement, stock
    item, technician, follow-up, complaint), a registered vehicle, an insurer, a labor
    operation of the store's master, a recall listing the vehicle, an online booking request, a purchase
    order, a transfer to a third store, a progress link, a bank statement, a failed part
    tagged on a warranty visit, a lost sale and a failed upload of the visit's repair record,
    all of `store_id`."""
    vin = new_vin()
    visit = full_visit(client, auth, store_id, vin=vin)
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
    manager = auth("manager", "mgr-" + store_id, [store_id])
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    third = store_id + "T"
    clerk = auth("parts_clerk", "clerk-" + store_id, [store_id, third])
    part = visit["part_number"]
    post(client, "/vehicles", advisor, {"store_id": store_id, "vin": vin, "plate": PLATE,
                                        "owner_id": visit["customer_id"]}, 201)
    code = "SC" + uuid.uuid4().hex[:8].upper()
    insurer = post(client, "/insurers", manager, {"code": code, "name": f"{code} 保险",
                                                  "short_name": code}, 201)
    operation = post(client, "/labor-operations", manager, {
        "store_id": store_id, "op_code": code, "description": "brake pads",
        "flat_rate_hours": "1.5", "rates": {"customer": "300.00", "warranty": "180.00",
                                            "insurance": "260.00", "internal": "150.00"}}, 201)
    campaign = post(client, "/campaigns", manager, {
        "campaign_no": "RC" + code, "brand": "Volkswagen", "kind": "safety_recall",
        "title": "ECU update", "starts_on": today}, 201)
    post(client, f"/campaigns/{campaign['campaign_no']}/vins", manager, {"vins": [vin]})
    order = post(client, "/purchase-orders", clerk, {
        "store_id": store_id, "supplier": "FAW-VW Parts",
        "lines": [{"part_number": part, "qty": 2, "unit_cost": "90.00"}]}, 201)
    lot = post(client, f"/stock/{store_id}/{part}/receipts", clerk, {
        "qty": 2, "unit_cost": "100.00", "supplier": "S", "supplier_doc": "DN-2"}, 201)
    transfer = post(client, "/stock/transfers", clerk, {
        "from_store": store_id, "to_store": third, "part_number": part, "qty": 1,
        "reason": "the other store is short"}, 201)
    link = share(client, advisor, visit["other_work_order_id"])
    # An online booking request, held on tomorrow's planned capacity, and its customer's link.
    tomorrow = (datetime.now(ZoneInfo("Asia/Shanghai")).date() + timedelta(days=1)).isoformat()
    post(client, "/appointments/capacity", manager, {
        "store_id": store_id, "from_day": tomorrow, "to_day": tomorrow, "opens": "08:00",
        "closes": "18:00", "bays": 2, "skill_hours": {"maintenance": 8}})
    booking = post(client, "/online-bookings", auth("booking_channel", "mp-" + store_id,
                                                    [store_id]), {
        "store_id": store_id, "name": NAME, "phone": PHONE, "plate": PLATE, "day": tomorrow,
        "arrival": "10:00", "services": [{"description": "oil change"}]}, 201)
    statement = post(client, "/reconciliation/statements", manager, {
        "store_id": store_id, "source": "bank", "account": "工行" + code,
        "csv": f"date,amount,reference,counterparty\n{today},10.00,{code},{PAYER}\n"}, 201)
    # A failed part removed under warranty, tagged in the store (a visit of its own).
    _, warranty_wo, warranty_line = injector_visit(client, auth, store_id, vin=new_vin())
    failed_part = post(client, "/failed-parts", clerk, {
        "work_order_id": warranty_wo, "line_id": warranty_line, "tag_number": "T-" + code,
        "location": "warranty cage"}, 201)
    lost_sale = post(client, f"/stores/{store_id}/lost-sales", clerk, {
        "part_number": part, "qty": 1, "reason": "price"}, 201)
    # The settled visit's repair record: an upload that failed.
    post(client, f"/work-orders/{visit['work_order_id']}/repair-record/filing", advisor,
         {"outcome": "failed", "error": "the national system did not answer"})
    # A customer's complaint case about the visit.
    grievance = post(client, f"/stores/{store_id}/grievances", advisor, {
        "customer_id": visit["customer_id"], "kind": "complaint", "channel": "phone",
        "category": "waiting_time", "words": "waited too long", "work_order_id":
        visit["work_order_id"]}, 201)
    wait = head(client)
    complaints = get(client, "/complaints", manager, work_order_id=visit["work_order_id"],
                     wait_for=wait)["items"]
    wo_id = uuid.UUID(visit["work_order_id"])
    customer_id = uuid.UUID(visit["customer_id"])
    registered = next(iter(container.app.events.get(customer_id, lte=1)))
    with container.pool.connection() as conn:
        row = conn.execute(
            "SELECT e.notification_id, c.command_id FROM servicecore_events e "
            "JOIN servicecore_commands c ON e.notification_id = ANY(c.notification_ids) "
            "WHERE e.originator_id = %s AND e.originator_version = 1",
            (customer_id,)).fetchone()
    assert row is not None and registered.originator_version == 1
    streams = {
        "Customer": str(customer_id), "Vehicle": str(vehicle_id(vin)), "WorkOrder": str(wo_id),
        "Settlement": visit["settlement_id"], "Appointment": visit["appointment_id"],
        "FollowUp": visit["follow_up_id"], "Complaint": complaints[0]["id"],
        "StockItem": str(StockItem.create_id(store_id, part)),
        "Part": str(Part.create_id(part)), "Technician": str(Technician.create_id(
            visit["technician"])), "Insurer": insurer["id"], "PurchaseOrder": order["id"],
        "Transfer": transfer["id"], "Statement": statement["id"],
        "LaborOperation": operation["id"], "OnlineBooking": booking["booking_id"], "FailedPart": failed_part["id"],
        "Grievance": grievance["id"], "LostSale": lost_sale["id"],
        "ProgressLinks": str(ProgressLinks.create_id(
            uuid.UUID(visit["other_work_order_id"]))),
    }
    values = {
        "work_order_id": str(wo_id), "customer_id": streams["Customer"],
        "settlement_id": streams["Settlement"], "appointment_id": streams["Appointment"],
        "follow_up_id": streams["FollowUp"], "complaint_id": streams["Complaint"],
        "order_id": streams["PurchaseOrder"], "transfer_id": streams["Transfer"],
        "statement_id": streams["Statement"], "failed_part_id": streams["FailedPart"],
        "lost_sale_id": streams["LostSale"],
        "grievance_id": streams["Grievance"],
        "links_id": streams["ProgressLinks"], "lot_id": lot["lot_id"], "vin": vin,
        "part_number": part, "store_id": store_id, "insurer": code, "op_code": code,
        "campaign_no": campaign["campaign_no"], "booking_id": booking["booking_id"],
        "booking_token": booking["token"],
        "user_id": visit["technician"], "section": "visits", "name": "technician_efficiency",
        "token": page_path(link).rsplit("/", 1)[1], "business_date": today,
        "notification_id": str(row[0]), "command_id": str(row[1]),
        "shared_work_order_id": visit["other_work_order_id"],
        # query parameters that name a record
        "correlation_id": visit["issue_correlation"], "number": visit["number"],
        "customer_phone": PHONE, "q": PHONE, "plate": PLATE,
    }
    return Dataset(store_id, streams, values,
                   (NAME, PHONE, PLATE, vin, OTHER_NAME, OTHER_PHONE, PAYER, visit["number"]))


def event_count(container: Container) -> int:
    with container.pool.connection() as conn:
        found = conn.execute("SELECT max(notification_id) FROM servicecore_events").fetchone()
    return int(found[0]) if found and found[0] is not None else 0


def leaked(markers: tuple[str, ...], asked: str, body: str) -> list[str]:
    """The markers an answer shows that the request did not itself name."""
    return [m for m in markers if m in body and m not in asked]


def problem_of(answer: Any) -> dict[str, Any]:
    return answer.json() if answer.headers.get("content-type", "").endswith("json") else {}
