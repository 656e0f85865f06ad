"""The analytic tables carry the parts fill rate's unfilled demand — lost sales and the lines
of purchase orders, an emergency line an emergency purchase — alike read event by event, in
batches and rebuilt from the whole log; an emergency line counts once its order is sent, a
cancelled draft's never; a lost sale voided as a wrong entry stays a row, marked, and counts
nowhere; an order stored before the flag reads as not emergency."""

from __future__ import annotations

import json
import uuid
from datetime import date
from decimal import Decimal
from pathlib import Path
from uuid import UUID

import duckdb
from psycopg.rows import tuple_row

from analytics.kpis import Filters, run
from analytics.loader import AnalyticsLoader
from domain.lost_sales import LostSales
from servicecore.container import Container
from tests.integration.analytics_support import (
    Shop,
    assert_same_tables,
    at,
    one_by_one_and_batched,
    rebuilt_tables,
)
from tests.scratch_systems import module_container

D = Decimal
container = module_container("sc_fill_rate")
DAY = "2025-06-10"


def test_lost_sales_and_emergency_lines_one_by_one_in_batches_and_rebuilt(
        container: Container, tmp_path: Path) -> None:
    one, batched = one_by_one_and_batched(container, tmp_path)
    shop = Shop(container, "FR" + uuid.uuid4().hex[:6].upper())
    inventory, clerk = container.inventory, shop.r("parts_clerk", at(DAY, "01:00"))
    shop.register(shop.p1, "oil filter", "60.00", at(DAY, "00:30"))
    shop.register(shop.p2, "brake pads", "450.00", at(DAY, "00:31"))
    lost = LostSales(container.app)
    lost.record(clerk, shop.store, part_number=shop.p1, qty="2", reason="out_of_stock")
    lost.record(shop.r("advisor", at(DAY, "01:10")), shop.store, part_number="NOT-IN-MASTER",
                qty="1", reason="not_stocked", note="roof box")
    # A typo (20 for 2), voided by the manager in a later save: in no figure.
    typo = lost.record(clerk, shop.store, part_number=shop.p1, qty="20",
                       reason="out_of_stock").body["id"]
    lost.void(shop.r("manager", at(DAY, "01:20")), shop.store, UUID(typo),
              reason="typed 20 for 2, recorded again")
    # An emergency order of one line, a normal line added, sent: one emergency purchase.
    rush = inventory.draft_order(clerk, store_id=shop.store, supplier="Bosch", lines=[
        {"part_number": shop.p1, "qty": "2", "unit_cost": "30.00", "emergency": True}]).body
    inventory.add_order_line(clerk, UUID(rush["id"]), {"part_number": shop.p2, "qty": "1",
                                                 "unit_cost": "300.00"})
    inventory.send_order(shop.r("parts_clerk", at(DAY, "02:00")), UUID(rush["id"]))
    # An emergency draft cancelled: never bought.
    draft = inventory.draft_order(clerk, store_id=shop.store, supplier="Bosch", lines=[
        {"part_number": shop.p2, "qty": "1", "unit_cost": "300.00", "emergency": True}]).body
    inventory.cancel_order(clerk, UUID(draft["id"]), reason="ordered twice")
    when = Filters(store_id=shop.store, date_from=date(2025, 6, 10), date_to=date(2025, 6, 10))

    def figures(conn: duckdb.DuckDBPyConnection) -> tuple[object, ...]:
        (row,) = run(conn, "parts_fill_rate", when)["rows"]
        return tuple(row[k] for k in ("demand", "emergency_purchases", "lost_sales",
                                      "fill_rate"))

    lines = ("SELECT number, line_no, part_number, qty, emergency, status, sent_at IS NOT NULL "
             "FROM fact_purchase_order_lines WHERE store_id = ? ORDER BY number, line_no")
    try:
        for loader in (one, batched):
            loader.catch_up()
            assert loader.conn.execute(lines, [shop.store]).fetchall() == [
                (rush["number"], 1, shop.p1, D(2), True, "sent", True),
                (rush["number"], 2, shop.p2, D(1), False, "sent", True),
                (draft["number"], 1, shop.p2, D(1), True, "cancelled", False)]
            assert loader.conn.execute(
                "SELECT part_number, qty, reason, voided_at FROM fact_lost_sales "
                "WHERE store_id = ? ORDER BY notification_id", [shop.store]).fetchall() == [
                (shop.p1, D(2), "out_of_stock", None), ("NOT-IN-MASTER", D(1), "not_stocked",
                                                        None),
                (shop.p1, D(20), "out_of_stock", at(DAY, "01:20"))]
            # no approved part line: demand is the 2 lost sales; (2 − 1 − 2) ÷ 2, at least 0
            assert figures(loader.conn) == (2, 1, 2, D("0.0000"))
        with rebuilt_tables(container, tmp_path) as rebuilt:
            assert_same_tables(one.conn, batched.conn, rebuilt)
            assert figures(rebuilt) == (2, 1, 2, D("0.0000"))
    finally:
        one.close()
        batched.close()


def test_an_order_stored_before_the_emergency_flag_loads_as_not_emergency(
        container: Container, tmp_path: Path) -> None:
    shop = Shop(container, "FV" + uuid.uuid4().hex[:6].upper())
    shop.register(shop.p1, "oil filter", "60.00", at(DAY, "00:30"))
    head = container.app.recorder.max_notification_id() or 0
    container.inventory.draft_order(shop.r("parts_clerk", at(DAY, "01:00")), store_id=shop.store,
                                    supplier="Bosch", lines=[{
                                        "part_number": shop.p1, "qty": "1",
                                        "unit_cost": "30.00", "emergency": True}])
    loader = AnalyticsLoader(container.app, tmp_path / "v1.duckdb")
    try:
        drafted = next(e for e in loader.source.read(head, 100_000).events
                       if e.qualname == "PurchaseOrder.Drafted")
        assert [line["emergency"] for line in drafted.lines] == [True]
        recorder = container.app.recorder
        with recorder.datastore.get_connection() as conn, \
                conn.cursor(binary=True, row_factory=tuple_row) as cur:
            cur.execute(f"SELECT state FROM {recorder._events} WHERE notification_id = %s",
                        (drafted.notification_id,))
            found = cur.fetchone()
        assert found is not None
        stored = json.loads(bytes(found[0]))
        assert stored["class_version"] == 3  # v3: the expected delivery day
        del stored["expected_on"]
        for line in stored["lines"]:
            del line["emergency"]
        old = loader.source.decode(drafted.notification_id, drafted.originator_id,
                                   drafted.topic,
                                   json.dumps({**stored, "class_version": 1}).encode())
        assert [line["emergency"] for line in old.lines] == [False]
    finally:
        loader.close()
