"""A transfer seen by an auditor: its value stays in the group's books while in transit, and the
lot ledger and journal name it by its TR number."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient

from tests.e2e.test_parts_api import Auth, get, new_part, post


def rows_of(client: TestClient, clerk: dict[str, str], wait_for: int) -> dict[str, Any]:
    page = get(client, "/stock/valuation", clerk, wait_for=wait_for)
    return {row["store_id"]: row for row in page["items"]}


def group_total(rows: dict[str, Any], stores: tuple[str, str]) -> Decimal:
    return sum((Decimal(rows[s]["total_value"]) for s in stores if s in rows), Decimal(0))


def test_stock_in_transit_stays_in_the_sending_stores_valuation(
        client: TestClient, auth: Auth, store_id: str) -> None:
    other = store_id + "B"
    stores = (store_id, other)
    clerk = auth("parts_clerk", stores=list(stores))
    number = new_part(client, clerk, min_stock=0)
    got = post(client, f"/stock/{store_id}/{number}/receipts", clerk, {
        "qty": 6, "unit_cost": "100.00", "supplier": "S", "supplier_doc": "DN-1"}, 201)
    before = rows_of(client, clerk, got["notification_id"])
    assert group_total(before, stores) == Decimal("600.00")
    # Sent: gone from the shelf, still the sender's, as in transit.
    sent = post(client, "/stock/transfers", clerk, {
        "from_store": store_id, "to_store": other, "part_number": number, "qty": 6,
        "reason": "the other store is short"}, 201)
    moving = rows_of(client, clerk, sent["notification_id"])
    here = moving[store_id]
    assert (here["fifo_value"], here["in_transit_units"], here["in_transit_value"],
            here["total_value"]) == ("0.00", "6", "600.00", "600.00")
    assert group_total(moving, stores) == Decimal("600.00")
    # Booked in: the receiver holds it, the sender's in-transit line is empty.
    booked = post(client, f"/stock/transfers/{sent['id']}/receipt", clerk)
    after = rows_of(client, clerk, booked["notification_id"])
    assert (after[store_id]["in_transit_value"], after[store_id]["total_value"]) == (
        "0.00", "0.00")
    assert (after[other]["fifo_value"], after[other]["total_value"]) == ("600.00", "600.00")
    assert group_total(after, stores) == Decimal("600.00")


def test_lot_ledger_and_journal_name_a_transfer_by_its_number(
        client: TestClient, auth: Auth, store_id: str) -> None:
    other = store_id + "B"
    clerk = auth("parts_clerk", stores=[store_id, other])
    number = new_part(client, clerk, min_stock=0)
    got = post(client, f"/stock/{store_id}/{number}/receipts", clerk, {
        "qty": 4, "unit_cost": "50.00", "supplier": "S", "supplier_doc": "DN-1"}, 201)
    sent = post(client, "/stock/transfers", clerk, {
        "from_store": store_id, "to_store": other, "part_number": number, "qty": 3,
        "reason": "short"}, 201)
    booked = post(client, f"/stock/transfers/{sent['id']}/receipt", clerk)
    # The sending lot's ledger: the receipt by its delivery note, the transfer by its number.
    lot = get(client, f"/stock/lots/{got['lot_id']}", clerk, wait_for=booked["notification_id"])
    out = [m for m in lot["movements"] if m["type"] == "transfer_out"]
    assert [(m["reference"], m["transfer_id"]) for m in out] == [(sent["number"], sent["id"])]
    receipt = next(m for m in lot["movements"] if m["type"] == "receipt")
    assert (receipt["reference"], receipt["transfer_id"]) == ("DN-1", None)
    # The journal, both sides.
    journal = get(client, "/stock/movements", clerk, part_number=number)
    moved = {m["type"]: m for m in journal["items"]}
    for kind in ("transfer_out", "transfer_in"):
        assert (moved[kind]["reference"], moved[kind]["transfer_id"]) == (
            sent["number"], sent["id"]), kind
    assert (moved["receipt"]["reference"], moved["receipt"]["transfer_id"]) == ("DN-1", None)


def test_the_valuation_takes_one_store_and_the_journal_refuses_an_unknown_type(
        client: TestClient, auth: Auth, store_id: str) -> None:
    """A clerk of two stores asks for one store's valuation (`store_id` was 422, an unknown
    parameter) and filters the journal by a movement type; a type the journal never writes
    (`stocktake` for `stocktake_variance`) is 422 naming `type` instead of an empty page."""
    other = store_id + "B"
    clerk = auth("parts_clerk", stores=[store_id, other])
    number = new_part(client, clerk, min_stock=0)
    for store in (store_id, other):
        got = post(client, f"/stock/{store}/{number}/receipts", clerk, {
            "qty": 2, "unit_cost": "10.00", "supplier": "S", "supplier_doc": "DN-1"}, 201)
    page = get(client, "/stock/valuation", clerk, store_id=other,
               wait_for=got["notification_id"])
    assert [row["store_id"] for row in page["items"]] == [other]
    assert page["items"][0]["fifo_value"] == "20.00"

    receipts = get(client, "/stock/movements", clerk, part_number=number, type="receipt")
    assert [(m["store_id"], m["type"]) for m in receipts["items"]] == [
        (other, "receipt"), (store_id, "receipt")]
    refused = client.get("/stock/movements", headers=clerk,
                         params={"part_number": number, "type": "stocktake"})
    assert refused.status_code == 422, refused.text
    assert [e["loc"] for e in refused.json()["errors"]] == [["query", "type"]]


def test_a_store_that_never_held_the_part_is_told_what_is_on_the_way(
        client: TestClient, auth: Auth, store_id: str) -> None:
    """The receiving clerk looks the part up while the transfer is on the road: still 404 (the
    store holds none), but the problem says how many are coming from where, by TR number,
    instead of only "holds no stock"."""
    other = store_id + "B"
    sender, receiver = auth("parts_clerk", stores=[store_id]), auth("parts_clerk", stores=[other])
    number = new_part(client, sender, min_stock=0)
    post(client, f"/stock/{store_id}/{number}/receipts", sender, {
        "qty": 5, "unit_cost": "80.00", "supplier": "S", "supplier_doc": "DN-1"}, 201)
    sent = post(client, "/stock/transfers", sender, {
        "from_store": store_id, "to_store": other, "part_number": number, "qty": 3,
        "reason": "a car waits at the other store"}, 201)
    client.get("/stock/transfers", headers=receiver, params={"wait_for": sent["notification_id"]})
    for path in (f"/stock/{other}/{number}", f"/stock/{other}/{number}?wait_for=1"):
        looked = client.get(path, headers=receiver)  # the hot read and the routed one
        assert looked.status_code == 404, looked.text
        problem = looked.json()
        assert problem["detail"] == (f"store {other} holds no stock of {number}; 3 on the way "
                                     f"from {store_id} ({sent['number']})")
        assert [(t["id"], t["qty"], t["from_store"]) for t in problem["in_transit"]] == [
            (sent["id"], "3", store_id)]
    # Another store's clerk learns nothing about it.
    assert client.get(f"/stock/{other}/{number}", headers=sender).json()["in_transit"] == []


def test_the_receiving_stores_list_shows_a_part_only_on_its_way(
        client: TestClient, auth: Auth, store_id: str) -> None:
    """`/stock?store_id=` of the receiving store left out a part it holds none of yet while 3
    were on the road: it is listed with nothing on hand, the 3 in transit and the part's
    levels, no alert and no version (no stock item) until the receipt makes the item."""
    other = store_id + "B"
    sender, receiver = auth("parts_clerk", stores=[store_id]), auth("parts_clerk", stores=[other])
    both = auth("parts_clerk", stores=[store_id, other])
    number = new_part(client, sender, min_stock=2, reorder_qty=6)
    post(client, f"/stock/{store_id}/{number}/receipts", sender, {
        "qty": 5, "unit_cost": "80.00", "supplier": "S", "supplier_doc": "DN-1"}, 201)
    sent = post(client, "/stock/transfers", sender, {
        "from_store": store_id, "to_store": other, "part_number": number, "qty": 3,
        "reason": "a car waits at the other store"}, 201)
    listed = get(client, "/stock", receiver, store_id=other, wait_for=sent["notification_id"])
    assert listed["total"] == 1
    [arriving] = listed["items"]
    assert {k: arriving[k] for k in ("store_id", "part_number", "name", "unit", "on_hand",
                                     "reserved", "available", "on_order", "in_transit",
                                     "fifo_value", "min_stock", "reorder_qty", "low_stock",
                                     "last_movement_at", "version")} == {
        "store_id": other, "part_number": number, "name": "front brake pads", "unit": "set",
        "on_hand": "0", "reserved": "0", "available": "0", "on_order": "0", "in_transit": "3",
        "fifo_value": "0.00", "min_stock": "2", "reorder_qty": "6", "low_stock": False,
        "last_movement_at": None, "version": None}
    # The part across both stores: the sender's item and the receiver's arrival, in store order.
    across = get(client, "/stock", both, part_number=number)
    assert [(r["store_id"], r["on_hand"], r["in_transit"]) for r in across["items"]] == [
        (store_id, "2", "0"), (other, "0", "3")]
    assert across["total"] == 2
    # Not low (no alert until an item exists), and not another store's to see.
    assert get(client, "/stock", receiver, store_id=other, low_only="true")["total"] == 0
    assert get(client, "/stock", sender, part_number=number)["total"] == 1
    # Booked in: one row, the item's own.
    booked = post(client, f"/stock/transfers/{sent['id']}/receipt", receiver)
    after = get(client, "/stock", receiver, store_id=other, wait_for=booked["notification_id"])
    assert [(r["on_hand"], r["in_transit"], r["version"] is not None)
            for r in after["items"]] == [("3", "0", True)]
