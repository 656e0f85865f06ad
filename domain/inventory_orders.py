"""Purchase orders of the parts desk: drafted by hand or from the reorder suggestions, lines
added, sent, given an expected delivery day (moved with a reason), closed short or cancelled.
Each line's quantity is on order on the store's stock item of its part, changed in the same
save as the order."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

from domain.application import CommandResult, Decision, Request, Session
from domain.common import IllegalTransition, InvalidInput, require
from domain.counter import DocumentCounter
from domain.inventory_desk import InventoryDesk, existing_stock, find_part, stock_item, stock_stream
from domain.part import normalise_part_number
from domain.part_units import part_units
from domain.purchase_order import PurchaseOrder, expected_day, order_line, require_draft_size
from domain.units import pieces_up


class InventoryOrders(InventoryDesk):
    def draft_order(self, request: Request, *, store_id: str, supplier: str,
                    lines: list[dict[str, Any]], source: str = "manual",
                    expected_on: date | None = None) -> CommandResult:
        supplier = supplier.strip()
        require(bool(supplier), InvalidInput("supplier is required", field="supplier"))
        require(bool(lines), InvalidInput("an order needs at least one line", field="lines"))
        require_draft_size(len(lines))
        self._require_known(store_id)
        year = self._year(request)
        order_id = uuid4()

        def decide(session: Session) -> Decision:
            audit = session.audit(store_id)
            priced: list[dict[str, Any]] = []
            for n, data in enumerate(lines, start=1):
                number = find_part(session, str(data.get("part_number", ""))).part_number
                require(all(line["part_number"] != number for line in priced),
                        InvalidInput(f"{number} appears twice on the order",
                                     field=f"lines[{n - 1}].part_number"))
                priced.append(order_line(n, {**data, "part_number": number}, f"lines[{n - 1}]",
                                         part_units(session, store_id, number)))
            day = None if expected_on is None else expected_day(expected_on, self._today(request))
            po_number = session.next_number("purchase-order", "PO", store_id, year)
            order = PurchaseOrder(id=order_id, audit=audit, number=po_number, supplier=supplier,
                                  lines=priced, source=source, expected_on=day)
            session.add(order)
            for line in priced:
                item = stock_item(session, store_id, line["part_number"], create=True)
                assert item is not None
                item.order(audit, PurchaseOrder.line_ref(po_number, line["line_no"]), line["qty"])
            return Decision(order, {"number": po_number, "status": order.status,
                                    "lines": len(priced)})

        counter = DocumentCounter.create_id("purchase-order", store_id, year)
        streams = [stock_stream(store_id, str(ln.get("part_number", ""))) for ln in lines
                   if ln.get("part_number")]
        return self.app.execute(request, decide, (counter, *streams))

    def draft_from_suggestions(self, request: Request, *, store_id: str, supplier: str,
                               part_numbers: list[str],
                               caps: Mapping[str, Decimal] | None = None,
                               expected_on: date | None = None) -> CommandResult:
        """Draft an order for the proposed parts that the stock items still say to reorder;
        with `caps` (part → quantity), no more of each than it says (none of a part it
        leaves out): what the list proposes once transfers are counted. A part counted in
        whole pieces is ordered in whole pieces, a fraction of one rounded up."""
        require_draft_size(len(part_numbers), "parts proposed")
        self._require_known(store_id)
        year = self._year(request)
        order_id = uuid4()

        def decide(session: Session) -> Decision:
            audit = session.audit(store_id)
            lines: list[dict[str, Any]] = []
            skipped = []
            for proposed in dict.fromkeys(normalise_part_number(p) for p in part_numbers):
                part = find_part(session, proposed)
                item = stock_item(session, store_id, proposed)
                qty = item.suggested_order() if item is not None else Decimal(0)
                if caps is not None:
                    qty = min(qty, caps.get(proposed, Decimal(0)))
                if item is not None:
                    qty = pieces_up(qty, item.unit)
                if item is None or qty <= 0 or \
                        (part.details["preferred_supplier"] or "").strip() != supplier.strip():
                    skipped.append(proposed)
                    continue
                cost = item.last_unit_cost if item.last_unit_cost is not None else \
                    part.list_price
                lines.append(order_line(len(lines) + 1, {"part_number": proposed, "qty": qty,
                                                         "unit_cost": cost}))
            require(bool(lines), IllegalTransition(
                "none of the proposed parts needs reordering from this supplier any more",
                skipped=skipped))
            day = None if expected_on is None else expected_day(expected_on, self._today(request))
            po_number = session.next_number("purchase-order", "PO", store_id, year)
            order = PurchaseOrder(id=order_id, audit=audit, number=po_number, supplier=supplier,
                                  lines=lines, source="reorder-suggestions", expected_on=day)
            session.add(order)
            for line in lines:
                item = existing_stock(session, store_id, line["part_number"])
                item.order(audit, PurchaseOrder.line_ref(po_number, line["line_no"]), line["qty"])
            return Decision(order, {"number": po_number, "status": order.status,
                                    "lines": len(lines), "skipped": skipped})

        counter = DocumentCounter.create_id("purchase-order", store_id, year)
        streams = [stock_stream(store_id, p) for p in part_numbers]
        return self.app.execute(request, decide, (counter, *streams))

    def _on_order(self, request: Request, order_id: UUID,
                  act: Callable[[Session, PurchaseOrder], dict[str, Any] | None]) -> CommandResult:
        def decide(session: Session) -> Decision:
            order = session.target(PurchaseOrder, order_id, "purchase order")
            answer = act(session, order) or {}
            return Decision(order, {"number": order.number, "status": order.status, **answer})

        return self.app.execute(request, decide, (order_id,))

    def add_order_line(self, request: Request, order_id: UUID,
                       data: dict[str, Any]) -> CommandResult:
        def act(session: Session, order: PurchaseOrder) -> dict[str, Any]:
            number = find_part(session, str(data.get("part_number", ""))).part_number
            audit = session.audit(order.store_id)
            line_no = order.add_line(audit, {**data, "part_number": number},
                                     part_units(session, order.store_id, number))
            item = stock_item(session, order.store_id, number, create=True)
            assert item is not None
            item.order(audit, PurchaseOrder.line_ref(order.number, line_no),
                       order.line(line_no)["qty"])
            return {"line_no": line_no}

        return self._on_order(request, order_id, act)

    def send_order(self, request: Request, order_id: UUID) -> CommandResult:
        return self._on_order(request, order_id, lambda s, order: order.send(
            s.audit(order.store_id)))

    def expect_delivery(self, request: Request, order_id: UUID, *, expected_on: date,
                        reason: str | None = None) -> CommandResult:
        """The day the supplier is now expected to deliver the order (a reason when it moves
        a day given before)."""
        def act(session: Session, order: PurchaseOrder) -> dict[str, Any]:
            previous = order.expected_on
            order.expect(session.audit(order.store_id), expected_on, reason,
                         self._today(request))
            return {"expected_on": order.expected_on, "previous_expected_on": previous}

        return self._on_order(request, order_id, act)

    def _today(self, request: Request) -> date:
        """The store's day when the command is given."""
        return request.caller.at.astimezone(self.zone).date()

    def close_order(self, request: Request, order_id: UUID, *,
                    reason: str | None = None) -> CommandResult:
        def act(session: Session, order: PurchaseOrder) -> dict[str, Any]:
            audit = session.audit(order.store_id)
            short = order.close(audit, reason)
            self._take_off_order(session, order, [line["line_no"] for line in short])
            return {"short": [{k: str(v) for k, v in line.items()} for line in short]}

        return self._on_order(request, order_id, act)

    def cancel_order(self, request: Request, order_id: UUID, *, reason: str | None) -> CommandResult:
        def act(session: Session, order: PurchaseOrder) -> None:
            order.cancel(session.audit(order.store_id), reason)
            self._take_off_order(session, order, list(order.lines))

        return self._on_order(request, order_id, act)

    @staticmethod
    def _take_off_order(session: Session, order: PurchaseOrder, line_nos: list[int]) -> None:
        audit = session.audit(order.store_id)
        for line_no in line_nos:
            item = existing_stock(session, order.store_id, order.lines[line_no]["part_number"])
            item.close_order(audit, PurchaseOrder.line_ref(order.number, line_no))
