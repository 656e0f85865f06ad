"""Purchase orders over HTTP: only for the group's stores; what a delivery cost against what was
ordered."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient

from tests.e2e.test_parts_api import Auth, get, head, new_part, post


def test_an_order_receipt_or_transfer_for_a_store_outside_the_group_is_422(
        group_client: TestClient, client: TestClient, auth: Auth,
        group_stores: tuple[str, str]) -> None:
    here, there = group_stores
    unknown = here + "X"  # a mistyped store: one of its own, as the database is shared
    # A token for every store, as a group's buyer holds: it does not make a store exist.
    buyer = auth("parts_clerk", stores=["*"])
    number = new_part(group_client, buyer, min_stock=0)
    line = {"part_number": number, "qty": "2", "unit_cost": "320.00"}
    refusals = (
        ("/purchase-orders", {"store_id": unknown, "supplier": "Bosch", "lines": [line]}),
        ("/purchase-orders/from-suggestions", {"store_id": unknown, "supplier": "Bosch",
                                               "part_numbers": [number]}),
        (f"/stock/{unknown}/{number}/receipts", {"qty": 1, "unit_cost": "10.00", "supplier": "S",
                                           "supplier_doc": "DN-1"}),
        ("/stock/transfers", {"from_store": here, "to_store": unknown, "part_number": number,
                              "qty": 1, "reason": "short"}),
    )
    post(group_client, f"/stock/{here}/{number}/receipts", buyer, {
        "qty": 1, "unit_cost": "10.00", "supplier": "S", "supplier_doc": "DN-1"}, 201)
    for url, body in refusals:
        refused = group_client.post(url, headers=buyer, json=body)
        assert refused.status_code == 422, (url, refused.text)
        assert refused.headers["content-type"].startswith("application/problem+json")
        problem = refused.json()
        assert unknown in problem["detail"] and problem["known_stores"] == sorted(group_stores)
    # Nothing was written: the unknown store is in no valuation, its number series never
    # started, and the group's stores still take orders.
    rows = get(client, "/stock/valuation", buyer, wait_for=head(client), limit=500)["items"]
    assert unknown not in {row["store_id"] for row in rows}
    assert get(client, "/stock", buyer, part_number=number)["total"] == 1
    assert get(client, "/purchase-orders", auth("parts_clerk", stores=[unknown]))["total"] == 0
    post(group_client, "/purchase-orders", buyer,
         {"store_id": there, "supplier": "Bosch", "lines": [line]}, 201)


def test_a_delivery_dearer_than_ordered_shows_its_cost_and_the_variance_on_the_order(
        client: TestClient, auth: Auth, store_id: str) -> None:
    clerk = auth("parts_clerk", stores=[store_id])
    number = new_part(client, clerk, min_stock=0)
    # Four sets ordered at 320.00.
    order = post(client, "/purchase-orders", clerk, {"store_id": store_id, "supplier": "Bosch",
                 "lines": [{"part_number": number, "qty": "4", "unit_cost": "320.00"}]}, 201)
    po = f"/purchase-orders/{order['id']}"
    post(client, f"{po}/send", clerk)
    # Three arrive invoiced at 330.00, the last one at the ordered price.
    dearer = post(client, f"{po}/receipts", clerk, {"line_no": 1, "qty": 3, "unit_cost": "330.00",
                                                    "supplier_doc": "DN-1"}, 201)
    as_ordered = post(client, f"{po}/receipts", clerk, {"line_no": 1, "qty": 1,
                                                        "supplier_doc": "DN-2"}, 201)
    doc = get(client, po, clerk, wait_for=as_ordered["notification_id"])
    [line] = doc["lines"]
    assert [(r["supplier_doc"], r["unit_cost"], r["unit_cost_variance"], r["cost_variance"])
            for r in line["receipts"]] == [("DN-1", "330.00", "10.00", "30.00"),
                                           ("DN-2", "320.00", "0.00", "0.00")]
    assert (line["unit_cost"], line["cost_variance"], doc["cost_variance"]) == (
        "320.00", "30.00", "30.00")
    # The lot carries what was paid.
    lot = get(client, f"/stock/lots/{dearer['lot_id']}", clerk)
    assert lot["unit_cost"] == "330.00"


def test_each_line_says_what_the_supplier_still_owes(
        client: TestClient, auth: Auth, store_id: str) -> None:
    """The back-order a clerk chases, per line: ordered − received while the order is open,
    nothing once it is closed short (the stock item's `on_order` drops the same way)."""
    clerk = auth("parts_clerk", stores=[store_id])
    pads, discs = new_part(client, clerk, min_stock=0), new_part(client, clerk, min_stock=0)
    order = post(client, "/purchase-orders", clerk, {"store_id": store_id, "supplier": "Bosch",
                 "lines": [{"part_number": pads, "qty": "10", "unit_cost": "300.00"},
                           {"part_number": discs, "qty": "4", "unit_cost": "310.00"}]}, 201)
    po = f"/purchase-orders/{order['id']}"
    post(client, f"{po}/send", clerk)
    got = post(client, f"{po}/receipts", clerk, {"line_no": 1, "qty": 4,
                                                 "supplier_doc": "DN-1"}, 201)
    doc = get(client, po, clerk, wait_for=got["notification_id"])
    assert doc["status"] == "partly_received"
    assert [(ln["received_qty"], ln["outstanding_qty"]) for ln in doc["lines"]] == [
        ("4", "6"), ("0", "4")]
    assert get(client, f"/stock/{store_id}/{pads}", clerk)["on_order"] == "6"
    # A delivery note booked to a line the order lacks, a short close without its reason: each
    # refusal names what to correct.
    no_line = client.post(f"{po}/receipts", headers=clerk,
                          json={"line_no": 3, "qty": 1, "supplier_doc": "DN-2"})
    assert (no_line.status_code, no_line.json()["line_no"]) == (422, 3)
    unexplained = client.post(f"{po}/close", headers=clerk, json={})
    assert (unexplained.status_code, unexplained.json()["field"]) == (422, "reason")

    closed = post(client, f"{po}/close", clerk, {"reason": "supplier cannot deliver the rest"})
    doc = get(client, po, clerk, wait_for=closed["notification_id"])
    assert [ln["outstanding_qty"] for ln in doc["lines"]] == ["0", "0"]
    assert get(client, f"/stock/{store_id}/{pads}", clerk)["on_order"] == "0"


def test_an_over_delivery_is_booked_only_with_a_reason(
        client: TestClient, auth: Auth, store_id: str) -> None:
    """The supplier sends more than ordered: refused (409, naming what is outstanding) unless
    the clerk gives the reason the extra is kept; then all of it goes into one lot at the
    line's cost and the line shows the extra."""
    clerk = auth("parts_clerk", stores=[store_id])
    pads = new_part(client, clerk, min_stock=0)
    order = post(client, "/purchase-orders", clerk, {"store_id": store_id, "supplier": "Bosch",
                 "lines": [{"part_number": pads, "qty": "10", "unit_cost": "300.00"}]}, 201)
    po = f"/purchase-orders/{order['id']}"
    post(client, f"{po}/send", clerk)
    post(client, f"{po}/receipts", clerk, {"line_no": 1, "qty": 4, "supplier_doc": "DN-1"}, 201)
    # Eight more arrive where six were outstanding: without a reason, nothing is booked.
    refused = client.post(f"{po}/receipts", headers=clerk,
                          json={"line_no": 1, "qty": 8, "supplier_doc": "DN-2"})
    assert refused.status_code == 409, refused.text
    assert refused.json()["outstanding"] == "6" and "over_delivery_reason" in \
        refused.json()["detail"]
    blank = client.post(f"{po}/receipts", headers=clerk, json={
        "line_no": 1, "qty": 8, "supplier_doc": "DN-2", "over_delivery_reason": " "})
    assert blank.status_code == 409, blank.text
    assert get(client, f"/stock/{store_id}/{pads}", clerk,
               wait_for=head(client))["on_hand"] == "4"
    # With the reason: one lot of eight at the line's cost, two of them above the order.
    kept = post(client, f"{po}/receipts", clerk, {
        "line_no": 1, "qty": 8, "supplier_doc": "DN-2",
        "over_delivery_reason": "supplier's pack of 8; the extra two kept for stock"}, 201)
    doc = get(client, po, clerk, wait_for=kept["notification_id"])
    [line] = doc["lines"]
    assert doc["status"] == "received"
    assert (line["received_qty"], line["outstanding_qty"], line["over_delivered_qty"]) == (
        "12", "0", "2")
    assert line["receipts"][-1]["over_delivery_reason"] == \
        "supplier's pack of 8; the extra two kept for stock"
    assert "over_delivery_reason" not in line["receipts"][0]
    lot = get(client, f"/stock/lots/{kept['lot_id']}", clerk)
    assert (lot["received_qty"], lot["unit_cost"]) == ("8", "300.00")
    item = get(client, f"/stock/{store_id}/{pads}", clerk)
    assert (item["on_hand"], item["on_order"]) == ("12", "0")


def test_a_later_over_delivery_on_a_line_received_in_full_is_booked_like_any_receipt(
        client: TestClient, auth: Auth, store_id: str) -> None:
    """The order came in full; days later the supplier sends two more of the same line. Kept
    with a reason: one more lot at the line's cost, counted in `over_delivered_qty`, booked to
    parts inventory; a retry with the same key books nothing twice; a closed order takes
    nothing (409 naming its state)."""
    clerk = auth("parts_clerk", stores=[store_id])
    manager = auth("manager", stores=[store_id])
    finance = auth("finance", stores=[store_id])
    pads = new_part(client, clerk, min_stock=0)
    order = post(client, "/purchase-orders", clerk, {"store_id": store_id, "supplier": "Bosch",
                 "lines": [{"part_number": pads, "qty": "10", "unit_cost": "300.00"}]}, 201)
    po = f"/purchase-orders/{order['id']}"
    post(client, f"{po}/send", clerk)
    full = post(client, f"{po}/receipts", clerk, {"line_no": 1, "qty": 10,
                                                  "supplier_doc": "DN-1"}, 201)
    assert get(client, po, clerk, wait_for=full["notification_id"])["status"] == "received"
    # Two more arrive: nothing is outstanding, so without a reason nothing is booked.
    refused = client.post(f"{po}/receipts", headers=clerk,
                          json={"line_no": 1, "qty": 2, "supplier_doc": "DN-7"})
    assert refused.status_code == 409, refused.text
    assert refused.json()["outstanding"] == "0"
    # The manager keeps them with a reason; the answer lost on the way, the request is sent
    # again with the same key.
    body = {"line_no": 1, "qty": 2, "supplier_doc": "DN-7",
            "over_delivery_reason": "two sets sent on top; kept for stock"}
    keyed = {**manager, "Idempotency-Key": f"po-extra-{order['id']}"}
    kept = post(client, f"{po}/receipts", keyed, body, 201)
    again = post(client, f"{po}/receipts", keyed, body, 201)
    assert again["lot_id"] == kept["lot_id"] != full["lot_id"]
    assert again["notification_id"] == kept["notification_id"]
    doc = get(client, po, clerk, wait_for=head(client))
    [line] = doc["lines"]
    assert doc["status"] == "received"
    assert (line["received_qty"], line["outstanding_qty"], line["over_delivered_qty"]) == (
        "12", "0", "2")
    assert [(r["lot_id"], r.get("over_delivery_reason")) for r in line["receipts"]] == [
        (full["lot_id"], None), (kept["lot_id"], "two sets sent on top; kept for stock")]
    lot = get(client, f"/stock/lots/{kept['lot_id']}", clerk)
    assert (lot["received_qty"], lot["unit_cost"]) == ("2", "300.00")
    item = get(client, f"/stock/{store_id}/{pads}", clerk)
    assert (item["on_hand"], item["on_order"]) == ("12", "0")
    # The receipt is posted once: parts inventory (1405) debited 600.00 for the extra lot.
    month = datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")
    journal = get(client, "/ledger", finance, month=month, account="1405",
                  wait_for=head(client), limit=5000)["items"]
    posted = [(ln["debit"], ln["credit"]) for ln in journal
              if f"lot {kept['lot_id']} " in ln["memo"]]
    assert posted == [("600.00", "0.00")]
    # Closed, the order takes no more deliveries, reason or not.
    post(client, f"{po}/close", clerk)
    late = client.post(f"{po}/receipts", headers=clerk, json={**body, "supplier_doc": "DN-8"})
    assert late.status_code == 409, late.text
    assert late.json()["order_status"] == "closed" and "is closed" in late.json()["detail"]
    assert get(client, f"/stock/{store_id}/{pads}", clerk, wait_for=head(client))[
        "on_hand"] == "12"


def test_an_over_delivery_gives_its_reason_as_the_reason_in_history_and_the_audit_log(
        client: TestClient, auth: Auth, store_id: str) -> None:
    """What the auditor reads of an override: who accepted more than was ordered, and why."""
    clerk = auth("parts_clerk", user="clerk-over", stores=[store_id])
    auditor = auth("auditor", stores=[store_id])
    pads = new_part(client, clerk, min_stock=0)
    order = post(client, "/purchase-orders", clerk, {"store_id": store_id, "supplier": "Bosch",
                 "lines": [{"part_number": pads, "qty": "2", "unit_cost": "300.00"}]}, 201)
    po = f"/purchase-orders/{order['id']}"
    post(client, f"{po}/send", clerk)
    why = "supplier's pack of 5; the extra three kept for stock"
    kept = post(client, f"{po}/receipts", clerk, {
        "line_no": 1, "qty": 5, "supplier_doc": "DN-5", "over_delivery_reason": why}, 201)
    history = get(client, f"{po}/history", auditor)["items"]
    [received] = [e for e in history if e["event"] == "PurchaseOrder.LineReceived"]
    assert (received["reason"], received["actor"]["user_id"]) == (why, "clerk-over")
    log = get(client, "/audit/log", auditor, event_type="PurchaseOrder.LineReceived",
              store_id=store_id, wait_for=kept["notification_id"])["items"]
    assert [(e["reason"], e["actor"]["user_id"]) for e in log] == [(why, "clerk-over")]
