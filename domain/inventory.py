"""Parts commands: the master, stock movements, approvals, transfers and purchase orders.

Each command decides on the aggregates it touches and saves them together. Thresholds that
make scrap or a stocktake variance wait for a manager are settings (`Thresholds`).

`Inventory` is the one service the API and the command line use. This module holds the part
master, receipts, scrap and stocktakes, returns to the supplier and transfers; purchase orders
are `InventoryOrders` (domain/inventory_orders.py); what they share (the thresholds, finding or
opening a stock item, running a command on one) is `InventoryDesk` (domain/inventory_desk.py).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError

from domain.application import CommandResult, Decision, Request, Session
from domain.common import (
    IllegalTransition,
    InvalidInput,
    NotFound,
    NotPermitted,
    require,
    require_exact_store,
    require_group_store,
    require_reason,
)
from domain.counter import DocumentCounter
from domain.inventory_desk import existing_stock, stock_item, stock_stream
from domain.inventory_orders import InventoryOrders
from domain.money import money, quantity
from domain.part import Part, normalise_part_number
from domain.part_units import part_units
from domain.purchase_order import PurchaseOrder
from domain.stock import StockItem
from domain.stock_found import lot_records
from domain.stock_sheet import moved_since
from domain.transfer import Transfer
from domain.transfer_dispatch import dispatch_transfer
from domain.transfers_coming import coming_stream, note_arrived


class Inventory(InventoryOrders):
    # -- part master -------------------------------------------------------------------------

    def register_part(self, request: Request, *, part_number: str, details: dict[str, Any],
                      list_price: object) -> CommandResult:
        number = normalise_part_number(part_number)

        def decide(session: Session) -> Decision:
            require(session.find(Part, Part.create_id(number)) is None,
                    IllegalTransition(f"part {number} is already in the master"))
            part = Part.register(session.audit(session.caller.stores[0]), number, details,
                                 list_price)
            session.add(part)
            return Decision(part, {"part_number": number})

        return self.app.execute(request, decide, (Part.create_id(number),))

    def change_part(self, request: Request, part_number: str, data: dict[str, Any],
                    reason: str | None = None) -> CommandResult:
        def decide(session: Session) -> Decision:
            part = session.target(Part, Part.create_id(normalise_part_number(part_number)), "part")
            changes = part.change_details(session.audit(session.caller.stores[0]), data,
                                          reason)
            return Decision(part, {"part_number": part.part_number, "changed": sorted(changes)})

        return self.app.execute(request, decide, (Part.create_id(normalise_part_number(part_number)),))

    def change_price(self, request: Request, part_number: str, *, list_price: object,
                     reason: str | None) -> CommandResult:
        def decide(session: Session) -> Decision:
            part = session.target(Part, Part.create_id(normalise_part_number(part_number)), "part")
            part.change_price(session.audit(session.caller.stores[0]), list_price, reason)
            return Decision(part, {"part_number": part.part_number,
                                   "list_price": str(part.list_price)})

        return self.app.execute(request, decide, (Part.create_id(normalise_part_number(part_number)),))

    # -- levels, receipts --------------------------------------------------------------------

    def set_levels(self, request: Request, store_id: str, part_number: str, *,
                   min_stock: object, reorder_qty: object) -> CommandResult:
        return self._on_stock(request, store_id, part_number, lambda s, item: item.set_levels(
            s.audit(store_id), min_stock, reorder_qty, part_units(s, store_id, part_number)),
            create=True)

    def receive(self, request: Request, store_id: str, part_number: str, *, qty: object,
                unit_cost: object, supplier: str, supplier_doc: str, cert_ref: str | None = None,
                purchase_order_id: UUID | None = None, po_line: int | None = None,
                over_delivery_reason: str | None = None) -> CommandResult:
        """A delivery makes a lot; against a purchase-order line it also moves that line (more
        than the line has outstanding only with `over_delivery_reason`: one lot for all)."""
        require((purchase_order_id is None) == (po_line is None),
                InvalidInput("give both purchase_order_id and po_line, or neither",
                             field="po_line" if po_line is None else "purchase_order_id"))

        def act(session: Session, item: StockItem) -> dict[str, Any]:
            audit = session.audit(store_id)
            po_ref = None
            order = None
            if purchase_order_id is not None and po_line is not None:
                order = session.get(PurchaseOrder, purchase_order_id, "purchase order")
                require(order.store_id == store_id,
                        InvalidInput(f"{order.number} is for store {order.store_id}",
                                     field="purchase_order_id"))
                line = order.line(po_line, "po_line")
                require(line["part_number"] == item.part_number,
                        InvalidInput(f"line {po_line} of {order.number} is for "
                                     f"{line['part_number']}", field="po_line"))
                require(supplier.strip() == order.supplier,
                        InvalidInput(f"{order.number} was ordered from {order.supplier}",
                                     field="supplier"))
                order.receive(audit, po_line, quantity(qty, "received quantity", places=3,
                                                       field="qty"),
                              item.next_lot_id(), supplier_doc.strip(),
                              money(unit_cost, "unit cost", field="unit_cost"), over_delivery_reason)
                po_ref = PurchaseOrder.line_ref(order.number, po_line)
            lot_id = item.receive(audit, qty=qty, unit_cost=unit_cost, supplier=supplier,
                                  supplier_doc=supplier_doc, cert_ref=cert_ref, po_ref=po_ref)
            answer: dict[str, Any] = {"lot_id": lot_id}
            if order is not None:
                answer["purchase_order"] = {"id": str(order.id), "number": order.number,
                                            "status": order.status}
            return answer

        also = (purchase_order_id,) if purchase_order_id else ()
        return self._on_stock(request, store_id, part_number, act, create=True, also=also)

    def receive_on_order(self, request: Request, order_id: UUID, *, line_no: int, qty: object,
                         supplier_doc: str, unit_cost: object | None = None,
                         cert_ref: str | None = None,
                         over_delivery_reason: str | None = None) -> CommandResult:
        """Receive against a purchase-order line: store, part and supplier come from the order."""
        try:
            order: Any = self.app.repository.get(order_id)
        except AggregateNotFoundError:
            order = None
        if not isinstance(order, PurchaseOrder) or not request.caller.may_use(order.store_id):
            raise NotFound(f"purchase order {order_id} not found")
        line = order.line(line_no)
        return self.receive(request, order.store_id, line["part_number"], qty=qty,
                            unit_cost=line["unit_cost"] if unit_cost is None else unit_cost,
                            supplier=order.supplier, supplier_doc=supplier_doc,
                            cert_ref=cert_ref, purchase_order_id=order_id, po_line=line_no,
                            over_delivery_reason=over_delivery_reason)

    # -- scrap and stocktake -----------------------------------------------------------------

    def scrap(self, request: Request, store_id: str, part_number: str, *, qty: object,
              reason: str | None, lot_id: str | None = None) -> CommandResult:
        amount = quantity(qty, "scrapped quantity", places=3, field="qty")

        def act(session: Session, item: StockItem) -> dict[str, Any]:
            audit = session.audit(store_id)
            value = item.scrap_value(amount, lot_id)
            # Above a threshold it waits for a manager other than the one who asked, a
            # manager's own request included: the four eyes of a stocktake variance.
            waits = amount > self.thresholds.scrap_qty or value > self.thresholds.scrap_value
            request_id = f"SC-{uuid4().hex[:10].upper()}"
            picks = item.scrap(audit, amount, reason, request_id=request_id, lot_id=lot_id,
                               needs_approval=waits)
            return {"request_id": request_id, "value": str(value),
                    "status": "awaiting_approval" if waits else "scrapped",
                    "picks": [_pick_out(p) for p in picks]}

        return self._on_stock(request, store_id, part_number, act)

    def decide_scrap(self, request: Request, store_id: str, part_number: str, request_id: str, *,
                     approve: bool, reason: str | None = None) -> CommandResult:
        def act(session: Session, item: StockItem) -> dict[str, Any]:
            picks = item.decide_scrap(session.audit(store_id), request_id, approve, reason)
            return {"request_id": request_id, "status": "scrapped" if approve else "rejected",
                    "picks": [_pick_out(p) for p in picks]}

        return self._on_stock(request, store_id, part_number, act)

    def count(self, request: Request, store_id: str, part_number: str, *,
              counted: dict[str, object], reason: str | None,
              count_ref: str | None = None, as_of_version: int | None = None) -> CommandResult:
        """Counted vs the book of the count sheet: the item at `as_of_version`, or, when the
        clerk names none, at the version this request first found (a conflict retried on
        fresh state still compares the count with that book: domain/stock_sheet.py)."""
        sheet: list[int] = [] if as_of_version is None else [as_of_version]
        count_id = (count_ref or "").strip() or f"ST-{uuid4().hex[:10].upper()}"

        def act(session: Session, item: StockItem) -> dict[str, Any]:
            if not sheet:
                sheet.append(item.version)
            moved = moved_since(self.app, item, sheet[0])
            # a lot used up before the ones the item keeps: counted from its receipt's record
            older = lot_records(self.app, item, [k for k in counted
                                                 if item.forgotten(k, f"counted.{k}")])
            result = item.count(session.audit(store_id), count_id, counted, reason,
                                self.thresholds.stocktake_value, older, moved_since=moved,
                                as_of_version=sheet[0])
            return {"count_id": count_id, "as_of_version": sheet[0],
                    "value": str(result["value"]),
                    "status": "awaiting_approval" if result["needs_approval"] else "posted",
                    "lines": [{k: str(v) for k, v in line.items() if k != "record"}
                              for line in result["lines"]]}

        return self._on_stock(request, store_id, part_number, act)

    def decide_count(self, request: Request, store_id: str, part_number: str, count_id: str, *,
                     approve: bool, reason: str | None = None) -> CommandResult:
        def act(session: Session, item: StockItem) -> dict[str, Any]:
            item.decide_count(session.audit(store_id), count_id, approve, reason)
            return {"count_id": count_id, "status": "posted" if approve else "rejected"}

        return self._on_stock(request, store_id, part_number, act)

    def return_to_supplier(self, request: Request, store_id: str, part_number: str, *,
                           lot_id: str, qty: object, reference: str,
                           reason: str | None) -> CommandResult:
        def act(session: Session, item: StockItem) -> dict[str, Any]:
            cost = item.return_to_supplier(session.audit(store_id), lot_id, qty, reference, reason)
            return {"lot_id": lot_id, "cost": str(cost)}

        return self._on_stock(request, store_id, part_number, act)

    # -- transfers ---------------------------------------------------------------------------

    def transfer(self, request: Request, *, from_store: str, to_store: str, part_number: str,
                 qty: object, reason: str | None) -> CommandResult:
        require(bool(to_store.strip()), InvalidInput("name the receiving store", field="to_store"))
        to_store = to_store.strip()
        require_exact_store(to_store, (*self.stores, from_store, *(
            s for s in request.caller.stores if s != "*")), field="to_store")
        self._require_known(from_store)
        require_group_store(self.stores, to_store, field="to_store")
        transfer_id = uuid4()
        year = self._year(request)

        def decide(session: Session) -> Decision:
            item = existing_stock(session, from_store, part_number)
            transfer = dispatch_transfer(session, item, to_store, qty, reason, year,
                                         transfer_id)
            return Decision(transfer, {"number": transfer.number, "status": transfer.status,
                                       "cost": str(transfer.cost)})

        counter = DocumentCounter.create_id("transfer", from_store, year)
        coming = coming_stream(to_store, normalise_part_number(part_number))
        return self.app.execute(request, decide,
                                (stock_stream(from_store, part_number), counter, coming))

    def receive_transfer(self, request: Request, transfer_id: UUID, *,
                         received_qty: object = None, reason: str | None = None) -> CommandResult:
        """The receiving store books the transfer in. Fewer units than were sent
        (`received_qty`, with a reason) are booked in and counted short at once, in the same
        save: a stocktake variance of the receiving store under the transfer's number, posted
        or waiting for a manager as any count of that value would."""
        def decide(session: Session) -> Decision:
            transfer = session.find(Transfer, transfer_id)
            if transfer is None or not (session.caller.may_use(transfer.to_store)
                                        or session.caller.may_use(transfer.from_store)):
                raise NotFound(f"transfer {transfer_id} not found")
            require(session.caller.may_use(transfer.to_store),
                    NotPermitted(f"only store {transfer.to_store} receives this transfer"))
            item = stock_item(session, transfer.to_store, transfer.part_number, create=True)
            assert item is not None
            audit = session.audit(transfer.to_store)
            transfer.check_receivable(audit)
            arrived = transfer.qty if received_qty is None else quantity(
                received_qty, "received quantity", places=3, allow_zero=True,
                field="received_qty")
            item._whole(arrived, "received_qty")
            require(arrived <= transfer.qty, InvalidInput(
                f"transfer {transfer.number} carries {transfer.qty}; {arrived} cannot have "
                "arrived", field="received_qty", sent=str(transfer.qty)))
            lot_ids = item.transfer_in(audit, str(transfer.id), transfer.from_store,
                                       transfer.picks)
            transfer.receive(audit, lot_ids)
            note_arrived(session, transfer)
            answer: dict[str, Any] = {"number": transfer.number, "status": transfer.status,
                                      "lot_ids": lot_ids}
            if arrived < transfer.qty:
                answer["short"] = self._short_on_arrival(
                    item, audit, transfer, lot_ids, transfer.qty - arrived, reason)
            return Decision(transfer, answer)

        return self.app.execute(request, decide, (transfer_id,))

    def _short_on_arrival(self, item: StockItem, audit: Any, transfer: Transfer,
                          lot_ids: list[str], short: Decimal, reason: str | None
                          ) -> dict[str, Any]:
        """Count the lots just booked in less the units that did not arrive (the last lots
        first), under the transfer's number."""
        why = require_reason(reason, "a transfer received short")
        counted: dict[str, object] = {}
        missing = short
        for lot_id, pick in reversed(list(zip(lot_ids, transfer.picks, strict=True))):
            if not missing:
                break
            sent = Decimal(str(pick["qty"]))
            counted[lot_id] = sent - min(missing, sent)
            missing -= min(missing, sent)
        result = item.count(audit, transfer.number, counted,
                            f"short on arrival of transfer {transfer.number}: {why}",
                            self.thresholds.stocktake_value)
        transfer.record_short(audit, short, transfer.number, why)
        return {"qty": str(short), "count_id": transfer.number, "value": str(result["value"]),
                "status": "awaiting_approval" if result["needs_approval"] else "posted"}


def _pick_out(pick: dict[str, Any]) -> dict[str, str]:
    return {k: str(v) for k, v in pick.items() if v is not None}
