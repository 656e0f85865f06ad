"""Failed-part custody: tag a part removed under warranty, then move, request, ship, receive,
scrap or lose it. A tag names a warranty part line of a work order that issued the new part
(the old one came off then); its number is unique in the store.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

from domain.application import CommandResult, Decision, Request, ServiceCore, Session
from domain.common import IllegalTransition, InvalidInput, NotFound, a_text, require
from domain.failed_part import MAX_LOCATION, CustodyRefused, FailedPart, tag_of
from domain.work_order import WorkOrder


class PartNotReplaced(IllegalTransition):
    """The warranty part line has issued no new part yet: nothing came off (HTTP 409)."""


def _view(part: FailedPart) -> dict[str, Any]:
    return {"tag_number": part.tag_number, "store_id": part.store_id,
            "work_order_id": str(part.work_order_id), "line_id": part.line_id,
            "part_number": part.part_number, "causal": part.causal,
            "custody_status": part.status, "location": part.location}


def _warranty_part_line(wo: WorkOrder, line_id: str) -> dict[str, Any]:
    """The line, if it is an approved warranty part line that issued its part."""
    line = wo.lines.get(line_id)
    if line is None:
        raise NotFound(f"work order {wo.number} has no line {line_id}", line_id=line_id)
    require(line["kind"] == "part" and line["pay_type"] == "warranty", InvalidInput(
        f"line {line_id} of {wo.number} is not a warranty part line: only a part replaced "
        "under warranty is tagged", field="line_id", line_id=line_id))
    issued = Decimal(str(line.get("issued_qty") or 0))
    require(line["status"] == "approved" and issued > 0, PartNotReplaced(
        f"line {line_id} of {wo.number} has issued no part yet ({line['status']}): the failed "
        "part comes off when the new one is issued", line_id=line_id,
        line_status=line["status"]))
    return line


class FailedParts:
    def __init__(self, app: ServiceCore) -> None:
        self.app = app

    def tag(self, request: Request, work_order_id: UUID, *, line_id: str,
            tag_number: str | None, location: str | None,
            causal: bool | None = None) -> CommandResult:
        """Tag the part a warranty part line replaced; `causal` defaults to whether a warranty
        line of its job names its part as the causal one."""
        tag = tag_of(tag_number)  # 422 before anything is read
        where = a_text(location, "location", "the storage location", 1, MAX_LOCATION)

        def decide(session: Session) -> Decision:
            wo = session.get(WorkOrder, work_order_id, "work order")
            line = _warranty_part_line(wo, line_id)
            part_id = FailedPart.create_id(wo.store_id, tag)
            found = session.find(FailedPart, part_id)
            if found is not None:
                raise CustodyRefused(
                    f"tag {tag} is already on {found.part_number} of {found.work_order_number} "
                    f"in store {wo.store_id}", tag_number=tag, custody_status=found.status)
            named = {str((ln.get("warranty") or {}).get("causal_part") or "").strip().upper()
                     for ln in wo.lines.values() if ln["job_no"] == line["job_no"]}
            part = FailedPart(
                audit=session.audit(wo.store_id), store_id=wo.store_id, tag_number=tag,
                work_order_id=wo.id, work_order_number=wo.number, line_id=line_id,
                part_number=line["part_number"],
                causal=line["part_number"] in named if causal is None else causal,
                location=where, id=part_id)
            session.add(part)
            return Decision(part, _view(part))

        return self.app.execute(request, decide, (work_order_id,))

    def _step(self, request: Request, failed_part_id: UUID,
              change: Callable[[Session, FailedPart], None]) -> CommandResult:
        def decide(session: Session) -> Decision:
            part = session.target(FailedPart, failed_part_id, "failed part")
            change(session, part)
            return Decision(part, _view(part))

        return self.app.execute(request, decide, (failed_part_id,))

    def move(self, request: Request, failed_part_id: UUID, *, location: str | None,
             note: str | None = None) -> CommandResult:
        return self._step(request, failed_part_id, lambda s, p: p.move(
            s.audit(p.store_id), location, note))

    def request_return(self, request: Request, failed_part_id: UUID, *,
                       request_ref: str | None) -> CommandResult:
        return self._step(request, failed_part_id, lambda s, p: p.request_return(
            s.audit(p.store_id), request_ref))

    def ship(self, request: Request, failed_part_id: UUID, *, shipment_ref: str | None,
             shipped_on: date) -> CommandResult:
        return self._step(request, failed_part_id, lambda s, p: p.ship(
            s.audit(p.store_id), shipment_ref, shipped_on))

    def receive(self, request: Request, failed_part_id: UUID, *,
                receipt_ref: str | None = None) -> CommandResult:
        return self._step(request, failed_part_id, lambda s, p: p.receive(
            s.audit(p.store_id), receipt_ref))

    def scrap(self, request: Request, failed_part_id: UUID, *, instruction_ref: str | None,
              reason: str | None = None) -> CommandResult:
        return self._step(request, failed_part_id, lambda s, p: p.scrap(
            s.audit(p.store_id), instruction_ref, reason))

    def lose(self, request: Request, failed_part_id: UUID, *,
             reason: str | None) -> CommandResult:
        return self._step(request, failed_part_id, lambda s, p: p.lose(
            s.audit(p.store_id), reason))
