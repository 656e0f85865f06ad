"""Moving the older register's open complaints into the complaint register (投诉建议).

Before a complaint taken on the follow-up call opened a complaint case (`Grievance`), it opened
a `Complaint` (domain/follow_up.py). Each such complaint still open — opened or assigned, never
resolved nor moved — becomes a case of kind complaint, channel follow_up, category `other`,
severity `normal`, about its visit (and its follow-up call) and customer, the complaint's description as the customer's
words (sealed with their key), and `moved_from` naming the complaint, when and by whom it was
opened; the complaint records `Moved` with the case's id in the same save, so that no complaint
is open in both registers. The case's deadlines run from the move.

Run again, it moves nothing twice: a moved complaint is left, and the case's id is derived from
the complaint's. A complaint whose customer has been erased is left open in the older register
(no case is registered for an erased customer): it is reported, to be resolved there.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from eventsourcing.utils import get_topic

from domain.application import Decision, Request, ServiceCore, Session
from domain.common import Caller, DomainError, NotFound, stable_id
from domain.customer import Customer
from domain.follow_up import Complaint, FollowUp
from domain.grievances import GrievanceTerms, Intake, open_case
from domain.work_order import WorkOrder

OPENED = get_topic(Complaint.Opened)
BATCH = 500


def case_of(complaint_id: UUID) -> UUID:
    """The complaint case a moved complaint is carried on by."""
    return stable_id("grievance", "complaint", complaint_id)


@dataclass
class MoveReport:
    moved: list[dict[str, str]] = field(default_factory=list)
    left: dict[str, int] = field(default_factory=dict)  # by status: resolved, moved
    kept_open: list[dict[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"moved": self.moved, "left": self.left, "kept_open": self.kept_open}


def opened_complaints(app: ServiceCore) -> Iterator[UUID]:
    """Every complaint of the older register, in log order."""
    position = 0
    while notifications := app.recorder.select_notifications(position + 1, BATCH,
                                                             topics=[OPENED]):
        for notification in notifications:
            yield UUID(str(notification.originator_id))
        position = notifications[-1].id


def move_open_complaints(app: ServiceCore, caller: Caller,
                         terms: GrievanceTerms | None = None) -> MoveReport:
    """Each open complaint into the register, one save each (the complaint and its case)."""
    report = MoveReport()
    for complaint_id in opened_complaints(app):
        try:
            answer = app.execute(Request(caller), _mover(app, terms or GrievanceTerms(),
                                                         complaint_id),
                                 (complaint_id, case_of(complaint_id))).body
        except DomainError as refused:
            report.kept_open.append({"complaint_id": str(complaint_id),
                                     "reason": refused.detail})
            continue
        if answer.get("grievance_id") is None:
            status = str(answer["status"])
            report.left[status] = report.left.get(status, 0) + 1
        else:
            report.moved.append({"complaint_id": str(complaint_id),
                                 "grievance_id": str(answer["grievance_id"]),
                                 "store_id": str(answer["store_id"])})
    return report


def _mover(app: ServiceCore, terms: GrievanceTerms, complaint_id: UUID) -> Any:
    def decide(session: Session) -> Decision:
        complaint = session.get(Complaint, complaint_id, "complaint")
        if complaint.status in ("resolved", "moved"):
            return Decision(complaint, {"status": complaint.status, "grievance_id": None})
        customer = session.find(Customer, complaint.customer_id)
        if customer is None:
            raise NotFound(f"customer {complaint.customer_id} not found")
        order = session.find(WorkOrder, complaint.work_order_id)
        vin = order.vehicle.get("vin") if order is not None else None
        call = session.find(FollowUp, stable_id("follow-up", complaint.work_order_id))
        intake = Intake.of(kind="complaint", channel="follow_up", category="other",
                           severity="normal", words=complaint.description, oem_case_no=None)
        case = open_case(
            session, app, terms, case_of(complaint_id), complaint.store_id, customer, intake,
            work_order=order, vin=str(vin) if vin else None,
            follow_up_id=call.id if call is not None and complaint.source == "follow_up"
            else None, moved_from={
                "complaint_id": str(complaint_id),
                "opened_at": complaint.opened_at.isoformat(),
                "opened_by": complaint.opened_by})
        complaint.move(session.audit(complaint.store_id), case.id)
        return Decision(complaint, {"status": complaint.status, "grievance_id": str(case.id),
                                    "store_id": complaint.store_id})

    return decide
