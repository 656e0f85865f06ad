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

This module holds the stream: its events, the item's state and what each event changes (all
that a replay runs). The commands, which check and then call those event methods, are the mixins
`StockMoves` (domain/stock_moves.py: levels, orders, receipts, reservations, issues and returns,
transfers, returns to the supplier) and `StockApprovals` (domain/stock_approvals.py: scrap and
stocktakes, and a manager's decisions); the figures, picks and low-stock check they share are in
domain/stock_state.py, the lots in domain/stock_lots.py, the snapshot upcasts in
domain/stock_upcasts.py. The events stay nested here: their topics (`domain.stock:StockItem.*`)
are how the stored ones are found.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.common import Audit, stable_id
from domain.stamps import note_reservation, note_stamp
from domain.stock_approvals import StockApprovals
from domain.stock_moves import StockMoves
from domain.stock_state import ZERO, count_hold, count_loss, scrap_hold
from domain.stock_upcasts import StockUpcasts


class StockItem(StockMoves, StockApprovals, StockUpcasts, Aggregate):
    """One part number in one store."""

    # 2: open and exhausted lots apart, running totals, a lot counter (was one `lots` dict)
    # 3: the ids of recorded counts
    # 4: only the last used-up lots, the last lot's cost, no job's picks (the work order's)
    # 5: the decided scrap requests and rejected counts (`decided`)
    # 6: a count waiting for a manager holds what it found missing (`reserved`)
    class_version = 6  # a snapshot of an older one is upcast (domain/stock_upcasts.py)
    # Never changed in place, only replaced (the kept used-up lots): a command's copy of the
    # cached item shares their values (domain/aggregate_loads.py).
    shallow_copied = ("exhausted_lots",)
    keeps_stamps = True  # `stamped_until`, `reserved_since` (domain/stamps.py)

    class Event(Aggregate.Event):
        audit: Audit

        def mutate(self, aggregate: Any) -> Any:
            made = super().mutate(aggregate)
            note_stamp(made, self.audit.at, aggregate is None)
            note_reservation(made, held_key(self), self.audit.at, aggregate is None)
            return made

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
        """v2 adds `as_of_version`: the version of the item whose book the count was taken
        against (domain/stock_sheet.py); a v1 count was compared with the book it was decided
        on, which its lines' `book` states."""

        class_version = 2
        count_id: str
        lines: list[dict[str, Any]]
        value: Decimal
        reason: str
        needs_approval: bool
        as_of_version: int | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["as_of_version"] = None

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
        # "scrap:<request id>" -> scrapped / rejected; "count:<count id>" -> rejected
        self.decided: dict[str, str] = {}
        self.alert_raised = False

    # -- the low-stock alert (checked by `StockState._check_alert`) ----------------------------

    @event(LowStockAlertRaised)
    def _alert_raised(self, audit: Audit, available: Decimal, min_stock: Decimal) -> None:
        self.alert_raised = True

    @event(LowStockAlertCleared)
    def _alert_cleared(self, audit: Audit, available: Decimal) -> None:
        self.alert_raised = False

    # -- levels and orders -------------------------------------------------------------------

    @event(LevelsSet)
    def _levels_set(self, audit: Audit, min_stock: Decimal, reorder_qty: Decimal) -> None:
        self.min_stock = min_stock
        self.reorder_qty = reorder_qty

    @event(Ordered)
    def _ordered(self, audit: Audit, order_ref: str, qty: Decimal) -> None:
        self.on_order[order_ref] = qty

    @event(OrderClosed)
    def _order_closed(self, audit: Audit, order_ref: str, qty: Decimal) -> None:
        del self.on_order[order_ref]

    # -- receipts ----------------------------------------------------------------------------

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

    @event(Reserved)
    def _reserved(self, audit: Audit, key: str, qty: Decimal) -> None:
        self.reserved[key] = qty

    @event(Released)
    def _released(self, audit: Audit, key: str, qty: Decimal, reason: str) -> None:
        del self.reserved[key]

    # -- issues and returns ------------------------------------------------------------------

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

    @event(ReturnedFromJob)
    def _returned(self, audit: Audit, key: str, picks: list[dict[str, Any]], cost: Decimal,
                  reason: str) -> None:
        for pick in picks:
            self._move_lot(pick["lot_id"], pick["qty"], record=pick)

    # -- scrap -------------------------------------------------------------------------------

    @event(ScrapRequested)
    def _scrap_requested(self, audit: Audit, request_id: str, qty: Decimal, lot_id: str | None,
                         value: Decimal, reason: str) -> None:
        self.pending_scraps[request_id] = {"qty": qty, "lot_id": lot_id, "reason": reason,
                                           "requested_by": audit.user_id, "value": value}
        self.reserved[scrap_hold(request_id)] = qty

    @event(ScrapRejected)
    def _scrap_rejected(self, audit: Audit, request_id: str, qty: Decimal, reason: str) -> None:
        del self.pending_scraps[request_id]
        self.reserved.pop(scrap_hold(request_id), None)
        self.decided[f"scrap:{request_id}"] = "rejected"

    @event(Scrapped)
    def _scrapped(self, audit: Audit, request_id: str, picks: list[dict[str, Any]], cost: Decimal,
                  reason: str, approved_by: str | None, from_reserved: Decimal) -> None:
        for pick in picks:
            self._move_lot(pick["lot_id"], -pick["qty"])
        self.pending_scraps.pop(request_id, None)
        self.reserved.pop(scrap_hold(request_id), None)
        self.decided[f"scrap:{request_id}"] = "scrapped"

    # -- stocktake ---------------------------------------------------------------------------

    @event(Counted)
    def _counted(self, audit: Audit, count_id: str, lines: list[dict[str, Any]], value: Decimal,
                 reason: str, needs_approval: bool, as_of_version: int | None = None) -> None:
        self.counts[count_id] = audit.at.isoformat()
        self.decided.pop(f"count:{count_id}", None)  # a recount under a rejected count's ref
        if needs_approval:  # with the records of the lots it names: one may be used up and
            # no longer kept by the time it is posted
            named = ((ln["lot_id"], self.open_lots.get(ln["lot_id"])
                      or self.exhausted_lots.get(ln["lot_id"]) or ln.get("record"))
                     for ln in lines)
            records = {lot_id: {**lot} for lot_id, lot in named if lot is not None}
            self.pending_count = {"count_id": count_id, "lines": lines, "value": value,
                                  "reason": reason, "counted_by": audit.user_id,
                                  "records": records}
            if count_loss(lines) > 0:
                self.reserved[count_hold(count_id)] = count_loss(lines)

    @event(CountRejected)
    def _count_rejected(self, audit: Audit, count_id: str, reason: str) -> None:
        self.pending_count = None
        self.reserved.pop(count_hold(count_id), None)
        self.counts.pop(count_id, None)  # the recount may carry the stocktake's ref again
        self.decided[f"count:{count_id}"] = "rejected"

    @event(VariancePosted)
    def _variance_posted(self, audit: Audit, count_id: str, adjustments: list[dict[str, Any]],
                         value: Decimal, reason: str, approved_by: str | None) -> None:
        records = (self.pending_count or {}).get("records", {})
        for adjustment in adjustments:
            lot_id = adjustment["lot_id"]
            self._move_lot(lot_id, adjustment["qty"], record=records.get(lot_id)
                           or adjustment.get("record") or adjustment)
        self.pending_count = None
        self.reserved.pop(count_hold(count_id), None)

    # -- transfers between stores ------------------------------------------------------------

    @event(TransferredOut)
    def _transferred_out(self, audit: Audit, transfer_id: str, to_store: str,
                         picks: list[dict[str, Any]], cost: Decimal, reason: str) -> None:
        for pick in picks:
            self._move_lot(pick["lot_id"], -pick["qty"])

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

    @event(ReturnedToSupplier)
    def _returned_to_supplier(self, audit: Audit, lot_id: str, qty: Decimal, unit_cost: Decimal,
                              cost: Decimal, supplier: str, reference: str, reason: str) -> None:
        self._move_lot(lot_id, -qty)


def held_key(event: Any) -> str | None:
    """The reservation an event makes: a work-order line's (`Reserved`), the units a scrap
    request holds until a manager decides (`ScrapRequested`), or those a count waiting for one
    found missing (`Counted`); None for any other event."""
    if isinstance(event, StockItem.Reserved):
        return event.key
    if isinstance(event, StockItem.ScrapRequested):
        return scrap_hold(event.request_id)
    if isinstance(event, StockItem.Counted) and event.needs_approval \
            and count_loss(event.lines) > 0:
        return count_hold(event.count_id)
    return None
