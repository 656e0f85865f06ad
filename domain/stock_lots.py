"""The lots a stock item holds: open ones, the last few used up, and running totals.

A busy part receives thousands of lots over the years, and nearly all of them are soon used up.
Neither a command nor the item's snapshot may pay for them: on hand and value are running totals,
FIFO picks walk only the open lots (kept in receipt order), new lots are numbered from a counter
(which counts every lot ever taken in, exactly as the length of the full lot list did, so replayed
streams keep their lot ids), and of the used-up lots the item keeps only the last
`EXHAUSTED_KEPT`, in the order they were used up. The full history of every lot lives in the
events and in the lots read model (`GET /stock/{store}/{pn}/lots?state=exhausted`).

A used-up lot can open again: a return from a job goes back into the lot it came from, and a
stocktake may find units of one. A return carries the lot's record in the pick the job was
issued (lot id, unit cost, supplier, supplier document, receipt date, certificate), so it opens
the lot again with its cost and its place in FIFO order however long ago the lot was used up
(a pick recorded before picks carried the record names the lot's id, cost and supplier only:
a lot opened again from one has no delivery note, receipt time or certificate in the item;
the lots read model keeps them).
A stocktake names a lot id: it finds units of a lot the item still keeps (open or among the
last used up) from the item, and of an older one from the lot's record as its receipt or transfer
in recorded it (read from the item's events, domain/stock_found.py): the count's line and its
variance carry that record, and the lot opens again at its own cost, supplier and delivery note.

A kept used-up lot's record is never changed in place (opening it again copies it), and that is
what lets a command's copy of the cached aggregate share those records instead of copying them
(`shallow_copied`, see domain/aggregate_loads.py).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from domain.common import IllegalTransition, InvalidInput
from domain.money import round_money

ZERO = Decimal(0)
# Used-up lots kept for a stocktake that finds units of one: a few days of a busy part's lots.
EXHAUSTED_KEPT = 20
# What a lot's record says beyond its id, cost and units (None where a pick did not say).
RECORD_FIELDS = ("supplier", "supplier_doc", "received_at", "cert_ref", "received_qty",
                 "po_ref", "origin_lot")


class LotUsedUpLongAgo(IllegalTransition):
    """A lot used up before the last ones the item keeps, named where its record is not at
    hand (HTTP 409)."""


class HeldInLots:
    """The lot-keeping half of `StockItem` (its state is set by `_start_lots`)."""

    part_number: str
    store_id: str
    open_lots: dict[str, dict[str, Any]]
    exhausted_lots: dict[str, dict[str, Any]]
    lot_count: int
    units_on_hand: Decimal
    lots_value: Decimal
    last_unit_cost: Decimal | None
    exhausted_kept = EXHAUSTED_KEPT

    def _start_lots(self) -> None:
        self.open_lots = {}  # on hand > 0, in receipt order
        self.exhausted_lots = {}  # the last used up, oldest first; records never changed in place
        self.lot_count = 0  # every lot ever taken in
        self.units_on_hand = ZERO
        self.lots_value = ZERO  # exact; fifo_value rounds it
        self.last_unit_cost = None  # of the lot taken in last (what was paid for the part last)

    @property
    def on_hand(self) -> Decimal:
        return self.units_on_hand

    @property
    def fifo_value(self) -> Decimal:
        return round_money(self.lots_value)

    @property
    def lots(self) -> dict[str, dict[str, Any]]:
        """The lots the item keeps, open or among the last used up, in receipt order: for
        audits and tests, never for a command."""
        every = {**self.exhausted_lots, **self.open_lots}
        return dict(sorted(every.items(), key=lambda item: item[1]["seq"]))

    def next_lot_id(self, offset: int = 0) -> str:
        """`<part>-<n>@<store>`: unique across stores, since part numbers hold no '@'."""
        return f"{self.part_number}-{self.lot_count + offset + 1:05d}@{self.store_id}"

    def lot_seq(self, lot_id: str, field: str | None = None) -> int:
        """A lot's place in receipt order (its number less one), for any lot this item ever
        took in; InvalidInput for an id that is not one of them (naming `field`, the body
        input that named the lot, where one did)."""
        prefix, _, store = lot_id.rpartition("@")
        part, _, number = prefix.rpartition("-")
        # the id exactly as the item gave it (next_lot_id): ASCII digits, zero-padded to five;
        # "-1", "-0001" or a digit of another script name no lot (int() would take them)
        if (part, store) == (self.part_number, self.store_id) and number.isascii() \
                and number.isdigit() and 1 <= int(number) <= self.lot_count \
                and number == f"{int(number):05d}":
            return int(number) - 1
        raise InvalidInput(f"{self.part_number} in {self.store_id} has no lot {lot_id}",
                           lot_id=lot_id, **({"field": field} if field else {}))

    def forgotten(self, lot_id: str, field: str | None = None) -> bool:
        """Is `lot_id` a lot this item took in and used up before the ones it keeps?
        InvalidInput (naming `field`) for an id that is not one of its lots."""
        if lot_id in self.open_lots or lot_id in self.exhausted_lots:
            return False
        self.lot_seq(lot_id, field)
        return True

    def lot(self, lot_id: str, field: str | None = None) -> dict[str, Any]:
        """An open or kept used-up lot, to read (a used-up one holds nothing)."""
        found = self.open_lots.get(lot_id) or self.exhausted_lots.get(lot_id)
        if found is None:
            self.lot_seq(lot_id, field)  # InvalidInput unless the item took the lot in
            raise LotUsedUpLongAgo(
                f"lot {lot_id} was used up before the last {self.exhausted_kept} lots "
                f"{self.part_number} keeps in {self.store_id}; its history is in the lots "
                "read model", lot_id=lot_id)
        return found

    def lot_on_hand(self, lot_id: str) -> Decimal:
        found = self.open_lots.get(lot_id)
        return found["on_hand"] if found is not None else ZERO

    # -- changes, made only by the item's event methods ---------------------------------------

    def _add_lot(self, record: dict[str, Any]) -> None:
        """A lot taken in (a receipt, a transfer in): numbered next, last in FIFO order."""
        lot = {**record, "seq": self.lot_count, "on_hand": ZERO}
        self.lot_count += 1
        self.last_unit_cost = lot["unit_cost"]
        self.open_lots[lot["lot_id"]] = lot
        self._move_lot(lot["lot_id"], record["on_hand"])

    def _move_lot(self, lot_id: str, qty: Decimal, record: dict[str, Any] | None = None) -> None:
        """Units into (qty > 0) or out of a lot. A used-up lot that gains units opens again in
        its place in receipt order, from the record kept of it or else from `record` (what a
        pick or a count line says of it); a lot left with nothing is used up."""
        lot = self.open_lots.get(lot_id)
        if lot is None:
            kept = self.exhausted_lots.pop(lot_id, None)
            lot = {**kept} if kept is not None else self._record_from(lot_id, record or {})
            self.open_lots[lot_id] = lot  # a copy: the shared record stays as it was
            self.open_lots = dict(sorted(self.open_lots.items(),
                                         key=lambda item: item[1]["seq"]))
        lot["on_hand"] += qty
        self.units_on_hand += qty
        self.lots_value += qty * lot["unit_cost"]
        if lot["on_hand"] <= 0:
            self.exhausted_lots[lot_id] = self.open_lots.pop(lot_id)
            while len(self.exhausted_lots) > self.exhausted_kept:
                del self.exhausted_lots[next(iter(self.exhausted_lots))]

    def _record_from(self, lot_id: str, said: dict[str, Any]) -> dict[str, Any]:
        return {"lot_id": lot_id, "unit_cost": said["unit_cost"], "on_hand": ZERO,
                "seq": self.lot_seq(lot_id), **{k: said.get(k) for k in RECORD_FIELDS}}

    @staticmethod
    def lots_from_list(state: dict[str, Any]) -> None:
        """Snapshot state of the item's first shape (one `lots` dict) in version 2's shape."""
        lots = sorted(state.pop("lots").values(), key=lambda lot: lot["seq"])
        state["open_lots"] = {lot["lot_id"]: lot for lot in lots if lot["on_hand"] > 0}
        state["exhausted_lots"] = {lot["lot_id"]: lot for lot in lots if lot["on_hand"] <= 0}
        state["lot_count"] = len(lots)
        state["units_on_hand"] = sum((lot["on_hand"] for lot in lots), ZERO)
        state["lots_value"] = sum((lot["on_hand"] * lot["unit_cost"] for lot in lots), ZERO)

    @classmethod
    def keep_last_exhausted(cls, state: dict[str, Any]) -> None:
        """Snapshot state that kept every used-up lot: the last `EXHAUSTED_KEPT` used up stay
        (a dict of them is in the order they were used up), and the cost of the lot taken in
        last is noted before older records go."""
        every = [*state["exhausted_lots"].values(), *state["open_lots"].values()]
        last = max(every, key=lambda lot: lot["seq"], default=None)
        state["last_unit_cost"] = last["unit_cost"] if last is not None else None
        kept = list(state["exhausted_lots"].items())[-cls.exhausted_kept:]
        state["exhausted_lots"] = dict(kept)
