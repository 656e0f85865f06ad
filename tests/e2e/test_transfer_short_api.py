"""A transfer between two stores of a group that arrives a part short, over HTTP: the receiving
clerk books in what came, the rest is counted short at once, and the stock, the ledger and the
audit trail agree on it."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient

from tests.e2e.test_parts_api import Auth, get, head, post, received_part
from tests.scratch_systems import served_module

served, container, client = served_module("sc_transfer_short", projections=True)


def _refused(client: TestClient, url: str, headers: dict[str, str], body: Any) -> Any:
    before = head(client)
    answer = client.post(url, headers=headers, json=body)
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert head(client) == before
    return answer.json()


def test_a_transfer_short_on_arrival_books_in_what_came(client: TestClient, auth: Auth,
                                                        store_id: str) -> None:
    here, there = store_id, store_id + "B"
    sender = auth("parts_clerk", "clerk-" + here, [here])
    receiver = auth("parts_clerk", "clerk-" + there, [there])
    finance = auth("finance", "fin-group", [here, there])
    number = received_part(client, sender, here, 5)  # 5 at 200.00
    sent = post(client, "/stock/transfers", sender, {
        "from_store": here, "to_store": there, "part_number": number, "qty": 3,
        "reason": "a car waits at the other store"}, 201)
    receipt = f"/stock/transfers/{sent['id']}/receipt"
    # More than was sent cannot have arrived; fewer needs a reason. Neither stores anything.
    more = _refused(client, receipt, receiver, {"received_qty": "4"})
    assert (more["field"], more["sent"]) == ("received_qty", "3")
    assert sent["number"] in more["detail"]
    assert _refused(client, receipt, receiver, {"received_qty": "2"})["field"] == "reason"
    # Two of the three arrive: booked in, and the third counted short under the transfer.
    got = post(client, receipt, receiver, {"received_qty": "2", "reason": "one set missing"})
    assert got["status"] == "received"
    assert got["short"] == {"qty": "1", "count_id": sent["number"], "value": "-200.00",
                            "status": "posted"}
    [item] = get(client, "/stock", receiver, store_id=there, wait_for=head(client))["items"]
    assert (item["on_hand"], item["fifo_value"], item["in_transit"]) == ("2", "400.00", "0")
    # Both stores' list of transfers says so beside what was sent.
    for clerk in (sender, receiver):
        [listed] = get(client, "/stock/transfers", clerk)["items"]
        assert (listed["qty"], listed["short_qty"], listed["status"]) == ("3", "1", "received")
    # The ledger: nothing left in transit, the shortfall a stock loss at the receiving store.
    balances = {(a["store_id"], a["account"]): a["balance"] for a in get(
        client, "/ledger/trial-balance", finance, month=datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m"),
        wait_for=head(client))["accounts"]}
    assert balances[(there, "1405")] == "400.00" and balances[(there, "6711")] == "200.00"
    assert balances[(here, "1406")] == "0.00"
    # The receiving store's history says why a unit went missing, and who said so.
    history = get(client, f"/stock/{there}/{number}/history",
                  auth("auditor", "aud-group", [here, there]))
    [variance] = [e for e in history["items"] if e["event"] == "StockItem.VariancePosted"]
    assert variance["actor"]["user_id"] == "clerk-" + there
    assert f"short on arrival of transfer {sent['number']}: one set missing" in str(variance)
    trail = get(client, f"/stock/transfers/{sent['id']}/history",
                auth("auditor", "aud-group", [here, there]))
    assert [e["event"] for e in trail["items"]] == [
        "Transfer.Dispatched", "Transfer.Received", "Transfer.ReceivedShort"]



def test_a_large_shortfall_waits_for_a_manager_under_the_transfer_s_number(
        client: TestClient, auth: Auth, store_id: str) -> None:
    here, there = store_id, store_id + "B"
    sender = auth("parts_clerk", "clerk-" + here, [here])
    receiver = auth("parts_clerk", "clerk-" + there, [there])
    number = received_part(client, sender, here, 4)
    sent = post(client, "/stock/transfers", sender, {
        "from_store": here, "to_store": there, "part_number": number, "qty": 4,
        "reason": "stock for the other store"}, 201)
    # Only one of four came: 600.00 short is above the stocktake approval value.
    got = post(client, f"/stock/transfers/{sent['id']}/receipt", receiver,
               {"received_qty": "1", "reason": "crate damaged, three sets lost"})
    assert got["short"] == {"qty": "3", "count_id": sent["number"], "value": "-600.00",
                            "status": "awaiting_approval"}
    pending = get(client, "/stock/approvals", receiver, wait_for=head(client))["items"]
    assert [(a["kind"], a["ref"]) for a in pending if a["store_id"] == there] == [
        ("stocktake", sent["number"])]
    decided = post(client, f"/stock/{there}/{number}/stocktakes/{sent['number']}/decision",
                   auth("manager", "mgr-" + there, [there]), {"approve": True})
    assert decided["status"] == "posted"
    [item] = get(client, "/stock", receiver, store_id=there, wait_for=head(client))["items"]
    assert (item["on_hand"], item["fifo_value"]) == ("1", "200.00")
