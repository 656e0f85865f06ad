"""The ledger's stock accounts follow the stock: after any run of receipts, issues, returns,
settlements, scrap, stocktakes, transfers and returns to the supplier, each store's parts
inventory (1405) is its stock valuation's `fifo_value`, its parts in transit (1406) the
valuation's `in_transit_value`, its parts issued to open work orders (1408) what those work
orders hold, and every entry balances, store by store."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.common import DomainError
from domain.stock import StockItem
from domain.work_order import WorkOrder
from projections.stock_queries import valuation
from servicecore.container import Container
from servicecore.demo import load_demo
from tests.integration.support import load
from tests.integration.test_money_support import draft, ready_visit, wait_for_projection
from tests.integration.test_money_support import req as money_req
from tests.integration.test_parts_support import new_part, receive, req, work_order

ZERO = Decimal("0.00")
QTYS = st.sampled_from(["1", "2", "3", "0.5", "0.333", "1.25"])
COSTS = st.sampled_from(["10.00", "0.35", "12.34", "99.99", "0.01"])
STORE = st.integers(0, 1)
PART = st.integers(0, 1)
STEP = st.one_of(
    st.tuples(st.just("receive"), STORE, PART, QTYS, COSTS),
    st.tuples(st.just("issue"), STORE, PART, QTYS),
    st.tuples(st.just("return_"), st.integers(0, 9), QTYS),
    st.tuples(st.just("settle"), STORE, PART),
    st.tuples(st.just("scrap"), STORE, PART, QTYS),
    st.tuples(st.just("count"), STORE, PART, st.sampled_from(["-1", "1", "0.25", "-0.5"])),
    st.tuples(st.just("transfer"), STORE, PART, QTYS),
    st.tuples(st.just("receive_transfer"), st.integers(0, 9)),
    st.tuples(st.just("to_supplier"), STORE, PART, QTYS),
)


class Run:
    """One example's stores, parts, work orders and transfers, driven through the services."""

    def __init__(self, container: Container) -> None:
        self.c = container
        tag = uuid.uuid4().hex[:5].upper()
        self.stores = (f"L{tag}A", f"L{tag}B")
        # measured in litres: fractions move (a part counted in pieces refuses them)
        self.parts = [new_part(container, self.stores[0], price="150.00", unit="L")
                      for _ in range(2)]
        self.lines: list[tuple[str, UUID, str]] = []  # (store, work order, line) issued
        self.settled: list[UUID] = []
        self.transfers: list[UUID] = []
        self.work_orders: dict[UUID, str] = {}

    def step(self, step: tuple[Any, ...]) -> None:
        kind, *args = step
        try:
            getattr(self, kind)(*args)
        except DomainError:
            pass  # refused (not enough stock, nothing issued): nothing stored, nothing booked

    def receive(self, s: int, p: int, qty: str, cost: str) -> None:
        receive(self.c, self.stores[s], self.parts[p], qty, unit_cost=cost)

    def issue(self, s: int, p: int, qty: str) -> None:
        store = self.stores[s]
        wo, [line] = work_order(self.c, store, [(self.parts[p], qty)])
        self.work_orders[wo] = store
        self.c.work_orders.issue_part(req(store), wo, line)
        self.lines.append((store, wo, line))

    def return_(self, n: int, qty: str) -> None:
        if self.lines:
            store, wo, line = self.lines[n % len(self.lines)]
            self.c.work_orders.return_part(req(store), wo, line, qty=qty, reason="not needed")

    def settle(self, s: int, p: int) -> None:
        store = self.stores[s]
        wo = ready_visit(self.c, store, part=self.parts[p])
        self.work_orders[wo] = store
        settlement = draft(self.c, store, wo)
        confirmed = self.c.settlements.confirm(money_req(store), settlement).body
        owed = confirmed["bills"]["customer"]["outstanding"]
        self.c.settlements.pay(money_req(store), work_order_id=wo, method="cash", amount=owed)
        self.settled.append(wo)

    def scrap(self, s: int, p: int, qty: str) -> None:
        store = self.stores[s]
        asked = self.c.inventory.scrap(req(store), store, self.parts[p], qty=qty,
                                       reason="damaged on the shelf").body
        if asked["status"] == "awaiting_approval":
            self.c.inventory.decide_scrap(req(store, "manager", "mgr-2"), store, self.parts[p],
                                          asked["request_id"], approve=True)

    def item(self, store: str, part: str) -> StockItem | None:
        try:
            return load(self.c.app, StockItem, StockItem.create_id(store, part))
        except AggregateNotFoundError:
            return None

    def count(self, s: int, p: int, delta: str) -> None:
        store = self.stores[s]
        item = self.item(store, self.parts[p])
        if item is None or not item.open_lots:
            return
        lot = next(iter(item.open_lots.values()))
        counted = max(lot["on_hand"] + Decimal(delta), Decimal(0))
        done = self.c.inventory.count(req(store), store, self.parts[p],
                                      counted={lot["lot_id"]: str(counted)},
                                      reason="shelf count").body
        if done["status"] == "awaiting_approval":
            self.c.inventory.decide_count(req(store, "manager", "mgr-2"), store, self.parts[p],
                                          done["count_id"], approve=True)

    def transfer(self, s: int, p: int, qty: str) -> None:
        sent = self.c.inventory.transfer(req(self.stores[s], stores=self.stores),
                                         from_store=self.stores[s], to_store=self.stores[1 - s],
                                         part_number=self.parts[p], qty=qty, reason="short there")
        self.transfers.append(UUID(sent.body["id"]))

    def receive_transfer(self, n: int) -> None:
        if self.transfers:
            transfer = self.transfers.pop(n % len(self.transfers))
            self.c.inventory.receive_transfer(req(self.stores[0], stores=self.stores), transfer)

    def to_supplier(self, s: int, p: int, qty: str) -> None:
        store = self.stores[s]
        item = self.item(store, self.parts[p])
        if item is not None and item.open_lots:
            self.c.inventory.return_to_supplier(
                req(store), store, self.parts[p], lot_id=next(iter(item.open_lots)), qty=qty,
                reference="RMA-1", reason="wrong part delivered")


def _books(container: Container, stores: list[str]) -> tuple[
        dict[tuple[str, str], Decimal], dict[str, dict[str, Any]]]:
    """Per store and account the journal's balance, after checking every entry balances in
    its store; and per store the stock valuation."""
    wait_for_projection(container)
    with container.pool.connection() as conn:
        unbalanced = conn.execute(
            """SELECT notification_id, entry_no, store_id, sum(debit), sum(credit) FROM journal
               WHERE store_id = ANY(%s) GROUP BY 1, 2, 3
               HAVING sum(debit) <> sum(credit)""", (stores,)).fetchall()
        assert unbalanced == []
        books: dict[tuple[str, str], Decimal] = {
            (store, account): balance for store, account, balance in conn.execute(
                """SELECT store_id, account, sum(debit - credit) FROM journal
                   WHERE store_id = ANY(%s) GROUP BY 1, 2""", (stores,)).fetchall()}
        valued = {row["store_id"]: row for row in valuation(conn, stores)["items"]}
    return books, valued


def _check(run: Run) -> None:
    stores = list(run.stores)
    books, valued = _books(run.c, stores)
    for store in stores:
        value = valued.get(store, {})
        assert books.get((store, "1405"), ZERO) == Decimal(value.get("fifo_value", ZERO)), store
        assert books.get((store, "1406"), ZERO) == \
            Decimal(value.get("in_transit_value", ZERO)), store
        held = sum((ln.get("issued_cost", ZERO)
                    for wo_id, at in run.work_orders.items() if at == store
                    for wo in [load(run.c.app, WorkOrder, wo_id)] if wo_id not in run.settled
                    for ln in wo.lines.values() if ln.get("kind") == "part"), ZERO)
        assert books.get((store, "1408"), ZERO) == held, store
    assert sum((books.get((s, "1221"), ZERO) for s in stores), ZERO) == 0


@settings(max_examples=12, deadline=None)
@given(steps=st.lists(STEP, min_size=4, max_size=14))
def test_parts_inventory_in_the_ledger_is_the_stock_valuation(
        container: Container, steps: list[tuple[Any, ...]]) -> None:
    run = Run(container)
    run.receive(0, 0, "5", "12.34")  # something to move in each run
    for step in steps:
        run.step(step)
    _check(run)


def test_a_transfer_books_out_in_transit_and_in_per_store(container: Container) -> None:
    """3 × 12.34 sent from A: A's inventory 37.02 less, in transit 37.02; booked in at B: B's
    inventory 37.02 owed to A on the inter-store account, A's transit cleared into it."""
    run = Run(container)
    a, b = run.stores
    run.receive(0, 0, "5", "12.34")
    run.transfer(0, 0, "3")
    _check(run)
    run.receive_transfer(0)
    _check(run)
    with container.pool.connection() as conn:
        got = {(s, acc): bal for s, acc, bal in conn.execute(
            """SELECT store_id, account, sum(debit - credit) FROM journal
               WHERE store_id = ANY(%s) GROUP BY 1, 2""", ([a, b],)).fetchall()}
    assert got == {(a, "1405"): Decimal("24.68"), (a, "2202"): Decimal("-61.70"),
                   (a, "1406"): ZERO, (a, "1221"): Decimal("37.02"),
                   (b, "1405"): Decimal("37.02"), (b, "1221"): Decimal("-37.02")}


def test_parts_inventory_holds_each_items_value_to_the_fen(container: Container) -> None:
    """Half a unit at 0.01 of each of two parts: each is worth 0.01 to the fen, so the store's
    inventory is 0.02 (as the valuation sums it), not 0.010 rounded once. Two receipts of
    0.333 at 0.35 (0.11655 each, billed 0.12 each) take the first item from 0.005 to 0.2381,
    from 0.01 to 0.24 to the fen: 0.23 into inventory for 0.24 owed, the fen to cost of parts
    sold."""
    run = Run(container)
    a = run.stores[0]
    run.receive(0, 0, "0.5", "0.01")
    run.receive(0, 1, "0.5", "0.01")
    _check(run)
    books, _ = _books(container, [a])
    assert (books[(a, "1405")], books[(a, "2202")]) == (Decimal("0.02"), Decimal("-0.02"))
    run.receive(0, 0, "0.333", "0.35")
    run.receive(0, 0, "0.333", "0.35")
    _check(run)
    books, _ = _books(container, [a])
    assert (books[(a, "1405")], books[(a, "2202")], books[(a, "6401")]) == (
        Decimal("0.25"), Decimal("-0.26"), Decimal("0.01"))


def test_the_demos_parts_inventory_is_its_stock_valuation(container: Container) -> None:
    """The demo (opening stock, visits with parts, settlements): its ledger's parts inventory
    is what its stock is worth, not the settlements' credits alone (it was -792.00)."""
    store = "LD" + uuid.uuid4().hex[:6].upper()
    load_demo(container.work_orders, container.inventory, visits=12, stores=(store,),
              settlements=container.settlements, aftercare=container.aftercare)
    books, valued = _books(container, [store])
    assert books[(store, "1405")] == Decimal(valued[store]["fifo_value"]) > 0
    assert books[(store, "6401")] > 0  # settled parts' cost
