"""Transfer suggestions over HTTP: a store below its minimum is proposed the units its sister
stores can spare, sends them in one call, and books them in; a retry sends nothing twice, and a
donor whose stock moved meanwhile refuses the plan it no longer holds."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.e2e.test_parts_api import Auth, get, head, new_part, post, ready_visit


def _receive(client: TestClient, clerk: dict[str, str], store: str, number: str, qty: int,
             cost: str) -> None:
    post(client, f"/stock/{store}/{number}/receipts", clerk, {
        "qty": qty, "unit_cost": cost, "supplier": "FAW-VW Parts", "supplier_doc": "DN-1"}, 201)


def _group(store_id: str) -> tuple[str, str, str, str]:
    return store_id, store_id + "B", store_id + "C", store_id + "D"


def _suggested(client: TestClient, headers: dict[str, str], to_store: str) -> Any:
    return get(client, "/transfers/suggestions", headers, to_store=to_store,
               wait_for=head(client))


def test_the_sister_stores_spare_what_a_store_is_short_of_and_send_it(
        client: TestClient, auth: Auth, store_id: str) -> None:
    here, b, c, d = _group(store_id)
    clerk = auth("parts_clerk", "clerk-group", [here, b, c, d])
    number = new_part(client, clerk, min_stock=4, reorder_qty=6)
    # Here: 1 available, nothing coming, minimum 4 -> needs the reorder qty, 6.
    _receive(client, clerk, here, number, 1, "100.00")
    # B: 3 at 100.00 and 5 at 120.00, minimum 4 -> spares 4.
    _receive(client, clerk, b, number, 3, "100.00")
    _receive(client, clerk, b, number, 5, "120.00")
    # C: 2 at 80.00; a visit approves 3 (back-ordered: only 2 there); then 7 at 90.00:
    # 9 available - minimum 4 - 3 its work order waits for -> spares 2.
    _receive(client, clerk, c, number, 2, "80.00")
    ready_visit(client, auth, c, number, qty="3")
    _receive(client, clerk, c, number, 7, "90.00")
    # D: 4 at its minimum 4 -> spares nothing, not proposed.
    _receive(client, clerk, d, number, 4, "100.00")
    proposed = _suggested(client, auth("analyst", "an-group", [here, b, c, d]), here)
    assert proposed["total"] == 1
    [row] = proposed["items"]
    assert (row["part_number"], row["available"], row["in_transit"], row["need"],
            row["covered"]) == (number, "1", "0", "6", "6")
    assert [(x["store_id"], x["spare"], x["qty"], x["waiting"], x["fifo_value"])
            for x in row["donors"]] == [
        (b, "4", "4", "0", "420.00"),  # 3 x 100.00 + 1 x 120.00
        (c, "2", "2", "3", "160.00")]  # 2 x 80.00, its oldest lot
    # A token of the receiving store alone sees no sister store to take from.
    assert _suggested(client, auth("parts_clerk", "clerk-here", [here]), here)["items"] == []
    sent = post(client, "/transfers/from-suggestions", clerk, {"to_store": here}, 201)
    assert [(t["from_store"], t["qty"], t["cost"]) for t in sent["transfers"]] == [
        (b, "4", "420.00"), (c, "2", "160.00")]
    assert sent["status"] == "in_transit"
    # In transit now: the store is no longer short, the donors hold their floors.
    assert _suggested(client, clerk, here)["items"] == []
    figures = {s: get(client, f"/stock/{s}/{number}", clerk) for s in (here, b, c)}
    assert figures[here]["in_transit"] == "6"
    assert (figures[b]["on_hand"], figures[c]["on_hand"]) == ("4", "7")
    for t in sent["transfers"]:
        post(client, f"/stock/transfers/{t['transfer_id']}/receipt", clerk)
    item = get(client, f"/stock/{here}/{number}", clerk, wait_for=head(client))
    assert (item["on_hand"], item["in_transit"], item["fifo_value"]) == ("7", "0", "680.00")


def test_a_retry_with_its_key_answers_the_first_call_and_sends_nothing_twice(
        client: TestClient, auth: Auth, store_id: str) -> None:
    here, b, _, _ = _group(store_id)
    clerk = auth("parts_clerk", "clerk-group", [here, b])
    keyed = {**clerk, "Idempotency-Key": "ts-" + here}
    number = new_part(client, clerk, min_stock=4, reorder_qty=6)
    _receive(client, clerk, b, number, 9, "100.00")
    post(client, f"/stock/{here}/{number}/levels", clerk, {"min_stock": 4, "reorder_qty": 4})
    _suggested(client, clerk, here)
    first = client.post("/transfers/from-suggestions", headers=keyed, json={"to_store": here})
    assert first.status_code == 201, first.text
    before = head(client)
    again = client.post("/transfers/from-suggestions", headers=keyed, json={"to_store": here})
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["transfers"] == first.json()["transfers"]
    assert head(client) == before
    listed = get(client, "/stock/transfers", clerk, wait_for=before)["items"]
    assert [(t["from_store"], t["qty"]) for t in listed if t["part_number"] == number] == [
        (b, "4")]
    # Without the key the store is no longer short: nothing to send, 422, nothing stored.
    nothing = client.post("/transfers/from-suggestions", headers=clerk, json={"to_store": here})
    assert nothing.status_code == 422 and head(client) == before


def test_a_donor_whose_stock_moved_since_refuses_the_plan_with_409_naming_the_part(
        client: TestClient, auth: Auth, store_id: str) -> None:
    here, b, c, d = _group(store_id)
    clerk = auth("parts_clerk", "clerk-group", [here, b, c, d])
    number = new_part(client, clerk, min_stock=4, reorder_qty=6)
    post(client, f"/stock/{here}/{number}/levels", clerk, {"min_stock": 4, "reorder_qty": 4})
    _receive(client, clerk, b, number, 8, "100.00")  # spares 4
    [row] = _suggested(client, clerk, here)["items"]
    lines = [{"part_number": number, "from_store": x["store_id"], "qty": x["qty"]}
             for x in row["donors"]]
    assert lines == [{"part_number": number, "from_store": b, "qty": "4"}]
    # Meanwhile B sends 3 to D by hand: it spares 1 now.
    post(client, "/stock/transfers", clerk, {"from_store": b, "to_store": d,
                                             "part_number": number, "qty": 3,
                                             "reason": "a car waits at D"}, 201)
    before = head(client)
    stale = client.post("/transfers/from-suggestions", headers=clerk,
                        json={"to_store": here, "lines": lines})
    assert stale.status_code == 409, stale.text
    assert stale.headers["content-type"].startswith("application/problem+json")
    problem = stale.json()
    assert (problem["part_number"], problem["from_store"], problem["spare"]) == (number, b, "1")
    assert number in problem["detail"] and head(client) == before
    # Re-planned from what the stock shows now: B's 1 spare unit.
    replanned = post(client, "/transfers/from-suggestions", clerk, {"to_store": here}, 201)
    assert [(t["from_store"], t["qty"]) for t in replanned["transfers"]] == [(b, "1")]


def test_the_token_must_cover_the_receiving_store_and_the_donors(
        client: TestClient, auth: Auth, store_id: str) -> None:
    here, b, _, _ = _group(store_id)
    clerk = auth("parts_clerk", "clerk-group", [here, b])
    number = new_part(client, clerk, min_stock=4, reorder_qty=6)
    post(client, f"/stock/{here}/{number}/levels", clerk, {"min_stock": 4, "reorder_qty": 4})
    _receive(client, clerk, b, number, 8, "100.00")
    lines = [{"part_number": number, "from_store": b, "qty": "2"}]
    before = head(client)
    for stores in ([here], [b]):
        refused = client.post("/transfers/from-suggestions",
                              headers=auth("parts_clerk", "clerk-one", stores),
                              json={"to_store": here, "lines": lines})
        assert refused.status_code == 403, refused.text
    advisor = client.post("/transfers/from-suggestions", headers=auth("advisor", "adv", [here, b]),
                          json={"to_store": here, "lines": lines})
    assert advisor.status_code == 403
    assert head(client) == before


def test_the_purchase_order_suggestions_leave_out_what_transfers_bring_only_if_asked(
        client: TestClient, auth: Auth, store_id: str) -> None:
    here, b, c, _ = _group(store_id)
    clerk = auth("parts_clerk", "clerk-group", [here, b, c])
    number = new_part(client, clerk, min_stock=4, reorder_qty=6)
    # Here: 1 available, minimum 6, reorder 2 -> 5 short. B: 6 at its minimum 4 -> spares 2.
    _receive(client, clerk, here, number, 1, "100.00")
    post(client, f"/stock/{here}/{number}/levels", clerk, {"min_stock": 6, "reorder_qty": 2})
    _receive(client, clerk, b, number, 6, "100.00")

    def reorder(after: bool) -> list[tuple[str, str]]:
        rows = get(client, "/purchase-orders/suggestions", clerk, store_id=here,
                   after_transfers=after, wait_for=head(client))["items"]
        return [(r["suggested_qty"], r.get("by_transfer", "-")) for r in rows
                if r["part_number"] == number]

    assert reorder(False) == [("5", "-")]  # as before: max(2, 6 - 1)
    assert reorder(True) == [("3", "2")]  # B's 2 count as coming: max(2, 6 - 1 - 2)
    # Drafted so, only the 3 the supplier must bring are ordered.
    order = post(client, "/purchase-orders/from-suggestions", clerk, {
        "store_id": here, "supplier": "FAW-VW Parts", "after_transfers": True}, 201)
    doc = get(client, f"/purchase-orders/{order['id']}", clerk,
              wait_for=order["notification_id"])
    assert [(ln["part_number"], ln["qty"]) for ln in doc["lines"]] == [(number, "3")]
    post(client, f"/purchase-orders/{order['id']}/cancel", clerk, {"reason": "test over"})
    # C spares 4 more: the transfers cover all 5, nothing is left to order.
    _receive(client, clerk, c, number, 8, "100.00")
    assert reorder(True) == []
    assert reorder(False) == [("5", "-")]
