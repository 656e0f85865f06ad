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
the customer leaves them unreadable and every other fact of the case standing. So is the staff's
free text about the customer — an assignment's and a first contact's note, an action taken, the
resolution, a closing note, a reopening's reason: each step seals it with the same key (`seal`,
given by the command) and names the customer (v2; a v1 step kept its text in clear). A suggestion
(建议) takes the same steps and has no deadlines; a complaint (投诉) is due for first contact and
for closure by its severity (the deadlines in force when it was registered are kept in it).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
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
# Seals a staff note with the case's customer's key (the sealed token, or ERASED once the key
# is gone): text about the customer is erased with them.
Seal = Callable[[str], str]


class GrievanceRefused(IllegalTransition):
    """A step the case's status does not allow (HTTP 409, naming the status)."""


def one_of(value: str | None, allowed: tuple[str, ...], field: str) -> str:
    require(value in allowed, InvalidInput(f"{field} must be one of {', '.join(allowed)}",
                                           field=field))
    return str(value)


def a_note(value: str | None, field: str = "note") -> str | None:
    return None if not (value or "").strip() else a_text(value, field, f"the {field}", 1,
                                                         MAX_TEXT)


def sealed(text: str | None, seal: Seal) -> str | None:
    return None if text is None else seal(text)


def moved_from_nothing(state: dict[str, Any]) -> None:
    """A case registered before v2 was never moved in from the older complaint register."""
    state["moved_from"] = None


def named_no_customer(state: dict[str, Any]) -> None:
    """A step stored before v2 kept its note in clear and named no customer."""
    state["customer_id"] = None


class Grievance(Aggregate):
    """A complaint case or a suggestion, from registration to closure."""

    max_events = 200  # a case taking more steps is a matter for the manager, not the log

    class Event(Aggregate.Event):
        audit: Audit

    class Registered(Event, Aggregate.Created):
        """v2: `moved_from` names the older register's complaint a case carries on (its
        `complaint_id`, `opened_at`, `opened_by`), else null (every v1 case)."""

        class_version = 2
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
        moved_from: dict[str, str] | None
        upcast_v1_v2 = staticmethod(moved_from_nothing)

    class Step(Event):
        """A step after the registration. v2: its free text (note, action, resolution,
        reason) is sealed with the key of the customer it names (`customer_id`); a v1 step
        kept it in clear and names none (`named_no_customer`)."""

        class_version = 2
        customer_id: UUID | None
        upcast_v1_v2 = staticmethod(named_no_customer)

    class Assigned(Step):
        owner: str
        previous: str | None
        note: str | None

    class Contacted(Step):
        note: str | None

    class ActionTaken(Step):
        action: str

    class Resolved(Step):
        resolution: str
        accepted: bool

    class Closed(Step):
        note: str | None

    class Reopened(Step):
        reason: str

    @event(Registered)
    def __init__(self, audit: Audit, store_id: str, customer_id: UUID, kind: str, channel: str,
                 category: str, severity: str, oem_case_no: str | None,
                 work_order_id: UUID | None, work_order_number: str | None, vin: str | None,
                 follow_up_id: UUID | None, words: str, contact_due: datetime | None,
                 close_due: datetime | None, moved_from: dict[str, str] | None = None,
                 id: UUID | None = None) -> None:
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

    def assign(self, audit: Audit, owner: str | None, note: str | None, seal: Seal) -> None:
        """Given to an owner (again, to another, while it is open and not yet resolved)."""
        who = a_text(owner, "owner", "the owner", 1, MAX_OWNER)
        why = a_note(note)
        allowed = ("registered", "assigned", "in_progress")
        require(self.status in allowed, self.refusal("assigned", *allowed))
        require(who != self.owner, InvalidInput(f"the case is already {who}'s", field="owner"))
        self._assigned(audit, who, self.owner, sealed(why, seal), self.customer_id)

    @event(Assigned)
    def _assigned(self, audit: Audit, owner: str, previous: str | None, note: str | None,
                  customer_id: UUID | None) -> None:
        self.owner = owner
        if self.status == "registered":
            self.status = "assigned"

    def contact(self, audit: Audit, note: str | None, seal: Seal) -> None:
        """The owner reached the customer for the first time."""
        why = a_note(note)
        require(self.status == "assigned", self.refusal("contacted first", "assigned"))
        self._contacted(audit, sealed(why, seal), self.customer_id)

    @event(Contacted)
    def _contacted(self, audit: Audit, note: str | None, customer_id: UUID | None) -> None:
        self.status = "in_progress"
        self.contacted = True

    def act(self, audit: Audit, action: str | None, seal: Seal) -> None:
        """Something done about the case (a re-check, a goodwill offer, a talk with staff)."""
        what = a_text(action, "action", "the action taken", 3, MAX_TEXT)
        allowed = ("assigned", "in_progress")
        require(self.status in allowed, self.refusal("acted on", *allowed))
        self._acted(audit, seal(what), self.customer_id)

    @event(ActionTaken)
    def _acted(self, audit: Audit, action: str, customer_id: UUID | None) -> None:
        pass

    def resolve(self, audit: Audit, resolution: str | None, accepted: bool,
                seal: Seal) -> None:
        """The resolution offered, and whether the customer accepted it."""
        what = a_text(resolution, "resolution", "the resolution", 3, MAX_TEXT)
        require(isinstance(accepted, bool), InvalidInput(
            "say whether the customer accepted the resolution", field="accepted"))
        require(self.status == "in_progress", self.refusal("resolved", "in_progress"))
        self._resolved(audit, seal(what), accepted, self.customer_id)

    @event(Resolved)
    def _resolved(self, audit: Audit, resolution: str, accepted: bool,
                  customer_id: UUID | None) -> None:
        self.status = "resolved"

    def close(self, audit: Audit, note: str | None, seal: Seal) -> None:
        why = a_note(note)
        require(self.status == "resolved", self.refusal("closed", "resolved"))
        self._closed(audit, sealed(why, seal), self.customer_id)

    @event(Closed)
    def _closed(self, audit: Audit, note: str | None, customer_id: UUID | None) -> None:
        self.status = "closed"

    def reopen(self, audit: Audit, reason: str | None, seal: Seal) -> None:
        """Open again (the customer came back about it), with the reason: in progress."""
        why = require_reason(reason, "reopening a case")
        require(self.status == "closed", self.refusal("reopened", "closed"))
        self._reopened(audit, seal(why), self.customer_id)

    @event(Reopened)
    def _reopened(self, audit: Audit, reason: str, customer_id: UUID | None) -> None:
        self.status = "in_progress"
