"""Recording a settled visit's repair-record upload (domain/repair_filing.py): the outcome the
national system gave, checked against the visit's settlement in the same decision.

Only a settled visit has a record to file (409 `not-settled` before, naming the settlement's
status); the filing keeps the settlement number the record carried, so a record filed and its
settlement reversed and settled again shows which settlement list the system holds.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from domain.application import CommandResult, Decision, Request, ServiceCore, Session
from domain.common import IllegalTransition, require
from domain.repair_filing import RepairFiling, filing_input
from domain.settlement import Settlement
from domain.work_order import WorkOrder


class VisitNotSettled(IllegalTransition):
    """A repair record follows settlement (HTTP 409)."""

    kind = "not-settled"


def _view(filing: RepairFiling) -> dict[str, Any]:
    return {"work_order_id": str(filing.work_order_id), "filing_status": filing.status,
            "receipt_no": filing.receipt_no, "error": filing.error,
            "attempts": filing.attempts}


class RepairFilings:
    def __init__(self, app: ServiceCore) -> None:
        self.app = app

    def record(self, request: Request, work_order_id: UUID, *, outcome: str,
               receipt_no: str | None = None, error: str | None = None,
               reason: str | None = None) -> CommandResult:
        filing_input(outcome, receipt_no, error, reason)  # 422 before anything is read
        filing_id = RepairFiling.create_id(work_order_id)

        def decide(session: Session) -> Decision:
            wo = session.get(WorkOrder, work_order_id, "work order")
            settlement = session.find(Settlement, Settlement.create_id(wo.id))
            status = settlement.status if settlement is not None else "not drafted"
            require(settlement is not None and settlement.status == "settled", VisitNotSettled(
                f"work order {wo.number} is not settled (its settlement is {status}): its "
                f"repair record follows settlement", settlement_status=status))
            assert settlement is not None
            audit = session.audit(wo.store_id)
            if session.find(RepairFiling, filing_id) is None:
                filing = RepairFiling(audit=audit, work_order_id=wo.id,
                                      work_order_number=wo.number, store_id=wo.store_id,
                                      id=filing_id)
                session.add(filing)
            else:
                filing = session.target(RepairFiling, filing_id, "repair-record filing")
            filing.record(audit, outcome, receipt_no, error, reason, settlement.number)
            return Decision(filing, _view(filing))

        return self.app.execute(request, decide, (filing_id,))
