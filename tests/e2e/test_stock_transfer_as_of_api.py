"""A part's stock in the receiving store as of a moment during a transfer: the units on their
way there are `in_transit` then, as the live read showed them, and no longer once booked in
(`GET /stock/{store}/{part}?as_of=` answers the figures as they stood, in transit included)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient

from tests.e2e.test_parts_api import get, head, new_part, post
from tests.scratch_systems import served_module

Auth = Callable[..., dict[str, str]]
served, container, client = served_module("sc_transfer_as_of", projections=True)
FIGURES = ("on_hand", "reserved", "available", "on_order", "in_transit", "fifo_value")


def test_units_on_their_way_are_in_transit_as_of_the_moments_between_send_and_receipt(
        client: TestClient, auth: Auth, store_id: str) -> None:
    there = store_id + "B"
    clerk = auth("parts_clerk", "clerk-" + store_id, [store_id, there])
    auditor = auth("auditor", "aud-" + store_id, [store_id, there])
    number = new_part(client, clerk, min_stock=0)
    for store, qty in ((store_id, 4), (there, 1)):
        post(client, f"/stock/{store}/{number}/receipts", clerk, {
            "qty": qty, "unit_cost": "100.00", "supplier": "S", "supplier_doc": "DN-1"}, 201)
    url = f"/stock/{there}/{number}"
    seen: list[tuple[dict[str, Any], str]] = []

    def capture(notification_id: int) -> None:
        live = get(client, url, clerk, wait_for=notification_id)
        seen.append((live, datetime.now(UTC).isoformat()))

    capture(head(client))
    sent = post(client, "/stock/transfers", clerk, {
        "from_store": store_id, "to_store": there, "part_number": number, "qty": 3,
        "reason": "the other store is short"}, 201)
    capture(sent["notification_id"])
    booked = post(client, f"/stock/transfers/{sent['id']}/receipt", clerk)
    capture(booked["notification_id"])
    assert [live["in_transit"] for live, _ in seen] == ["0", "3", "0"]
    assert [live["on_hand"] for live, _ in seen] == ["1", "1", "4"]
    for live, moment in seen:
        then = get(client, url, auditor, as_of=moment)
        assert {f: then[f] for f in FIGURES} == {f: live[f] for f in FIGURES}, moment
    # The moment the transfer was sent (its business time) is in transit, inclusive.
    history = get(client, f"/stock/transfers/{sent['id']}/history", auditor)["items"]
    assert get(client, url, auditor, as_of=history[0]["actor"]["at"])["in_transit"] == "3"
    assert get(client, url, auditor, as_of=history[1]["actor"]["at"])["in_transit"] == "0"
