"""A customer complaint case or suggestion (投诉建议): one `Grievance` stream per case.

Not the complaints of a work order (the car's symptoms, the first C of complaint / cause /
correction) nor the follow-up call's old `Complaint` (domain/follow_up.py): a grievance is what
the customer says about the store — its repair quality, its people, its prices — taken on any
channel, owned by someone, answered within the deadlines a 4S store and its OEM's customer
relations audit hold it to.

    registered ──assign──▶ assigned ──contact──▶ in_progress ──resolve──▶ resolved ──close──▶ closed
                          (re-assign while open; actions recorded while assigned or in progress)   │
                                                 ▲                                                 │
                                                 └────────────────reopen (reason)──────────────────┘

The customer's words are personal data, sealed with the customer's key (domain/pii.py): erasing
the customer leaves them unreadable and every other fact of the case standing. A suggestion
(建议) takes the same steps and has no deadlines; a complaint (投诉) is due for first contact and
for closure by its severity (the deadlines in force when it was registered are kept in it).
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.common import Audit, IllegalTransition, InvalidInput, a_text, require, require_reason

KINDS = ("complaint", "suggestion")
CHANNELS = ("phone", "in_store", "wechat", "oem_hotline", "follow_up")
CATEGORIES = ("repair_quality", "service_attitude", "price", "waiting_time", "parts", "other")
SEVERITIES = ("normal", "serious")
STATUSES = ("registered", "assigned", "in_progress", "resolved", "closed")
OPEN = ("registered", "assigned", "in_progress", "resolved")
MAX_WORDS = 2000
MAX_TEXT = 1000
MAX_OWNER = 64
MAX_CASE_NO = 64


class GrievanceRefused(IllegalTransition):
    """A step the case's status does not allow (HTTP 409, naming the status)."""


def one_of(value: str | None, allowed: tuple[str, ...], field: str) -> str:
    require(value in allowed, InvalidInput(f"{field} must be one of {', '.join(allowed)}",
                                           field=field))
    return str(value)


def a_note(value: str | None, field: str = "note") -> str | None:
    return None if not (value or "").strip() else a_text(value, field, f"the {field}", 1,
                                                         MAX_TEXT)


class Grievance(Aggregate):
    """A complaint case or a suggestion, from registration to closure."""

    max_events = 200  # a case taking more steps is a matter for the manager, not the log

    class Event(Aggregate.Event):
        audit: Audit

    class Registered(Event, Aggregate.Created):
        store_id: str
        customer_id: UUID
        kind: str
        channel: str
        category: str
        severity: str
        oem_case_no: str | None
        work_order_id: UUID | None
        work_order_number: str | None
        vin: str | None
        follow_up_id: UUID | None
        words: str  # sealed with the customer's key
        contact_due: datetime | None
        close_due: datetime | None

    class Assigned(Event):
        owner: str
        previous: str | None
        note: str | None

    class Contacted(Event):
        note: str | None

    class ActionTaken(Event):
        action: str

    class Resolved(Event):
        resolution: str
        accepted: bool

    class Closed(Event):
        note: str | None

    class Reopened(Event):
        reason: str

    @event(Registered)
    def __init__(self, audit: Audit, store_id: str, customer_id: UUID, kind: str, channel: str,
                 category: str, severity: str, oem_case_no: str | None,
                 work_order_id: UUID | None, work_order_number: str | None, vin: str | None,
                 follow_up_id: UUID | None, words: str, contact_due: datetime | None,
                 close_due: datetime | None, id: UUID | None = None) -> None:
        self.store_id = store_id
        self.customer_id = customer_id
        self.kind = kind
        self.severity = severity
        self.status = "registered"
        self.owner: str | None = None
        self.contacted = False

    def refusal(self, step: str, *allowed: str) -> GrievanceRefused:
        return GrievanceRefused(
            f"the {self.kind} case is {self.status}: it cannot be {step} (only one "
            f"{' or '.join(allowed)} is)", grievance_status=self.status)

    def assign(self, audit: Audit, owner: str | None, note: str | None) -> None:
        """Given to an owner (again, to another, while it is open and not yet resolved)."""
        who = a_text(owner, "owner", "the owner", 1, MAX_OWNER)
        why = a_note(note)
        allowed = ("registered", "assigned", "in_progress")
        require(self.status in allowed, self.refusal("assigned", *allowed))
        require(who != self.owner, InvalidInput(f"the case is already {who}'s", field="owner"))
        self._assigned(audit, who, self.owner, why)

    @event(Assigned)
    def _assigned(self, audit: Audit, owner: str, previous: str | None,
                  note: str | None) -> None:
        self.owner = owner
        if self.status == "registered":
            self.status = "assigned"

    def contact(self, audit: Audit, note: str | None) -> None:
        """The owner reached the customer for the first time."""
        why = a_note(note)
        require(self.status == "assigned", self.refusal("contacted first", "assigned"))
        self._contacted(audit, why)

    @event(Contacted)
    def _contacted(self, audit: Audit, note: str | None) -> None:
        self.status = "in_progress"
        self.contacted = True

    def act(self, audit: Audit, action: str | None) -> None:
        """Something done about the case (a re-check, a goodwill offer, a talk with staff)."""
        what = a_text(action, "action", "the action taken", 3, MAX_TEXT)
        allowed = ("assigned", "in_progress")
        require(self.status in allowed, self.refusal("acted on", *allowed))
        self._acted(audit, what)

    @event(ActionTaken)
    def _acted(self, audit: Audit, action: str) -> None:
        pass

    def resolve(self, audit: Audit, resolution: str | None, accepted: bool) -> None:
        """The resolution offered, and whether the customer accepted it."""
        what = a_text(resolution, "resolution", "the resolution", 3, MAX_TEXT)
        require(isinstance(accepted, bool), InvalidInput(
            "say whether the customer accepted the resolution", field="accepted"))
        require(self.status == "in_progress", self.refusal("resolved", "in_progress"))
        self._resolved(audit, what, accepted)

    @event(Resolved)
    def _resolved(self, audit: Audit, resolution: str, accepted: bool) -> None:
        self.status = "resolved"

    def close(self, audit: Audit, note: str | None) -> None:
        why = a_note(note)
        require(self.status == "resolved", self.refusal("closed", "resolved"))
        self._closed(audit, why)

    @event(Closed)
    def _closed(self, audit: Audit, note: str | None) -> None:
        self.status = "closed"

    def reopen(self, audit: Audit, reason: str | None) -> None:
        """Open again (the customer came back about it), with the reason: in progress."""
        why = require_reason(reason, "reopening a case")
        require(self.status == "closed", self.refusal("reopened", "closed"))
        self._reopened(audit, why)

    @event(Reopened)
    def _reopened(self, audit: Audit, reason: str) -> None:
        self.status = "in_progress"
