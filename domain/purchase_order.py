"""A purchase order to one supplier for one store: draft, sent, received (partly), closed.

Drafting puts each line on order on its stock item (in the same save), so reorder suggestions
count what is already coming — a draft too, so that two clerks do not order twice; receiving a line makes a lot on the stock item and moves the
line's received quantity in one save; closing takes what never came off order. A line flagged
`emergency` was bought outside the normal replenishment to fill a demand the stock could not
(parts fill rate, README KPIs): set when it is drafted or added, never changed. The day the
supplier is expected to deliver (`expected_on`) is given when ordering or later, and moved with
a reason; an open order past it is overdue (projections/stock_queries.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.common import Audit, IllegalTransition, InvalidInput, require, require_reason
from domain.money import money, quantity
from domain.units import require_whole

PO_STATUSES = ("draft", "sent", "partly_received", "received", "closed", "cancelled")
# An order takes deliveries once sent and until closed: a received one only the supplier's
# over-delivery (with its reason), as a partly received one does on a line received in full.
RECEIVING = ("sent", "partly_received", "received")
# An order takes an expected delivery day while the supplier still owes it something.
EXPECTING = ("draft", "sent", "partly_received")
# Lines added one by one to a draft stop here (a draft is made with at most MAX_DRAFT_LINES of
# them): each command loads, copies and saves the whole order.
MAX_LINES = 1000
# A draft, by hand or from the reorder suggestions, is one command that loads and changes the
# stock item of each of its lines: 1,500 suggestions were one 3 s command of 1,503 events.
MAX_DRAFT_LINES = 500


class PurchaseOrderError(IllegalTransition):
    pass


def require_draft_size(lines: int, what: str = "lines") -> None:
    """422 naming `limit` and `count` before a draft of more lines than one command should take
    loads any stock item."""
    require(lines <= MAX_DRAFT_LINES, InvalidInput(
        f"a purchase order is drafted with at most {MAX_DRAFT_LINES} lines ({lines} {what})",
        limit=MAX_DRAFT_LINES, count=lines))


def order_line(line_no: int, data: dict[str, Any], within: str | None = None,
               units: Iterable[str] = ()) -> dict[str, Any]:
    """A line of an order; a refusal names its body field, inside `within` (`lines[0]`) when
    the line came in a list. Its part's `units` (domain/part_units.py) counted in whole
    pieces take a whole number of them."""
    where = f"{within}." if within else ""
    qty = quantity(data.get("qty"), "ordered quantity", places=3, field=f"{where}qty")
    for unit in units:
        require_whole(qty, unit, f"{where}qty")
    return {
        "line_no": line_no,
        "part_number": str(data["part_number"]),
        "qty": qty,
        "unit_cost": money(data.get("unit_cost"), "unit cost", field=f"{where}unit_cost"),
        "emergency": data.get("emergency") is True,
        "received_qty": Decimal(0),
        "receipts": [],
    }


def expected_day(expected_on: date, today: date) -> str:
    """The expected delivery day as the event keeps it; 422 naming `expected_on` for a day
    before `today` (the store's, when the command is given): one already past."""
    require(expected_on >= today, InvalidInput(
        f"an expected delivery on {expected_on} is already past (today is {today})",
        field="expected_on", today=today.isoformat()))
    return expected_on.isoformat()


class PurchaseOrder(Aggregate):
    class Event(Aggregate.Event):
        audit: Audit

    class Drafted(Event, Aggregate.Created):
        """v2: each line says whether it is an emergency purchase (before v2: none was); v3
        the expected delivery day, YYYY-MM-DD (before v3: none given)."""

        class_version = 3
        number: str
        supplier: str
        lines: list[dict[str, Any]]
        source: str
        expected_on: str | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            for line in state["lines"]:
                line.setdefault("emergency", False)

        @staticmethod
        def upcast_v2_v3(state: dict[str, Any]) -> None:
            state["expected_on"] = None

    class LineAdded(Event):
        """v2: the line says whether it is an emergency purchase (before v2: it was not)."""

        class_version = 2
        line: dict[str, Any]

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["line"].setdefault("emergency", False)

    class Sent(Event):
        pass

    class ExpectedDateChanged(Event):
        """The supplier's delivery is expected on `expected_on` (YYYY-MM-DD) instead of
        `previous` (None: no day was given); `reason` is required when one was."""

        expected_on: str
        previous: str | None
        reason: str | None

    class LineReceived(Event):
        """v2 adds the unit cost the delivery was booked in at (v1: not recorded); v3 the
        reason a delivery above what was outstanding was accepted (before v3: never)."""

        class_version = 3
        line_no: int
        qty: Decimal
        lot_id: str
        supplier_doc: str
        unit_cost: Decimal | None
        over_delivery_reason: str | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["unit_cost"] = None

        @staticmethod
        def upcast_v2_v3(state: dict[str, Any]) -> None:
            state["over_delivery_reason"] = None

    class Closed(Event):
        reason: str | None
        short: list[dict[str, Any]]

    class Cancelled(Event):
        reason: str

    @event(Drafted)
    def __init__(self, audit: Audit, number: str, supplier: str, lines: list[dict[str, Any]],
                 source: str, expected_on: str | None = None, id: UUID | None = None) -> None:
        self.number = number
        self.expected_on = expected_on
        self.store_id = audit.store_id
        self.supplier = supplier
        self.source = source
        self.lines: dict[int, dict[str, Any]] = {ln["line_no"]: dict(ln) for ln in lines}
        self.status = "draft"

    @staticmethod
    def line_ref(number: str, line_no: int) -> str:
        return f"{number}/{line_no}"

    def line(self, line_no: int, field: str = "line_no") -> dict[str, Any]:
        """The order's line; InvalidInput naming `field` (the body input that named it) for a
        line the order does not have."""
        if line_no not in self.lines:
            raise InvalidInput(f"purchase order {self.number} has no line {line_no}",
                               line_no=line_no, field=field)
        return self.lines[line_no]

    def add_line(self, audit: Audit, data: dict[str, Any], units: Iterable[str] = ()) -> int:
        require(self.status == "draft",
                PurchaseOrderError(f"lines are added to drafts only; {self.number} is {self.status}"))
        require(len(self.lines) < MAX_LINES,
                InvalidInput(f"a purchase order holds at most {MAX_LINES} lines"))
        line = order_line(len(self.lines) + 1, data, units=units)
        require(all(ln["part_number"] != line["part_number"] for ln in self.lines.values()),
                InvalidInput(f"{line['part_number']} is already on this order",
                             field="part_number"))
        self._line_added(audit, line)
        return int(line["line_no"])

    @event(LineAdded)
    def _line_added(self, audit: Audit, line: dict[str, Any]) -> None:
        self.lines[line["line_no"]] = dict(line)

    def send(self, audit: Audit) -> None:
        require(self.status == "draft", PurchaseOrderError(f"{self.number} is {self.status}"))
        require(bool(self.lines), PurchaseOrderError("an order needs at least one line"))
        self._sent(audit)

    @event(Sent)
    def _sent(self, audit: Audit) -> None:
        self.status = "sent"

    def expect(self, audit: Audit, expected_on: date, reason: str | None, today: date) -> None:
        """The supplier now delivers on `expected_on` (not before `today`, the store's): while
        it still owes the order something (409 once received in full, closed or cancelled);
        moving a day given before needs a reason (422 naming `reason`), the same day again is
        409."""
        require(self.status in EXPECTING, PurchaseOrderError(
            f"{self.number} is {self.status}; no delivery is expected", order_status=self.status))
        day = expected_day(expected_on, today)
        require(day != self.expected_on, PurchaseOrderError(
            f"{self.number} is already expected on {day}", expected_on=day))
        why = None
        if self.expected_on is not None:
            why = require_reason(reason, "moving the expected delivery day")
        elif reason is not None and reason.strip():
            why = reason.strip()
        self._expected_date_changed(audit, day, self.expected_on, why)

    @event(ExpectedDateChanged)
    def _expected_date_changed(self, audit: Audit, expected_on: str, previous: str | None,
                               reason: str | None) -> None:
        self.expected_on = expected_on

    def outstanding(self, line_no: int) -> Decimal:
        line = self.line(line_no)
        return line["qty"] - line["received_qty"]  # type: ignore[no-any-return]

    def receive(self, audit: Audit, line_no: int, qty: Decimal, lot_id: str,
                supplier_doc: str, unit_cost: Decimal,
                over_delivery_reason: str | None = None) -> None:
        """Part or all of a line arrived, at `unit_cost` (the invoice's, which may differ from
        the ordered one: the order shows the variance). More than is outstanding (the
        supplier's over-delivery) is booked only with `over_delivery_reason`: also on a line,
        or an order, already received in full, until the order is closed."""
        require(self.status in RECEIVING, PurchaseOrderError(
            f"{self.number} is {self.status}; nothing to receive", order_status=self.status))
        left = self.outstanding(line_no)
        reason = None
        if qty > left:
            if over_delivery_reason is None or not over_delivery_reason.strip():
                raise PurchaseOrderError(
                    f"line {line_no} of {self.number} has only {left} outstanding; booking "
                    f"{qty} needs an over_delivery_reason", outstanding=str(left))
            reason = over_delivery_reason.strip()
        self._line_received(audit, line_no, qty, lot_id, supplier_doc,
                            money(unit_cost, "unit cost", field="unit_cost"), reason)

    @event(LineReceived)
    def _line_received(self, audit: Audit, line_no: int, qty: Decimal, lot_id: str,
                       supplier_doc: str, unit_cost: Decimal | None,
                       over_delivery_reason: str | None = None) -> None:
        line = self.lines[line_no]
        line["received_qty"] += qty
        line["receipts"].append({"lot_id": lot_id, "qty": qty, "supplier_doc": supplier_doc,
                                 "unit_cost": unit_cost, "at": audit.at.isoformat()})
        complete = all(ln["received_qty"] >= ln["qty"] for ln in self.lines.values())
        self.status = "received" if complete else "partly_received"

    def close(self, audit: Audit, reason: str | None) -> list[dict[str, Any]]:
        require(self.status in ("sent", "partly_received", "received"),
                PurchaseOrderError(f"{self.number} is {self.status}"))
        short = [{"line_no": no, "part_number": ln["part_number"], "qty": ln["qty"] - ln["received_qty"]}
                 for no, ln in self.lines.items() if ln["received_qty"] < ln["qty"]]
        if short:
            reason = require_reason(reason, "closing an order with lines still outstanding")
        self._closed(audit, reason, short)
        return short

    @event(Closed)
    def _closed(self, audit: Audit, reason: str | None, short: list[dict[str, Any]]) -> None:
        self.status = "closed"

    def cancel(self, audit: Audit, reason: str | None) -> None:
        require(self.status == "draft",
                PurchaseOrderError(f"only drafts are cancelled; close {self.number} instead"))
        self._cancelled(audit, require_reason(reason, "cancelling an order"))

    @event(Cancelled)
    def _cancelled(self, audit: Audit, reason: str) -> None:
        self.status = "cancelled"
