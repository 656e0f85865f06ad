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


def test_units_found_of_a_lot_used_up_long_ago_are_booked_into_it_at_its_cost(
        client: TestClient, auth: Auth, store_id: str) -> None:
    """A returned unit found on a shelf, of a lot the item no longer keeps: the count books it
    into that lot, at the lot's own cost, with its supplier and delivery note (from the
    lot's receipt); above the threshold it waits for a manager like any variance."""
    from domain.stock_lots import EXHAUSTED_KEPT

    clerk = auth("parts_clerk", stores=[store_id])
    manager = auth("manager", user="mgr-found", stores=[store_id])
    number = new_part(client, clerk, min_stock=0)
    base = f"/stock/{store_id}/{number}"
    lots = []
    for n in range(EXHAUSTED_KEPT + 2):  # each lot received and scrapped: used up
        lots.append(post(client, f"{base}/receipts", clerk, {
            "qty": 1, "unit_cost": "600.00" if n == 1 else "10.00", "supplier": "Mann",
            "supplier_doc": f"DN-{n}", "cert_ref": f"CCC-{n}"}, 201)["lot_id"])
        scrap = post(client, f"{base}/scrap", clerk,
                     {"qty": 1, "lot_id": lots[-1], "reason": "cracked"})
        if scrap["status"] == "awaiting_approval":  # the 600.00 one
            post(client, f"{base}/scrap/{scrap['request_id']}/decision", manager,
                 {"approve": True})
    # One unit of the first lot, found behind the shelf: posted at once (10.00, under 500.00).
    found = post(client, f"{base}/stocktakes", clerk, {
        "counted": {lots[0]: "1"}, "reason": "returned unit found behind the shelf",
        "count_ref": "ST-FOUND-1"})
    assert (found["status"], found["on_hand"], found["value"]) == ("posted", "1", "10.00")
    assert found["lines"] == [{"lot_id": lots[0], "book": "0", "counted": "1",
                               "variance": "1", "unit_cost": "10.00"}]
    # One of the second lot (600.00): above the threshold, it waits; another user approves.
    waits = post(client, f"{base}/stocktakes", clerk, {
        "counted": {lots[1]: "1"}, "reason": "returned unit found in the cage",
        "count_ref": "ST-FOUND-2"})
    assert (waits["status"], waits["on_hand"], waits["value"]) == (
        "awaiting_approval", "1", "600.00")
    # The manager sees where the unit's cost comes from: the lot's record in the count's line.
    [waiting] = [a for a in get(client, "/stock/approvals", manager,
                                wait_for=waits["notification_id"])["items"]
                 if a.get("count_id") == "ST-FOUND-2" and a["part_number"] == number]
    [line] = waiting["detail"]["lines"]
    assert (line["lot_id"], line["record"]["supplier_doc"], line["record"]["cert_ref"]) == (
        lots[1], "DN-1", "CCC-1")
    approved = post(client, f"{base}/stocktakes/ST-FOUND-2/decision", manager,
                    {"approve": True})
    assert (approved["status"], approved["on_hand"]) == ("posted", "2")
    # Both lots open again as they were received: supplier, delivery note, certificate.
    open_lots = get(client, f"{base}/lots", clerk, state="open",
                    wait_for=approved["notification_id"])["items"]
    assert [(lot["lot_id"], lot["on_hand"], lot["unit_cost"], lot["supplier_doc"],
             lot["cert_ref"]) for lot in open_lots] == [
        (lots[0], "1", "10.00", "DN-0", "CCC-0"), (lots[1], "1", "600.00", "DN-1", "CCC-1")]
    assert get(client, base, clerk)["fifo_value"] == "610.00"
    journal = get(client, "/stock/movements", clerk, part_number=number,
                  type="stocktake_variance")
    assert sorted((m["reference"], m["lot_id"], m["qty"]) for m in journal["items"]) == [
        ("ST-FOUND-1", lots[0], "1"), ("ST-FOUND-2", lots[1], "1")]
    # A lot id that is not one of the item's is still 422.
    other = client.post(f"{base}/stocktakes", headers=clerk, json={
        "counted": {f"{number}-09999@{store_id}": "1"}, "reason": "found"})
    assert other.status_code == 422, other.text


def test_a_lot_id_that_only_looks_like_one_of_the_items_is_422_and_nothing_moves(
        client: TestClient, auth: Auth, store_id: str) -> None:
    clerk = auth("parts_clerk", stores=[store_id])
    pads = new_part(client, clerk, min_stock=0)
    received = post(client, f"/stock/{store_id}/{pads}/receipts", clerk, {
        "qty": 10, "unit_cost": "100.00", "supplier": "S", "supplier_doc": "DN-1"}, 201)
    lot = received["lot_id"]
    assert lot == f"{pads}-00001@{store_id}"
    # its number without the zeros (409 "used up long ago" before), a superscript one (500
    # before: int() refused what isdigit() took), a digit of another script, signed, spaced
    for looks_like in (f"{pads}-1@{store_id}", f"{pads}-0001@{store_id}",
                       f"{pads}-\u00b9@{store_id}", f"{pads}-\u0661@{store_id}",
                       f"{pads}-+1@{store_id}", f"{pads}- 1@{store_id}"):
        for path, body in ((f"/stock/{store_id}/{pads}/stocktakes",
                            {"counted": {looks_like: "11"}, "reason": "one found"}),
                           (f"/stock/{store_id}/{pads}/supplier-returns",
                            {"lot_id": looks_like, "qty": "1", "reference": "RMA-1",
                             "reason": "wrong fitment"}),
                           (f"/stock/{store_id}/{pads}/scrap",
                            {"qty": "1", "lot_id": looks_like, "reason": "dropped, cracked"})):
            refused = client.post(path, headers=clerk, json=body)
            assert refused.status_code == 422, (looks_like, path, refused.text)
            assert refused.headers["content-type"].startswith("application/problem+json")
            assert "has no lot" in refused.json()["detail"], refused.text
    item = get(client, f"/stock/{store_id}/{pads}", clerk,
               wait_for=received["notification_id"])
    assert (item["on_hand"], item["version"]) == ("10", received["version"])


def test_a_count_is_compared_with_the_book_of_its_sheet(
        client: TestClient, auth: Auth, store_id: str) -> None:
    clerk = auth("parts_clerk", stores=[store_id])
    number = new_part(client, clerk, min_stock=0)
    received = post(client, f"/stock/{store_id}/{number}/receipts", clerk, {
        "qty": 10, "unit_cost": "20.00", "supplier": "S", "supplier_doc": "DN-1"}, 201)
    lot_id = received["lot_id"]
    # The count sheet is printed from the stock item: its version; the shelf holds 9.
    sheet = get(client, f"/stock/{store_id}/{number}", clerk,
                wait_for=received["notification_id"])["version"]
    # Two units are scrapped before the clerk keys the count in.
    post(client, f"/stock/{store_id}/{number}/scrap", clerk, {"qty": "2", "reason": "rusted"})
    done = post(client, f"/stock/{store_id}/{number}/stocktakes", clerk, {
        "counted": {lot_id: "9"}, "reason": "one missing", "as_of_version": sheet})
    assert (done["as_of_version"], done["value"], done["on_hand"]) == (sheet, "-20.00", "7")
    assert done["lines"] == [{"lot_id": lot_id, "book": "10", "counted": "9",
                              "variance": "-1", "unit_cost": "20.00", "moved_since": "-2"}]
    # A sheet of a version the item never had: 422 naming the field, nothing counted.
    for bad in (done["version"] + 1, 0):
        refused = client.post(f"/stock/{store_id}/{number}/stocktakes", headers=clerk, json={
            "counted": {lot_id: "7"}, "as_of_version": bad})
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.json()["field"] == "as_of_version"
    assert get(client, f"/stock/{store_id}/{number}", clerk,
               wait_for=done["notification_id"])["version"] == done["version"]
