"""Stock commands of a work order: reserve, issue, return, withdraw, move to a follow-on.

`WorkOrderStock` is a base of `WorkOrders` (domain/work_orders.py): each command changes the
work order and the stock item of its part in one save; `_reserve` and `_release` are also what
the customer's decisions and a cancellation use.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError

from domain.application import CommandResult, Request, Session
from domain.common import require, require_reason
from domain.inventory_desk import stock_item, stock_stream
from domain.money import quantity, shown_quantity
from domain.stock_state import InsufficientStock, picks_cost
from domain.work_order import WorkOrder
from domain.work_order_commands import WorkOrderCommands
from domain.work_order_state import WorkOrderError

# What an issue answers of each pick (the pick also carries its lot's record, for returns).
PICK_FIELDS = ("lot_id", "qty", "unit_cost", "supplier")


class WorkOrderStock(WorkOrderCommands):
    def _stock_streams(self, work_order_id: UUID, line_ids: list[str] | None) -> tuple[UUID, ...]:
        """The stock items a command on these lines will touch (for this process's turn-taking).

        The cached work order is enough for a hint: a line another process added since is
        found by the command itself, whose save the event store still checks."""
        wo: Any = self.app.cached(work_order_id)
        if wo is None:
            try:
                wo = self.app.repository.get(work_order_id, deepcopy_from_cache=False)
            except AggregateNotFoundError:
                return ()
        if not isinstance(wo, WorkOrder):
            return ()
        lines = [wo.lines[i] for i in line_ids if i in wo.lines] if line_ids is not None \
            else list(wo.lines.values())
        return tuple(stock_stream(wo.store_id, line["part_number"]) for line in lines
                     if line["kind"] == "part")

    def _reserve(self, session: Session, wo: WorkOrder, line: dict[str, Any]) -> str:
        """Reserve the whole line, or note it as back-ordered / special order."""
        audit = session.audit(wo.store_id)
        item = stock_item(session, wo.store_id, line["part_number"])
        outstanding = line["qty"] - line["issued_qty"]
        if item is None:
            wo.note_supply(audit, line["line_id"], "special_order", Decimal(0), Decimal(0))
            return "special_order"
        available = item.available
        if available < outstanding:
            wo.note_supply(audit, line["line_id"], "back_order", Decimal(0), available)
            return "back_order"
        item.reserve(audit, WorkOrder.stock_key(wo.id, line["line_id"]), outstanding)
        wo.note_supply(audit, line["line_id"], "reserved", outstanding, item.available)
        return "reserved"

    def _release(self, session: Session, wo: WorkOrder, line: dict[str, Any], reason: str) -> None:
        item = stock_item(session, wo.store_id, line["part_number"])
        key = WorkOrder.stock_key(wo.id, line["line_id"])
        if item is not None and key in item.reserved:
            item.release(session.audit(wo.store_id), key, reason)

    def reserve_line(self, request: Request, work_order_id: UUID, line_id: str) -> CommandResult:
        """Try again to reserve a back-ordered line (e.g. after a delivery came in)."""

        def act(session: Session, wo: WorkOrder) -> dict[str, Any]:
            line = wo.check_issue(line_id, Decimal(0))
            item = stock_item(session, wo.store_id, line["part_number"])
            require(item is None or WorkOrder.stock_key(wo.id, line_id) not in item.reserved,
                    WorkOrderError(f"line {line_id} already holds a reservation"))
            if item is None:
                raise InsufficientStock(f"store {wo.store_id} holds no {line['part_number']}",
                                        available="0")
            outstanding = line["qty"] - line["issued_qty"]
            if item.available < outstanding:
                raise InsufficientStock(
                    f"only {item.available} {item.unit} of {item.part_number} available",
                    available=str(shown_quantity(item.available)))
            return {"supply": self._reserve(session, wo, line)}

        return self._on_line(request, work_order_id, line_id, act,
                             self._stock_streams(work_order_id, [line_id]))

    def issue_part(self, request: Request, work_order_id: UUID, line_id: str, *,
                   qty: object | None = None) -> CommandResult:
        """Stock leaves on hand at FIFO lot cost and the line records it: one save."""

        def act(session: Session, wo: WorkOrder) -> dict[str, Any]:
            line = wo.part_line(line_id)
            amount = line["qty"] - line["issued_qty"] if qty is None else \
                quantity(qty, "issued quantity", places=3, field="qty")
            wo.check_issue(line_id, amount)
            item = stock_item(session, wo.store_id, line["part_number"])
            if item is None:
                raise InsufficientStock(f"store {wo.store_id} holds no {line['part_number']}",
                                        available="0")
            audit = session.audit(wo.store_id)
            picks = item.issue(audit, WorkOrder.stock_key(wo.id, line_id), amount)
            wo.record_issue(audit, line_id, amount, picks, picks_cost(picks))
            return {"line_id": line_id, "issued_qty": str(amount), "cost": str(picks_cost(picks)),
                    "picks": [{k: str(p[k]) for k in PICK_FIELDS} for p in picks],
                    "available": str(shown_quantity(item.available))}

        return self._on_line(request, work_order_id, line_id, act,
                             self._stock_streams(work_order_id, [line_id]))

    def return_part(self, request: Request, work_order_id: UUID, line_id: str, *, qty: object,
                    reason: str | None) -> CommandResult:
        """Unused units go back into the lots they came from; the line records it: one save.

        The line then lacks what was returned. While its job is open the units are reserved for
        it again (as at approval: what it needs is what it holds, and the clerk can issue it
        again); a job past QC takes no more issues, so nothing is held for it and the line waits
        to be withdrawn (`WorkOrder.blockers` says so)."""
        amount = quantity(qty, "returned quantity", places=3, field="qty")
        why = require_reason(reason, "a return")

        def act(session: Session, wo: WorkOrder) -> dict[str, Any]:
            line = wo.check_return(line_id, amount)
            item = stock_item(session, wo.store_id, line["part_number"])
            assert item is not None, "issued parts have a stock item"
            audit = session.audit(wo.store_id)
            key = WorkOrder.stock_key(wo.id, line_id)
            picks = item.return_from_job(audit, key, amount, why, held=line.get("picks", []))
            wo.record_return(audit, line_id, amount, picks, picks_cost(picks), why)
            answer = {"line_id": line_id, "returned_qty": str(amount), "status": wo.status}
            if wo.can_take_issues(line):
                if key in item.reserved:  # held again as one reservation of what is lacking
                    item.release(audit, key, f"parts returned from line {line_id}: {why}")
                answer["supply"] = self._reserve(session, wo, line)
            return answer

        return self._on_line(request, work_order_id, line_id, act,
                             self._stock_streams(work_order_id, [line_id]))

    def withdraw_line(self, request: Request, work_order_id: UUID, line_id: str, *,
                      reason: str | None) -> CommandResult:
        """The customer declines an approved part (or its missing rest); its reservation ends."""

        def act(session: Session, wo: WorkOrder) -> dict[str, Any]:
            line = wo.part_line(line_id)
            withdrawn = wo.withdraw_line(session.audit(wo.store_id), line_id, reason)
            self._release(session, wo, line, f"line {line_id} withdrawn: {reason}")
            return {"line_id": line_id, "withdrawn_qty": str(withdrawn), "status": wo.status}

        return self._on_line(request, work_order_id, line_id, act,
                             self._stock_streams(work_order_id, [line_id]))

    def move_to_follow_on(self, request: Request, work_order_id: UUID, *, line_ids: list[str],
                          reason: str | None) -> CommandResult:
        """Back-ordered lines leave this visit for a new, linked work order (same car)."""
        why = require_reason(reason, "moving lines to a follow-on work order")
        follow_on_id = uuid4()
        year = request.caller.at.astimezone(self.zone).year

        def act(session: Session, wo: WorkOrder) -> dict[str, Any]:
            audit = session.audit(wo.store_id)
            lines = wo.lines_to_move(line_ids)
            complaints = list(dict.fromkeys(wo.jobs[line["job_no"]]["complaint"]
                                            for line in lines))
            number = session.next_number("work-order", "WO", wo.store_id, year)
            follow_on = WorkOrder(
                id=follow_on_id, audit=audit, number=number, customer_id=wo.customer_id,
                customer=wo.customer, vehicle=wo.vehicle, mileage=wo.mileage, kind=wo.kind,
                appointment_id=None, complaints=complaints)
            follow_on.carry_over(audit, wo.id, wo.number, [
                {**line, "complaint": wo.jobs[line["job_no"]]["complaint"]} for line in lines], why)
            session.add(follow_on)
            for line in lines:
                if line["kind"] == "part":
                    self._release(session, wo, line, f"moved to {number}: {why}")
            wo.move_lines(audit, [line["line_id"] for line in lines], follow_on_id, number, why)
            return {"follow_on": {"id": str(follow_on_id), "number": number},
                    "status": wo.status}

        wo_streams = self._stock_streams(work_order_id, line_ids)
        return self._on(request, work_order_id, act, (*wo_streams, follow_on_id))
