"""The stock projection: a rebuild equals the live tables, and a restarted runner equals both.

After a varied parts history (receipts, a purchase order drafted, sent, received in part and
closed, issues and returns, scrap and stocktakes with and without a manager, transfers out and
in, a supplier return, low-stock alerts raised and cleared, reservations made and released),
every stock table built incrementally by the live runner equals, row for row and in its text
form, the same table rebuilt from event 0, and a runner that stopped mid-stream and was
restarted ends equal to the rebuild.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from domain.application import Request
from projections.stock import StockView
from servicecore.container import Container, build
from tests.conftest import settings_for
from tests.databases import scratch_database
from tests.integration.support import head
from tests.integration.test_parts_support import (
    assert_view_matches,
    item_of,
    new_part,
    receive,
    req,
    stock_id,
    version_of,
    wait_for_projection,
    wo_of,
    work_order,
)
from workers.projection_rebuild import rebuild
from workers.projection_runner import ProjectionRunner

KEYS = {  # table -> primary key, for ORDER BY
    "parts": "part_number",
    "stock": "id",
    "lots": "lot_id",
    "stock_movements": "notification_id, seq",
    "stock_reservations": "store_id, part_number, key",
    "purchase_orders": "id",
    "transfers": "id",
    "stock_alerts": "store_id, part_number",
    "stock_approvals": "kind, store_id, part_number, ref",
}
Tables = dict[str, list[str]]


class Crash(Exception):
    """The worker dies in the middle of a batch."""


def _view(container: Container) -> StockView:
    return next(v for v in container.views if isinstance(v, StockView))


def _tables(container: Container, suffix: str = "") -> Tables:
    """Every stock table, each row in its text form, ordered by primary key."""
    assert set(KEYS) == set(StockView.tables)
    with container.pool.connection() as conn:
        return {table: [row[0] for row in conn.execute(
            f"SELECT t::text FROM {table}{suffix} t ORDER BY {key}").fetchall()]
            for table, key in KEYS.items()}


def _fresh(container: Container, suffix: str) -> None:
    view = _view(container)
    with container.pool.connection() as conn, conn.transaction():
        for statement in view.drop(suffix):
            conn.execute(statement)
        view.create(conn, suffix)
        conn.execute("DELETE FROM projection_positions WHERE name = %s", (view.name + suffix,))


def _drop(container: Container, suffix: str) -> None:
    view = _view(container)
    with container.pool.connection() as conn, conn.transaction():
        for statement in view.drop(suffix):
            conn.execute(statement)
        conn.execute("DELETE FROM projection_positions WHERE name = %s", (view.name + suffix,))


def _mine(tables: Tables, *markers: str) -> dict[str, int]:
    """How many rows of each table mention one of the markers (our store, our parts)."""
    return {t: sum(1 for row in rows if any(m in row for m in markers))
            for t, rows in tables.items()}


def _manager(store_id: str, stores: tuple[str, ...] | None = None) -> Request:
    return req(store_id, "manager", "mgr-wang", stores=stores)


def _varied_history(container: Container, store_id: str) -> dict[str, Any]:
    """Every kind of parts event, in one store (and a second store for the transfer)."""
    inv, wos = container.inventory, container.work_orders
    to_store = store_id + "B"
    clerk = req(store_id, user="clerk-li")
    pads = new_part(container, store_id, min_stock=3, reorder_qty=6, price="450.00")
    discs = new_part(container, store_id, min_stock=0, price="800.00")
    inv.change_part(_manager(store_id), pads, {"barcode": "69" + pads, "fitment": {
        "brands": ["Volkswagen"], "models": ["Lavida"]}}, "barcode and fitment from the OEM")
    inv.change_price(_manager(store_id), discs, list_price="820.00", reason="supplier increase")

    # Receipts: two lots of pads, the alert is raised (2 < 3) and cleared (7).
    receive(container, store_id, pads, 2, "200.00", "DN-1")
    receive(container, store_id, pads, 5, "220.00", "DN-2")
    receive(container, store_id, discs, 8, "100.00", "DN-3")
    inv.set_levels(clerk, store_id, discs, min_stock=2, reorder_qty=4)

    # A purchase order: drafted (on order), a line added, sent, received in part, closed short;
    # a second draft is cancelled.
    order = inv.draft_order(clerk, store_id=store_id, supplier="FAW-VW Parts",
                            lines=[{"part_number": pads, "qty": 6, "unit_cost": "210.00"}])
    order_id = UUID(order.body["id"])
    inv.add_order_line(clerk, order_id, {"part_number": discs, "qty": 4, "unit_cost": "95.00"})
    inv.send_order(clerk, order_id)
    inv.receive_on_order(clerk, order_id, line_no=1, qty=4, supplier_doc="DN-PO-1",
                         cert_ref="CCC-1")
    inv.receive_on_order(clerk, order_id, line_no=2, qty=4, supplier_doc="DN-PO-2")
    inv.close_order(clerk, order_id, reason="two sets never came")
    dropped = inv.draft_order(clerk, store_id=store_id, supplier="Bosch",
                              lines=[{"part_number": discs, "qty": 2, "unit_cost": "90.00"}])
    inv.cancel_order(clerk, UUID(dropped.body["id"]), reason="ordered by mistake")

    # Work orders: reserve, issue across two lots, return one; a withdrawn line and a
    # cancelled work order release their reservations; a back-ordered line reserved later.
    wo_id, (pads_line, discs_line) = work_order(container, store_id, [(pads, 4), (discs, 2)])
    wos.issue_part(clerk, wo_id, pads_line)
    wos.return_part(clerk, wo_id, pads_line, qty=1, reason="one set unused")
    wos.issue_part(clerk, wo_id, discs_line, qty=1)
    withdrawn, (line,) = work_order(container, store_id, [(discs, 1)])
    wos.withdraw_line(req(store_id, "advisor"), withdrawn, line, reason="customer declined")
    cancelled, _ = work_order(container, store_id, [(pads, 1)])
    wos.cancel(req(store_id, "advisor"), cancelled, reason="customer went elsewhere")
    waiting, (late_line,) = work_order(container, store_id, [(pads, 20)])
    assert wo_of(container, waiting).lines[late_line]["supply"] == "back_order"
    receive(container, store_id, pads, 20, "205.00", "DN-4")
    wos.reserve_line(req(store_id, "advisor"), waiting, late_line)

    # Scrap: small at once; big waits, one approved and one rejected by the manager.
    inv.scrap(clerk, store_id, discs, qty=1, reason="dropped on the floor")
    asked = inv.scrap(clerk, store_id, pads, qty=3, reason="water damage")
    assert asked.body["status"] == "awaiting_approval"
    inv.decide_scrap(_manager(store_id), store_id, pads, asked.body["request_id"], approve=True)
    asked = inv.scrap(clerk, store_id, pads, qty=3, reason="wrong batch delivered")
    inv.decide_scrap(_manager(store_id), store_id, pads, asked.body["request_id"],
                     approve=False, reason="return them to the supplier instead")

    receive(container, store_id, pads, 10, "215.00", "DN-6")

    # Stocktakes: a small variance posts at once; big ones wait (one approved, one rejected).
    item = item_of(container, store_id, discs)
    lot = next(iter(item.lots))
    posted = inv.count(clerk, store_id, discs, counted={lot: item.lots[lot]["on_hand"] + 1},
                       reason="found one behind the shelf")
    assert posted.body["status"] == "posted"
    item = item_of(container, store_id, pads)
    big = max(item.lots, key=lambda k: item.lots[k]["on_hand"])
    counted = {big: item.lots[big]["on_hand"] - 3}
    asked = inv.count(clerk, store_id, pads, counted=counted, reason="three sets missing",
                      count_ref=f"ST-{store_id}-1")
    assert asked.body["status"] == "awaiting_approval"
    inv.decide_count(_manager(store_id), store_id, pads, asked.body["count_id"], approve=False,
                     reason="count again")
    asked = inv.count(clerk, store_id, pads, counted=counted, reason="three sets missing",
                      count_ref=f"ST-{store_id}-2")
    inv.decide_count(_manager(store_id), store_id, pads, asked.body["count_id"], approve=True)

    # A transfer out to the other store and booked in there; a return to the supplier.
    both = req(store_id, user="clerk-li", stores=(store_id, to_store))
    sent = inv.transfer(both, from_store=store_id, to_store=to_store, part_number=pads, qty=2,
                        reason="the other store is short")
    inv.receive_transfer(both, UUID(sent.body["id"]))
    item = item_of(container, store_id, pads)
    fullest = max(item.lots, key=lambda k: item.lots[k]["on_hand"])
    inv.return_to_supplier(clerk, store_id, pads, lot_id=fullest, qty=1, reference="RMA-7",
                           reason="damaged packaging")
    # Pads fall below the minimum again and recover: the alert is raised and cleared again.
    low_wo, (low_line,) = work_order(container, store_id, [(pads, 1)])
    available = item_of(container, store_id, pads).available
    big_wo, (big_line,) = work_order(container, store_id, [(pads, available + 5)])
    wos.issue_part(clerk, big_wo, big_line, qty=available - 1)
    assert item_of(container, store_id, pads).alert_raised
    receive(container, store_id, pads, 6, "230.00", "DN-5")
    assert not item_of(container, store_id, pads).alert_raised
    wos.issue_part(clerk, low_wo, low_line)
    return {"parts": [pads, discs], "stores": [store_id, to_store]}


def _history_is_varied(container: Container, store_id: str, parts: list[str]) -> None:
    """The history really holds every kind of stock event the projection handles."""
    topics: set[str] = set()
    for store in (store_id, store_id + "B"):
        for part in parts:
            topics |= {type(e).__name__ for e in container.app.events.get(
                stock_id(store, part))}
    assert topics >= {
        "Opened", "LevelsSet", "Received", "Ordered", "OrderClosed", "Reserved", "Released",
        "Issued", "ReturnedFromJob", "ScrapRequested", "ScrapRejected", "Scrapped", "Counted",
        "CountRejected", "VariancePosted", "TransferredOut", "TransferredIn",
        "ReturnedToSupplier", "LowStockAlertRaised", "LowStockAlertCleared"}, topics


def test_rebuild_equals_the_live_tables_after_a_varied_history(container: Container,
                                                               store_id: str) -> None:
    history = _varied_history(container, store_id)
    _history_is_varied(container, store_id, history["parts"])
    at = wait_for_projection(container)
    live = _tables(container)
    markers = (store_id, *history["parts"])
    ours = _mine(live, *markers)
    assert all(ours[t] > 0 for t in KEYS), ours

    outcome = rebuild(container.app, container.pool, _view(container), batch_size=37)

    assert outcome["events"] == len(container.app.recorder.select_notifications(
        start=1, limit=10_000_000, stop=at))
    rebuilt = _tables(container)
    for table in KEYS:
        assert rebuilt[table] == live[table], table
    # The swapped-in tables still agree with the aggregates, and the live runner follows on.
    for store in history["stores"]:
        for part in history["parts"]:
            if version_of(container, stock_id(store, part)) > 0:
                assert_view_matches(container, item_of(container, store, part))
    receive(container, store_id, history["parts"][1], 1, "100.00", "DN-AFTER")
    wait_for_projection(container)
    assert_view_matches(container, item_of(container, store_id, history["parts"][1]))


def test_a_runner_stopped_mid_stream_resumes_to_equal_the_rebuild(container: Container,
                                                                  store_id: str) -> None:
    history = _varied_history(container, store_id)
    app, view, suffix = container.app, _view(container), "_pt1"
    _fresh(container, suffix)
    try:
        # The first worker applies a few small batches, then dies inside the next one.
        first = ProjectionRunner(app, container.pool, view, batch_size=5, suffix=suffix)
        assert [first.run_batch() for _ in range(4)] == [5, 5, 5, 5]
        stopped_at = first.position()
        rows_before_crash = _tables(container, suffix)
        with container.pool.connection() as conn, pytest.raises(Crash), conn.transaction():
            assert first.apply_batch(conn) == 5
            raise Crash
        assert first.position() == stopped_at
        assert _tables(container, suffix) == rows_before_crash

        # A fresh worker (another batch size) resumes from the saved position.
        resumed = ProjectionRunner(app, container.pool, view, batch_size=101, suffix=suffix)
        applied = resumed.catch_up()
        assert applied == len(app.recorder.select_notifications(start=stopped_at + 1,
                                                                limit=10_000_000))
        assert resumed.position() == head(app)

        rebuild(app, container.pool, view, batch_size=500)
        rebuilt = _tables(container)
        restarted = _tables(container, suffix)
        for table in KEYS:
            assert restarted[table] == rebuilt[table], table
        assert all(n > 0 for n in _mine(restarted, store_id, *history["parts"]).values())
    finally:
        _drop(container, suffix)


# -- lot ids that two stock items share --------------------------------------------------------

def test_lot_ids_of_different_stock_items_never_collide(container: Container,
                                                        store_id: str) -> None:
    base = "X" + uuid.uuid4().hex[:10].upper()
    here = new_part(container, store_id, number="Q-" + base)
    there_store = store_id + "-Q"
    there = new_part(container, store_id, number=base)
    first = receive(container, store_id, here, 5, "100.00")
    second = container.inventory.receive(
        req(there_store), there_store, there, qty=2, unit_cost="50.00", supplier="Bosch",
        supplier_doc="DN-2").body
    # Under the old "<store>-<part>-<n>" scheme both lots were named "S-Q-X-00001".
    assert first["lot_id"] != second["lot_id"]

    wait_for_projection(container)
    assert_view_matches(container, item_of(container, store_id, here))
    assert_view_matches(container, item_of(container, there_store, there))


# -- a stocktake reference used twice ------------------------------------------------------------

@pytest.fixture
def private_system(server_url: str, tmp_path: Path) -> Iterator[Container]:
    """A database of its own, without projection threads: this history wedges the projection."""
    with scratch_database(server_url, "sc_test_parts") as url:
        system = build(settings_for(url, tmp_path))
        try:
            yield system
        finally:
            system.close()


def test_recounting_under_the_same_stocktake_reference_is_projected(
        private_system: Container) -> None:
    system, store_id = private_system, "S01"
    number = new_part(system, store_id)
    lot = receive(system, store_id, number, 10, "100.00")["lot_id"]
    clerk, manager = req(store_id, user="clerk-li"), _manager(store_id)

    # A count 6 short (600 CNY) waits; the manager rejects it and asks for a recount ...
    asked = system.inventory.count(clerk, store_id, number, counted={lot: 4},
                                   reason="six missing", count_ref="ST-2026-Q1")
    assert asked.body["status"] == "awaiting_approval"
    system.inventory.decide_count(manager, store_id, number, "ST-2026-Q1", approve=False,
                                  reason="count again")
    # ... which belongs to the same stocktake, so it carries the same reference: accepted.
    again = system.inventory.count(clerk, store_id, number, counted={lot: Decimal(3)},
                                   reason="seven missing", count_ref="ST-2026-Q1")
    assert again.body["status"] == "awaiting_approval"

    runner = ProjectionRunner(system.app, system.pool, _view(system))
    runner.catch_up()

    assert runner.position() == head(system.app)
    with system.pool.connection() as conn:
        rows = conn.execute("SELECT status, value FROM stock_approvals WHERE ref = %s",
                            ("ST-2026-Q1",)).fetchall()
    assert ("awaiting_approval", Decimal("-700.00")) in rows
