"""Half a set over HTTP: 422 problem+json naming the field and the unit, nothing stored; a
part measured in litres takes fractions."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.e2e.test_parts_api import Auth, get, new_part, post


def test_a_fraction_of_a_set_is_refused_and_litres_are_not(
        client: TestClient, auth: Auth, store_id: str) -> None:
    clerk = auth("parts_clerk", stores=[store_id])
    pads, oil = new_part(client, clerk, min_stock=0), new_part(client, clerk, min_stock=0,
                                                               unit="L", name="engine oil")
    received = post(client, f"/stock/{store_id}/{pads}/receipts", clerk, {
        "qty": 4, "unit_cost": "300.00", "supplier": "S", "supplier_doc": "DN-1"}, 201)
    lot_id = received["lot_id"]
    refusals = [
        (f"/stock/{store_id}/{pads}/receipts", {"qty": "1.5", "unit_cost": "300.00",
                                                "supplier": "S", "supplier_doc": "DN-2"}, "qty"),
        (f"/stock/{store_id}/{pads}/scrap", {"qty": "0.5", "reason": "torn box"}, "qty"),
        (f"/stock/{store_id}/{pads}/stocktakes", {"counted": {lot_id: "3.5"},
                                                  "reason": "half missing"}, f"counted.{lot_id}"),
        (f"/stock/{store_id}/{pads}/supplier-returns", {
            "lot_id": lot_id, "qty": "1.5", "reference": "RMA-1", "reason": "wrong fitment"},
         "qty"),
        ("/stock/transfers", {"from_store": store_id, "to_store": "S01", "part_number": pads,
                              "qty": "1.5", "reason": "car waiting"}, "qty"),
        # the levels: a store's, and the master's (a change, a new part)
        (f"/stock/{store_id}/{pads}/levels", {"min_stock": "1.5", "reorder_qty": 6},
         "min_stock"),
        (f"/parts/{pads}/details", {"reorder_qty": "6.5", "reason": "bulk pack"},
         "reorder_qty"),
        ("/parts", {"part_number": pads + "X", "name": "rear pads", "unit": "set",
                    "category": "brake", "list_price": "300.00", "min_stock": "0.5"},
         "min_stock"),
    ]
    for url, body, field in refusals:
        refused = client.post(url, headers=auth("parts_clerk", stores=[store_id, "S01"]),
                              json=body)
        assert refused.status_code == 422, (url, refused.text)
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert (refused.json()["field"], refused.json()["unit"]) == (field, "set")
    item = get(client, f"/stock/{store_id}/{pads}", clerk, wait_for=received["notification_id"])
    assert (item["version"], item["on_hand"]) == (received["version"], "4")
    assert item["min_stock"] == "0"
    assert client.get(f"/parts/{pads}X", headers=clerk).status_code == 404
    # Oil is measured: 4.5 litres in, 0.5 scrapped.
    post(client, f"/stock/{store_id}/{oil}/receipts", clerk, {
        "qty": "4.5", "unit_cost": "36.00", "supplier": "S", "supplier_doc": "DN-3"}, 201)
    assert post(client, f"/stock/{store_id}/{oil}/scrap", clerk, {
        "qty": "0.5", "reason": "spilt"})["on_hand"] == "4"
