"""The movement journal's `value` is the listed movements' net value at cost, summed exactly
and rounded once: a part's whole journal is its item's `fifo_value` (the valuation's, the
ledger's 1405), and a stocktake's variances under its reference are the count's own `value`.
It summed the rows each rounded to the fen, so fractional quantities (brake fluid by the
litre) drifted a fen at a time from both."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.e2e.test_parts_api import Auth, get, head, new_part, post


def test_a_parts_journal_adds_up_to_its_value_and_a_counts_to_the_count(
        client: TestClient, auth: Auth, store_id: str) -> None:
    clerk = auth("parts_clerk", stores=[store_id])
    fluid = new_part(client, clerk, min_stock=0, name="brake fluid DOT4", unit="L")
    # A litre at 10.01; a third of a litre spilt three times, each 3.33 at its own cost.
    post(client, f"/stock/{store_id}/{fluid}/receipts", clerk, {
        "qty": "1", "unit_cost": "10.01", "supplier": "S", "supplier_doc": "DN-1"}, 201)
    for _ in range(3):
        spilt = post(client, f"/stock/{store_id}/{fluid}/scrap", clerk,
                     {"qty": "0.333", "reason": "spilt at the counter"})
        assert (spilt["status"], spilt["value"]) == ("scrapped", "3.33")
    item = get(client, f"/stock/{store_id}/{fluid}", clerk, wait_for=head(client))
    assert (item["on_hand"], item["fifo_value"]) == ("0.001", "0.01")
    journal = get(client, "/stock/movements", clerk, store_id=store_id, part_number=fluid)
    assert [m["value"] for m in journal["items"]] == ["-3.33", "-3.33", "-3.33", "10.01"]
    assert journal["value"] == item["fifo_value"]  # 0.02 before: 10.01 - 3 x 3.33
    [store] = get(client, "/stock/valuation", clerk, store_id=store_id)["items"]
    assert store["fifo_value"] == journal["value"]

    # Two more litres in two lots; the stocktake finds a third of a litre short in each.
    lots = [post(client, f"/stock/{store_id}/{fluid}/receipts", clerk, {
        "qty": "1", "unit_cost": "10.01", "supplier": "S", "supplier_doc": f"DN-{n}"},
        201)["lot_id"] for n in (2, 3)]
    counted = post(client, f"/stock/{store_id}/{fluid}/stocktakes", clerk, {
        "counted": {lot: "0.667" for lot in lots}, "reason": "evaporated",
        "count_ref": f"ST-{store_id}"})
    assert (counted["status"], counted["value"]) == ("posted", "-6.67")
    variances = get(client, "/stock/movements", clerk, reference=f"ST-{store_id}",
                    wait_for=counted["notification_id"])
    assert [m["value"] for m in variances["items"]] == ["-3.33", "-3.33"]
    assert variances["value"] == counted["value"]  # -6.66 before
    item = get(client, f"/stock/{store_id}/{fluid}", clerk)
    whole = get(client, "/stock/movements", clerk, store_id=store_id, part_number=fluid)
    assert (item["fifo_value"], whole["value"]) == ("13.36", "13.36")
