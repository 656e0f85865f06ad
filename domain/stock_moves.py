"""Stock movement commands: levels, orders, receipts, reservations, issues, returns, transfers."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from domain.common import Audit, InvalidInput, require, require_reason
from domain.money import money, quantity, round_money
from domain.stock_lots import RECORD_FIELDS
from domain.stock_state import (
    ZERO,
    StockError,
    StockState,
    fifo_picks,
    picks_cost,
    picks_qty,
    picks_to_return,
)
from domain.units import require_whole

LOT_FIELDS = ("supplier", "supplier_doc", "received_at", "cert_ref")


class StockMoves(StockState):
    """The movement commands of `StockItem`: each checks, then calls its event method."""

    # -- levels and orders -------------------------------------------------------------------

    def set_levels(self, audit: Audit, min_stock: object, reorder_qty: object,
                   units: Sequence[str] = ()) -> None:
        """The store's levels: whole pieces where the item's unit or one of `units` (the part
        master's: domain/part_units.py) is counted in them (422 naming the field)."""
        low = quantity(min_stock, "minimum stock", places=3, allow_zero=True,
                       field="min_stock")
        again = quantity(reorder_qty, "reorder quantity", places=3, allow_zero=True,
                         field="reorder_qty")
        for unit in dict.fromkeys((self.unit, *units)):
            require_whole(low, unit, "min_stock")
            require_whole(again, unit, "reorder_qty")
        require((low, again) != (self.min_stock, self.reorder_qty),
                StockError("the levels are already set so"))
        self._levels_set(audit, low, again)
        self._check_alert(audit)

    def order(self, audit: Audit, order_ref: str, qty: Decimal) -> None:
        require(order_ref not in self.on_order, StockError(f"{order_ref} is already on order"))
        self._ordered(audit, order_ref, qty)

    def close_order(self, audit: Audit, order_ref: str) -> None:
        if order_ref in self.on_order:
            self._order_closed(audit, order_ref, self.on_order[order_ref])

    # -- receipts ----------------------------------------------------------------------------

    def receive(self, audit: Audit, *, qty: object, unit_cost: object, supplier: str,
                supplier_doc: str, cert_ref: str | None = None,
                po_ref: str | None = None) -> str:
        amount = self._whole(quantity(qty, "received quantity", places=3, field="qty"))
        cost = money(unit_cost, "unit cost", field="unit_cost")
        require(bool(supplier.strip()), InvalidInput("the supplier is required", field="supplier"))
        require(bool(supplier_doc.strip()),
                InvalidInput("the supplier document number is required", field="supplier_doc"))
        lot_id = self.next_lot_id()
        self._received(audit, lot_id, amount, cost, supplier.strip(), supplier_doc.strip(),
                       (cert_ref or "").strip() or None, po_ref)
        self._check_alert(audit)
        return lot_id

    # -- reservations ------------------------------------------------------------------------

    def reserve(self, audit: Audit, key: str, qty: object) -> None:
        amount = quantity(qty, "reserved quantity", places=3, field="qty")
        require(key not in self.reserved, StockError(f"{key} already holds a reservation"))
        self._require_available(amount, "reserve")
        self._reserved(audit, key, amount)
        self._check_alert(audit)

    def release(self, audit: Audit, key: str, reason: str | None) -> None:
        require(key in self.reserved, StockError(f"{key} holds no reservation"))
        self._released(audit, key, self.reserved[key], require_reason(reason, "a release"))
        self._check_alert(audit)

    # -- issues and returns ------------------------------------------------------------------

    def issue(self, audit: Audit, key: str, qty: object) -> list[dict[str, Any]]:
        """Issue to a work-order line: stock leaves on hand at its lots' FIFO cost."""
        amount = self._whole(quantity(qty, "issued quantity", places=3, field="qty"))
        own = self.reserved.get(key, ZERO)
        self._require_available(amount, "issue", own)
        picks = self._traced(fifo_picks(self._lots_in_order(), amount), RECORD_FIELDS)
        self._issued(audit, key, picks, min(own, amount), picks_cost(picks))
        self._check_alert(audit)
        return picks

    def _traced(self, picks: list[dict[str, Any]], fields: tuple[str, ...]) -> \
            list[dict[str, Any]]:
        """Picks that carry (`fields` of) their lots' records: a job's return opens a used-up
        lot again from them, a transfer makes lots of them elsewhere."""
        return [{**pick, **{k: self.open_lots[pick["lot_id"]][k] for k in fields}}
                for pick in picks]

    def return_from_job(self, audit: Audit, key: str, qty: object, reason: str | None, *,
                        held: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Put units back into the lots they came from, latest pick first. `held` is what the
        job holds of this item: the picks its work-order line was issued, less what came
        back; each names its lot and the lot's cost, so a lot used up since opens again."""
        amount = self._whole(quantity(qty, "returned quantity", places=3, field="qty"))
        out = picks_qty(held)
        if amount > out:
            raise StockError(f"only {out} was issued to {key}")
        for pick in held:
            self.lot_seq(pick["lot_id"])  # InvalidInput unless one of this item's lots
        picks = picks_to_return(held, amount)
        self._returned(audit, key, picks, picks_cost(picks), require_reason(reason, "a return"))
        self._check_alert(audit)
        return picks

    # -- transfers between stores ------------------------------------------------------------

    def transfer_out(self, audit: Audit, transfer_id: str, to_store: str, qty: object,
                     reason: str | None) -> list[dict[str, Any]]:
        amount = self._whole(quantity(qty, "transferred quantity", places=3, field="qty"))
        require(to_store != self.store_id, InvalidInput("a transfer goes to another store",
                                                          field="to_store"))
        self._require_available(amount, "transfer")
        picks = self._traced(fifo_picks(self._lots_in_order(), amount), LOT_FIELDS)
        self._transferred_out(audit, transfer_id, to_store, picks, picks_cost(picks),
                              require_reason(reason, "a transfer"))
        self._check_alert(audit)
        return picks

    def transfer_in(self, audit: Audit, transfer_id: str, from_store: str,
                    picks: list[dict[str, Any]]) -> list[str]:
        """Each transferred pick becomes a lot here, keeping supplier, certificate and cost."""
        lots = []
        for n, pick in enumerate(picks):
            lots.append({
                "lot_id": self.next_lot_id(n),
                "origin_lot": pick["lot_id"], "qty": pick["qty"], "unit_cost": pick["unit_cost"],
                **{k: pick.get(k) for k in LOT_FIELDS},
            })
        self._transferred_in(audit, transfer_id, from_store, lots, picks_cost(picks))
        self._check_alert(audit)
        return [lot["lot_id"] for lot in lots]

    # -- return to supplier ------------------------------------------------------------------

    def return_to_supplier(self, audit: Audit, lot_id: str, qty: object, reference: str,
                           reason: str | None) -> Decimal:
        amount = self._whole(quantity(qty, "returned quantity", places=3, field="qty"))
        if lot_id not in self.open_lots:
            self.lot_seq(lot_id, "lot_id")  # InvalidInput unless the item took the lot in
        self._require_available(amount, "return to the supplier")
        self._free_in(lot_id, amount)
        lot = self.open_lots[lot_id]
        require(bool(reference.strip()), InvalidInput("the supplier's return reference is required",
                                                            field="reference"))
        cost = round_money(amount * lot["unit_cost"])
        self._returned_to_supplier(audit, lot_id, amount, lot["unit_cost"], cost, lot["supplier"],
                                   reference.strip(), require_reason(reason, "a supplier return"))
        self._check_alert(audit)
        return cost
