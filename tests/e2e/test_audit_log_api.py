"""The auditor's sample across streams: every event of a kind (discounts, scrap, reversals …) in a
period, with who, when and why, without opening every settlement or stock item one by one."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient

from tests.e2e.test_money_api import ready_for_settlement
from tests.e2e.test_parts_api import get, head, new_part, post

Auth = Callable[..., dict[str, str]]
SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_every_discount_and_scrap_of_a_period_with_who_and_why(
        client: TestClient, auth: Auth, store_id: str) -> None:
    other_store_id = "T" + uuid.uuid4().hex[:6].upper()
    cashier = auth("cashier", "cash-" + store_id, [store_id])
    manager = auth("manager", "mgr-" + store_id, [store_id])
    clerk = auth("parts_clerk", "clerk-" + store_id, [store_id])
    auditor = auth("auditor", "aud-" + store_id, [store_id])
    # Two discounts on one bill (the cashier's and the manager's), a scrap at the parts desk,
    # and a discount in another store the auditor does not audit.
    _, wo_id = ready_for_settlement(client, auth, store_id)
    sid = post(client, "/settlements", cashier, {"work_order_id": wo_id}, 201)["id"]
    post(client, f"/settlements/{sid}/discounts", cashier,
         {"amount": "20.00", "reason": "member's discount"})
    post(client, f"/settlements/{sid}/discounts", manager,
         {"line_id": "L1", "amount": "100.00", "reason": "waited two days for the part"})
    part = new_part(client, clerk, min_stock=0)
    post(client, f"/stock/{store_id}/{part}/receipts", clerk, {
        "qty": 3, "unit_cost": "50.00", "supplier": "S", "supplier_doc": "DN-9"}, 201)
    scrapped = post(client, f"/stock/{store_id}/{part}/scrap", manager,
                    {"qty": "1", "reason": "dropped, housing cracked"})
    elsewhere = auth("cashier", "cash-" + other_store_id, [other_store_id])
    _, other_wo = ready_for_settlement(client, auth, other_store_id)
    other = post(client, "/settlements", elsewhere, {"work_order_id": other_wo}, 201)["id"]
    last = post(client, f"/settlements/{other}/discounts", elsewhere,
                {"amount": "5.00", "reason": "member's discount"})

    # The auditor asks for every discount and every scrap of today in the store.
    today = datetime.now(SHANGHAI).date()
    found = get(client, "/audit/log", auditor,
                event_type="Settlement.DiscountGiven, StockItem.Scrapped", store_id=store_id,
        **{"from": today.isoformat(), "to": today.isoformat()},
        wait_for=last["notification_id"])
    assert found["total"] == 3
    assert [(e["event"], e["actor"]["user_id"], e["reason"]) for e in found["items"]] == [
        ("Settlement.DiscountGiven", "cash-" + store_id, "member's discount"),
        ("Settlement.DiscountGiven", "mgr-" + store_id, "waited two days for the part"),
        ("StockItem.Scrapped", "mgr-" + store_id, "dropped, housing cracked")]
    assert found["items"][1]["changes"]["approved_by"] == "mgr-" + store_id
    assert found["items"][2]["notification_id"] == scrapped["notification_id"]
    # One person's, a page of it, and a period before any of it.
    mine = get(client, "/audit/log", auditor, event_type="Settlement.DiscountGiven",
               user_id="cash-" + store_id, limit=1)
    assert (mine["total"], len(mine["items"]), mine["items"][0]["changes"]["amount"]) == (
        1, 1, "20.00")
    before = (today - timedelta(days=1)).isoformat()
    assert get(client, "/audit/log", auditor, event_type="Settlement.DiscountGiven",
               to=before)["total"] == 0
    at_start = datetime.combine(today, datetime.min.time(), SHANGHAI).isoformat()
    assert get(client, "/audit/log", auditor, event_type="Settlement.DiscountGiven",
               **{"from": at_start})["total"] == 2  # the other store's is not the auditor's

    # The openings show the customer's name: the auditor's read of it is recorded.
    opened = get(client, "/audit/log", auditor, event_type="WorkOrder.Opened",
                 store_id=store_id)
    [visit] = opened["items"]
    assert visit["stream_id"] == wo_id and visit["changes"]["customer"]["name"] == "王伟"
    reads = get(client, "/audit/personal-data-reads", auditor,
                customer_id=visit["changes"]["customer_id"], wait_for=head(client))
    assert [(r["user_id"], r["purpose"]) for r in reads["items"]] == [
        ("aud-" + store_id, "audit log")]

    # Asking for an event type that does not exist, or a moment without its zone, is 422.
    for params in ({"event_type": "Settlement.DiscountGiven,DiscountGiven"},
                   {"from": "2026-03-01T10:00:00"},
                   {"to": "yesterday"}):
        refused = client.get("/audit/log", headers=auditor, params=params)
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
    # Only auditors and managers read the trail.
    assert client.get("/audit/log", headers=cashier).status_code == 403
