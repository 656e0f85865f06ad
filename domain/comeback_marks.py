"""The advisor's comeback mark on a work order (domain/work_order_comeback.py): naming the
earlier visit it repeats, or withdrawing a wrong mark; each with a reason."""

from __future__ import annotations

from uuid import UUID

from domain.application import CommandResult, Decision, Request, ServiceCore, Session
from domain.common import NotFound
from domain.work_order import WorkOrder
from domain.work_order_comeback import FIELD


def _answer(wo: WorkOrder) -> dict[str, object]:
    held = wo.comeback_of
    return {"number": wo.number, "status": wo.status,
            "comeback_of": held and {k: str(v) for k, v in held.items()}}


def earlier_visit(session: Session, earlier_work_order_id: UUID,
                  field: str = FIELD) -> WorkOrder:
    """The earlier work order a comeback mark names: unknown, or of a store the caller may
    not use, is 404 naming `field`."""
    earlier = session.find(WorkOrder, earlier_work_order_id)
    if earlier is None or not session.caller.may_use(earlier.store_id):
        raise NotFound(f"work order {earlier_work_order_id} not found", field=field)
    return earlier


class ComebackMarks:
    def __init__(self, app: ServiceCore) -> None:
        self.app = app

    def mark(self, request: Request, work_order_id: UUID, *, earlier_work_order_id: UUID,
             reason: str | None) -> CommandResult:
        def decide(session: Session) -> Decision:
            wo = session.target(WorkOrder, work_order_id, "work order")
            wo.mark_comeback(session.audit(wo.store_id),
                             earlier_visit(session, earlier_work_order_id), reason)
            return Decision(wo, _answer(wo))

        return self.app.execute(request, decide, (work_order_id,))

    def withdraw(self, request: Request, work_order_id: UUID, *,
                 reason: str | None) -> CommandResult:
        def decide(session: Session) -> Decision:
            wo = session.target(WorkOrder, work_order_id, "work order")
            wo.withdraw_comeback_mark(session.audit(wo.store_id), reason)
            return Decision(wo, _answer(wo))

        return self.app.execute(request, decide, (work_order_id,))
