"""A busy part over HTTP: the stock item lists its open lots, the used-up ones are paged."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal

from fastapi.testclient import TestClient

from domain.common import Audit
from domain.stock import StockItem
from servicecore.container import Container
from tests.e2e.test_parts_api import get, head, new_part, post

Auth = Callable[..., dict[str, str]]
USED_UP = 2000


def years_of_deliveries(container: Container, store_id: str, number: str) -> None:
    """Two thousand deliveries, each used up by a job, stored straight through the
    application (as over years of HTTP commands, only faster); every third with a certificate."""
    app = container.app
    item: StockItem = app.repository.get(StockItem.create_id(store_id, number))
    assert isinstance(item, StockItem)
    stamp = Audit("clerk-1", "parts_clerk", store_id, datetime.now(UTC), "history")
    for n in range(USED_UP):
        item.receive(stamp, qty=2, unit_cost="31.00", supplier="Bosch", supplier_doc=f"DN-{n}",
                     cert_ref=f"CCC-{n}" if n % 3 == 0 else None)
        item.issue(stamp, f"history:{n}", 2)
        if n % 250 == 249:
            app.save(item)
    app.save(item)


def test_a_busy_part_lists_open_lots_and_pages_the_used_up_ones(
        client: TestClient, auth: Auth, store_id: str, container: Container) -> None:
    clerk = auth("parts_clerk", stores=[store_id])
    number = new_part(client, clerk, min_stock=0)
    # The part's first delivery opens the stock item; years of deliveries follow, all used up.
    post(client, f"/stock/{store_id}/{number}/receipts", clerk, {
        "qty": 1, "unit_cost": "30.00", "supplier": "Bosch", "supplier_doc": "DN-first"}, 201)
    years_of_deliveries(container, store_id, number)
    # Today's delivery is numbered after every lot before it, used up or not.
    today = post(client, f"/stock/{store_id}/{number}/receipts", clerk, {
        "qty": 4, "unit_cost": "32.00", "supplier": "Bosch", "supplier_doc": "DN-today",
        "cert_ref": "CCC-today"}, 201)
    assert today["lot_id"] == f"{number}-{USED_UP + 2:05d}@{store_id}"
    # The item lists the two open lots only (FIFO left one unit of the last old delivery),
    # with the figures of all.
    item = get(client, f"/stock/{store_id}/{number}", clerk, wait_for=today["notification_id"])
    assert [(lot["lot_id"], lot["on_hand"]) for lot in item["lots"]] == [
        (f"{number}-{USED_UP + 1:05d}@{store_id}", "1"), (today["lot_id"], "4")]
    assert (item["on_hand"], item["fifo_value"]) == ("5", "159.00")
    # The same as of now, replayed from the events.
    then = get(client, f"/stock/{store_id}/{number}", clerk, as_of=datetime.now(UTC).isoformat())
    assert [lot["lot_id"] for lot in then["lots"]] == [lot["lot_id"] for lot in item["lots"]]
    assert (then["on_hand"], then["fifo_value"]) == ("5", "159.00")
    # An auditor pages through every used-up lot, oldest first, supplier and certificate.
    seen = []
    for offset in range(0, USED_UP, 500):
        page = get(client, f"/stock/{store_id}/{number}/lots", clerk, state="exhausted",
                   limit=500, offset=offset)
        assert (page["total"], page["limit"], page["offset"]) == (USED_UP, 500, offset)
        seen += page["items"]
    assert [lot["lot_id"] for lot in seen] == [
        f"{number}-{n:05d}@{store_id}" for n in range(1, USED_UP + 1)]
    assert {(lot["on_hand"], lot["supplier"]) for lot in seen} == {("0", "Bosch")}
    assert [(lot["supplier_doc"], lot["cert_ref"], Decimal(lot["unit_cost"]))
            for lot in seen[:5]] == [
        ("DN-first", None, Decimal(30)), ("DN-0", "CCC-0", Decimal(31)),
        ("DN-1", None, Decimal(31)), ("DN-2", None, Decimal(31)), ("DN-3", "CCC-3", Decimal(31))]
    # Open lots and all lots, on the same list.
    opened = get(client, f"/stock/{store_id}/{number}/lots", clerk, state="open")
    assert [lot["lot_id"] for lot in opened["items"]] == [lot["lot_id"] for lot in item["lots"]]
    assert get(client, f"/stock/{store_id}/{number}/lots", clerk, state="all",
               limit=1)["total"] == USED_UP + 2


def test_the_lot_list_refuses_bad_input_and_unknown_items(
        client: TestClient, auth: Auth, store_id: str) -> None:
    clerk = auth("parts_clerk", stores=[store_id])
    number = new_part(client, clerk)
    done = post(client, f"/stock/{store_id}/{number}/receipts", clerk, {
        "qty": 2, "unit_cost": "10.00", "supplier": "S", "supplier_doc": "DN-1"}, 201)
    lots = f"/stock/{store_id}/{number}/lots"
    assert get(client, lots, clerk, wait_for=done["notification_id"])["total"] == 0
    for params in ({"state": "empty"}, {"limit": 0}, {"offset": -1}):
        refused = client.get(lots, headers=clerk, params=params)
        assert refused.status_code == 422, params
        assert refused.headers["content-type"].startswith("application/problem+json")
    # Another store's clerk, and a part never received here: 404.
    for headers, url in ((auth("parts_clerk", stores=["ELSEWHERE"]), lots),
                         (clerk, f"/stock/{store_id}/{new_part(client, clerk)}/lots")):
        missing = client.get(url, headers=headers, params={"wait_for": head(client)})
        assert missing.status_code == 404
        assert missing.headers["content-type"].startswith("application/problem+json")
