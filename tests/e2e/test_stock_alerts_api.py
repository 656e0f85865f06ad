"""Low-stock alerts over HTTP, as the parts manager reads them at the end of the day: what the
shelf held when an alert was raised stays what it held then, after the alert is cleared."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.e2e.test_parts_api import Auth, get, head, new_part, post


def test_a_cleared_alert_keeps_what_was_available_when_it_was_raised(
        client: TestClient, auth: Auth, store_id: str) -> None:
    clerk = auth("parts_clerk", stores=[store_id])
    number = new_part(client, clerk, min_stock=3, reorder_qty=6)
    receipt = f"/stock/{store_id}/{number}/receipts"
    # One set on the shelf, three the minimum: the alert is raised with 1 available.
    post(client, receipt, clerk, {"qty": 1, "unit_cost": "200.00", "supplier": "S",
                                  "supplier_doc": "DN-1"}, 201)
    [raised] = get(client, "/alerts", clerk, store_id=store_id, wait_for=head(client))["items"]
    assert (raised["open"], raised["available_when_raised"]) == (True, "1")
    # The delivery of six clears it: 7 available, and the alert says so beside the 1 it was
    # raised at (it was overwritten with 7, an alert "raised" at 7 above a minimum of 3).
    post(client, receipt, clerk, {"qty": 6, "unit_cost": "200.00", "supplier": "S",
                                  "supplier_doc": "DN-2"}, 201)
    assert get(client, "/alerts", clerk, store_id=store_id, wait_for=head(client))["total"] == 0
    [cleared] = get(client, "/alerts", clerk, store_id=store_id, include_cleared="true")["items"]
    assert cleared["open"] is False and cleared["cleared_at"] is not None
    assert (cleared["available_when_raised"], cleared["min_stock"]) == ("1", "3")
    assert (cleared["available_when_cleared"], cleared["available_now"]) == ("7", "7")
