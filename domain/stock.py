"""Stock of one part in one store, held in lots (supplier, receipt, unit cost, certificate).

Every movement is an event on this stream, so two clerks racing for the last unit conflict on
the stream's version and exactly one wins. Issues, scrap, transfers out and returns to the
supplier consume lots at lot cost (FIFO unless a lot is named) and say which lots they took, so
every unit stays traceable to its lot and supplier, and a return from a job goes back into the
lot it came from.

What a job holds is the work order's to know (each of its part lines keeps the picks it was
issued, less what came back): a return names those picks, and each pick carries its lot's
record, so the item need not keep a job's picks, nor the lots they emptied, for ever. Its state
stays as small as the open business (open lots, reservations, orders, approvals waiting).

Figures: on hand (in the lots) − reserved (for work-order lines and pending scrap) = available.
A low-stock alert is raised once when available falls below the minimum and cleared once when
it recovers.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.common import (
    Audit,
    IllegalTransition,
    InvalidInput,
    NotPermitted,
    require,
    require_reason,
    stable_id,
)
from domain.money import money, quantity, round_money
from domain.stock_lots import RECORD_FIELDS, HeldInLots

ZERO = Decimal(0)
LOT_FIELDS = ("supplier", "supplier_doc", "received_at", "cert_ref")
# A scrap or stocktake request that needs a manager: waiting, then decided.
APPROVAL_STATUSES = ("awaiting_approval", "approved", "rejected")


class StockError(IllegalTransition):
    pass


class InsufficientStock(StockError):
    """Not enough available; `available` says how much there is (HTTP 409)."""


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


class StockItem(HeldInLots, Aggregate):
    """One part number in one store."""

    # 2: open and exhausted lots apart, running totals, a lot counter (was one `lots` dict)
    # 3: the ids of recorded counts
    # 4: only the last used-up lots, the last lot's cost, no job's picks (the work order's)
    class_version = 4
    # Never changed in place, only replaced (the kept used-up lots): a command's copy of the
    # cached item shares their values (domain/aggregate_loads.py).
    shallow_copied = ("exhausted_lots",)

    class Event(Aggregate.Event):
        audit: Audit

    class Opened(Event, Aggregate.Created):
        store_id: str
        part_number: str
        unit: str
        min_stock: Decimal
        reorder_qty: Decimal

    class LevelsSet(Event):
        min_stock: Decimal
        reorder_qty: Decimal

    class Received(Event):
        lot_id: str
        qty: Decimal
        unit_cost: Decimal
        supplier: str
        supplier_doc: str
        cert_ref: str | None
        po_ref: str | None

    class Ordered(Event):
        order_ref: str
        qty: Decimal

    class OrderClosed(Event):
        order_ref: str
        qty: Decimal

    class Reserved(Event):
        key: str
        qty: Decimal

    class Released(Event):
        key: str
        qty: Decimal
        reason: str

    class Issued(Event):
        key: str
        picks: list[dict[str, Any]]
        from_reserved: Decimal
        cost: Decimal

    class ReturnedFromJob(Event):
        key: str
        picks: list[dict[str, Any]]
        cost: Decimal
        reason: str

    class ScrapRequested(Event):
        request_id: str
        qty: Decimal
        lot_id: str | None
        value: Decimal
        reason: str

    class ScrapRejected(Event):
        request_id: str
        qty: Decimal
        reason: str

    class Scrapped(Event):
        request_id: str
        picks: list[dict[str, Any]]
        cost: Decimal
        reason: str
        approved_by: str | None
        from_reserved: Decimal

    class Counted(Event):
        count_id: str
        lines: list[dict[str, Any]]
        value: Decimal
        reason: str
        needs_approval: bool

    class CountRejected(Event):
        count_id: str
        reason: str

    class VariancePosted(Event):
        count_id: str
        adjustments: list[dict[str, Any]]
        value: Decimal
        reason: str
        approved_by: str | None

    class TransferredOut(Event):
        transfer_id: str
        to_store: str
        picks: list[dict[str, Any]]
        cost: Decimal
        reason: str

    class TransferredIn(Event):
        transfer_id: str
        from_store: str
        lots: list[dict[str, Any]]
        cost: Decimal

    class ReturnedToSupplier(Event):
        lot_id: str
        qty: Decimal
        unit_cost: Decimal
        cost: Decimal
        supplier: str
        reference: str
        reason: str

    class LowStockAlertRaised(Event):
        available: Decimal
        min_stock: Decimal

    class LowStockAlertCleared(Event):
        available: Decimal

    @staticmethod
    def create_id(store_id: str, part_number: str) -> UUID:
        return stable_id("stock", store_id, part_number)

    @event(Opened)
    def __init__(self, audit: Audit, store_id: str, part_number: str, unit: str,
                 min_stock: Decimal, reorder_qty: Decimal = ZERO) -> None:
        self.store_id = store_id
        self.part_number = part_number
        self.unit = unit
        self.min_stock = min_stock
        self.reorder_qty = reorder_qty
        self._start_lots()
        self.reserved: dict[str, Decimal] = {}
        self.on_order: dict[str, Decimal] = {}
        self.pending_scraps: dict[str, dict[str, Any]] = {}
        self.pending_count: dict[str, Any] | None = None
        self.counts: dict[str, str | None] = {}  # count id -> when recorded (not rejected)
        self.alert_raised = False

    # -- figures -----------------------------------------------------------------------------

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
        """Units of a lot that pending scrap requests naming it hold (except `besides`)."""
        return sum((p["qty"] for rid, p in self.pending_scraps.items()
                    if p["lot_id"] == lot_id and rid != besides), ZERO)

    def _lots_in_order(self) -> list[dict[str, Any]]:
        """Open lots in receipt order, less what pending scrap of a named lot holds in them."""
        if not self.pending_scraps:
            return list(self.open_lots.values())
        return [{**lot, "on_hand": lot["on_hand"] - self.held(lot["lot_id"])}
                for lot in self.open_lots.values()]

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        HeldInLots.lots_from_list(state)

    @staticmethod
    def upcast_v2_v3(state: dict[str, Any]) -> None:
        """Snapshots from before count ids were kept: only the waiting count's is known (the
        events after the snapshot add theirs)."""
        pending = state.get("pending_count")
        state["counts"] = {pending["count_id"]: None} if pending else {}

    @staticmethod
    def upcast_v3_v4(state: dict[str, Any]) -> None:
        """Snapshots that kept every used-up lot and every job's picks: the work order keeps
        a job's picks (a return names them), and only the last used-up lots stay."""
        state.pop("issued", None)
        HeldInLots.keep_last_exhausted(state)

    def _take(self, qty: Decimal, lot_id: str | None,
              request_id: str | None = None) -> list[dict[str, Any]]:
        if lot_id is None:
            return fifo_picks(self._lots_in_order(), qty)
        free = self._free_in(lot_id, qty, besides=request_id)
        return fifo_picks([{**self.open_lots[lot_id], "on_hand": free}], qty)

    def _free_in(self, lot_id: str, qty: Decimal, besides: str | None = None) -> Decimal:
        """Units of a named lot that `qty` may take (an open lot, less pending scrap)."""
        if lot_id not in self.open_lots:
            self.lot_seq(lot_id)  # InvalidInput unless the item took the lot in
        free = self.lot_on_hand(lot_id) - self.held(lot_id, besides=besides)
        if qty > free:
            raise InsufficientStock(f"lot {lot_id} has only {free} {self.unit} free",
                                    available=str(free))
        return free

    def _require_available(self, qty: Decimal, what: str, own: Decimal = ZERO) -> None:
        free = self.available + own
        if qty > free:
            raise InsufficientStock(
                f"only {free} {self.unit} of {self.part_number} available to {what} "
                f"in {self.store_id}", available=str(free), part_number=self.part_number,
                store_id=self.store_id)

    def _check_alert(self, audit: Audit) -> None:
        low = self.available < self.min_stock
        if low and not self.alert_raised:
            self._alert_raised(audit, self.available, self.min_stock)
        elif not low and self.alert_raised:
            self._alert_cleared(audit, self.available)

    @event(LowStockAlertRaised)
    def _alert_raised(self, audit: Audit, available: Decimal, min_stock: Decimal) -> None:
        self.alert_raised = True

    @event(LowStockAlertCleared)
    def _alert_cleared(self, audit: Audit, available: Decimal) -> None:
        self.alert_raised = False

    # -- levels and orders -------------------------------------------------------------------

    def set_levels(self, audit: Audit, min_stock: object, reorder_qty: object) -> None:
        low = quantity(min_stock, "minimum stock", places=3, allow_zero=True)
        again = quantity(reorder_qty, "reorder quantity", places=3, allow_zero=True)
        require((low, again) != (self.min_stock, self.reorder_qty),
                StockError("the levels are already set so"))
        self._levels_set(audit, low, again)
        self._check_alert(audit)

    @event(LevelsSet)
    def _levels_set(self, audit: Audit, min_stock: Decimal, reorder_qty: Decimal) -> None:
        self.min_stock = min_stock
        self.reorder_qty = reorder_qty

    def order(self, audit: Audit, order_ref: str, qty: Decimal) -> None:
        require(order_ref not in self.on_order, StockError(f"{order_ref} is already on order"))
        self._ordered(audit, order_ref, qty)

    @event(Ordered)
    def _ordered(self, audit: Audit, order_ref: str, qty: Decimal) -> None:
        self.on_order[order_ref] = qty

    def close_order(self, audit: Audit, order_ref: str) -> None:
        if order_ref in self.on_order:
            self._order_closed(audit, order_ref, self.on_order[order_ref])

    @event(OrderClosed)
    def _order_closed(self, audit: Audit, order_ref: str, qty: Decimal) -> None:
        del self.on_order[order_ref]

    # -- receipts ----------------------------------------------------------------------------

    def receive(self, audit: Audit, *, qty: object, unit_cost: object, supplier: str,
                supplier_doc: str, cert_ref: str | None = None,
                po_ref: str | None = None) -> str:
        amount = quantity(qty, "received quantity", places=3)
        cost = money(unit_cost, "unit cost")
        require(bool(supplier.strip() and supplier_doc.strip()),
                InvalidInput("supplier and supplier document number are required"))
        lot_id = self.next_lot_id()
        self._received(audit, lot_id, amount, cost, supplier.strip(), supplier_doc.strip(),
                       (cert_ref or "").strip() or None, po_ref)
        self._check_alert(audit)
        return lot_id

    @event(Received)
    def _received(self, audit: Audit, lot_id: str, qty: Decimal, unit_cost: Decimal,
                  supplier: str, supplier_doc: str, cert_ref: str | None,
                  po_ref: str | None) -> None:
        self._add_lot({
            "lot_id": lot_id, "supplier": supplier,
            "supplier_doc": supplier_doc, "received_at": audit.at.isoformat(),
            "unit_cost": unit_cost, "received_qty": qty, "on_hand": qty, "cert_ref": cert_ref,
            "po_ref": po_ref, "origin_lot": None,
        })
        if po_ref in self.on_order:
            left = self.on_order[po_ref] - qty
            if left > 0:
                self.on_order[po_ref] = left
            else:
                del self.on_order[po_ref]

    # -- reservations ------------------------------------------------------------------------

    def reserve(self, audit: Audit, key: str, qty: object) -> None:
        amount = quantity(qty, "reserved quantity", places=3)
        require(key not in self.reserved, StockError(f"{key} already holds a reservation"))
        self._require_available(amount, "reserve")
        self._reserved(audit, key, amount)
        self._check_alert(audit)

    @event(Reserved)
    def _reserved(self, audit: Audit, key: str, qty: Decimal) -> None:
        self.reserved[key] = qty

    def release(self, audit: Audit, key: str, reason: str | None) -> None:
        require(key in self.reserved, StockError(f"{key} holds no reservation"))
        self._released(audit, key, self.reserved[key], require_reason(reason, "a release"))
        self._check_alert(audit)

    @event(Released)
    def _released(self, audit: Audit, key: str, qty: Decimal, reason: str) -> None:
        del self.reserved[key]

    # -- issues and returns ------------------------------------------------------------------

    def issue(self, audit: Audit, key: str, qty: object) -> list[dict[str, Any]]:
        """Issue to a work-order line: stock leaves on hand at its lots' FIFO cost."""
        amount = quantity(qty, "issued quantity", places=3)
        own = self.reserved.get(key, ZERO)
        self._require_available(amount, "issue", own)
        picks = self._traced(fifo_picks(self._lots_in_order(), amount), RECORD_FIELDS)
        self._issued(audit, key, picks, min(own, amount), picks_cost(picks))
        self._check_alert(audit)
        return picks

    @event(Issued)
    def _issued(self, audit: Audit, key: str, picks: list[dict[str, Any]], from_reserved: Decimal,
                cost: Decimal) -> None:
        for pick in picks:
            self._move_lot(pick["lot_id"], -pick["qty"])
        if key in self.reserved:
            left = self.reserved[key] - from_reserved
            if left > 0:
                self.reserved[key] = left
            else:
                del self.reserved[key]

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
        amount = quantity(qty, "returned quantity", places=3)
        out = picks_qty(held)
        if amount > out:
            raise StockError(f"only {out} was issued to {key}")
        for pick in held:
            self.lot_seq(pick["lot_id"])  # InvalidInput unless one of this item's lots
        picks = picks_to_return(held, amount)
        self._returned(audit, key, picks, picks_cost(picks), require_reason(reason, "a return"))
        self._check_alert(audit)
        return picks

    @event(ReturnedFromJob)
    def _returned(self, audit: Audit, key: str, picks: list[dict[str, Any]], cost: Decimal,
                  reason: str) -> None:
        for pick in picks:
            self._move_lot(pick["lot_id"], pick["qty"], record=pick)

    # -- scrap -------------------------------------------------------------------------------

    def scrap_value(self, qty: Decimal, lot_id: str | None = None) -> Decimal:
        self._require_available(qty, "scrap")
        return picks_cost(self._take(qty, lot_id))

    def scrap(self, audit: Audit, qty: object, reason: str | None, *,
              request_id: str | None = None, lot_id: str | None = None,
              needs_approval: bool = False) -> list[dict[str, Any]]:
        """Scrap now, or, when `needs_approval`, hold the units until a manager decides.

        Returns the picks scrapped ([] while the request waits for approval).
        """
        amount = quantity(qty, "scrapped quantity", places=3)
        reason = require_reason(reason, "scrapping stock")
        request_id = request_id or f"SC{len(self.pending_scraps) + 1}-{self.version}"
        require(request_id not in self.pending_scraps,
                StockError(f"scrap request {request_id} exists"))
        self._require_available(amount, "scrap")
        picks = self._take(amount, lot_id)
        if needs_approval:
            self._scrap_requested(audit, request_id, amount, lot_id, picks_cost(picks), reason)
            self._check_alert(audit)
            return []
        self._scrapped(audit, request_id, picks, picks_cost(picks), reason, None, ZERO)
        self._check_alert(audit)
        return picks

    @event(ScrapRequested)
    def _scrap_requested(self, audit: Audit, request_id: str, qty: Decimal, lot_id: str | None,
                         value: Decimal, reason: str) -> None:
        self.pending_scraps[request_id] = {"qty": qty, "lot_id": lot_id, "reason": reason,
                                           "requested_by": audit.user_id, "value": value}
        self.reserved[f"scrap:{request_id}"] = qty

    def _pending_scrap(self, request_id: str) -> dict[str, Any]:
        if request_id not in self.pending_scraps:
            raise StockError(f"no scrap request {request_id} waits for approval")
        return self.pending_scraps[request_id]

    def decide_scrap(self, audit: Audit, request_id: str, approve: bool,
                     reason: str | None) -> list[dict[str, Any]]:
        request = self._pending_scrap(request_id)
        require(audit.role == "manager", NotPermitted("approving scrap needs the manager role"))
        require(audit.user_id != request["requested_by"],
                NotPermitted("the approver must not be the clerk who asked"))
        if not approve:
            self._scrap_rejected(audit, request_id, request["qty"],
                                 require_reason(reason, "rejecting scrap"))
            self._check_alert(audit)
            return []
        picks = self._take(request["qty"], request["lot_id"], request_id)
        self._scrapped(audit, request_id, picks, picks_cost(picks), request["reason"],
                       audit.user_id, request["qty"])
        self._check_alert(audit)
        return picks

    @event(ScrapRejected)
    def _scrap_rejected(self, audit: Audit, request_id: str, qty: Decimal, reason: str) -> None:
        del self.pending_scraps[request_id]
        self.reserved.pop(f"scrap:{request_id}", None)

    @event(Scrapped)
    def _scrapped(self, audit: Audit, request_id: str, picks: list[dict[str, Any]], cost: Decimal,
                  reason: str, approved_by: str | None, from_reserved: Decimal) -> None:
        for pick in picks:
            self._move_lot(pick["lot_id"], -pick["qty"])
        self.pending_scraps.pop(request_id, None)
        self.reserved.pop(f"scrap:{request_id}", None)

    # -- stocktake ---------------------------------------------------------------------------

    def count(self, audit: Audit, count_id: str, counted: dict[str, object], reason: str | None,
              approval_value: Decimal) -> dict[str, Any]:
        """Record counted vs book per lot; post the variance now unless it needs approval.

        Lots not named keep their book quantity. A variance whose absolute value exceeds
        `approval_value` waits for a manager. A count id names one count of this item: a
        stocktake's ref may name counts of many parts, never two counts of one, except the
        recount a manager asked for by rejecting the count under it.
        """
        require(count_id not in self.counts, StockError(
            f"count {count_id} of {self.part_number} in {self.store_id} is already recorded; "
            "give this count a ref of its own", count_id=count_id,
            recorded_at=self.counts.get(count_id)))
        require(self.pending_count is None,
                StockError(f"count {self.pending_count and self.pending_count['count_id']} "
                           "waits for approval"))
        require(bool(counted), InvalidInput("count at least one lot"))
        lines = []
        for lot_id, raw in counted.items():
            lot = self.lot(lot_id)
            qty = quantity(raw, f"counted quantity of {lot_id}", places=3, allow_zero=True)
            lines.append({"lot_id": lot_id, "book": lot["on_hand"], "counted": qty,
                          "variance": qty - lot["on_hand"], "unit_cost": lot["unit_cost"]})
        value = round_money(sum((ln["variance"] * ln["unit_cost"] for ln in lines), ZERO))
        moved = [ln for ln in lines if ln["variance"] != 0]
        reason_text = require_reason(reason, "a stocktake variance") if moved else \
            (reason or "").strip() or "no variance"
        needs_approval = abs(value) > approval_value or any(
            abs(ln["variance"] * ln["unit_cost"]) > approval_value for ln in moved)
        self._check_shortage(moved)
        self._counted(audit, count_id, lines, value, reason_text, needs_approval)
        if not needs_approval and moved:
            self._post(audit, count_id, moved, value, reason_text, None)
        return {"count_id": count_id, "value": value, "needs_approval": needs_approval,
                "lines": lines}

    def _check_shortage(self, moved: list[dict[str, Any]], again: str = "count again") -> None:
        for line in moved:
            if self.lot_on_hand(line["lot_id"]) + line["variance"] < 0:
                raise StockError(f"lot {line['lot_id']} now holds less than the count removes; "
                                 f"{again}")
        loss = -sum((ln["variance"] for ln in moved), ZERO)
        if loss > 0 and self.on_hand - loss < self.reserved_total:
            raise StockError(
                f"the count leaves {self.on_hand - loss} on hand but {self.reserved_total} is "
                "reserved: release or move the reservations first",
                reserved={k: str(v) for k, v in self.reserved.items()})

    @event(Counted)
    def _counted(self, audit: Audit, count_id: str, lines: list[dict[str, Any]], value: Decimal,
                 reason: str, needs_approval: bool) -> None:
        self.counts[count_id] = audit.at.isoformat()
        if needs_approval:  # with the records of the lots it names: one may be used up and
            # no longer kept by the time it is posted
            named = ((ln["lot_id"], self.open_lots.get(ln["lot_id"])
                      or self.exhausted_lots.get(ln["lot_id"])) for ln in lines)
            records = {lot_id: {**lot} for lot_id, lot in named if lot is not None}
            self.pending_count = {"count_id": count_id, "lines": lines, "value": value,
                                  "reason": reason, "counted_by": audit.user_id,
                                  "records": records}

    def _post(self, audit: Audit, count_id: str, moved: list[dict[str, Any]], value: Decimal,
              reason: str, approved_by: str | None) -> None:
        adjustments = [{"lot_id": ln["lot_id"], "qty": ln["variance"],
                        "unit_cost": ln["unit_cost"]} for ln in moved]
        self._variance_posted(audit, count_id, adjustments, value, reason, approved_by)
        self._check_alert(audit)

    def decide_count(self, audit: Audit, count_id: str, approve: bool,
                     reason: str | None) -> None:
        pending = self.pending_count
        require(pending is not None and pending["count_id"] == count_id,
                StockError(f"no count {count_id} waits for approval"))
        assert pending is not None
        require(audit.role == "manager",
                NotPermitted("approving a stocktake variance needs the manager role"))
        require(audit.user_id != pending["counted_by"],
                NotPermitted("the approver must not be the clerk who counted"))
        if not approve:
            self._count_rejected(audit, count_id, require_reason(reason, "rejecting a count"))
            return
        moved = [ln for ln in pending["lines"] if ln["variance"] != 0]
        # stock moved since the count: a new count waits until this one is rejected
        self._check_shortage(moved, f"reject count {count_id} (with a reason) and count again")
        self._post(audit, count_id, moved, pending["value"], pending["reason"], audit.user_id)

    @event(CountRejected)
    def _count_rejected(self, audit: Audit, count_id: str, reason: str) -> None:
        self.pending_count = None
        self.counts.pop(count_id, None)  # the recount may carry the stocktake's ref again

    @event(VariancePosted)
    def _variance_posted(self, audit: Audit, count_id: str, adjustments: list[dict[str, Any]],
                         value: Decimal, reason: str, approved_by: str | None) -> None:
        records = (self.pending_count or {}).get("records", {})
        for adjustment in adjustments:
            lot_id = adjustment["lot_id"]
            self._move_lot(lot_id, adjustment["qty"], record=records.get(lot_id, adjustment))
        self.pending_count = None

    # -- transfers between stores ------------------------------------------------------------

    def transfer_out(self, audit: Audit, transfer_id: str, to_store: str, qty: object,
                     reason: str | None) -> list[dict[str, Any]]:
        amount = quantity(qty, "transferred quantity", places=3)
        require(to_store != self.store_id, InvalidInput("a transfer goes to another store"))
        self._require_available(amount, "transfer")
        picks = self._traced(fifo_picks(self._lots_in_order(), amount), LOT_FIELDS)
        self._transferred_out(audit, transfer_id, to_store, picks, picks_cost(picks),
                              require_reason(reason, "a transfer"))
        self._check_alert(audit)
        return picks

    @event(TransferredOut)
    def _transferred_out(self, audit: Audit, transfer_id: str, to_store: str,
                         picks: list[dict[str, Any]], cost: Decimal, reason: str) -> None:
        for pick in picks:
            self._move_lot(pick["lot_id"], -pick["qty"])

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

    @event(TransferredIn)
    def _transferred_in(self, audit: Audit, transfer_id: str, from_store: str,
                        lots: list[dict[str, Any]], cost: Decimal) -> None:
        for lot in lots:
            self._add_lot({
                "lot_id": lot["lot_id"], "supplier": lot["supplier"],
                "supplier_doc": lot["supplier_doc"], "received_at": lot["received_at"],
                "unit_cost": lot["unit_cost"], "received_qty": lot["qty"], "on_hand": lot["qty"],
                "cert_ref": lot["cert_ref"], "po_ref": None, "origin_lot": lot["origin_lot"],
            })

    # -- return to supplier ------------------------------------------------------------------

    def return_to_supplier(self, audit: Audit, lot_id: str, qty: object, reference: str,
                           reason: str | None) -> Decimal:
        amount = quantity(qty, "returned quantity", places=3)
        if lot_id not in self.open_lots:
            self.lot_seq(lot_id)  # InvalidInput unless the item took the lot in
        self._require_available(amount, "return to the supplier")
        self._free_in(lot_id, amount)
        lot = self.open_lots[lot_id]
        require(bool(reference.strip()), InvalidInput("the supplier's return reference is required"))
        cost = round_money(amount * lot["unit_cost"])
        self._returned_to_supplier(audit, lot_id, amount, lot["unit_cost"], cost, lot["supplier"],
                                   reference.strip(), require_reason(reason, "a supplier return"))
        self._check_alert(audit)
        return cost

    @event(ReturnedToSupplier)
    def _returned_to_supplier(self, audit: Audit, lot_id: str, qty: Decimal, unit_cost: Decimal,
                              cost: Decimal, supplier: str, reference: str, reason: str) -> None:
        self._move_lot(lot_id, -qty)
