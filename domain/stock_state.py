"""What every stock command reads: the item's errors, its figures, FIFO picks from lots."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from domain.common import Audit, IllegalTransition
from domain.money import round_money
from domain.stock_lots import HeldInLots
from domain.units import require_whole

ZERO = Decimal(0)


class StockError(IllegalTransition):
    pass


class InsufficientStock(StockError):
    """Not enough available; `available` says how much there is (HTTP 409)."""


def scrap_hold(request_id: str) -> str:
    """The reservation key of the units a scrap request holds until a manager decides."""
    return f"scrap:{request_id}"


def count_hold(count_id: str) -> str:
    """The reservation key of the units a count waiting for a manager found missing: they are
    not on the shelf, so nothing may take them until the count is posted or rejected."""
    return f"count:{count_id}"


def count_loss(lines: list[dict[str, Any]], lot_id: str | None = None) -> Decimal:
    """The units a count's lines find missing (of one lot, or of all)."""
    return -sum((ln["variance"] for ln in lines
                 if ln["variance"] < 0 and lot_id in (None, ln["lot_id"])), Decimal(0))


def fifo_picks(lots: list[dict[str, Any]], qty: Decimal) -> list[dict[str, Any]]:
    """Take `qty` from lots in receipt order; each pick names its lot, cost and supplier."""
    picks, left = [], qty
    for lot in lots:
        if left <= 0:
            break
        take = min(lot["on_hand"], left)
        if take > 0:
            picks.append({"lot_id": lot["lot_id"], "qty": take, "unit_cost": lot["unit_cost"],
                          "supplier": lot["supplier"]})
            left -= take
    if left > 0:
        raise InsufficientStock("not enough on hand in the lots", short=str(left))
    return picks


def picks_cost(picks: list[dict[str, Any]]) -> Decimal:
    return round_money(sum((p["qty"] * p["unit_cost"] for p in picks), ZERO))


def picks_qty(picks: list[dict[str, Any]]) -> Decimal:
    return sum((p["qty"] for p in picks), ZERO)


def picks_to_return(held: list[dict[str, Any]], qty: Decimal) -> list[dict[str, Any]]:
    """What a return of `qty` from a job takes back: its latest picks first."""
    picks, left = [], qty
    for pick in reversed(held):
        take = min(pick["qty"], left)
        if take > 0:
            picks.append({**pick, "qty": take})
            left -= take
    return picks


def less_returned(held: list[dict[str, Any]], picks: list[dict[str, Any]]) -> \
        list[dict[str, Any]]:
    """A job's picks after a return: each returned pick comes off the latest picks of its lot
    (new records, never changed in place)."""
    left = [dict(p) for p in held]
    for pick in picks:
        remaining = pick["qty"]
        for taken in reversed(left):
            if taken["lot_id"] == pick["lot_id"] and remaining > 0:
                take = min(taken["qty"], remaining)
                taken["qty"] -= take
                remaining -= take
    return [p for p in left if p["qty"] > 0]


class StockState(HeldInLots):
    """What `StockItem` keeps beyond its lots (set by its `__init__`), and its figures."""

    unit: str
    min_stock: Decimal
    reorder_qty: Decimal
    reserved: dict[str, Decimal]
    on_order: dict[str, Decimal]
    pending_scraps: dict[str, dict[str, Any]]
    pending_count: dict[str, Any] | None
    counts: dict[str, str | None]
    decided: dict[str, str]
    alert_raised: bool
    version: int  # the stream's (eventsourcing's `Aggregate`)
    # Defined by `StockItem`: the event methods the commands call.
    _alert_raised: Callable[..., None]
    _alert_cleared: Callable[..., None]
    _levels_set: Callable[..., None]
    _ordered: Callable[..., None]
    _order_closed: Callable[..., None]
    _received: Callable[..., None]
    _reserved: Callable[..., None]
    _released: Callable[..., None]
    _issued: Callable[..., None]
    _returned: Callable[..., None]
    _transferred_out: Callable[..., None]
    _transferred_in: Callable[..., None]
    _returned_to_supplier: Callable[..., None]
    _scrap_requested: Callable[..., None]
    _scrap_rejected: Callable[..., None]
    _scrapped: Callable[..., None]
    _counted: Callable[..., None]
    _count_rejected: Callable[..., None]
    _variance_posted: Callable[..., None]

    @property
    def reserved_total(self) -> Decimal:
        return sum(self.reserved.values(), ZERO)

    @property
    def available(self) -> Decimal:
        return self.on_hand - self.reserved_total

    @property
    def on_order_total(self) -> Decimal:
        return sum(self.on_order.values(), ZERO)

    def suggested_order(self) -> Decimal:
        """How much to order now: nothing unless available + on order is below the minimum."""
        short = self.min_stock - self.available - self.on_order_total
        if self.available >= self.min_stock or short <= 0:
            return ZERO
        return max(self.reorder_qty, short)

    def figures(self) -> dict[str, Decimal]:
        return {"on_hand": self.on_hand, "reserved": self.reserved_total,
                "available": self.available, "on_order": self.on_order_total}

    def held(self, lot_id: str, besides: str | None = None) -> Decimal:
        """Units of a lot that pending scrap requests naming it hold (except `besides`), and
        those a count waiting for a manager found missing in it."""
        counted = count_loss(self.pending_count["lines"], lot_id) if self.pending_count else ZERO
        return counted + sum((p["qty"] for rid, p in self.pending_scraps.items()
                              if p["lot_id"] == lot_id and rid != besides), ZERO)

    def _lots_in_order(self) -> list[dict[str, Any]]:
        """Open lots in receipt order, less what pending scrap of a named lot and a waiting
        count's missing units hold in them."""
        if not self.pending_scraps and self.pending_count is None:
            return list(self.open_lots.values())
        return [{**lot, "on_hand": lot["on_hand"] - self.held(lot["lot_id"])}
                for lot in self.open_lots.values()]

    def _free_in(self, lot_id: str, qty: Decimal, besides: str | None = None) -> Decimal:
        """Units of a named lot that `qty` may take (an open lot, less pending scrap)."""
        if lot_id not in self.open_lots:
            self.lot_seq(lot_id, "lot_id")  # InvalidInput unless the item took the lot in
        free = self.lot_on_hand(lot_id) - self.held(lot_id, besides=besides)
        if qty > free:
            raise InsufficientStock(f"lot {lot_id} has only {free} {self.unit} free",
                                    available=str(free))
        return free

    def _check_alert(self, audit: Audit) -> None:
        """Raise the low-stock alert once when available falls below the minimum, and clear it
        once when it recovers."""
        low = self.available < self.min_stock
        if low and not self.alert_raised:
            self._alert_raised(audit, self.available, self.min_stock)
        elif not low and self.alert_raised:
            self._alert_cleared(audit, self.available)

    def _whole(self, qty: Decimal, field: str = "qty") -> Decimal:
        """The quantity, unless the item's unit is counted in whole pieces and it is not a
        whole number of them (422 naming `field`: domain/units.py)."""
        return require_whole(qty, self.unit, field)

    def _require_available(self, qty: Decimal, what: str, own: Decimal = ZERO) -> None:
        free = self.available + own
        if qty > free:
            raise InsufficientStock(
                f"only {free} {self.unit} of {self.part_number} available to {what} "
                f"in {self.store_id}", available=str(free), part_number=self.part_number,
                store_id=self.store_id)
