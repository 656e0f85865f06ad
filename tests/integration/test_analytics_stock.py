"""Stock movements loaded in batches of any size give the tables of the Python fold event by
event: receipts (by delivery note), an issue to a job and a return from it, a scrap, a
stocktake variance, a return to the supplier and a transfer between two stores. (bench/README
"Loading faster, fourteenth step" tried folding the movements set-based; this test held it to
the Python fold.)

Needs PostgreSQL (DATABASE_URL); the helpers are those of `analytics_support`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from decimal import Decimal as D
from pathlib import Path
from uuid import UUID

import pytest

from analytics.loader import AnalyticsLoader
from domain.application import Request
from domain.common import Caller
from servicecore.container import Container, build
from servicecore.demo import make_vin
from tests.conftest import settings_for
from tests.databases import scratch_database
from tests.integration.analytics_support import Shop, at, python_and_set_based, req
from tests.integration.support import with_profile

DAY = "2025-05-07"


def stock_visit(container: Container, shop: Shop, other: Shop) -> None:
    """Two lots received; three units issued to a job and one returned from it; one scrapped;
    a stocktake finds one missing; one returned to its supplier; one sent to `other`."""
    inventory, w = container.inventory, container.work_orders
    shop.register(shop.p1, "oil filter", "100.00", at(DAY, "01:00"))
    first = shop.receive(shop.p1, 5, "40.00", at(DAY, "01:05"))
    second = shop.receive(shop.p1, 4, "42.50", at(DAY, "01:06"))
    wo, _ = shop.open(make_vin(shop.rng), "oil change", "maintenance", at(DAY, "02:00"))
    w.check_in(shop.r("advisor", at(DAY, "02:01")), wo, mileage_in=30_010, fuel_level=50)
    line = shop.part(wo, shop.p1, 3, at(DAY, "02:05"))
    shop.approve(wo, [line], at(DAY, "02:10"))
    with_profile(container.technicians, shop.r("manager", at(DAY, "02:20")), shop.t1,
                 shop.store)
    w.dispatch(shop.r("manager", at(DAY, "02:30")), wo, 1, technician_id=shop.t1)
    w.issue_part(shop.r("parts_clerk", at(DAY, "02:40")), wo, line)
    w.return_part(shop.r("parts_clerk", at(DAY, "02:50")), wo, line, qty="1",
                  reason="one too many")
    inventory.scrap(shop.r("parts_clerk", at(DAY, "03:00")), shop.store, shop.p1, qty=1,
                    reason="damaged", lot_id=first)
    inventory.count(shop.r("parts_clerk", at(DAY, "03:10")), shop.store, shop.p1,
                    counted={first: 2, second: 3}, reason="monthly count")
    inventory.return_to_supplier(shop.r("parts_clerk", at(DAY, "03:20")), shop.store, shop.p1,
                                 lot_id=second, qty=1, reference="RMA-7", reason="faulty")
    stores = (shop.store, other.store)
    moved = inventory.transfer(
        Request(Caller(shop.clerk, "parts_clerk", stores, at(DAY, "03:30"), str(uuid.uuid4()))),
        from_store=shop.store, to_store=other.store, part_number=shop.p1, qty=1,
        reason="short there")
    inventory.receive_transfer(req(other.clerk, "parts_clerk", other.store, at(DAY, "04:00")),
                               UUID(str(moved.body["id"])))


@pytest.fixture
def fresh(server_url: str, tmp_path: Path) -> Iterator[Container]:
    """A database of the test's own: batches of one event read only its events."""
    with scratch_database(server_url, "sc_analytics_stock") as url:
        system = build(settings_for(url, tmp_path / "var"))
        try:
            yield system
        finally:
            system.close()


def test_stock_movements_set_based_give_the_tables_of_the_python_fold(fresh: Container,
                                                                      tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:6].upper()
    shop, other = Shop(fresh, "SK" + tag), Shop(fresh, "SL" + tag)
    head = fresh.app.recorder.max_notification_id() or 0
    stock_visit(fresh, shop, other)
    events = (fresh.app.recorder.max_notification_id() or 0) - head
    python_and_set_based(fresh, tmp_path, (1, 2, 3, 5, events, 100_000))
    loader = AnalyticsLoader(fresh.app, tmp_path / "sql1.duckdb")
    try:
        assert loader.conn.execute(
            "SELECT store_id = ?, type, sum(qty), sum(value), count(*), "
            "count(work_order_id), count(reference) FROM fact_stock_movements "
            "WHERE part_number = ? GROUP BY ALL ORDER BY ALL",
            [shop.store, shop.p1]).fetchall() == [
            (False, "transfer_in", 1, 40, 1, 0, 1),  # the other store's
            (True, "issue", -3, -120, 1, 1, 0),  # FIFO: from the first lot
            (True, "receipt", 9, 370, 2, 0, 2),  # by delivery note (no purchase order)
            (True, "return_from_job", 1, 40, 1, 1, 0),
            (True, "return_to_supplier", -1, D("-42.5"), 1, 0, 1),
            (True, "scrap", -1, -40, 1, 0, 1),  # the scrap request
            (True, "stocktake_variance", -1, D("-42.5"), 1, 0, 1),  # the count
            (True, "transfer_out", -1, -40, 1, 0, 1)]  # the transfer
    finally:
        loader.close()
