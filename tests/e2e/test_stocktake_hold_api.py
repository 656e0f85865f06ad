"""Units a count found missing are not on the shelf while a manager decides: a count waiting
for approval (a stocktake, or a transfer short on arrival) holds what it counted short, as a
scrap request holds its units, so the counter cannot issue, send or return what is not there."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi.testclient import TestClient

from tests.e2e.test_parts_api import Auth, get, head, post, ready_visit, received_part


def test_a_transfer_short_on_arrival_holds_the_missing_units_until_a_manager_decides(
        client: TestClient, auth: Auth, store_id: str) -> None:
    here, there = store_id, store_id + "B"
    sender = auth("parts_clerk", "clerk-" + here, [here])
    receiver = auth("parts_clerk", "clerk-" + there, [there])
    number = received_part(client, sender, here, 4)  # 4 at 200.00
    sent = post(client, "/stock/transfers", sender, {
        "from_store": here, "to_store": there, "part_number": number, "qty": 4,
        "reason": "stock for the other store"}, 201)
    # One of four came: 600.00 short waits for a manager, and the three are held meanwhile.
    post(client, f"/stock/transfers/{sent['id']}/receipt", receiver,
         {"received_qty": "1", "reason": "crate damaged, three sets lost"})
    item = get(client, f"/stock/{there}/{number}", receiver, wait_for=head(client))
    assert (item["on_hand"], item["reserved"], item["available"]) == ("4", "3", "1")
    [hold] = item["reservations"]
    assert (hold["key"], hold["qty"], hold["work_order_id"]) == (
        f"count:{sent['number']}", "3", None)
    waiting = datetime.now(UTC).isoformat()
    # A job asks for three: only the one that came can be issued (it was 3, from thin air).
    wo, line = ready_visit(client, auth, there, number, qty="1")
    more = client.post(f"/stock/{there}/{number}/scrap", headers=receiver,
                       json={"qty": "2", "reason": "dropped on the floor"})
    assert more.status_code == 409 and more.json()["available"] == "0", more.text
    post(client, f"{wo}/lines/{line}/issue", receiver, {})
    # The manager approves: the three leave the book, nothing is held any more.
    post(client, f"/stock/{there}/{number}/stocktakes/{sent['number']}/decision",
         auth("manager", "mgr-" + there, [there]), {"approve": True})
    item = get(client, f"/stock/{there}/{number}", receiver, wait_for=head(client))
    assert (item["on_hand"], item["reserved"], item["reservations"]) == ("0", "0", [])
    # The auditor's replay of the item while the count waited shows the hold as the view did.
    then = get(client, f"/stock/{there}/{number}", receiver, as_of=waiting)
    assert (then["on_hand"], then["reserved"], then["available"]) == ("4", "3", "1")
    assert [r["key"] for r in then["reservations"]] == [f"count:{sent['number']}"]


def test_a_rejected_count_gives_back_what_it_held(client: TestClient, auth: Auth,
                                                 store_id: str) -> None:
    clerk = auth("parts_clerk", "clerk-" + store_id, [store_id])
    number = received_part(client, clerk, store_id, 5)  # 5 at 200.00: one lot
    item = get(client, f"/stock/{store_id}/{number}", clerk, wait_for=head(client))
    [lot] = item["lots"]
    counted = post(client, f"/stock/{store_id}/{number}/stocktakes", clerk, {
        "counted": {lot["lot_id"]: "1"}, "reason": "four sets not found",
        "as_of_version": item["version"]})
    assert counted["status"] == "awaiting_approval"
    # The four counted missing cannot be sent to a sister store while the count waits.
    refused = client.post("/stock/transfers", headers=auth(
        "parts_clerk", "clerk-" + store_id, [store_id, store_id + "B"]), json={
        "from_store": store_id, "to_store": store_id + "B", "part_number": number,
        "qty": "2", "reason": "the other store asks"})
    assert refused.status_code == 409 and refused.json()["available"] == "1", refused.text
    # A manager rejects it (found on another shelf): all five are available again.
    post(client, f"/stock/{store_id}/{number}/stocktakes/{counted['count_id']}/decision",
         auth("manager", "mgr-" + store_id, [store_id]),
         {"approve": False, "reason": "found on the top shelf"})
    item = get(client, f"/stock/{store_id}/{number}", clerk, wait_for=head(client))
    assert (item["on_hand"], item["reserved"], item["available"]) == ("5", "0", "5")
