"""Random stock movements on one StockItem, checked against an independent reference model.

The model keeps lots in receipt order, reservations per key and each key's issued picks. After
every step the aggregate agrees with it; refused commands emit nothing and change nothing; every
event's cost is the model's FIFO cost; and replaying the events rebuilds the same aggregate.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from typing import Any

from eventsourcing.domain import CanMutateAggregate
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from domain.common import Audit, DomainError
from domain.stock import StockItem

AUDIT = Audit("clerk-1", "parts_clerk", "S01", datetime(2026, 5, 1, tzinfo=UTC), "corr-1")
MIN_STOCK = Decimal(2)
CENT = Decimal("0.01")
MILLI = Decimal("0.001")
KEYS = ("wo-1:1", "wo-1:2", "wo-2:1")
PICK = st.integers(0, 9)  # below 7: a key the command suits, if there is one; else any key
BAD_QTY = (Decimal(0), Decimal(-1), Decimal("1.0005"))
REASON = st.sampled_from(["customer declined", "damaged in transit", "wrong part", None, "ab"])
# (kind, share, whole): kind 0 a malformed qty, 1 just over the limit, 2-4 a whole number,
# else `share` percent of the limit to 3 decimals
QTY = st.tuples(st.integers(0, 9), st.integers(1, 100), st.integers(1, 10))
RECEIVED_QTY = st.one_of(st.integers(1, 20).map(Decimal),
                         st.decimals(min_value=MILLI, max_value=Decimal(20), places=3),
                         st.sampled_from(BAD_QTY))


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


UNIT_COST = st.decimals(min_value=CENT, max_value=Decimal("999.99"), places=2)

Event = CanMutateAggregate[Any]
Pick = tuple[str, Decimal]  # (lot id, qty)


def half_up(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def valid_qty(qty: Decimal) -> bool:
    return qty > 0 and qty == qty.quantize(MILLI)


def valid_reason(reason: str | None) -> bool:
    return len((reason or "").strip()) >= 3


@dataclass
class LotModel:
    lot_id: str
    unit_cost: Decimal
    on_hand: Decimal


class StockMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.item = StockItem(store_id="S01", part_number="P-1", unit="pc", min_stock=MIN_STOCK,
                              audit=AUDIT)
        opened = list(self.item.collect_events())
        assert [type(e).__name__ for e in opened] == ["Opened"]
        replayed = opened[0].mutate(None)
        assert isinstance(replayed, StockItem)
        self.replayed: StockItem = replayed
        # the reference model
        self.lots: list[LotModel] = []
        self.reserved: dict[str, Decimal] = {}
        self.issued: dict[str, list[list[Any]]] = {}  # key -> [[lot id, qty], ...] pick order
        self.received: Decimal = Decimal(0)
        self.issued_total: Decimal = Decimal(0)
        self.returned: Decimal = Decimal(0)
        self.scrapped: Decimal = Decimal(0)
        self.alert_open: bool = False
        self.commands_ok: int = 0

    # -- model figures ------------------------------------------------------------------------

    def on_hand(self) -> Decimal:
        return sum((lot.on_hand for lot in self.lots), Decimal(0))

    def available(self) -> Decimal:
        return self.on_hand() - sum(self.reserved.values(), Decimal(0))

    def lot(self, lot_id: str) -> LotModel:
        return next(lot for lot in self.lots if lot.lot_id == lot_id)

    def cost(self, picks: list[Pick]) -> Decimal:
        return half_up(sum((qty * self.lot(lot_id).unit_cost for lot_id, qty in picks),
                           Decimal(0)))

    def fifo(self, qty: Decimal) -> list[Pick]:
        picks: list[Pick] = []
        for lot in self.lots:  # receipt order
            take = min(lot.on_hand, qty - sum((q for _, q in picks), Decimal(0)))
            if take > 0:
                picks.append((lot.lot_id, take))
        assert sum((q for _, q in picks), Decimal(0)) == qty
        return picks

    # -- running a command --------------------------------------------------------------------

    def attempt(self, expect_ok: bool, command: Any, *args: Any, **kwargs: Any) -> list[Event]:
        """Run a command; refused ones must emit nothing and change nothing."""
        before = (self.item.on_hand, self.item.reserved_total, dict(self.item.reserved),
                  {k: v["on_hand"] for k, v in self.item.lots.items()})
        try:
            command(AUDIT, *args, **kwargs)
        except DomainError as exc:
            assert not expect_ok, f"refused although the model allows it: {exc!r}"
            assert list(self.item.collect_events()) == []
            after = (self.item.on_hand, self.item.reserved_total, dict(self.item.reserved),
                     {k: v["on_hand"] for k, v in self.item.lots.items()})
            assert after == before
            return []
        assert expect_ok, f"{command.__name__}{args}{kwargs} accepted but the model refuses it"
        events = list(self.item.collect_events())
        for event in events:
            mutated = event.mutate(self.replayed)
            assert isinstance(mutated, StockItem)
            self.replayed = mutated
        self.commands_ok += 1
        return events

    def check_events(self, events: list[Event], name: str) -> Event:
        """The command's own event first, then an alert event exactly when the model wants one."""
        assert events and type(events[0]).__name__ == name, [type(e).__name__ for e in events]
        low = self.available() < MIN_STOCK
        expected = [name]
        if low and not self.alert_open:
            expected.append("LowStockAlertRaised")
        elif not low and self.alert_open:
            expected.append("LowStockAlertCleared")
        assert [type(e).__name__ for e in events] == expected
        self.alert_open = low
        if len(events) == 2:
            assert events[1].available == self.available()  # type: ignore[attr-defined]
        return events[0]

    @staticmethod
    def picks_of(event: Event) -> list[Pick]:
        return [(p["lot_id"], p["qty"]) for p in event.picks]  # type: ignore[attr-defined]

    # -- rules --------------------------------------------------------------------------------

    @initialize(receipts=st.lists(st.tuples(RECEIVED_QTY, UNIT_COST), min_size=1, max_size=3))
    def first_receipts(self, receipts: list[tuple[Decimal, Decimal]]) -> None:
        for qty, unit_cost in receipts:
            self.receive(qty, unit_cost)

    @rule(qty=RECEIVED_QTY, unit_cost=UNIT_COST)
    def receive(self, qty: Decimal, unit_cost: Decimal) -> None:
        events = self.attempt(valid_qty(qty), self.item.receive, qty=qty, unit_cost=unit_cost,
                              supplier="Bosch", supplier_doc="DN-1")
        if not events:
            return
        lot_id = f"S01-P-1-{len(self.lots) + 1:05d}"
        self.lots.append(LotModel(lot_id, unit_cost, qty))
        self.received += qty
        received = self.check_events(events, "Received")
        assert (received.lot_id, received.qty) == (lot_id, qty)  # type: ignore[attr-defined]

    @rule(pick=PICK, plan=QTY)
    def reserve(self, pick: int, plan: tuple[int, int, int]) -> None:
        key = choose_key(pick, [k for k in KEYS if k not in self.reserved])
        qty = plan_qty(plan, self.available())
        ok = valid_qty(qty) and key not in self.reserved and qty <= self.available()
        events = self.attempt(ok, self.item.reserve, key, qty)
        if not events:
            return
        self.reserved[key] = qty
        self.check_events(events, "Reserved")

    @rule(pick=PICK, reason=REASON)
    def release(self, pick: int, reason: str | None) -> None:
        key = choose_key(pick, list(self.reserved))
        ok = key in self.reserved and valid_reason(reason)
        events = self.attempt(ok, self.item.release, key, reason)
        if not events:
            return
        qty = self.reserved.pop(key)
        released = self.check_events(events, "Released")
        assert released.qty == qty  # type: ignore[attr-defined]

    @rule(key=st.sampled_from(KEYS), plan=QTY)
    def issue(self, key: str, plan: tuple[int, int, int]) -> None:
        own = self.reserved.get(key, Decimal(0))
        qty = plan_qty(plan, self.available() + own)
        ok = valid_qty(qty) and qty <= self.available() + own
        events = self.attempt(ok, self.item.issue, key, qty)
        if not events:
            return
        picks = self.fifo(qty)
        for lot_id, take in picks:
            self.lot(lot_id).on_hand -= take
        if key in self.reserved:
            if own > qty:
                self.reserved[key] = own - qty
            else:
                del self.reserved[key]
        self.issued.setdefault(key, []).extend([lot_id, take] for lot_id, take in picks)
        self.issued_total += qty
        issued = self.check_events(events, "Issued")
        assert self.picks_of(issued) == picks
        assert issued.cost == self.cost(picks)  # type: ignore[attr-defined]
        assert issued.from_reserved == min(own, qty)  # type: ignore[attr-defined]

    @rule(which=PICK, share=st.integers(0, 110), reason=REASON)
    def return_from_job(self, which: int, share: int, reason: str | None) -> None:
        key = choose_key(which, [k for k, held in self.issued.items() if held])
        held = self.issued.get(key, [])
        out = sum((q for _, q in held), Decimal(0))
        qty = (out * share / 100).quantize(MILLI, rounding=ROUND_DOWN) if share <= 100 \
            else out + MILLI
        ok = valid_qty(qty) and qty <= out and valid_reason(reason)
        events = self.attempt(ok, self.item.return_from_job, key, qty, reason)
        if not events:
            return
        picks: list[Pick] = []
        left = qty
        for pick in reversed(held):  # latest pick first
            take = min(pick[1], left)
            if take > 0:
                picks.append((pick[0], take))
                pick[1] -= take
                left -= take
                self.lot(pick[0]).on_hand += take
        self.issued[key] = [p for p in held if p[1] > 0]
        self.returned += qty
        returned = self.check_events(events, "ReturnedFromJob")
        assert self.picks_of(returned) == picks
        assert returned.cost == self.cost(picks)  # type: ignore[attr-defined]

    @rule(plan=QTY, reason=REASON)
    def scrap(self, plan: tuple[int, int, int], reason: str | None) -> None:
        qty = plan_qty(plan, self.available())
        ok = valid_qty(qty) and valid_reason(reason) and qty <= self.available()
        events = self.attempt(ok, self.item.scrap, qty, reason)
        if not events:
            return
        picks = self.fifo(qty)
        for lot_id, take in picks:
            self.lot(lot_id).on_hand -= take
        self.scrapped += qty
        scrapped = self.check_events(events, "Scrapped")
        assert self.picks_of(scrapped) == picks
        assert scrapped.cost == self.cost(picks)  # type: ignore[attr-defined]

    # -- invariants ---------------------------------------------------------------------------

    @invariant()
    def quantities_agree(self) -> None:
        expected = self.received - self.issued_total + self.returned - self.scrapped
        assert self.on_hand() == expected
        assert self.item.on_hand == expected
        assert self.item.on_hand >= 0
        for lot in self.item.lots.values():
            assert lot["on_hand"] >= 0, lot

    @invariant()
    def lots_match_model(self) -> None:
        lots = sorted(self.item.lots.values(), key=lambda lot: lot["seq"])
        assert [(lot["lot_id"], lot["unit_cost"], lot["on_hand"]) for lot in lots] == \
            [(lot.lot_id, lot.unit_cost, lot.on_hand) for lot in self.lots]

    @invariant()
    def reservations_and_picks_match_model(self) -> None:
        assert self.item.reserved == self.reserved
        assert self.item.reserved_total <= self.item.on_hand
        assert self.item.available == self.item.on_hand - self.item.reserved_total
        assert self.item.available == self.available()
        actual = {k: [[p["lot_id"], p["qty"]] for p in v] for k, v in self.item.issued.items() if v}
        assert actual == {k: v for k, v in self.issued.items() if v}

    @invariant()
    def alert_matches(self) -> None:
        assert self.item.alert_raised == self.alert_open
        if self.commands_ok:  # a freshly opened item has not checked its level yet
            assert self.item.alert_raised == (self.item.available < MIN_STOCK)

    @invariant()
    def replay_rebuilds_the_same_item(self) -> None:
        assert self.replayed.version == self.item.version
        assert self.replayed.lots == self.item.lots
        assert self.replayed.reserved == self.item.reserved
        assert self.replayed.issued == self.item.issued
        assert self.replayed.alert_raised == self.item.alert_raised


StockMachine.TestCase.settings = settings(max_examples=80, stateful_step_count=40, deadline=None)
TestStockMachine = StockMachine.TestCase
