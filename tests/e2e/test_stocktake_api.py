"""Stocktakes over HTTP: a count ref names one count of an item."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.e2e.test_parts_api import Auth, get, new_part, post


def test_a_count_ref_names_one_count_of_an_item_and_a_stocktake_of_many(
        client: TestClient, auth: Auth, store_id: str) -> None:
    clerk = auth("parts_clerk", stores=[store_id])
    pads, discs = new_part(client, clerk, min_stock=0), new_part(client, clerk, min_stock=0)
    lots = {}
    for number in (pads, discs):
        lots[number] = post(client, f"/stock/{store_id}/{number}/receipts", clerk, {
            "qty": 10, "unit_cost": "100.00", "supplier": "S", "supplier_doc": "DN-1"},
            201)["lot_id"]
    # The May stocktake counts both parts under one ref.
    first = post(client, f"/stock/{store_id}/{pads}/stocktakes", clerk, {
        "counted": {lots[pads]: "9"}, "reason": "one missing", "count_ref": "ST-2026-05"})
    post(client, f"/stock/{store_id}/{discs}/stocktakes", clerk, {
        "counted": {lots[discs]: "10"}, "count_ref": "ST-2026-05"})
    assert first["count_id"] == "ST-2026-05" and first["on_hand"] == "9"
    # Counting the pads again under the same ref is another count: refused, nothing moves.
    again = client.post(f"/stock/{store_id}/{pads}/stocktakes", headers=clerk, json={
        "counted": {lots[pads]: "7"}, "reason": "two more missing", "count_ref": "ST-2026-05"})
    assert again.status_code == 409, again.text
    assert again.headers["content-type"].startswith("application/problem+json")
    problem = again.json()
    assert problem["count_id"] == "ST-2026-05" and "already recorded" in problem["detail"]
    assert problem["recorded_at"]
    # A count the manager rejects is counted again under the stocktake's ref; once posted,
    # that ref is taken too.
    manager = auth("manager", user="mgr-st", stores=[store_id])
    waits = post(client, f"/stock/{store_id}/{discs}/stocktakes", clerk, {
        "counted": {lots[discs]: "2"}, "reason": "eight missing", "count_ref": "ST-2026-06"})
    assert waits["status"] == "awaiting_approval"
    post(client, f"/stock/{store_id}/{discs}/stocktakes/ST-2026-06/decision", manager,
         {"approve": False, "reason": "count again"})
    recounted = post(client, f"/stock/{store_id}/{discs}/stocktakes", clerk, {
        "counted": {lots[discs]: "9"}, "reason": "one missing", "count_ref": "ST-2026-06"})
    assert (recounted["status"], recounted["on_hand"]) == ("posted", "9")
    assert client.post(f"/stock/{store_id}/{discs}/stocktakes", headers=clerk, json={
        "counted": {lots[discs]: "8"}, "reason": "one more", "count_ref": "ST-2026-06"},
    ).status_code == 409
    # A ref of its own is a new count; without a ref every count gets a new id.
    recount = post(client, f"/stock/{store_id}/{pads}/stocktakes", clerk, {
        "counted": {lots[pads]: "7"}, "reason": "two more missing",
        "count_ref": "ST-2026-05b"})
    unnamed = post(client, f"/stock/{store_id}/{pads}/stocktakes", clerk, {
        "counted": {lots[pads]: "7"}})
    assert unnamed["count_id"].startswith("ST-") and unnamed["count_id"] != recount["count_id"]
    journal = get(client, "/stock/movements", clerk, part_number=pads, type="stocktake_variance",
                  wait_for=unnamed["notification_id"])
    assert [(m["reference"], m["qty"]) for m in journal["items"]] == [
        ("ST-2026-05b", "-2"), ("ST-2026-05", "-1")]


def test_a_lot_used_up_before_the_kept_ones_cannot_be_counted(
        client: TestClient, auth: Auth, store_id: str) -> None:
    from domain.stock_lots import EXHAUSTED_KEPT

    clerk = auth("parts_clerk", stores=[store_id])
    number = new_part(client, clerk, min_stock=0)
    lots = []
    for n in range(EXHAUSTED_KEPT + 1):  # each lot received and scrapped: used up
        lots.append(post(client, f"/stock/{store_id}/{number}/receipts", clerk, {
            "qty": 1, "unit_cost": "10.00", "supplier": "S", "supplier_doc": f"DN-{n}"},
            201)["lot_id"])
        post(client, f"/stock/{store_id}/{number}/scrap", clerk,
             {"qty": 1, "lot_id": lots[-1], "reason": "cracked"})
    refused = client.post(f"/stock/{store_id}/{number}/stocktakes", headers=clerk, json={
        "counted": {lots[0]: "1"}, "reason": "found behind the shelf"})
    assert refused.status_code == 409, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["lot_id"] == lots[0]
    # The last used-up lot is still kept: a unit of it is found, at its cost.
    found = post(client, f"/stock/{store_id}/{number}/stocktakes", clerk, {
        "counted": {lots[-1]: "1"}, "reason": "found behind the shelf"})
    assert (found["status"], found["on_hand"]) == ("posted", "1")
