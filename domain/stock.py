"""Stock of one part in one store, held in lots (supplier, receipt, unit cost).

Every movement is an event on this stream, so two clerks racing for the last unit conflict on
the stream's version and exactly one wins. Issues consume lots FIFO at lot cost and remember
their picks, so a return puts each unit back into the lot it came from.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.common import Audit, IllegalTransition, InvalidInput, require, require_reason, stable_id
from domain.money import quantity, round_money

ZERO = Decimal(0)


class StockError(IllegalTransition):
    pass


class InsufficientStock(StockError):
    """Not enough available; `available` says how much there is (HTTP 409)."""


def fifo_picks(lots: list[dict[str, Any]], qty: Decimal) -> list[dict[str, Any]]:
    """Take `qty` from lots in receipt order; each pick names its lot and unit cost."""
    picks, left = [], qty
    for lot in lots:
        if left <= 0:
            break
        take = min(lot["on_hand"], left)
        if take > 0:
            picks.append({"lot_id": lot["lot_id"], "qty": take, "unit_cost": lot["unit_cost"]})
            left -= take
    if left > 0:
        raise InsufficientStock("not enough on hand in the lots", short=str(left))
    return picks


def picks_cost(picks: list[dict[str, Any]]) -> Decimal:
    return round_money(sum((p["qty"] * p["unit_cost"] for p in picks), ZERO))


class StockItem(Aggregate):
    @staticmethod
    def create_id(store_id: str, part_number: str) -> UUID:
        return stable_id("stock", store_id, part_number)

    @event("Opened")
    def __init__(self, store_id: str, part_number: str, unit: str, min_stock: Decimal,
                 audit: Audit) -> None:
        self.store_id = store_id
        self.part_number = part_number
        self.unit = unit
        self.min_stock = min_stock
        self.lots: dict[str, dict[str, Any]] = {}
        self.reserved: dict[str, Decimal] = {}
        self.issued: dict[str, list[dict[str, Any]]] = {}
        self.alert_raised = False

    # -- figures -----------------------------------------------------------------------------

    @property
    def on_hand(self) -> Decimal:
        return sum((lot["on_hand"] for lot in self.lots.values()), ZERO)

    @property
    def reserved_total(self) -> Decimal:
        return sum(self.reserved.values(), ZERO)

    @property
    def available(self) -> Decimal:
        return self.on_hand - self.reserved_total

    @property
    def fifo_value(self) -> Decimal:
        return round_money(sum((l["on_hand"] * l["unit_cost"] for l in self.lots.values()), ZERO))

    def _lots_in_order(self) -> list[dict[str, Any]]:
        return sorted(self.lots.values(), key=lambda lot: lot["seq"])

    def _check_alert(self, audit: Audit) -> None:
        low = self.available < self.min_stock
        if low and not self.alert_raised:
            self._alert_raised(audit, self.available, self.min_stock)
        elif not low and self.alert_raised:
            self._alert_cleared(audit, self.available)

    @event("LowStockAlertRaised")
    def _alert_raised(self, audit: Audit, available: Decimal, min_stock: Decimal) -> None:
        self.alert_raised = True

    @event("LowStockAlertCleared")
    def _alert_cleared(self, audit: Audit, available: Decimal) -> None:
        self.alert_raised = False

    # -- receipts ----------------------------------------------------------------------------

    def receive(self, audit: Audit, *, qty: object, unit_cost: Decimal, supplier: str,
                supplier_doc: str, cert_ref: str | None = None,
                po_ref: str | None = None) -> str:
        amount = quantity(qty, "received quantity", places=3)
        require(unit_cost >= 0, InvalidInput("unit cost must not be negative"))
        require(bool(supplier.strip() and supplier_doc.strip()),
                InvalidInput("supplier and supplier document number are required"))
        lot_id = f"{self.store_id}-{self.part_number}-{len(self.lots) + 1:05d}"
        self._received(audit, lot_id, amount, unit_cost, supplier.strip(), supplier_doc.strip(),
                       cert_ref, po_ref)
        self._check_alert(audit)
        return lot_id

    @event("Received")
    def _received(self, audit: Audit, lot_id: str, qty: Decimal, unit_cost: Decimal,
                  supplier: str, supplier_doc: str, cert_ref: str | None,
                  po_ref: str | None) -> None:
        self.lots[lot_id] = {
            "lot_id": lot_id, "seq": len(self.lots), "supplier": supplier,
            "supplier_doc": supplier_doc, "received_at": audit.at.isoformat(),
            "unit_cost": unit_cost, "received_qty": qty, "on_hand": qty, "cert_ref": cert_ref,
            "po_ref": po_ref,
        }

    # -- reservations ------------------------------------------------------------------------

    def reserve(self, audit: Audit, key: str, qty: object) -> None:
        amount = quantity(qty, "reserved quantity", places=3)
        require(key not in self.reserved, StockError(f"{key} already holds a reservation"))
        if amount > self.available:
            raise InsufficientStock(
                f"only {self.available} {self.unit} of {self.part_number} available",
                available=str(self.available))
        self._reserved(audit, key, amount)
        self._check_alert(audit)

    @event("Reserved")
    def _reserved(self, audit: Audit, key: str, qty: Decimal) -> None:
        self.reserved[key] = qty

    def release(self, audit: Audit, key: str, reason: str | None) -> None:
        require(key in self.reserved, StockError(f"{key} holds no reservation"))
        self._released(audit, key, self.reserved[key], require_reason(reason, "a release"))
        self._check_alert(audit)

    @event("Released")
    def _released(self, audit: Audit, key: str, qty: Decimal, reason: str) -> None:
        del self.reserved[key]

    # -- issues and returns ------------------------------------------------------------------

    def issue(self, audit: Audit, key: str, qty: object) -> list[dict[str, Any]]:
        """Issue to a work-order line: stock leaves on hand at its lots' FIFO cost."""
        amount = quantity(qty, "issued quantity", places=3)
        own = self.reserved.get(key, ZERO)
        free = self.on_hand - (self.reserved_total - own)
        if amount > free:
            raise InsufficientStock(
                f"only {free} {self.unit} of {self.part_number} can be issued",
                available=str(free))
        picks = fifo_picks(self._lots_in_order(), amount)
        self._issued(audit, key, picks, min(own, amount), picks_cost(picks))
        self._check_alert(audit)
        return picks

    @event("Issued")
    def _issued(self, audit: Audit, key: str, picks: list[dict[str, Any]], from_reserved: Decimal,
                cost: Decimal) -> None:
        for pick in picks:
            self.lots[pick["lot_id"]]["on_hand"] -= pick["qty"]
        if key in self.reserved:
            left = self.reserved[key] - from_reserved
            if left > 0:
                self.reserved[key] = left
            else:
                del self.reserved[key]
        self.issued.setdefault(key, []).extend(dict(p) for p in picks)

    def issued_qty(self, key: str) -> Decimal:
        return sum((p["qty"] for p in self.issued.get(key, [])), ZERO)

    def return_from_job(self, audit: Audit, key: str, qty: object, reason: str | None) -> \
            list[dict[str, Any]]:
        """Put issued units back into the lots they came from (latest pick first)."""
        amount = quantity(qty, "returned quantity", places=3)
        if amount > self.issued_qty(key):
            raise StockError(f"only {self.issued_qty(key)} was issued to {key}")
        picks, left = [], amount
        for pick in reversed(self.issued[key]):
            take = min(pick["qty"], left)
            if take > 0:
                picks.append({**pick, "qty": take})
                left -= take
        self._returned(audit, key, picks, picks_cost(picks), require_reason(reason, "a return"))
        self._check_alert(audit)
        return picks

    @event("ReturnedFromJob")
    def _returned(self, audit: Audit, key: str, picks: list[dict[str, Any]], cost: Decimal,
                  reason: str) -> None:
        for pick in picks:
            self.lots[pick["lot_id"]]["on_hand"] += pick["qty"]
            remaining = pick["qty"]
            for held in reversed(self.issued[key]):
                if held["lot_id"] == pick["lot_id"] and remaining > 0:
                    take = min(held["qty"], remaining)
                    held["qty"] -= take
                    remaining -= take
        self.issued[key] = [p for p in self.issued[key] if p["qty"] > 0]

    # -- scrap -------------------------------------------------------------------------------

    def scrap(self, audit: Audit, qty: object, reason: str | None) -> list[dict[str, Any]]:
        amount = quantity(qty, "scrapped quantity", places=3)
        reason = require_reason(reason, "scrapping stock")
        if amount > self.available:
            raise InsufficientStock(f"only {self.available} {self.unit} available to scrap",
                                    available=str(self.available))
        picks = fifo_picks(self._lots_in_order(), amount)
        self._scrapped(audit, picks, picks_cost(picks), reason)
        self._check_alert(audit)
        return picks

    @event("Scrapped")
    def _scrapped(self, audit: Audit, picks: list[dict[str, Any]], cost: Decimal,
                  reason: str) -> None:
        for pick in picks:
            self.lots[pick["lot_id"]]["on_hand"] -= pick["qty"]
