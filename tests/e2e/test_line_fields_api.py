"""A price, a cost, hours or a quantity the shop cannot take names the body field at fault
(`field` of the 422), as a payment's refusal does: on the part master, an order and its
receipts, an estimate line and its repricing, a technician's profile, a line discount. A field
inside an object is named by its path (`warranty.deductible`, `lines[1].unit_cost`). Nothing
is stored."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient

from servicecore.demo import make_vin
from tests.e2e.desk_clock import commands_at, this_morning
from tests.e2e.test_money_api import ready_for_settlement
from tests.e2e.test_parts_api import (
    get,
    head,
    new_part,
    on_roster,
    post,
    ready_visit,
    store_staff,
)

Auth = Callable[..., dict[str, str]]


def _refused(client: TestClient, url: str, headers: dict[str, str],
             cases: list[tuple[dict[str, Any], str]]) -> None:
    """Each body of `cases` refused with 422 naming its field, and the log's head unmoved."""
    before = head(client)
    for body, field in cases:
        refused = client.post(url, headers=headers, json=body)
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json().get("field") == field, (body, refused.text)
    assert head(client) == before  # nothing stored


def test_the_part_master_and_a_receipt_name_the_price_cost_or_quantity(
        client: TestClient, auth: Auth, store_id: str) -> None:
    clerk = auth("parts_clerk", stores=[store_id])
    number = new_part(client, clerk, min_stock=0)
    part = {"part_number": number + "X", "name": "pads", "unit": "set", "category": "brake",
            "list_price": "450.00"}
    _refused(client, "/parts", clerk, [({**part, "list_price": "450.001"}, "list_price")])
    _refused(client, f"/parts/{number}/price", clerk,
             [({"list_price": "10.001", "reason": "price list"}, "list_price")])
    receipt = {"qty": 1, "unit_cost": "200.00", "supplier": "S", "supplier_doc": "DN-1"}
    _refused(client, f"/stock/{store_id}/{number}/receipts", clerk, [
        ({**receipt, "unit_cost": "200.001"}, "unit_cost"),
        ({**receipt, "qty": "1.0001"}, "qty")])


def test_an_order_its_lines_and_its_receipts_name_the_field_at_fault(
        client: TestClient, auth: Auth, store_id: str) -> None:
    clerk = auth("parts_clerk", stores=[store_id])
    first, second = new_part(client, clerk, min_stock=0), new_part(client, clerk, min_stock=0)
    good = {"part_number": first, "qty": "4", "unit_cost": "320.00"}
    order = {"store_id": store_id, "supplier": "Bosch"}
    _refused(client, "/purchase-orders", clerk, [
        ({**order, "lines": [good, {"part_number": second, "qty": "1",
                                    "unit_cost": "10.001"}]}, "lines[1].unit_cost"),
        ({**order, "lines": [good, good]}, "lines[1].part_number"),
        ({**order, "lines": [{**good, "qty": "1.0001"}]}, "lines[0].qty")])
    drafted = post(client, "/purchase-orders", clerk, {**order, "lines": [good]}, 201)
    po = f"/purchase-orders/{drafted['id']}"
    _refused(client, f"{po}/lines", clerk, [
        ({"part_number": second, "qty": "1", "unit_cost": "9.999"}, "unit_cost"),
        ({"part_number": second, "qty": "0.0005", "unit_cost": "9.99"}, "qty")])
    post(client, f"{po}/send", clerk)
    _refused(client, f"{po}/receipts", clerk, [
        ({"line_no": 1, "qty": 1, "unit_cost": "330.001", "supplier_doc": "DN-1"}, "unit_cost"),
        ({"line_no": 1, "qty": "1.0001", "supplier_doc": "DN-1"}, "qty")])


def test_an_estimate_line_and_its_repricing_name_the_field_at_fault(
        client: TestClient, auth: Auth, store_id: str) -> None:
    clerk, advisor, manager, _ = store_staff(auth, store_id)
    number = new_part(client, clerk, min_stock=0)
    wo, part_line = ready_visit(client, auth, store_id, number)
    labor = {"op_code": "BRK01", "description": "replace pads", "hours": "1.0",
             "hourly_rate": "300.00"}
    warranty = {**labor, "pay_type": "warranty", "warranty": {"coverage_code": "C-22"}}
    sublet = {"supplier": "Glass Co", "invoice_ref": "INV-9", "cost": "100.00"}
    _refused(client, f"{wo}/jobs/1/labor-lines", advisor, [
        ({**labor, "hourly_rate": "300.001"}, "hourly_rate"),
        ({**labor, "hours": "1.001"}, "hours"),
        ({**labor, "vat_rate": "0.13001"}, "vat_rate"),
        ({**warranty, "warranty": {"coverage_code": "C-22", "deductible": "10.001"}},
         "warranty.deductible"),
        ({**labor, "sublet": {**sublet, "cost": "100.001"}}, "sublet.cost"),
        ({**labor, "warranty": {"coverage_code": "C-22"}}, "warranty")])
    _refused(client, f"{wo}/jobs/1/part-lines", advisor, [
        ({"part_number": number, "qty": "1", "unit_price": "450.001"}, "unit_price"),
        ({"part_number": number, "qty": "1.0001"}, "qty")])
    _refused(client, f"{wo}/lines/{part_line}/price", manager,
             [({"unit_price": "420.001", "reason": "price matched"}, "unit_price")])


def test_a_technicians_hourly_cost_names_its_field(client: TestClient, auth: Auth,
                                                  store_id: str) -> None:
    manager = auth("manager", stores=[store_id])
    _refused(client, f"/technicians/tech-{store_id}/profile", manager,
             [({"store_id": store_id, "skills": {}, "hourly_cost": "85.001"}, "hourly_cost")])


def test_a_discount_above_what_a_line_or_the_bill_has_left_names_the_amount(
        client: TestClient, auth: Auth, store_id: str) -> None:
    cashier = auth("cashier", "cash-" + store_id, [store_id])
    _, wo_id = ready_for_settlement(client, auth, store_id)
    drafted = post(client, "/settlements", cashier, {"work_order_id": wo_id}, 201)
    doc = get(client, f"/settlements/{drafted['id']}", cashier, wait_for=head(client))
    line = doc["bills"]["customer"]["lines"][0]["line_id"]
    _refused(client, f"/settlements/{drafted['id']}/discounts", cashier, [
        ({"line_id": line, "amount": "9999.00", "reason": "goodwill"}, "amount"),
        ({"amount": "9999.00", "reason": "goodwill"}, "amount")])


def test_a_stock_move_names_the_quantity_it_refuses(client: TestClient, auth: Auth,
                                                    store_id: str) -> None:
    clerk = auth("parts_clerk", stores=[store_id, store_id + "B"])
    number = new_part(client, clerk, min_stock=0)
    lot = post(client, f"/stock/{store_id}/{number}/receipts", clerk, {
        "qty": 4, "unit_cost": "100.00", "supplier": "S", "supplier_doc": "DN-1"}, 201)["lot_id"]
    item = f"/stock/{store_id}/{number}"
    why = {"reason": "checked on the shelf"}
    _refused(client, f"{item}/levels", clerk, [
        ({"min_stock": "1.0001", "reorder_qty": 2}, "min_stock"),
        ({"min_stock": 1, "reorder_qty": "2.0001"}, "reorder_qty")])
    _refused(client, f"{item}/scrap", clerk, [({**why, "qty": "1.0001"}, "qty")])
    _refused(client, f"{item}/stocktakes", clerk,
             [({**why, "counted": {lot: "3.0001"}}, f"counted.{lot}")])
    _refused(client, f"{item}/supplier-returns", clerk, [
        ({**why, "lot_id": lot, "qty": "1.0001", "reference": "RMA-1"}, "qty")])
    _refused(client, "/stock/transfers", clerk, [
        ({**why, "from_store": store_id, "to_store": store_id + "B", "part_number": number,
          "qty": "1.0001"}, "qty")])
    wo, line = ready_visit(client, auth, store_id, number)
    _refused(client, f"{wo}/lines/{line}/issue", clerk, [({"qty": "0.0001"}, "qty")])
    post(client, f"{wo}/lines/{line}/issue", clerk, {})
    _refused(client, f"{wo}/lines/{line}/return", clerk, [({**why, "qty": "0.0001"}, "qty")])


def test_the_front_desk_names_the_hours_or_amount_it_refuses(client: TestClient, auth: Auth,
                                                             store_id: str) -> None:
    manager = auth("manager", "mgr-" + store_id, [store_id])
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    cashier = auth("cashier", "cash-" + store_id, [store_id])
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
    customer = post(client, "/customers", advisor, {"store_id": store_id, "name": "赵敏",
                                                    "phones": ["13900000003"]}, 201)["id"]
    _refused(client, "/appointments/capacity", manager, [
        ({"store_id": store_id, "from_day": today, "to_day": today, "opens": "08:00",
          "closes": "18:00", "bays": 4, "skill_hours": {"chassis": "8.001"}},
         "skill_hours.chassis")])
    post(client, "/appointments/capacity", manager, {
        "store_id": store_id, "from_day": today, "to_day": today, "opens": "08:00",
        "closes": "18:00", "bays": 4, "skill_hours": {"chassis": 24}})
    service = {"description": "pads", "skill": "chassis", "hours": "1.5"}
    with commands_at(this_morning()):  # booked before its slot
        _refused(client, "/appointments", advisor, [
            ({"store_id": store_id, "customer_id": customer,
              "vehicle": {"vin": make_vin(random.Random(store_id))}, "day": today,
              "arrival": "09:00", "services": [service, {**service, "hours": "1.001"}]},
             "services[1].hours")])
    _refused(client, f"/customers/{customer}/points/earned", cashier,
             [({"paid_amount": "10.001", "reference": "ST-1"}, "paid_amount")])
    tech = "tech-" + store_id
    on_roster(client, manager, store_id, tech)
    post(client, f"/technicians/{tech}/shifts", manager, {"shifts": [
        {"day": today, "start": "00:00", "end": "23:59", "break_minutes": 60}]})
    _refused(client, f"/technicians/{tech}/attendance", manager,
             [({"day": today, "status": "partial", "hours": "4.001"}, "hours")])
