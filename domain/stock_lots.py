"""The lots a stock item holds: open ones apart from exhausted ones, with running totals.

A busy part receives thousands of lots over the years, and nearly all of them are soon used up.
A command must not pay for them: on hand and value are running totals, FIFO picks walk only the
open lots (kept in receipt order), and new lots are numbered from a counter, which counts every
lot ever taken in, exactly as the length of the full lot list did (so replayed streams keep
their lot ids).

Exhausted lots stay in the state, as a stocktake may find units of one and a return from a job
goes back into the lot it came from: such a lot opens again with its supplier, certificate, cost
and place in the FIFO order. An exhausted lot's record is never changed in place (opening it
again copies it), and that is what lets a command's copy of the cached aggregate share those
records instead of copying them (`shallow_copied`, see domain/aggregate_loads.py).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from domain.common import InvalidInput
from domain.money import round_money

ZERO = Decimal(0)


class HeldInLots:
    """The lot-keeping half of `StockItem` (its state is set by `_start_lots`)."""

    part_number: str
    store_id: str
    open_lots: dict[str, dict[str, Any]]
    exhausted_lots: dict[str, dict[str, Any]]
    lot_count: int
    units_on_hand: Decimal
    lots_value: Decimal

    def _start_lots(self) -> None:
        self.open_lots = {}  # on hand > 0, in receipt order
        self.exhausted_lots = {}  # records never changed in place
        self.lot_count = 0  # every lot ever taken in
        self.units_on_hand = ZERO
        self.lots_value = ZERO  # exact; fifo_value rounds it

    @property
    def on_hand(self) -> Decimal:
        return self.units_on_hand

    @property
    def fifo_value(self) -> Decimal:
        return round_money(self.lots_value)

    @property
    def lots(self) -> dict[str, dict[str, Any]]:
        """Every lot, open or exhausted, in receipt order: a full walk, for audits and tests,
        never for a command."""
        every = {**self.exhausted_lots, **self.open_lots}
        return dict(sorted(every.items(), key=lambda item: item[1]["seq"]))

    def next_lot_id(self, offset: int = 0) -> str:
        """`<part>-<n>@<store>`: unique across stores, since part numbers hold no '@'."""
        return f"{self.part_number}-{self.lot_count + offset + 1:05d}@{self.store_id}"

    def lot(self, lot_id: str) -> dict[str, Any]:
        """An open or exhausted lot, to read (an exhausted one holds nothing)."""
        found = self.open_lots.get(lot_id) or self.exhausted_lots.get(lot_id)
        if found is None:
            raise InvalidInput(f"{self.part_number} in {self.store_id} has no lot {lot_id}")
        return found

    def last_lot(self) -> dict[str, Any] | None:
        """The lot taken in last (what was paid for the part last), open or not."""
        return self.lot(self.next_lot_id(-1)) if self.lot_count else None

    def lot_on_hand(self, lot_id: str) -> Decimal:
        found = self.open_lots.get(lot_id) or self.exhausted_lots.get(lot_id)
        return found["on_hand"] if found is not None else ZERO

    # -- changes, made only by the item's event methods ---------------------------------------

    def _add_lot(self, record: dict[str, Any]) -> None:
        """A lot taken in (a receipt, a transfer in): numbered next, last in FIFO order."""
        lot = {**record, "seq": self.lot_count, "on_hand": ZERO}
        self.lot_count += 1
        self.open_lots[lot["lot_id"]] = lot
        self._move_lot(lot["lot_id"], record["on_hand"])

    def _move_lot(self, lot_id: str, qty: Decimal) -> None:
        """Units into (qty > 0) or out of a lot; an exhausted lot that gains units opens again
        in its place in receipt order, a lot left with nothing is exhausted."""
        lot = self.open_lots.get(lot_id)
        if lot is None:
            lot = {**self.exhausted_lots.pop(lot_id)}  # the shared record stays as it was
            self.open_lots[lot_id] = lot
            self.open_lots = dict(sorted(self.open_lots.items(),
                                         key=lambda item: item[1]["seq"]))
        lot["on_hand"] += qty
        self.units_on_hand += qty
        self.lots_value += qty * lot["unit_cost"]
        if lot["on_hand"] <= 0:
            self.exhausted_lots[lot_id] = self.open_lots.pop(lot_id)

    @staticmethod
    def lots_from_list(state: dict[str, Any]) -> None:
        """Snapshot state of the item's first shape (one `lots` dict) in today's shape."""
        lots = sorted(state.pop("lots").values(), key=lambda lot: lot["seq"])
        state["open_lots"] = {lot["lot_id"]: lot for lot in lots if lot["on_hand"] > 0}
        state["exhausted_lots"] = {lot["lot_id"]: lot for lot in lots if lot["on_hand"] <= 0}
        state["lot_count"] = len(lots)
        state["units_on_hand"] = sum((lot["on_hand"] for lot in lots), ZERO)
        state["lots_value"] = sum((lot["on_hand"] * lot["unit_cost"] for lot in lots), ZERO)
