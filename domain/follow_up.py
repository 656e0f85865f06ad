"""After delivery: the follow-up call (CSI 1–5, comment), and the older complaint register.

A complaint on the call now opens a complaint case (`Grievance`, domain/grievance.py). The
`Complaint` streams opened before keep their life (opened, assigned, resolved with a
resolution) until they are resolved or moved into the register (`Moved`, naming the case:
domain/complaint_moves.py); a moved complaint takes no further step."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.common import Audit, IllegalTransition, InvalidInput, require, require_reason

OUTCOMES = ("no_answer", "call_back_later", "wrong_number")
STATUSES = ("open", "done")  # a follow-up call
COMPLAINT_STATUSES = ("opened", "assigned", "resolved", "moved")


class FollowUpError(IllegalTransition):
    pass


class FollowUp(Aggregate):
    class Event(Aggregate.Event):
        audit: Audit

    class Scheduled(Event, Aggregate.Created):
        work_order_id: UUID
        work_order_number: str
        customer_id: UUID
        due_on: str

    class Attempted(Event):
        outcome: str
        note: str | None

    class Completed(Event):
        csi: int
        comment: str | None
        complaint_id: UUID | None

    @event(Scheduled)
    def __init__(self, audit: Audit, work_order_id: UUID, work_order_number: str,
                 customer_id: UUID, due_on: str, id: UUID | None = None) -> None:
        self.store_id = audit.store_id
        self.work_order_id = work_order_id
        self.work_order_number = work_order_number
        self.customer_id = customer_id
        self.due_on = due_on
        self.status = "open"
        self.attempts = 0

    def attempt(self, audit: Audit, outcome: str, note: str | None) -> None:
        require(self.status == "open", FollowUpError(f"the follow-up is {self.status}"))
        if outcome not in OUTCOMES:
            raise InvalidInput(f"outcome must be one of {', '.join(OUTCOMES)}",
                               field="outcome")
        self._attempted(audit, outcome, (note or "").strip() or None)

    @event(Attempted)
    def _attempted(self, audit: Audit, outcome: str, note: str | None) -> None:
        self.attempts += 1

    def complete(self, audit: Audit, csi: int, comment: str | None,
                 complaint_id: UUID | None) -> None:
        require(self.status == "open", FollowUpError(f"the follow-up is {self.status}"))
        require(isinstance(csi, int) and 1 <= csi <= 5,
                InvalidInput("CSI is a score from 1 to 5", field="csi"))
        self._completed(audit, csi, (comment or "").strip() or None, complaint_id)

    @event(Completed)
    def _completed(self, audit: Audit, csi: int, comment: str | None,
                   complaint_id: UUID | None) -> None:
        self.status = "done"
        self.csi = csi


class Complaint(Aggregate):
    class Event(Aggregate.Event):
        audit: Audit

    class Opened(Event, Aggregate.Created):
        work_order_id: UUID
        work_order_number: str
        customer_id: UUID
        description: str
        source: str

    class Assigned(Event):
        assignee: str
        note: str | None

    class Resolved(Event):
        resolution: str

    class Moved(Event):
        """Moved into the complaint register: the case `grievance_id` carries it on."""

        grievance_id: UUID

    @event(Opened)
    def __init__(self, audit: Audit, work_order_id: UUID, work_order_number: str,
                 customer_id: UUID, description: str, source: str,
                 id: UUID | None = None) -> None:
        self.store_id = audit.store_id
        self.work_order_id = work_order_id
        self.work_order_number = work_order_number
        self.customer_id = customer_id
        self.description = description
        self.source = source
        self.opened_at = audit.at
        self.opened_by = audit.user_id
        self.status = "opened"
        self.assignee: str | None = None
        self.grievance_id: UUID | None = None

    def _not_moved(self) -> None:
        require(self.status != "moved", FollowUpError(
            f"the complaint moved to the complaint register (case {self.grievance_id}): "
            "take it on there", complaint_status="moved",
            grievance_id=str(self.grievance_id)))

    @staticmethod
    def description_of(data: dict[str, Any]) -> str:
        text = str(data.get("description") or "").strip()
        require(len(text) >= 3, InvalidInput("describe the complaint (3 characters at least)"))
        return text

    def assign(self, audit: Audit, assignee: str, note: str | None) -> None:
        self._not_moved()
        require(self.status != "resolved", FollowUpError("the complaint is resolved"))
        require(bool(assignee.strip()),
                InvalidInput("name who takes the complaint", field="assignee"))
        self._assigned(audit, assignee.strip(), (note or "").strip() or None)

    @event(Assigned)
    def _assigned(self, audit: Audit, assignee: str, note: str | None) -> None:
        self.assignee = assignee
        self.status = "assigned"

    def resolve(self, audit: Audit, resolution: str | None) -> None:
        self._not_moved()
        require(self.status != "resolved", FollowUpError("the complaint is already resolved"))
        require(self.status == "assigned",
                FollowUpError(f"the complaint is {self.status}; assign it first"))
        self._resolved(audit, require_reason(resolution, "resolving a complaint",
                                                     field="resolution"))

    @event(Resolved)
    def _resolved(self, audit: Audit, resolution: str) -> None:
        self.status = "resolved"

    def move(self, audit: Audit, grievance_id: UUID) -> None:
        """Into the complaint register, while it is open (not resolved, not moved)."""
        self._not_moved()
        require(self.status != "resolved", FollowUpError("the complaint is resolved",
                                                         complaint_status="resolved"))
        self._moved(audit, grievance_id)

    @event(Moved)
    def _moved(self, audit: Audit, grievance_id: UUID) -> None:
        self.status = "moved"
        self.grievance_id = grievance_id
