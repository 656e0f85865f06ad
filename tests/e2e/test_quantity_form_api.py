"""A stock quantity has one written form in every read that shows it — the item, its lots,
the stock list, the movement journal, the valuation, the transfers: its digits without trailing
zeros after the point, and no point when whole. Eight units made of lots of 5.5 and 2.5 showed
as "8.0" where eight received at once showed "8"."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.e2e.test_parts_api import Auth, get, head, new_part, post


def test_fractional_lots_adding_up_to_whole_units_show_them_whole(
        client: TestClient, auth: Auth, store_id: str) -> None:
    other = store_id + "B"
    clerk = auth("parts_clerk", stores=[store_id, other])
    auditor = auth("auditor", stores=[store_id, other])
    oil = new_part(client, clerk, min_stock=0, unit="L", name="engine oil")
    for qty, note in (("5.5", "DN-1"), ("2.50", "DN-2")):
        post(client, f"/stock/{store_id}/{oil}/receipts", clerk, {
            "qty": qty, "unit_cost": "100.00", "supplier": "Castrol", "supplier_doc": note}, 201)
    # Two half units leave for the sister store: 7 stay, 1 is on its way.
    for _ in range(2):
        post(client, "/stock/transfers", clerk, {"from_store": store_id, "to_store": other,
                                                 "part_number": oil, "qty": "0.5",
                                                 "reason": "a car waits there"}, 201)
    item = get(client, f"/stock/{store_id}/{oil}", clerk, wait_for=head(client))
    assert (item["on_hand"], item["available"], item["reserved"]) == ("7", "7", "0")
    assert [(lot["received_qty"], lot["on_hand"]) for lot in item["lots"]] == [
        ("5.5", "4.5"), ("2.5", "2.5")]
    [listed] = get(client, "/stock", clerk, store_id=store_id, part_number=oil)["items"]
    assert (listed["on_hand"], listed["available"]) == ("7", "7")
    lots = get(client, f"/stock/{store_id}/{oil}/lots", clerk, state="all")["items"]
    assert [(lot["received_qty"], lot["on_hand"]) for lot in lots] == [
        ("5.5", "4.5"), ("2.5", "2.5")]
    moves = get(client, "/stock/movements", auditor, part_number=oil)["items"]
    assert sorted(m["qty"] for m in moves) == ["-0.5", "-0.5", "2.5", "5.5"]
    [worth] = get(client, "/stock/valuation", auditor, store_id=store_id)["items"]
    assert (worth["units"], worth["in_transit_units"]) == ("7", "1")
    sent = get(client, "/stock/transfers", clerk, store_id=store_id)["items"]
    assert [t["qty"] for t in sent] == ["0.5", "0.5"]
