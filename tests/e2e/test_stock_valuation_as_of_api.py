"""The stock valuation as it stood at a moment (`GET /stock/valuation?as_of=`): a month-end
close read after later movements answers what the live valuation answered then, per store,
to the fen, in transit and the parts then below their minimum included."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient

from servicecore.container import Container
from tests.e2e.test_parts_api import get, head, new_part, post, ready_visit

Auth = Callable[..., dict[str, str]]


def test_the_valuation_as_of_a_moment_is_the_live_one_then(
        client: TestClient, auth: Auth, store_id: str, container: Container) -> None:
    there = store_id + "B"
    clerk = auth("parts_clerk", "clerk-" + store_id, [store_id, there])
    auditor = auth("auditor", "aud-" + store_id, [store_id, there])
    pads = new_part(client, clerk, min_stock=3)
    fluid = new_part(client, clerk, min_stock=0, name="brake fluid DOT4", unit="L")
    # Two deliveries of pads at two costs; a litre of brake fluid, a third of it spilt.
    lots = [post(client, f"/stock/{store_id}/{pads}/receipts", clerk, {
        "qty": qty, "unit_cost": cost, "supplier": "S", "supplier_doc": f"DN-{cost}"},
        201)["lot_id"] for qty, cost in ((4, "100.00"), (3, "120.00"))]
    post(client, f"/stock/{store_id}/{fluid}/receipts", clerk, {
        "qty": "1", "unit_cost": "10.01", "supplier": "S", "supplier_doc": "DN-F"}, 201)
    post(client, f"/stock/{store_id}/{fluid}/scrap", clerk,
         {"qty": "0.333", "reason": "spilt at the counter"})
    # Two sets go to a car, one to the other store (on its way), one is scrapped.
    wo, line = ready_visit(client, auth, store_id, pads, qty="2")
    post(client, f"{wo}/lines/{line}/issue", clerk, {})
    sent = post(client, "/stock/transfers", clerk, {
        "from_store": store_id, "to_store": there, "part_number": pads, "qty": 1,
        "reason": "the other store is short"}, 201)
    post(client, f"/stock/{store_id}/{pads}/scrap", clerk, {"qty": 1, "reason": "cracked"})
    # The stocktake finds one set of the second delivery missing.
    counted = post(client, f"/stock/{store_id}/{pads}/stocktakes", clerk, {
        "counted": {lots[1]: 2}, "reason": "not found", "count_ref": f"ST-{store_id}"})
    assert (counted["status"], counted["value"]) == ("posted", "-120.00")

    # Month-end: the live valuation, and the moment it was read.
    live = get(client, "/stock/valuation", auditor, wait_for=head(client))
    t1 = datetime.now(UTC).isoformat()
    assert live["items"] == [{
        "store_id": store_id, "parts_in_stock": 2, "units": "2.667", "fifo_value": "246.68",
        "low_stock_parts": 1, "in_transit_units": "1", "in_transit_value": "100.00",
        "total_value": "346.68"}]

    # The next month: the transfer is booked in, more arrives (the pads' alert clears), more
    # leaves, and a higher minimum raises the pads' alert again (its latest raised since).
    post(client, f"/stock/transfers/{sent['id']}/receipt", clerk)
    post(client, f"/stock/{store_id}/{pads}/receipts", clerk, {
        "qty": 5, "unit_cost": "130.00", "supplier": "S", "supplier_doc": "DN-130"}, 201)
    post(client, f"/stock/{store_id}/{pads}/levels", clerk,
         {"min_stock": "100", "reorder_qty": "30"})
    post(client, f"/stock/{store_id}/{fluid}/scrap", clerk,
         {"qty": "0.333", "reason": "spilt again"})
    post(client, f"/stock/{there}/{pads}/scrap", clerk, {"qty": 1, "reason": "dropped"})
    now = get(client, "/stock/valuation", auditor, wait_for=head(client))
    assert now["items"] != live["items"]

    # As of month-end, read now: the figures the live read answered then, the moment echoed.
    then = get(client, "/stock/valuation", auditor, as_of=t1)
    assert then["items"] == live["items"]
    assert datetime.fromisoformat(then["as_of"]) == datetime.fromisoformat(t1)
    [mine] = get(client, "/stock/valuation", auditor, as_of=t1, store_id=store_id)["items"]
    assert mine["fifo_value"] == "246.68"
    assert get(client, "/stock/valuation", auditor, as_of=t1, store_id=there)["items"] == []
    # a token of every store (the session's database holds hundreds: one store asked)
    group = get(client, "/stock/valuation", auth("auditor", "aud-group"), as_of=t1,
                store_id=store_id)
    assert group["items"] == live["items"]

    # A day: today (the day so far) is now; a day before the stores held anything, nothing.
    zone = ZoneInfo(container.settings.store_timezone)
    today = datetime.now(zone).date()
    assert get(client, "/stock/valuation", auditor, as_of=str(today))["items"] == now["items"]
    before = get(client, "/stock/valuation", auditor, as_of=str(today - timedelta(days=2)))
    assert before["items"] == []
    assert datetime.fromisoformat(before["as_of"]).astimezone(zone).date() == \
        today - timedelta(days=2)

    # A moment still to come is refused, as every other `as_of` refuses it.
    ahead = client.get("/stock/valuation", headers=auditor,
                       params={"as_of": (datetime.now(UTC) + timedelta(days=1)).isoformat()})
    assert ahead.status_code == 422, ahead.text
    assert ahead.json()["type"].endswith("as-of-in-the-future")
    assert ahead.json()["field"] == "as_of"
