"""A scrap request waiting for a manager holds its units: the item's `reserved` counts them, and
its `reservations` list them (`scrap:<request id>`, no work order), in the live read as in the
`as_of` replay. The live read left the hold out while the replay listed it, so the reserved
figure was more than the list explained and the two reads of one moment disagreed."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient

from tests.e2e.test_parts_api import Auth, get, head, post, ready_visit, received_part


def held(item: dict[str, Any]) -> dict[str, tuple[str, str | None]]:
    """The item's reservations by key: quantity and work order."""
    assert Decimal(item["reserved"]) == sum(
        (Decimal(r["qty"]) for r in item["reservations"]), Decimal(0)), item
    return {r["key"]: (r["qty"], r["work_order_id"]) for r in item["reservations"]}


def test_a_scrap_request_waiting_for_a_manager_is_listed_among_the_reservations(
        client: TestClient, auth: Auth, store_id: str) -> None:
    clerk = auth("parts_clerk", user="clerk-hold", stores=[store_id])
    manager = auth("manager", user="mgr-hold", stores=[store_id])
    number = received_part(client, clerk, store_id, 10)  # at 200.00
    wo, line = ready_visit(client, auth, store_id, number, qty="2")
    job = (wo.rsplit("/", 1)[1] + ":" + line, wo.rsplit("/", 1)[1])
    # Water in the store room: six sets to scrap, 1200.00, waits for a manager.
    asked = post(client, f"/stock/{store_id}/{number}/scrap", clerk,
                 {"qty": "6", "reason": "water damage in the store room"})
    assert (asked["status"], asked["reserved"], asked["available"]) == (
        "awaiting_approval", "8", "2")
    hold = "scrap:" + asked["request_id"]
    item = get(client, f"/stock/{store_id}/{number}", clerk, wait_for=asked["notification_id"])
    assert held(item) == {job[0]: ("2", job[1]), hold: ("6", None)}
    [listed] = [r for r in item["reservations"] if r["key"] == hold]
    assert listed["line_id"] is None and listed["at"]
    # As of now, the same list: the replay says when the hold was made, as the view does.
    then = get(client, f"/stock/{store_id}/{number}", clerk,
               as_of=datetime.now(UTC).isoformat())
    assert held(then) == held(item)
    assert {r["key"]: datetime.fromisoformat(r["at"]) for r in then["reservations"]} == {
        r["key"]: datetime.fromisoformat(r["at"]) for r in item["reservations"]}
    # The manager rejects it: the hold is gone, the line's reservation stays.
    post(client, f"/stock/{store_id}/{number}/scrap/{asked['request_id']}/decision", manager,
         {"approve": False, "reason": "dry them and sell them"})
    item = get(client, f"/stock/{store_id}/{number}", clerk, wait_for=head(client))
    assert held(item) == {job[0]: ("2", job[1])}
    # Asked again and approved: scrapped, nothing held for it any more.
    again = post(client, f"/stock/{store_id}/{number}/scrap", clerk,
                 {"qty": "6", "reason": "mould after all"})
    assert held(get(client, f"/stock/{store_id}/{number}", clerk,
                    wait_for=again["notification_id"]))["scrap:" + again["request_id"]] == (
        "6", None)
    post(client, f"/stock/{store_id}/{number}/scrap/{again['request_id']}/decision", manager,
         {"approve": True})
    item = get(client, f"/stock/{store_id}/{number}", clerk, wait_for=head(client))
    assert (item["on_hand"], item["reserved"]) == ("4", "2")
    assert held(item) == {job[0]: ("2", job[1])}
    assert held(get(client, f"/stock/{store_id}/{number}", clerk,
                    as_of=datetime.now(UTC).isoformat())) == held(item)
