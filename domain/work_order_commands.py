"""How a work-order command runs: load the work order, let the command change it, save.

`WorkOrderCommands` is the base of the work-order application services (`WorkOrders` in
domain/work_orders.py, `WarrantyEvidence` in domain/warranty_evidence.py): one way to load
the work order (its `If-Match` checked), to name a line of it from the URL, and to save.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from domain.application import CommandResult, Decision, Request, ServiceCore, Session
from domain.common import NotFound
from domain.warranty_coverage import WarrantyTerms
from domain.work_order import WorkOrder

Act = Callable[[Session, WorkOrder], "dict[str, Any] | None"]


class WorkOrderCommands:
    def __init__(self, app: ServiceCore, timezone: str = "Asia/Shanghai",
                 stores: Iterable[str] = (), warranty: WarrantyTerms | None = None) -> None:
        self.app = app
        self.zone = ZoneInfo(timezone)
        self.stores = frozenset(stores)  # the group's stores (`require_group_store`)
        self.warranty = warranty or WarrantyTerms()  # the OEM's base warranty

    def _on(self, request: Request, work_order_id: UUID, act: Act,
            also: tuple[UUID, ...] = (), ending: bool = False) -> CommandResult:
        """Load the work order (If-Match checked), let `act` change it, save everything.

        `also` names the other streams `act` may change (a technician's clock); `ending`: the
        command is taken past the work order's `max_events` (see `Session.target`).
        """

        def decide(session: Session) -> Decision:
            work_order = session.target(WorkOrder, work_order_id, "work order", ending=ending)
            answer = act(session, work_order) or {}
            return Decision(work_order, {"number": work_order.number, **answer})

        return self.app.execute(request, decide, (work_order_id, *also))

    def _on_line(self, request: Request, work_order_id: UUID, line_id: str, act: Act,
                 also: tuple[UUID, ...] = ()) -> CommandResult:
        """`_on` for a command on the line its URL names: a line the work order does not
        have is not found (404), like an unknown work order."""

        def on_line(session: Session, wo: WorkOrder) -> dict[str, Any] | None:
            if line_id not in wo.lines:
                raise NotFound(f"work order {wo.number} has no line {line_id}",
                               line_id=line_id)
            return act(session, wo)

        return self._on(request, work_order_id, on_line, also)
