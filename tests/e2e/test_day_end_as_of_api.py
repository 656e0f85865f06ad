"""The daily cash report as it stood at a moment (`GET /day-end/{day}?as_of=`): before the
card payment and the close, the cashier's day is open with the cash taken so far; now it is
closed with both. The replay now is the current report; before the day was opened 404; a bad
`as_of` 422; the future refused. And the cashier's day's own history, paged."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient

from tests.e2e.as_of_support import checked_as_of
from tests.e2e.test_money_api import confirmed_settlement
from tests.e2e.test_parts_api import Auth, get, post


def test_a_cashier_day_as_of_a_moment_before_the_close(client: TestClient, auth: Auth,
                                                        store_id: str) -> None:
    cashier_id = "cash-" + store_id
    cashier = auth("cashier", cashier_id, [store_id])
    auditor = auth("auditor", "aud-" + store_id, [store_id])
    wo_id, _ = confirmed_settlement(client, auth, store_id)
    post(client, "/payments", cashier, {"work_order_id": wo_id, "method": "cash",
                                        "amount": "100.00", "tendered": "100.00"}, 201)
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
    url = f"/day-end/{today}"
    day: dict[str, Any] = {"store_id": store_id, "cashier": cashier_id}
    history = get(client, f"{url}/history", auditor, **day)
    assert [e["event"] for e in history["items"]] == ["CashierDay.Opened", "CashierDay.MoneyIn"]
    first, then = (datetime.fromisoformat(e["actor"]["at"]) for e in history["items"])

    def change() -> None:
        post(client, "/payments", cashier, {"work_order_id": wo_id, "method": "wechat_pay",
                                            "amount": "200.00",
                                            "provider_ref": "WX" + store_id + "0001"}, 201)
        post(client, "/day-end", cashier, {"store_id": store_id, "counted_cash": "100.00"})

    def before(doc: dict[str, Any]) -> None:
        assert [(t["method"], t["taken"]) for t in doc["taken"]] == [("cash", "100.00")], doc
        [cashier_day] = doc["cashier_days"]
        assert (cashier_day["status"], cashier_day["totals"], cashier_day["expected_cash"]) == (
            "open", {"cash": "100.00"}, "100.00"), doc
        assert doc["chain_anchors"] == []

    def after(doc: dict[str, Any]) -> None:
        assert [t["method"] for t in doc["taken"]] == ["cash", "wechat_pay"], doc
        # Each row names its cashier as `cashier_days` and `chain_anchors` do (`cashier_id`),
        # and as it always did (`cashier`).
        assert {(t["cashier_id"], t["cashier"]) for t in doc["taken"]} == {
            (cashier_id, cashier_id)}, doc
        [cashier_day] = doc["cashier_days"]
        assert (cashier_day["status"], cashier_day["counted_cash"]) == ("closed", "100.00")
        assert len(doc["chain_anchors"]) == 1

    checked_as_of(client, url, auditor, first=first, then=then, change=change, before=before,
                  after=after)
    # The day's history now: opened, two payments, closed; paged; the cashier's role may
    # not read it, nor another store's auditor.
    page = get(client, f"{url}/history", auditor, limit=1, offset=3, **day)
    assert page["total"] == 4 and page["items"][0]["event"] == "CashierDay.Closed"
    assert client.get(f"{url}/history", headers=cashier, params=day).status_code == 403
    stranger = auth("auditor", "aud-x", [store_id + "X"])
    assert client.get(f"{url}/history", headers=stranger, params=day).status_code == 404
    assert client.get(f"{url}/history", headers=auditor, params={
        **day, "cashier": "nobody"}).status_code == 404
