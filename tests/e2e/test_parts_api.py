"""Parts over HTTP: master, receipts, the work-order link, approvals, transfers, orders, reads."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient

# the technician's profile that puts them on the store's roster, as the other tests give it
from tests.integration.support import on_roster

Auth = Callable[..., dict[str, str]]


def post(client: TestClient, url: str, headers: dict[str, str], body: Any = None,
         status: int = 200) -> dict[str, Any]:
    response = client.post(url, headers=headers, json=body if body is not None else {})
    assert response.status_code == status, response.text
    return response.json()  # type: ignore[no-any-return]


def get(client: TestClient, url: str, headers: dict[str, str], status: int = 200,
        **params: Any) -> Any:
    response = client.get(url, headers=headers, params=params)
    assert response.status_code == status, response.text
    return response.json()


def head(client: TestClient) -> int:
    """The log's head: reading with ?wait_for=head reads everything written so far. /health
    leaves it null when its database read takes longer than its 0.75 s deadline (a busy
    machine): asked again then, a few times."""
    for _ in range(20):
        found = client.get("/health").json()
        if found["head_notification_id"] is not None:
            return int(found["head_notification_id"])
        time.sleep(0.25)
    raise AssertionError(f"/health named no head: {found}")


def new_part(client: TestClient, clerk: dict[str, str], **overrides: Any) -> str:
    number = "P" + uuid.uuid4().hex[:9].upper()
    post(client, "/parts", clerk, {
        "part_number": number, "name": "front brake pads", "unit": "set", "category": "brake",
        "list_price": "450.00", "min_stock": 2, "reorder_qty": 6,
        "preferred_supplier": "FAW-VW Parts", "barcode": "69" + number, **overrides}, 201)
    return number


def store_staff(auth: Auth, store_id: str
                ) -> tuple[dict[str, str], dict[str, str], dict[str, str], dict[str, str]]:
    """The headers of the store's parts clerk, advisor, manager and technician (users
    clerk-, adv-, mgr- and tech-<store>), in that order."""
    return (auth("parts_clerk", "clerk-" + store_id, [store_id]),
            auth("advisor", "adv-" + store_id, [store_id]),
            auth("manager", "mgr-" + store_id, [store_id]),
            auth("technician", "tech-" + store_id, [store_id]))


def received_part(client: TestClient, clerk: dict[str, str], store_id: str, qty: int) -> str:
    """A new part (no minimum stock) with `qty` units received in the store at 200.00."""
    number = new_part(client, clerk, min_stock=0)
    post(client, f"/stock/{store_id}/{number}/receipts", clerk, {
        "qty": qty, "unit_cost": "200.00", "supplier": "S", "supplier_doc": "DN-1"}, 201)
    return number


def ready_visit(client: TestClient, auth: Auth, store_id: str, part_number: str,
                qty: str = "1") -> tuple[str, str]:
    """A checked-in visit with an approved labor line and an approved part line, dispatched."""
    advisor = auth("advisor", stores=[store_id])
    opened = post(client, "/work-orders", advisor, {
        "store_id": store_id, "customer": {"name": "王伟", "phone": "13800000001"},
        "vehicle": {"vin": "LSVAU218XN2183294", "plate": "沪A12345"}, "mileage": 30000,
        "complaints": ["brake noise"]}, 201)
    wo = f"/work-orders/{opened['id']}"
    post(client, f"{wo}/check-in", advisor, {"mileage_in": 30010, "fuel_level": 50})
    labor = post(client, f"{wo}/jobs/1/labor-lines", advisor, {
        "op_code": "BRK01", "description": "replace pads", "hours": "1.0",
        "hourly_rate": "300.00"})
    part = post(client, f"{wo}/jobs/1/part-lines", advisor,
                {"part_number": part_number, "qty": qty})
    for line in (labor["line_id"], part["line_id"]):
        post(client, f"{wo}/lines/{line}/authorization", advisor,
             {"decision": "approved", "channel": "phone"})
    manager = auth("manager", stores=[store_id])
    on_roster(client, manager, store_id, "tech-" + store_id)
    post(client, f"{wo}/jobs/1/dispatch", manager, {"technician_id": "tech-" + store_id})
    return wo, part["line_id"]


def test_a_part_from_receipt_to_the_car_traceable_to_its_lot(client: TestClient, auth: Auth,
                                                             store_id: str) -> None:
    clerk = auth("parts_clerk", stores=[store_id])
    number = new_part(client, clerk)
    # Two deliveries at different costs: two lots.
    first = post(client, f"/stock/{store_id}/{number}/receipts", clerk, {
        "qty": 1, "unit_cost": "200.00", "supplier": "FAW-VW Parts", "supplier_doc": "DN-1",
        "cert_ref": "CCC-2026-1"}, 201)
    post(client, f"/stock/{store_id}/{number}/receipts", clerk, {
        "qty": 3, "unit_cost": "220.00", "supplier": "FAW-VW Parts", "supplier_doc": "DN-2"}, 201)
    before_the_visit = datetime.now(UTC)
    # The part line takes the master's name, unit and price; approving it reserves two sets.
    wo, line = ready_visit(client, auth, store_id, number, qty="2")
    doc = get(client, wo, clerk, wait_for=head(client))
    part_line = next(ln for ln in doc["lines"] if ln["line_id"] == line)
    assert (part_line["description"], part_line["unit"], part_line["unit_price"]) == \
        ("front brake pads", "set", "450.00")
    assert part_line["supply"] == "reserved"
    # Issue: stock leaves at FIFO cost (200 + 220) and the line records the lots.
    issued = post(client, f"{wo}/lines/{line}/issue", clerk, {})
    assert issued["cost"] == "420.00"
    assert [p["lot_id"] for p in issued["picks"]] == [first["lot_id"], first["lot_id"].replace("-00001@", "-00002@")]
    item = get(client, f"/stock/{store_id}/{number}", clerk, wait_for=issued["notification_id"])
    assert (item["on_hand"], item["reserved"], item["available"]) == ("2", "0", "2")
    assert item["fifo_value"] == "440.00"
    # The lot ledger shows the receipt and the issue to this work order.
    lot = get(client, f"/stock/lots/{first['lot_id']}", clerk)
    assert lot["cert_ref"] == "CCC-2026-1" and lot["on_hand"] == "0"
    assert [m["type"] for m in lot["movements"]] == ["receipt", "issue"]
    assert lot["movements"][1]["work_order_id"] == wo.rsplit("/", 1)[1]
    # The journal filters by work order.
    journal = get(client, "/stock/movements", auth("auditor"),
                  work_order_id=wo.rsplit("/", 1)[1])
    assert journal["total"] == 2 and {m["type"] for m in journal["items"]} == {"issue"}
    # An auditor asks what the shelf held before the visit: replayed from the events.
    then = get(client, f"/stock/{store_id}/{number}", auth("auditor"),
               as_of=before_the_visit.isoformat())
    assert (then["on_hand"], then["reserved"], len(then["lots"])) == ("4", "0", 2)
    history = get(client, f"/stock/{store_id}/{number}/history", auth("auditor"))["items"]
    assert [h["event"] for h in history] == [
        "StockItem.Opened", "StockItem.Received", "StockItem.LowStockAlertRaised",
        "StockItem.Received", "StockItem.LowStockAlertCleared", "StockItem.Reserved",
        "StockItem.Issued"]
    assert history[-1]["actor"]["role"] == "parts_clerk"
    # One set comes back unused: into the lot it came from, last picked first.
    post(client, f"{wo}/lines/{line}/return", clerk, {"qty": 1, "reason": "one set unused"})
    doc = get(client, wo, clerk, wait_for=head(client))
    assert next(ln for ln in doc["lines"] if ln["line_id"] == line)["issued_qty"] == "1"


def test_racing_for_the_last_unit_gives_409_with_what_is_available(
        client: TestClient, auth: Auth, store_id: str) -> None:
    clerk = auth("parts_clerk", stores=[store_id])
    number = new_part(client, clerk, min_stock=0)
    post(client, f"/stock/{store_id}/{number}/receipts", clerk, {
        "qty": 1, "unit_cost": "200.00", "supplier": "S", "supplier_doc": "DN-1"}, 201)
    wo_a, line_a = ready_visit(client, auth, store_id, number)
    # The first approval reserved the only unit; the second visit is back-ordered.
    wo_b, line_b = ready_visit(client, auth, store_id, number)
    doc_b = get(client, wo_b, clerk, wait_for=head(client))
    assert next(ln for ln in doc_b["lines"] if ln["line_id"] == line_b)["supply"] == "back_order"
    refused = client.post(f"{wo_b}/lines/{line_b}/issue", headers=clerk, json={})
    assert refused.status_code == 409
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["available"] == "0"
    post(client, f"{wo_a}/lines/{line_a}/issue", clerk, {})
    # Visit B cannot finish with the part missing: it moves to a follow-on work order.
    tech = auth("technician", user="tech-" + store_id, stores=[store_id])
    post(client, f"{wo_b}/jobs/1/clock-on", tech, {})
    post(client, f"{wo_b}/jobs/1/clock-off", tech, {})
    blocked = client.post(f"{wo_b}/jobs/1/complete", headers=tech, json={})
    assert blocked.status_code == 409 and line_b in blocked.json()["lines"]
    moved = post(client, f"{wo_b}/follow-on", auth("advisor", stores=[store_id]),
                 {"line_ids": [line_b], "reason": "pads on back order"}, 201)
    post(client, f"{wo_b}/jobs/1/complete", tech, {})
    post(client, f"{wo_b}/jobs/1/quality-check", auth("manager", stores=[store_id]),
         {"passed": True})
    doc_b = get(client, wo_b, clerk, wait_for=head(client))
    assert doc_b["status"] == "ready_for_settlement"
    follow = get(client, f"/work-orders/{moved['follow_on']['id']}", clerk, wait_for=head(client))
    assert follow["follow_on_of"]["number"] == doc_b["number"]
    assert follow["lines"][0]["status"] == "approved"
    assert follow["lines"][0]["part_number"] == number


def test_scrap_above_the_threshold_waits_for_another_manager(client: TestClient, auth: Auth,
                                                             store_id: str) -> None:
    clerk = auth("parts_clerk", stores=[store_id])
    number = new_part(client, clerk, min_stock=0)
    post(client, f"/stock/{store_id}/{number}/receipts", clerk, {
        "qty": 5, "unit_cost": "200.00", "supplier": "S", "supplier_doc": "DN-1"}, 201)
    # 3 × 200 = 600 CNY is above the 500 CNY threshold: it waits, and holds the units.
    asked = post(client, f"/stock/{store_id}/{number}/scrap", clerk,
                 {"qty": 3, "reason": "water damage in the store room"})
    assert asked["status"] == "awaiting_approval" and asked["available"] == "2"
    pending = get(client, "/stock/approvals", clerk, wait_for=asked["notification_id"])
    assert [(a["kind"], a["request_id"], a["ref"]) for a in pending["items"]
            if a["store_id"] == store_id] == [("scrap", asked["request_id"], asked["request_id"])]
    # A clerk may not approve; a manager does.
    url = f"/stock/{store_id}/{number}/scrap/{asked['request_id']}/decision"
    assert client.post(url, headers=clerk, json={"approve": True}).status_code == 403
    done = post(client, url, auth("manager", stores=[store_id]), {"approve": True})
    assert done["status"] == "scrapped" and done["on_hand"] == "2"
    movements = get(client, "/stock/movements", auth("auditor"), store_id=store_id,
                    type="scrap", wait_for=done["notification_id"])
    assert movements["items"][0]["qty"] == "-3" and movements["items"][0]["value"] == "-600.00"


def test_a_count_waiting_for_a_manager_holds_what_it_found_missing(
        client: TestClient, auth: Auth, store_id: str) -> None:
    """A large variance waits for a manager; the units it found missing are held meanwhile, so
    stock that leaves cannot take them (it could, and the count then took more than the lot
    held). A new count is refused while one waits; after a rejection the clerk counts again."""
    clerk = auth("parts_clerk", stores=[store_id])
    manager = auth("manager", user="mgr-x", stores=[store_id])
    number = new_part(client, clerk, min_stock=0)
    got = post(client, f"/stock/{store_id}/{number}/receipts", clerk, {
        "qty": 10, "unit_cost": "100.00", "supplier": "S", "supplier_doc": "DN-1"}, 201)
    lot = got["lot_id"]
    counted = post(client, f"/stock/{store_id}/{number}/stocktakes", clerk, {
        "counted": {lot: "4"}, "reason": "six missing"})  # 600.00: waits for a manager
    assert counted["status"] == "awaiting_approval"
    five = client.post(f"/stock/{store_id}/{number}/scrap", headers=clerk,
                       json={"qty": 5, "reason": "rusted"})
    assert five.status_code == 409 and five.json()["available"] == "4"
    post(client, f"/stock/{store_id}/{number}/scrap", clerk, {"qty": 1, "reason": "rusted"})
    again = client.post(f"/stock/{store_id}/{number}/stocktakes", headers=clerk,
                        json={"counted": {lot: "3"}, "reason": "recount"})
    assert again.status_code == 409 and "waits for approval" in again.json()["detail"]
    url = f"/stock/{store_id}/{number}/stocktakes/{counted['count_id']}/decision"
    post(client, url, manager, {"approve": False, "reason": "count the back shelf too"})
    recount = post(client, f"/stock/{store_id}/{number}/stocktakes", clerk, {
        "counted": {lot: "8"}, "reason": "one missing"})
    assert (recount["status"], recount["on_hand"]) == ("posted", "8")


def test_transfer_is_in_transit_until_the_other_store_books_it_in(
        client: TestClient, auth: Auth, store_id: str) -> None:
    other = store_id + "B"
    clerk = auth("parts_clerk", stores=[store_id, other])
    number = new_part(client, clerk, min_stock=0)
    post(client, f"/stock/{store_id}/{number}/receipts", clerk, {
        "qty": 4, "unit_cost": "100.00", "supplier": "S", "supplier_doc": "DN-1",
        "cert_ref": "CCC-9"}, 201)
    sent = post(client, "/stock/transfers", clerk, {
        "from_store": store_id, "to_store": other, "part_number": number, "qty": 3,
        "reason": "the other store is short"}, 201)
    assert sent["number"].startswith(f"TR-{store_id}-")
    here = get(client, f"/stock/{store_id}/{number}", clerk, wait_for=sent["notification_id"])
    assert here["on_hand"] == "1"
    # Only the receiving store books it in.
    only_here = auth("parts_clerk", user="c2", stores=[store_id])
    assert client.post(f"/stock/transfers/{sent['id']}/receipt", headers=only_here,
                       json={}).status_code == 403
    booked = post(client, f"/stock/transfers/{sent['id']}/receipt", clerk)
    there = get(client, f"/stock/{other}/{number}", clerk, wait_for=booked["notification_id"])
    assert there["on_hand"] == "3" and there["lots"][0]["cert_ref"] == "CCC-9"
    assert there["lots"][0]["origin_lot"] == f"{number}-00001@{store_id}"


def test_purchase_order_from_suggestions_received_in_part_then_closed(
        client: TestClient, auth: Auth, store_id: str) -> None:
    clerk = auth("parts_clerk", stores=[store_id])
    number = new_part(client, clerk, min_stock=5, reorder_qty=10)
    received = post(client, f"/stock/{store_id}/{number}/receipts", clerk, {
        "qty": 1, "unit_cost": "80.00", "supplier": "FAW-VW Parts", "supplier_doc": "DN-1"}, 201)
    alerts = get(client, "/alerts", clerk, wait_for=received["notification_id"])
    assert any(a["part_number"] == number and a["store_id"] == store_id
               for a in alerts["items"])
    proposed = get(client, "/purchase-orders/suggestions", clerk, store_id=store_id)
    assert [(s["part_number"], s["suggested_qty"]) for s in proposed["items"]] == [(number, "10")]
    assert proposed["total"] == 1
    order = post(client, "/purchase-orders/from-suggestions", clerk,
                 {"store_id": store_id, "supplier": "FAW-VW Parts"}, 201)
    assert order["number"].startswith(f"PO-{store_id}-") and order["lines"] == 1
    # On order now: nothing more is suggested, and a second draft is refused by the aggregates.
    assert get(client, "/purchase-orders/suggestions", clerk, store_id=store_id,
               wait_for=order["notification_id"])["items"] == []
    again = client.post("/purchase-orders/from-suggestions", headers=clerk, json={
        "store_id": store_id, "supplier": "FAW-VW Parts", "part_numbers": [number]})
    assert again.status_code == 409
    po = f"/purchase-orders/{order['id']}"
    post(client, f"{po}/send", clerk)
    part_in = post(client, f"{po}/receipts", clerk, {"line_no": 1, "qty": 6,
                                                     "supplier_doc": "DN-7"}, 201)
    assert part_in["purchase_order"]["status"] == "partly_received"
    over = client.post(f"{po}/receipts", headers=clerk,
                       json={"line_no": 1, "qty": 5, "supplier_doc": "DN-8"})
    assert over.status_code == 409 and over.json()["outstanding"] == "4"
    closed = post(client, f"{po}/close", clerk, {"reason": "supplier cannot deliver the rest"})
    doc = get(client, po, clerk, wait_for=closed["notification_id"])
    assert doc["status"] == "closed" and doc["lines"][0]["received_qty"] == "6"
    item = get(client, f"/stock/{store_id}/{number}", clerk)
    assert (item["on_hand"], item["on_order"], item["low_stock"]) == ("7", "0", False)


def test_stock_reads_are_scoped_to_the_callers_stores(client: TestClient, auth: Auth,
                                                     store_id: str) -> None:
    clerk = auth("parts_clerk", stores=[store_id])
    number = new_part(client, clerk)
    done = post(client, f"/stock/{store_id}/{number}/receipts", clerk, {
        "qty": 2, "unit_cost": "10.00", "supplier": "S", "supplier_doc": "DN-1"}, 201)
    stranger = auth("advisor", stores=["ELSEWHERE"])
    get(client, f"/stock/{store_id}/{number}", stranger, status=404,
        wait_for=done["notification_id"])
    assert get(client, "/stock", stranger, part_number=number)["total"] == 0
    refused = client.post(f"/stock/{store_id}/{number}/receipts", headers=auth(
        "parts_clerk", stores=["ELSEWHERE"]), json={
        "qty": 1, "unit_cost": "10.00", "supplier": "S", "supplier_doc": "DN-2"})
    assert refused.status_code == 403
    # Advisors see availability; they may not move stock.
    advisor = auth("advisor", stores=[store_id])
    assert get(client, "/stock", advisor, part_number=number)["items"][0]["available"] == "2"
    assert client.post(f"/stock/{store_id}/{number}/scrap", headers=advisor,
                       json={"qty": 1, "reason": "broken"}).status_code == 403
    # Search by number prefix, barcode and name.
    for q in (number[:6], "69" + number, "brake pads"):
        assert number in [p["part_number"] for p in get(client, "/parts", advisor, q=q,
                                                        limit=500)["items"]]


def test_the_stock_item_answers_its_lots_and_reservations_in_order(
        client: TestClient, auth: Auth, store_id: str) -> None:
    clerk = auth("parts_clerk", stores=[store_id])
    number = new_part(client, clerk, min_stock=0)
    # Three deliveries, the second with a certificate: three lots, oldest first.
    received = [post(client, f"/stock/{store_id}/{number}/receipts", clerk, {
        "qty": qty, "unit_cost": cost, "supplier": "FAW-VW Parts", "supplier_doc": doc,
        **extra}, 201) for qty, cost, doc, extra in (
            (2, "199.90", "DN-1", {}), (3, "205.5", "DN-2", {"cert_ref": "CCC-9"}),
            (1, "210", "DN-3", {}))]
    # Two visits each reserve what their approved part line asks for.
    first_wo, first_line = ready_visit(client, auth, store_id, number, qty="2")
    second_wo, second_line = ready_visit(client, auth, store_id, number, qty="1")
    item = get(client, f"/stock/{store_id}/{number}", clerk, wait_for=head(client))
    assert list(item) == [
        "store_id", "part_number", "name", "unit", "on_hand", "reserved", "available",
        "on_order", "in_transit", "fifo_value", "min_stock", "reorder_qty", "low_stock",
        "last_movement_at", "version", "lots", "reservations"]
    assert (item["on_hand"], item["reserved"], item["available"], item["in_transit"],
            item["fifo_value"]) == ("6", "3", "3", "0", "1226.30")
    assert [lot["lot_id"] for lot in item["lots"]] == [r["lot_id"] for r in received]
    assert [list(lot) for lot in item["lots"]] == [[
        "lot_id", "supplier", "supplier_doc", "received_at", "unit_cost", "received_qty",
        "on_hand", "cert_ref", "po_ref", "origin_lot"]] * 3
    assert [(lot["supplier_doc"], lot["unit_cost"], lot["received_qty"], lot["on_hand"],
             lot["cert_ref"], lot["po_ref"]) for lot in item["lots"]] == [
        ("DN-1", "199.90", "2", "2", None, None), ("DN-2", "205.50", "3", "3", "CCC-9", None),
        ("DN-3", "210.00", "1", "1", None, None)]
    received_at = [datetime.fromisoformat(lot["received_at"]) for lot in item["lots"]]
    assert received_at == sorted(received_at) and all(t.tzinfo for t in received_at)
    reservations = item["reservations"]
    assert [list(r) for r in reservations] == [["key", "qty", "work_order_id", "line_id",
                                                 "at"]] * 2
    assert [(r["qty"], r["work_order_id"], r["line_id"]) for r in reservations] == [
        ("2", first_wo.rsplit("/", 1)[1], first_line),
        ("1", second_wo.rsplit("/", 1)[1], second_line)]
    # As of a moment, the same list of the same fields (not a map of keys to quantities).
    then = get(client, f"/stock/{store_id}/{number}", clerk,
               as_of=datetime.now(UTC).isoformat())["reservations"]
    assert [list(r) for r in then] == [list(r) for r in reservations]
    assert [{**r, "at": datetime.fromisoformat(r["at"])} for r in then] == [
        {**r, "at": datetime.fromisoformat(r["at"])} for r in reservations]
    # A part registered but never received in this store: 404 as problem+json.
    missing = client.get(f"/stock/{store_id}/{new_part(client, clerk)}", headers=clerk)
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
