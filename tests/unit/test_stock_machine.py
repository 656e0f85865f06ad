"""Random stock movements on one StockItem, checked against an independent reference model.

The model keeps lots in receipt order, reservations per key, each key's issued picks (which,
as a work-order line does, the machine hands back to the item on a return), pending scrap
requests and stocktakes, what is on order, and the transfers on their way to a second store,
whose own StockItem takes them in. The items keep only the last used-up lot here, so that
returns and stocktakes meet lots the item no longer keeps. After every step the aggregates agree with it; refused
commands emit nothing and change nothing; every event's cost is the model's FIFO (or lot) cost;
the low-stock alert is raised and cleared once per crossing; and replaying the events, after a
round trip through the application's JSON mapper, rebuilds the same aggregates. The part is
measured in litres, so quantities of a thousandth are as legal as whole ones (a part counted in
pieces refuses fractions: tests/unit/test_whole_units.py).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from typing import Any

from eventsourcing.domain import CanMutateAggregate
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from domain.aggregate_loads import copy_aggregate
from domain.application import ServiceCore
from domain.common import Audit, DomainError
from domain.stamps import RESERVED_SINCE
from domain.stock import StockItem
from domain.stock_lots import EXHAUSTED_KEPT
from domain.stock_moves import LOT_FIELDS
from domain.stock_state import less_returned

AT = datetime(2026, 5, 1, tzinfo=UTC)
AUDIT = Audit("clerk-1", "parts_clerk", "S01", AT, "corr-1")
DEST_AUDIT = Audit("clerk-9", "parts_clerk", "S02", AT, "corr-2")
# who asks for scrap or counts, and who decides: a manager may not approve their own request
PEOPLE = {
    "clerk": AUDIT,
    "manager": Audit("mgr-1", "manager", "S01", AT, "corr-3"),
    "other manager": Audit("mgr-2", "manager", "S01", AT, "corr-4"),
    "clerk acting as manager": Audit("clerk-1", "manager", "S01", AT, "corr-5"),
}
ASKERS = st.sampled_from(["clerk", "clerk", "manager"])
DECIDERS = st.sampled_from(["manager", "other manager", "manager", "other manager", *PEOPLE])
MIN_STOCK = Decimal(2)
DEST_MIN_STOCK = Decimal(3)
CENT = Decimal("0.01")
MILLI = Decimal("0.001")
KEYS = ("wo-1:1", "wo-1:2", "wo-2:1")
ORDER_REFS = ("PO-S01-2026-000001/1", "PO-S01-2026-000002/1")
NO_LOT = "P-1-99999@S01"
PICK = st.integers(0, 9)  # below 7: a key the command suits, if there is one; else any key
LOT = st.integers(0, 9)  # below 8: one of the lots (if any); 8: a lot that does not exist; 9: none
BAD_QTY = (Decimal(0), Decimal(-1), Decimal("1.0005"))
REASON = st.sampled_from(["customer declined", "damaged in transit", "wrong part", "water damage",
                          None, "ab"])
# (kind, share, whole): kind 0 a malformed qty, 1 just over the limit, 2-4 a whole number,
# else `share` percent of the limit to 3 decimals
QTY = st.tuples(st.integers(0, 9), st.integers(1, 100), st.integers(1, 10))
RECEIVED_QTY = st.one_of(st.integers(1, 20).map(Decimal),
                         st.decimals(min_value=MILLI, max_value=Decimal(20), places=3),
                         st.sampled_from(BAD_QTY))
UNIT_COST = st.decimals(min_value=CENT, max_value=Decimal("999.99"), places=2)
SUPPLIERS = st.sampled_from(["Bosch", "FAW-VW Parts"])
KEPT = 1  # used-up lots an item keeps in this machine
CERTS = st.sampled_from([None, "CERT-7", "  "])
# a stocktake line: which lot, and counted = book + this (refused if below 0 or 4 decimals)
COUNT_DELTA = st.sampled_from([Decimal(0), Decimal(0), Decimal(1), Decimal(-1), Decimal(2),
                               Decimal(-2), Decimal("-0.5"), Decimal("0.25"), Decimal(10),
                               Decimal(-3), Decimal("0.0001")])
APPROVAL_VALUE = st.sampled_from([Decimal("500.00"), Decimal("500.00"), Decimal(0),
                                  Decimal(1_000_000)])
LEVEL = st.sampled_from([Decimal(0), Decimal(1), Decimal(2), Decimal(5), Decimal("2.5"),
                         Decimal(-1), Decimal("0.0001")])
MAPPER = ServiceCore().mapper  # events are stored as JSON: replay what the store would give back


def choose_key(pick: int, suitable: list[str]) -> str:
    return sorted(suitable)[pick % len(suitable)] if pick < 7 and suitable else KEYS[pick % 3]


def plan_qty(plan: tuple[int, int, int], limit: Decimal) -> Decimal:
    kind, share, whole = plan
    if kind == 0:
        return BAD_QTY[share % 3]
    if kind == 1:
        return limit + MILLI
    part = (limit * share / 100).quantize(MILLI, rounding=ROUND_DOWN)
    return Decimal(whole) if kind <= 4 or part <= 0 else part


Event = CanMutateAggregate[Any]
Pick = tuple[str, Decimal]  # (lot id, qty)


def half_up(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def valid_qty(qty: Decimal, *, allow_zero: bool = False) -> bool:
    return (qty > 0 or (allow_zero and qty == 0)) and qty == qty.quantize(MILLI)


def valid_reason(reason: str | None) -> bool:
    return len((reason or "").strip()) >= 3


def names(events: list[Event]) -> list[str]:
    return [type(e).__name__ for e in events]


def state(item: StockItem) -> dict[str, Any]:
    """Everything the aggregate holds, apart from events not yet collected."""
    return copy.deepcopy({k: v for k, v in vars(item).items() if k != "_pending_events"})


@dataclass
class LotModel:
    lot_id: str
    unit_cost: Decimal
    on_hand: Decimal
    supplier: str = "Bosch"
    supplier_doc: str = "DN-1"
    cert_ref: str | None = None
    received: Decimal = Decimal(0)  # what came in (received or transferred in)
    gained: Decimal = Decimal(0)  # what stocktakes found on top
    origin_lot: str | None = None


@dataclass
class ScrapModel:
    qty: Decimal
    lot_id: str | None
    requested_by: str


@dataclass
class CountModel:
    count_id: str
    moved: list[tuple[str, Decimal, Decimal]]  # (lot id, variance, unit cost)
    value: Decimal
    reason: str
    counted_by: str


@dataclass
class TransferModel:
    transfer_id: str
    picks: list[dict[str, Any]]  # as the TransferredOut event says (what travels with the parts)


@dataclass
class Flows:
    """Every way stock came into or left a store, as totals."""

    received: Decimal = Decimal(0)
    transferred_in: Decimal = Decimal(0)
    returned: Decimal = Decimal(0)
    found: Decimal = Decimal(0)  # positive stocktake variances
    issued: Decimal = Decimal(0)
    scrapped: Decimal = Decimal(0)
    transferred_out: Decimal = Decimal(0)
    to_supplier: Decimal = Decimal(0)
    lost: Decimal = Decimal(0)  # negative stocktake variances, as a positive number

    def on_hand(self) -> Decimal:
        return (self.received + self.transferred_in + self.returned + self.found
                - self.issued - self.scrapped - self.transferred_out - self.to_supplier
                - self.lost)


@dataclass
class StoreModel:
    store_id: str
    min_stock: Decimal
    reorder_qty: Decimal = Decimal(0)
    lots: list[LotModel] = field(default_factory=list)
    reserved: dict[str, Decimal] = field(default_factory=dict)
    on_order: dict[str, Decimal] = field(default_factory=dict)
    flows: Flows = field(default_factory=Flows)
    alert_open: bool = False
    alert_checked: bool = False  # a freshly opened item has not checked its level yet
    held: dict[str, Decimal] = field(default_factory=dict)  # lot -> pending scrap naming it

    def on_hand(self) -> Decimal:
        return sum((lot.on_hand for lot in self.lots), Decimal(0))

    def available(self) -> Decimal:
        return self.on_hand() - sum(self.reserved.values(), Decimal(0))

    def lot(self, lot_id: str) -> LotModel | None:
        return next((lot for lot in self.lots if lot.lot_id == lot_id), None)

    def next_lot_id(self) -> str:
        return f"P-1-{len(self.lots) + 1:05d}@{self.store_id}"

    def cost(self, picks: list[Pick]) -> Decimal:
        return half_up(sum((qty * self.lots_by_id()[lot_id].unit_cost for lot_id, qty in picks),
                           Decimal(0)))

    def lots_by_id(self) -> dict[str, LotModel]:
        return {lot.lot_id: lot for lot in self.lots}

    def free(self, lot: LotModel, besides: Decimal = Decimal(0)) -> Decimal:
        """What a lot has that no pending scrap naming it holds (`besides` its own)."""
        return lot.on_hand - self.held.get(lot.lot_id, Decimal(0)) + besides

    def fifo(self, qty: Decimal) -> list[Pick]:
        picks: list[Pick] = []
        for lot in self.lots:  # receipt order, around the units pending scrap holds
            take = min(self.free(lot), qty - sum((q for _, q in picks), Decimal(0)))
            if take > 0:
                picks.append((lot.lot_id, take))
        assert sum((q for _, q in picks), Decimal(0)) == qty
        return picks

    def take(self, picks: list[Pick]) -> None:
        for lot_id, qty in picks:
            self.lots_by_id()[lot_id].on_hand -= qty

    def suggested_order(self) -> Decimal:
        short = self.min_stock - self.available() - sum(self.on_order.values(), Decimal(0))
        return Decimal(0) if self.available() >= self.min_stock or short <= 0 else \
            max(self.reorder_qty, short)


class StockMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        StockItem.exhausted_kept = KEPT  # the item and its replayed copy alike; see teardown
        self.item = StockItem(store_id="S01", part_number="P-1", unit="L", min_stock=MIN_STOCK,
                              audit=AUDIT)
        self.dest = StockItem(store_id="S02", part_number="P-1", unit="L",
                              min_stock=DEST_MIN_STOCK, audit=DEST_AUDIT)
        self.replayed: dict[int, StockItem] = {}
        for item in (self.item, self.dest):
            opened = list(item.collect_events())
            assert names(opened) == ["Opened"]
            self.replay(item, opened)
        # the reference model
        self.model = StoreModel("S01", MIN_STOCK)
        self.dest_model = StoreModel("S02", DEST_MIN_STOCK)
        self.issued: dict[str, list[list[Any]]] = {}  # key -> [[lot id, qty], ...] pick order
        self.held: dict[str, list[dict[str, Any]]] = {}  # key -> the picks, as a line keeps them
        self.scraps: dict[str, ScrapModel] = {}
        self.count_pending: CountModel | None = None
        self.in_transit: list[TransferModel] = []
        self.serial = 0

    def next_id(self, prefix: str) -> str:
        self.serial += 1
        return f"{prefix}{self.serial}"

    # -- replaying ----------------------------------------------------------------------------

    def replay(self, item: StockItem, events: list[Event]) -> None:
        """Apply the events, as the event store would return them, to the replayed copy."""
        replayed = self.replayed.get(id(item))
        for event in events:
            stored = MAPPER.to_domain_event(MAPPER.to_stored_event(event))
            mutated = stored.mutate(replayed)  # type: ignore[attr-defined]
            assert isinstance(mutated, StockItem)
            replayed = mutated
        assert replayed is not None
        self.replayed[id(item)] = replayed

    # -- running a command --------------------------------------------------------------------

    def attempt(self, expect_ok: bool, command: Any, *args: Any, by: Audit = AUDIT,
                **kwargs: Any) -> list[Event] | None:
        """Run a command; refused ones must raise a DomainError, emit nothing, change nothing.

        Returns the events of an accepted command, None when it was refused.
        """
        item: StockItem = command.__self__
        before = state(item)
        try:
            command(by, *args, **kwargs)
        except DomainError as exc:
            assert not expect_ok, f"refused although the model allows it: {exc!r}"
            assert list(item.collect_events()) == []
            assert state(item) == before
            return None
        assert expect_ok, f"{command.__name__}{args}{kwargs} accepted but the model refuses it"
        events = list(item.collect_events())
        self.replay(item, events)
        return events

    def check_events(self, events: list[Event], *expected: str, store: StoreModel | None = None,
                     checks_alert: bool = True) -> Event:
        """The command's own events, then an alert event exactly when the level crossed."""
        store = store or self.model
        wanted = list(expected)
        if checks_alert:
            low = store.available() < store.min_stock
            if low and not store.alert_open:
                wanted.append("LowStockAlertRaised")
            elif not low and store.alert_open:
                wanted.append("LowStockAlertCleared")
            store.alert_open = low
            store.alert_checked = True
        assert names(events) == wanted
        if checks_alert and len(events) > len(expected):
            assert events[-1].available == store.available()  # type: ignore[attr-defined]
            if store.alert_open:
                assert events[-1].min_stock == store.min_stock  # type: ignore[attr-defined]
        return events[0]

    @staticmethod
    def picks_of(event: Event) -> list[Pick]:
        return [(p["lot_id"], p["qty"]) for p in event.picks]  # type: ignore[attr-defined]

    def choose_lot(self, pick: int, store: StoreModel | None = None) -> str | None:
        lots = (store or self.model).lots
        if pick < 8:
            return lots[pick % len(lots)].lot_id if lots else NO_LOT
        return NO_LOT if pick == 8 else None

    # -- receipts, levels and orders ----------------------------------------------------------

    @initialize(receipts=st.lists(st.tuples(RECEIVED_QTY, UNIT_COST), min_size=1, max_size=3))
    def first_receipts(self, receipts: list[tuple[Decimal, Decimal]]) -> None:
        for qty, unit_cost in receipts:
            self.receive(qty, unit_cost, "Bosch", None, None)

    @rule(qty=RECEIVED_QTY, unit_cost=UNIT_COST, supplier=SUPPLIERS, cert=CERTS,
          po_ref=st.sampled_from([None, None, *ORDER_REFS]))
    def receive(self, qty: Decimal, unit_cost: Decimal, supplier: str, cert: str | None,
                po_ref: str | None) -> None:
        doc = self.next_id("DN-")
        events = self.attempt(valid_qty(qty), self.item.receive, qty=qty, unit_cost=unit_cost,
                              supplier=supplier, supplier_doc=doc, cert_ref=cert, po_ref=po_ref)
        if events is None:
            return
        lot_id = self.model.next_lot_id()
        self.model.lots.append(LotModel(lot_id, unit_cost, qty, supplier, doc,
                                        (cert or "").strip() or None, received=qty))
        self.model.flows.received += qty
        if po_ref in self.model.on_order:  # a delivery against an order line takes it off order
            left = self.model.on_order.pop(po_ref) - qty
            if left > 0:
                self.model.on_order[po_ref] = left
        received = self.check_events(events, "Received")
        assert (received.lot_id, received.qty) == (lot_id, qty)  # type: ignore[attr-defined]
        assert received.po_ref == po_ref  # type: ignore[attr-defined]

    @rule(min_stock=LEVEL, reorder_qty=st.sampled_from([Decimal(0), Decimal(5), Decimal(10)]))
    def set_levels(self, min_stock: Decimal, reorder_qty: Decimal) -> None:
        ok = valid_qty(min_stock, allow_zero=True) and \
            (min_stock, reorder_qty) != (self.model.min_stock, self.model.reorder_qty)
        events = self.attempt(ok, self.item.set_levels, min_stock, reorder_qty)
        if events is None:
            return
        self.model.min_stock, self.model.reorder_qty = min_stock, reorder_qty
        self.check_events(events, "LevelsSet")

    @rule(ref=st.sampled_from(ORDER_REFS), qty=st.integers(1, 30).map(Decimal))
    def order(self, ref: str, qty: Decimal) -> None:
        events = self.attempt(ref not in self.model.on_order, self.item.order, ref, qty)
        if events is None:
            return
        self.model.on_order[ref] = qty
        self.check_events(events, "Ordered", checks_alert=False)

    @rule(ref=st.sampled_from(ORDER_REFS))
    def close_order(self, ref: str) -> None:
        events = self.attempt(True, self.item.close_order, ref)  # closing twice does nothing
        assert events is not None
        if ref not in self.model.on_order:
            assert events == []
            return
        qty = self.model.on_order.pop(ref)
        closed = self.check_events(events, "OrderClosed", checks_alert=False)
        assert (closed.order_ref, closed.qty) == (ref, qty)  # type: ignore[attr-defined]

    # -- reservations, issues, returns from a job ---------------------------------------------

    @rule(pick=PICK, plan=QTY)
    def reserve(self, pick: int, plan: tuple[int, int, int]) -> None:
        key = choose_key(pick, [k for k in KEYS if k not in self.model.reserved])
        qty = plan_qty(plan, self.model.available())
        ok = valid_qty(qty) and key not in self.model.reserved and qty <= self.model.available()
        events = self.attempt(ok, self.item.reserve, key, qty)
        if events is None:
            return
        self.model.reserved[key] = qty
        self.check_events(events, "Reserved")

    @rule(pick=PICK, reason=REASON)
    def release(self, pick: int, reason: str | None) -> None:
        key = choose_key(pick, [k for k in self.model.reserved if k in KEYS])
        ok = key in self.model.reserved and valid_reason(reason)
        events = self.attempt(ok, self.item.release, key, reason)
        if events is None:
            return
        qty = self.model.reserved.pop(key)
        released = self.check_events(events, "Released")
        assert released.qty == qty  # type: ignore[attr-defined]

    @rule(key=st.sampled_from(KEYS), plan=QTY)
    def issue(self, key: str, plan: tuple[int, int, int]) -> None:
        own = self.model.reserved.get(key, Decimal(0))
        qty = plan_qty(plan, self.model.available() + own)
        ok = valid_qty(qty) and qty <= self.model.available() + own
        events = self.attempt(ok, self.item.issue, key, qty)
        if events is None:
            return
        self.held[key] = [*self.held.get(key, []), *events[0].picks]  # type: ignore[attr-defined]
        picks = self.model.fifo(qty)
        self.model.take(picks)
        if key in self.model.reserved:
            if own > qty:
                self.model.reserved[key] = own - qty
            else:
                del self.model.reserved[key]
        self.issued.setdefault(key, []).extend([lot_id, take] for lot_id, take in picks)
        self.model.flows.issued += qty
        issued = self.check_events(events, "Issued")
        assert self.picks_of(issued) == picks
        assert issued.cost == self.model.cost(picks)  # type: ignore[attr-defined]
        assert issued.from_reserved == min(own, qty)  # type: ignore[attr-defined]

    @rule(which=PICK, share=st.integers(0, 110), reason=REASON)
    def return_from_job(self, which: int, share: int, reason: str | None) -> None:
        key = choose_key(which, [k for k, held in self.issued.items() if held])
        held = self.issued.get(key, [])
        out = sum((q for _, q in held), Decimal(0))
        qty = (out * share / 100).quantize(MILLI, rounding=ROUND_DOWN) if share <= 100 \
            else out + MILLI
        ok = valid_qty(qty) and qty <= out and valid_reason(reason)
        events = self.attempt(ok, self.item.return_from_job, key, qty, reason,
                              held=self.held.get(key, []))
        if events is None:
            return
        self.held[key] = less_returned(self.held[key], events[0].picks)  # type: ignore[attr-defined]
        picks: list[Pick] = []
        left = qty
        for pick in reversed(held):  # latest pick first
            take = min(pick[1], left)
            if take > 0:
                picks.append((pick[0], take))
                pick[1] -= take
                left -= take
                self.model.lots_by_id()[pick[0]].on_hand += take
        self.issued[key] = [p for p in held if p[1] > 0]
        self.model.flows.returned += qty
        returned = self.check_events(events, "ReturnedFromJob")
        assert self.picks_of(returned) == picks
        assert returned.cost == self.model.cost(picks)  # type: ignore[attr-defined]

    # -- scrap, at once or after a manager's approval -----------------------------------------

    @rule(plan=QTY, reason=REASON, lot=LOT, needs_approval=st.booleans(), asker=ASKERS)
    def scrap(self, plan: tuple[int, int, int], reason: str | None, lot: int,
              needs_approval: bool, asker: str) -> None:
        lot_id = self.choose_lot(lot)
        named = self.model.lot(lot_id) if lot_id else None
        limit = min(self.model.available(),
                    self.model.free(named) if named else self.model.available())
        qty = plan_qty(plan, limit)
        ok = (valid_qty(qty) and valid_reason(reason) and qty <= self.model.available()
              and (lot_id is None or (named is not None and qty <= self.model.free(named))))
        request_id = self.next_id("SC-")
        events = self.attempt(ok, self.item.scrap, qty, reason, request_id=request_id,
                              lot_id=lot_id, needs_approval=needs_approval, by=PEOPLE[asker])
        if events is None:
            return
        picks = [(lot_id, qty)] if lot_id else self.model.fifo(qty)
        if needs_approval:  # the units are held back until a manager decides
            self.scraps[request_id] = ScrapModel(qty, lot_id, PEOPLE[asker].user_id)
            self.model.reserved[f"scrap:{request_id}"] = qty
            if lot_id is not None:
                self.model.held[lot_id] = self.model.held.get(lot_id, Decimal(0)) + qty
            requested = self.check_events(events, "ScrapRequested")
            assert requested.value == self.model.cost(picks)  # type: ignore[attr-defined]
            return
        self.model.take(picks)
        self.model.flows.scrapped += qty
        scrapped = self.check_events(events, "Scrapped")
        assert self.picks_of(scrapped) == picks
        assert scrapped.cost == self.model.cost(picks)  # type: ignore[attr-defined]
        assert scrapped.approved_by is None  # type: ignore[attr-defined]

    @precondition(lambda self: self.scraps)
    @rule(pick=PICK, approve=st.booleans(), decider=DECIDERS, reason=REASON)
    def decide_scrap(self, pick: int, approve: bool, decider: str, reason: str | None) -> None:
        request_id = sorted(self.scraps)[pick % len(self.scraps)] if pick != 9 else "SC-nope"
        waiting = self.scraps.get(request_id)
        by = PEOPLE[decider]
        ok = waiting is not None and by.role == "manager" and by.user_id != waiting.requested_by
        picks: list[Pick] = []
        if ok and waiting is not None:
            if not approve:
                ok = valid_reason(reason)
            elif waiting.lot_id is not None:  # the named lot may have gone out since
                lot = self.model.lot(waiting.lot_id)
                ok = lot is not None and waiting.qty <= self.model.free(lot, waiting.qty)
                picks = [(waiting.lot_id, waiting.qty)]
            else:
                picks = self.model.fifo(waiting.qty)
        events = self.attempt(ok, self.item.decide_scrap, request_id, approve, reason, by=by)
        if events is None or waiting is None:
            return
        del self.scraps[request_id]
        del self.model.reserved[f"scrap:{request_id}"]
        if waiting.lot_id is not None:
            self.model.held[waiting.lot_id] -= waiting.qty
        if not approve:
            rejected = self.check_events(events, "ScrapRejected")
            assert rejected.qty == waiting.qty  # type: ignore[attr-defined]
            return
        self.model.take(picks)
        self.model.flows.scrapped += waiting.qty
        scrapped = self.check_events(events, "Scrapped")
        assert self.picks_of(scrapped) == picks
        assert scrapped.cost == self.model.cost(picks)  # type: ignore[attr-defined]
        assert scrapped.approved_by == by.user_id  # type: ignore[attr-defined]
        assert scrapped.from_reserved == waiting.qty  # type: ignore[attr-defined]

    # -- stocktake ----------------------------------------------------------------------------

    def shortage(self, moved: list[tuple[str, Decimal, Decimal]],
                 count_id: str | None = None) -> bool:
        """Would posting these variances take a lot below zero, or stock below the reserved
        (besides what the count `count_id` holds itself)?"""
        for lot_id, variance, _ in moved:
            lot = self.model.lot(lot_id)
            if lot is None or lot.on_hand + variance < 0:
                return True
        loss = -sum((variance for _, variance, _ in moved), Decimal(0))
        reserved = sum((v for k, v in self.model.reserved.items() if k != f"count:{count_id}"),
                       Decimal(0))
        return loss > 0 and self.model.on_hand() - loss < reserved

    def hold_missing(self, count: CountModel, sign: int = 1) -> None:
        """A count waiting for a manager holds what it found missing (`sign` -1: no more)."""
        losses = [(lot_id, -variance) for lot_id, variance, _ in count.moved if variance < 0]
        if not losses:
            return
        key = f"count:{count.count_id}"
        if sign > 0:
            self.model.reserved[key] = sum((qty for _, qty in losses), Decimal(0))
        else:
            del self.model.reserved[key]
        for lot_id, qty in losses:
            self.model.held[lot_id] = self.model.held.get(lot_id, Decimal(0)) + sign * qty

    def post(self, moved: list[tuple[str, Decimal, Decimal]]) -> None:
        for lot_id, variance, _ in moved:
            lot = self.model.lots_by_id()[lot_id]
            lot.on_hand += variance
            if variance > 0:
                lot.gained += variance
                self.model.flows.found += variance
            else:
                self.model.flows.lost -= variance

    @rule(lines=st.lists(st.tuples(LOT, COUNT_DELTA), min_size=1, max_size=3), reason=REASON,
          approval_value=APPROVAL_VALUE, asker=ASKERS)
    def count(self, lines: list[tuple[int, Decimal]], reason: str | None,
              approval_value: Decimal, asker: str) -> None:
        counted: dict[str, Decimal] = {}
        for lot, delta in lines:
            lots = self.model.lots
            lot_id = lots[lot % len(lots)].lot_id if lots and lot < 9 else NO_LOT
            book = self.model.lot(lot_id)
            counted[lot_id] = (book.on_hand if book else Decimal(0)) + delta
        count_id = self.next_id("ST-")
        ok = self.count_pending is None and all(
            self.model.lot(lot_id) is not None and valid_qty(qty, allow_zero=True)
            for lot_id, qty in counted.items())
        # a used-up lot the item no longer keeps is refused: its cost is not at hand
        ok = ok and all(lot_id in self.item.lots for lot_id in counted)
        moved: list[tuple[str, Decimal, Decimal]] = []
        value, needs = Decimal(0), False
        if ok:
            by_id = self.model.lots_by_id()
            variances = [(lot_id, qty - by_id[lot_id].on_hand, by_id[lot_id].unit_cost)
                         for lot_id, qty in counted.items()]
            moved = [line for line in variances if line[1] != 0]
            value = half_up(sum((v * cost for _, v, cost in variances), Decimal(0)))
            needs = abs(value) > approval_value or any(
                abs(v * cost) > approval_value for _, v, cost in moved)
            ok = (not moved or valid_reason(reason)) and not self.shortage(moved)
        events = self.attempt(ok, self.item.count, count_id, dict(counted), reason,
                              approval_value, by=PEOPLE[asker])
        if events is None:
            return
        if needs:
            self.count_pending = CountModel(count_id, moved, value, (reason or "").strip(),
                                            PEOPLE[asker].user_id)
            self.hold_missing(self.count_pending)
            recorded = self.check_events(events, "Counted")
        elif moved:
            self.post(moved)
            recorded = self.check_events(events, "Counted", "VariancePosted")
            assert events[1].value == value  # type: ignore[attr-defined]
            assert events[1].approved_by is None  # type: ignore[attr-defined]
            assert [(a["lot_id"], a["qty"]) for a in events[1].adjustments] == [  # type: ignore[attr-defined]
                (lot_id, v) for lot_id, v, _ in moved]
        else:
            recorded = self.check_events(events, "Counted", checks_alert=False)
        assert (recorded.value, recorded.needs_approval) == (value, needs)  # type: ignore[attr-defined]
        assert {ln["lot_id"]: ln["counted"] for ln in recorded.lines} == counted  # type: ignore[attr-defined]

    @precondition(lambda self: self.count_pending is not None)
    @rule(right_id=st.sampled_from([True, True, True, False]), approve=st.booleans(),
          decider=DECIDERS, reason=REASON)
    def decide_count(self, right_id: bool, approve: bool, decider: str,
                     reason: str | None) -> None:
        pending = self.count_pending
        assert pending is not None
        count_id = pending.count_id if right_id else "ST-nope"
        by = PEOPLE[decider]
        ok = right_id and by.role == "manager" and by.user_id != pending.counted_by and (
            valid_reason(reason) if not approve else not self.shortage(pending.moved,
                                                                      pending.count_id))
        events = self.attempt(ok, self.item.decide_count, count_id, approve, reason, by=by)
        if events is None:
            return
        self.count_pending = None
        self.hold_missing(pending, -1)
        if not approve:
            self.check_events(events, "CountRejected")
            return
        self.post(pending.moved)
        posted = self.check_events(events, "VariancePosted")
        assert (posted.value, posted.approved_by) == (pending.value, by.user_id)  # type: ignore[attr-defined]

    # -- transfers to the other store, returns to the supplier --------------------------------

    @rule(plan=QTY, to_store=st.sampled_from(["S02", "S02", "S02", "S02", "S01"]), reason=REASON)
    def transfer_out(self, plan: tuple[int, int, int], to_store: str,
                     reason: str | None) -> None:
        qty = plan_qty(plan, self.model.available())
        ok = (valid_qty(qty) and to_store != "S01" and qty <= self.model.available()
              and valid_reason(reason))
        transfer_id = self.next_id("TR-")
        events = self.attempt(ok, self.item.transfer_out, transfer_id, to_store, qty, reason)
        if events is None:
            return
        picks = self.model.fifo(qty)
        lots = self.model.lots_by_id()
        self.model.take(picks)
        self.model.flows.transferred_out += qty
        sent = self.check_events(events, "TransferredOut")
        assert self.picks_of(sent) == picks
        assert sent.cost == self.model.cost(picks)  # type: ignore[attr-defined]
        for pick in sent.picks:  # type: ignore[attr-defined]
            lot = lots[pick["lot_id"]]
            assert (pick["unit_cost"], pick["supplier"], pick["supplier_doc"], pick["cert_ref"],
                    pick["received_at"]) == (lot.unit_cost, lot.supplier, lot.supplier_doc,
                                             lot.cert_ref, AT.isoformat())
        self.in_transit.append(TransferModel(transfer_id, copy.deepcopy(sent.picks)))  # type: ignore[attr-defined]

    @precondition(lambda self: self.in_transit)
    @rule(pick=PICK)
    def transfer_in(self, pick: int) -> None:
        transfer = self.in_transit.pop(pick % len(self.in_transit))
        events = self.attempt(True, self.dest.transfer_in, transfer.transfer_id, "S01",
                              transfer.picks, by=DEST_AUDIT)
        assert events is not None
        new_lots = []
        for p in transfer.picks:  # each pick becomes a lot, keeping where it came from
            lot = LotModel(self.dest_model.next_lot_id(), p["unit_cost"], p["qty"], p["supplier"],
                           p["supplier_doc"], p["cert_ref"], received=p["qty"],
                           origin_lot=p["lot_id"])
            self.dest_model.lots.append(lot)
            new_lots.append(lot)
        qty = sum((p["qty"] for p in transfer.picks), Decimal(0))
        self.dest_model.flows.transferred_in += qty
        arrived = self.check_events(events, "TransferredIn", store=self.dest_model)
        assert [lot["lot_id"] for lot in arrived.lots] == [  # type: ignore[attr-defined]
            lot.lot_id for lot in new_lots]
        assert arrived.cost == half_up(sum((p["qty"] * p["unit_cost"] for p in transfer.picks),  # type: ignore[attr-defined]
                                           Decimal(0)))

    @rule(lot=LOT, plan=QTY, reference=st.sampled_from(["RMA-88", "RMA-88", " "]),
          reason=REASON)
    def return_to_supplier(self, lot: int, plan: tuple[int, int, int], reference: str,
                           reason: str | None) -> None:
        lots = self.model.lots
        lot_id = self.choose_lot(lot) or (lots[-1].lot_id if lots else NO_LOT)
        named = self.model.lot(lot_id)
        qty = plan_qty(plan, min(self.model.available(),
                                 self.model.free(named) if named else Decimal(0)))
        ok = (named is not None and valid_qty(qty) and qty <= self.model.free(named)
              and qty <= self.model.available() and bool(reference.strip())
              and valid_reason(reason))
        events = self.attempt(ok, self.item.return_to_supplier, lot_id, qty, reference, reason)
        if events is None or named is None:
            return
        named.on_hand -= qty
        self.model.flows.to_supplier += qty
        returned = self.check_events(events, "ReturnedToSupplier")
        assert (returned.lot_id, returned.qty, returned.supplier) == (  # type: ignore[attr-defined]
            lot_id, qty, named.supplier)
        assert returned.cost == half_up(qty * named.unit_cost)  # type: ignore[attr-defined]

    # -- invariants ---------------------------------------------------------------------------

    @invariant()
    def quantities_agree(self) -> None:
        for item, model in ((self.item, self.model), (self.dest, self.dest_model)):
            expected = model.flows.on_hand()  # every movement, in and out
            assert model.on_hand() == expected
            assert item.on_hand == expected
            assert item.on_hand >= 0
            for lot in item.lots.values():
                assert lot["on_hand"] >= 0, lot
                gained = model.lots_by_id()[lot["lot_id"]].gained
                assert lot["on_hand"] <= lot["received_qty"] + gained, lot

    @invariant()
    def lots_match_model(self) -> None:
        """The item's open lots are the model's, the used-up ones it keeps are used up in the
        model and no more than it keeps; every lot the item holds says what the model says."""
        for item, model in ((self.item, self.model), (self.dest, self.dest_model)):
            assert list(item.open_lots) == [lot.lot_id for lot in model.lots if lot.on_hand > 0]
            assert len(item.exhausted_lots) <= KEPT
            assert all(model.lots_by_id()[k].on_hand == 0 for k in item.exhausted_lots)
            lots = sorted(item.lots.values(), key=lambda lot: lot["seq"])
            assert [(lot["lot_id"], lot["unit_cost"], lot["on_hand"], lot["received_qty"],
                     lot["origin_lot"], *(lot[k] for k in LOT_FIELDS)) for lot in lots] == \
                [(lot.lot_id, lot.unit_cost, lot.on_hand, lot.received, lot.origin_lot,
                  lot.supplier, lot.supplier_doc, AT.isoformat(), lot.cert_ref)
                 for lot in model.lots if lot.lot_id in item.lots]

    @invariant()
    def reservations_and_picks_match_model(self) -> None:
        for item, model in ((self.item, self.model), (self.dest, self.dest_model)):
            assert item.reserved == model.reserved
            assert item.reserved_total <= item.on_hand
            assert item.available == item.on_hand - item.reserved_total
            assert item.available == model.available()
            # every hold, a pending scrap's included, says when it was made (the as_of read's
            # `at`, as the stock view keeps it)
            assert set(getattr(item, RESERVED_SINCE)) == set(item.reserved)
        held = {k: [[p["lot_id"], p["qty"]] for p in v] for k, v in self.held.items() if v}
        assert held == {k: v for k, v in self.issued.items() if v}

    @invariant()
    def approvals_orders_and_levels_match_model(self) -> None:
        assert {k: (v["qty"], v["lot_id"], v["requested_by"])
                for k, v in self.item.pending_scraps.items()} == {
            k: (v.qty, v.lot_id, v.requested_by) for k, v in self.scraps.items()}
        pending = self.item.pending_count
        assert (pending and pending["count_id"]) == (self.count_pending
                                                     and self.count_pending.count_id)
        assert self.item.on_order == self.model.on_order
        assert (self.item.min_stock, self.item.reorder_qty) == (self.model.min_stock,
                                                                self.model.reorder_qty)
        assert self.item.suggested_order() == self.model.suggested_order()

    @invariant()
    def alert_matches(self) -> None:
        for item, model in ((self.item, self.model), (self.dest, self.dest_model)):
            assert item.alert_raised == model.alert_open
            if model.alert_checked:
                assert item.alert_raised == (item.available < item.min_stock)

    @invariant()
    def totals_and_open_lots_are_what_every_lot_gives(self) -> None:
        """Running totals, the open lots (in receipt order) apart from the exhausted ones, and
        the next lot number agree with a walk over every lot and with the model; a copy from
        the aggregate cache holds the same state."""
        for item, model in ((self.item, self.model), (self.dest, self.dest_model)):
            every = list(item.lots.values())
            assert item.on_hand == sum((lot["on_hand"] for lot in every), Decimal(0))
            assert item.fifo_value == half_up(
                sum((lot["on_hand"] * lot["unit_cost"] for lot in every), Decimal(0)))
            assert list(item.open_lots) == [lot["lot_id"] for lot in every if lot["on_hand"] > 0]
            assert sorted(item.exhausted_lots) == sorted(
                lot["lot_id"] for lot in every if lot["on_hand"] <= 0)
            assert item.next_lot_id() == model.next_lot_id()
            assert state(copy_aggregate(item)) == state(item)

    @invariant()
    def stock_never_negative_and_valued_at_its_open_lots(self) -> None:
        for item, model in ((self.item, self.model), (self.dest, self.dest_model)):
            assert item.on_hand >= 0 and item.available >= 0
            assert all(lot["on_hand"] > 0 for lot in item.open_lots.values())
            assert item.fifo_value == half_up(sum(
                (lot.on_hand * lot.unit_cost for lot in model.lots), Decimal(0)))
            assert item.fifo_value == half_up(sum(
                (lot["on_hand"] * lot["unit_cost"] for lot in item.open_lots.values()),
                Decimal(0)))

    @invariant()
    def replay_rebuilds_the_same_item(self) -> None:
        for item in (self.item, self.dest):
            assert state(self.replayed[id(item)]) == state(item)

    def teardown(self) -> None:
        StockItem.exhausted_kept = EXHAUSTED_KEPT


StockMachine.TestCase.settings = settings(max_examples=80, stateful_step_count=40)
TestStockMachine = StockMachine.TestCase
