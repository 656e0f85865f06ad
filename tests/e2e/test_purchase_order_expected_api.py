"""The parts manager's chase list: each purchase order's expected delivery day, whether it is
overdue (the day past in the store's time zone, the supplier still owing part of it) and what
it still owes at the ordered cost; `?overdue=true` lists the late ones."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient

from domain.application import Request
from domain.common import Caller
from servicecore.container import Container
from tests.e2e.test_parts_api import Auth, get, head, new_part, post

SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_an_order_past_its_expected_day_is_overdue_until_received_and_owes_its_open_value(
        client: TestClient, auth: Auth, container: Container, store_id: str) -> None:
    clerk = auth("parts_clerk", stores=[store_id])
    pads, discs = new_part(client, clerk, min_stock=0), new_part(client, clerk, min_stock=0)
    lines = [{"part_number": pads, "qty": "10", "unit_cost": "300.00"},
             {"part_number": discs, "qty": "3", "unit_cost": "155.55"}]
    # Ordered a week ago (in the store's zone), expected three days ago.
    now = datetime.now(SHANGHAI)
    week_ago = Request(Caller("clerk-old", "parts_clerk", (store_id,), now - timedelta(days=7),
                              "corr-po-late"))
    expected = (now - timedelta(days=3)).date()
    late = container.inventory.draft_order(week_ago, store_id=store_id, supplier="Bosch",
                                           lines=lines, expected_on=expected).body
    late_po = f"/purchase-orders/{late['id']}"
    post(client, f"{late_po}/send", clerk)
    # Ordered today, expected next week: not overdue.
    soon = post(client, "/purchase-orders", clerk, {
        "store_id": store_id, "supplier": "Bosch", "lines": lines[:1],
        "expected_on": (now + timedelta(days=7)).date().isoformat()}, 201)
    post(client, f"/purchase-orders/{soon['id']}/send", clerk)
    # Four pads of the late order arrive: it stays overdue, owing 6 × 300.00 + 3 × 155.55.
    got = post(client, f"{late_po}/receipts", clerk, {"line_no": 1, "qty": 4,
                                                      "supplier_doc": "DN-1"}, 201)
    doc = get(client, late_po, clerk, wait_for=got["notification_id"])
    assert (doc["status"], doc["expected_on"], doc["overdue"], doc["open_value"]) == (
        "partly_received", expected.isoformat(), True, "2266.65")
    listed = get(client, "/purchase-orders", clerk, store_id=store_id)
    rows = {row["id"]: row for row in listed["items"]}
    assert (rows[late["id"]]["overdue"], rows[late["id"]]["open_value"]) == (True, "2266.65")
    assert (rows[soon["id"]]["overdue"], rows[soon["id"]]["open_value"]) == (False, "3000.00")
    assert listed["open_value"] == "5266.65"  # every order listed
    overdue = get(client, "/purchase-orders", clerk, store_id=store_id, overdue="true")
    assert ([row["id"] for row in overdue["items"]], overdue["open_value"]) == (
        [late["id"]], "2266.65")
    assert [row["id"] for row in get(client, "/purchase-orders", clerk, store_id=store_id,
                                     overdue="false")["items"]] == [soon["id"]]
    # As it stood the day before it was due, it was not overdue yet.
    then = get(client, late_po, clerk, as_of=(expected - timedelta(days=1)).isoformat())
    assert (then["overdue"], then["open_value"]) == (False, "3466.65")
    # The rest arrives: received in full, nothing owed, no longer overdue.
    post(client, f"{late_po}/receipts", clerk, {"line_no": 1, "qty": 6, "supplier_doc": "DN-2"},
         201)
    done = post(client, f"{late_po}/receipts", clerk, {"line_no": 2, "qty": 3,
                                                       "supplier_doc": "DN-2"}, 201)
    doc = get(client, late_po, clerk, wait_for=done["notification_id"])
    assert (doc["status"], doc["overdue"], doc["open_value"]) == ("received", False, "0.00")
    assert get(client, "/purchase-orders", clerk, store_id=store_id, overdue="true")[
        "total"] == 0


def test_the_expected_day_moves_with_a_reason_and_never_into_the_past(
        client: TestClient, auth: Auth, store_id: str) -> None:
    clerk = auth("parts_clerk", user="clerk-chase", stores=[store_id])
    auditor = auth("auditor", stores=[store_id])
    pads = new_part(client, clerk, min_stock=0)
    today = datetime.now(SHANGHAI).date()
    # Drafted without a day; a day already past is refused, nothing stored.
    order = post(client, "/purchase-orders", clerk, {"store_id": store_id, "supplier": "Bosch",
                 "lines": [{"part_number": pads, "qty": "2", "unit_cost": "300.00"}]}, 201)
    po = f"/purchase-orders/{order['id']}"
    past = client.post(f"{po}/expected-date", headers=clerk,
                       json={"expected_on": (today - timedelta(days=1)).isoformat()})
    assert (past.status_code, past.json()["field"]) == (422, "expected_on"), past.text
    past_draft = client.post("/purchase-orders", headers=clerk, json={
        "store_id": store_id, "supplier": "Bosch", "expected_on": "2020-01-01",
        "lines": [{"part_number": pads, "qty": "2", "unit_cost": "300.00"}]})
    assert (past_draft.status_code, past_draft.json()["field"]) == (422, "expected_on")
    # The supplier promises Friday week; then the day moves, which needs the reason.
    first = (today + timedelta(days=10)).isoformat()
    later = (today + timedelta(days=14)).isoformat()
    given = post(client, f"{po}/expected-date", clerk, {"expected_on": first})
    assert (given["expected_on"], given["previous_expected_on"]) == (first, None)
    unexplained = client.post(f"{po}/expected-date", headers=clerk, json={"expected_on": later})
    assert (unexplained.status_code, unexplained.json()["field"]) == (422, "reason")
    why = "supplier's warehouse short until the 14th"
    moved = post(client, f"{po}/expected-date", clerk, {"expected_on": later, "reason": why})
    assert (moved["expected_on"], moved["previous_expected_on"]) == (later, first)
    doc = get(client, po, clerk, wait_for=moved["notification_id"])
    assert doc["expected_on"] == later and not doc["overdue"]
    assert [(c["expected_on"], c["previous"], c["reason"], c["by"]) for c in
            doc["expected_changes"]] == [(first, None, None, "clerk-chase"),
                                         (later, first, why, "clerk-chase")]
    history = get(client, f"{po}/history", auditor)["items"]
    assert [e["reason"] for e in history
            if e["event"] == "PurchaseOrder.ExpectedDateChanged"] == [None, why]
    # Cancelled, no delivery is expected any more.
    post(client, f"{po}/cancel", clerk, {"reason": "ordered from another supplier"})
    gone = client.post(f"{po}/expected-date", headers=clerk,
                       json={"expected_on": later, "reason": "still chasing"})
    assert gone.status_code == 409, gone.text
    assert get(client, po, clerk, wait_for=head(client))["expected_on"] == later
