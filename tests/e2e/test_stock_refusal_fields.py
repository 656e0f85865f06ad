"""The parts counter's refusals of a body's input name the field that carried it: a transfer
to the store it leaves, a lot the item never had (scrap, a return to the supplier, a
stocktake), a delivery without its supplier or delivery note, a purchase-order line the order
lacks or that is for another part, an order from another supplier or store. Each was a 422
problem without `field` (the part number or lot was named, the input was not); nothing is
stored on any of them."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.e2e.test_parts_api import Auth, get, head, new_part, post


def refused(client: TestClient, path: str, headers: dict[str, str], body: dict[str, Any],
            field: str) -> dict[str, Any]:
    answer = client.post(path, headers=headers, json=body)
    assert answer.status_code == 422, (path, body, answer.text)
    assert answer.headers["content-type"].startswith("application/problem+json")
    problem: dict[str, Any] = answer.json()
    assert problem.get("field") == field, (path, body, problem)
    return problem


def test_each_refused_input_of_the_parts_counter_is_named(
        client: TestClient, auth: Auth, store_id: str) -> None:
    other = store_id + "B"
    clerk = auth("parts_clerk", stores=[store_id, other])
    pads, discs = new_part(client, clerk, min_stock=0), new_part(client, clerk, min_stock=0)
    # Monday's deliveries: the pads from stock, the discs against last week's order.
    lot = post(client, f"/stock/{store_id}/{pads}/receipts", clerk, {
        "qty": 5, "unit_cost": "100.00", "supplier": "FAW-VW Parts",
        "supplier_doc": "DN-1"}, 201)["lot_id"]
    order = post(client, "/purchase-orders", clerk, {
        "store_id": store_id, "supplier": "FAW-VW Parts",
        "lines": [{"part_number": discs, "qty": "4", "unit_cost": "300.00"}]}, 201)["id"]
    post(client, f"/purchase-orders/{order}/send", clerk)
    before = get(client, f"/stock/{store_id}/{pads}", clerk, wait_for=head(client))
    stranger = f"{pads}-00009@{store_id}"  # a lot the item never took in
    delivery = {"qty": "1", "unit_cost": "300.00", "supplier": "FAW-VW Parts",
                "supplier_doc": "DN-2"}

    # A transfer to the store it leaves (a trailing blank is no other store).
    refused(client, "/stock/transfers", clerk, {
        "from_store": store_id, "to_store": store_id + " ", "part_number": pads, "qty": 1,
        "reason": "a car waits there"}, "to_store")
    # A lot the item never had: the scrap's and the return's `lot_id`, the count's key.
    refused(client, f"/stock/{store_id}/{pads}/scrap", clerk,
            {"qty": "1", "lot_id": stranger, "reason": "dropped, cracked"}, "lot_id")
    refused(client, f"/stock/{store_id}/{pads}/supplier-returns", clerk,
            {"lot_id": stranger, "qty": "1", "reference": "RMA-1",
             "reason": "wrong fitment"}, "lot_id")
    problem = refused(client, f"/stock/{store_id}/{pads}/stocktakes", clerk,
                      {"counted": {lot: "5", stranger: "1"}, "reason": "found one"},
                      f"counted.{stranger}")
    assert problem["lot_id"] == stranger
    # A return to the supplier with a blank RMA number.
    refused(client, f"/stock/{store_id}/{pads}/supplier-returns", clerk,
            {"lot_id": lot, "qty": "1", "reference": "  ", "reason": "wrong fitment"},
            "reference")
    # A delivery without its supplier or its delivery note.
    refused(client, f"/stock/{store_id}/{pads}/receipts", clerk,
            {**delivery, "supplier": "  "}, "supplier")
    refused(client, f"/stock/{store_id}/{pads}/receipts", clerk,
            {**delivery, "supplier_doc": "  "}, "supplier_doc")
    # Against the order: a line it lacks (by either route), a line for another part, another
    # supplier, one half of the reference, another store's order.
    problem = refused(client, f"/purchase-orders/{order}/receipts", clerk,
                      {"line_no": 2, "qty": "1", "supplier_doc": "DN-2"}, "line_no")
    assert problem["line_no"] == 2
    on_order = {**delivery, "purchase_order_id": order}
    refused(client, f"/stock/{store_id}/{discs}/receipts", clerk,
            {**on_order, "po_line": 2}, "po_line")
    refused(client, f"/stock/{store_id}/{pads}/receipts", clerk,
            {**on_order, "po_line": 1}, "po_line")
    refused(client, f"/stock/{store_id}/{discs}/receipts", clerk,
            {**on_order, "po_line": 1, "supplier": "Another Parts Co"}, "supplier")
    refused(client, f"/stock/{store_id}/{discs}/receipts", clerk, on_order, "po_line")
    refused(client, f"/stock/{store_id}/{discs}/receipts", clerk,
            {**delivery, "po_line": 1}, "purchase_order_id")
    refused(client, f"/stock/{other}/{discs}/receipts", clerk,
            {**on_order, "po_line": 1}, "purchase_order_id")

    # Nothing moved: the pads as they were, the order's line still all outstanding.
    after = get(client, f"/stock/{store_id}/{pads}", clerk, wait_for=head(client))
    assert (after["version"], after["on_hand"]) == (before["version"], "5")
    line = get(client, f"/purchase-orders/{order}", clerk)["lines"][0]
    assert (line["received_qty"], line["outstanding_qty"]) == ("0", "4")
    assert get(client, "/stock", clerk, store_id=other)["total"] == 0
