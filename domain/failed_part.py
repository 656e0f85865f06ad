"""A failed part removed under warranty (旧件), from its tag to where it ended: one stream per tag.

OEMs require the dealer to tag and keep each part removed under warranty, ship it back when
asked, or scrap it on their instruction; an auditor charges back a claim whose failed part
cannot be produced. The tag number is unique per store (the stream id is made of both).

    held ──request──▶ requested ──ship──▶ shipped ──receive──▶ received_by_oem
     │ ▲ move          │ ▲ move             │
     │ └─┘             │ └─┘                │
     ├──scrap──────────┴──scrap──▶ scrapped  │
     └──lose───────────┴──lose───────────────┴──▶ lost

A part shipped never goes back to held or requested; received, scrapped and lost are final.
A scrap names the OEM's instruction; one without it is a manager's, with a reason, and the
claim package lists it as an error (projections/claim_custody.py), as it does a lost part.
"""

from __future__ import annotations

from datetime import date, timedelta
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.common import (
    Audit,
    IllegalTransition,
    InvalidInput,
    NotPermitted,
    a_text,
    require,
    require_reason,
    stable_id,
)

STATUSES = ("held", "requested", "shipped", "received_by_oem", "scrapped", "lost")
FINAL = ("received_by_oem", "scrapped", "lost")
MOVABLE = ("held", "requested")  # still on the dealer's shelf
MAX_TAG = 40
MAX_REF = 64
MAX_LOCATION = 80
MAX_TEXT = 500
MANAGER = "manager"


class CustodyRefused(IllegalTransition):
    """A step the failed part's custody status does not allow (HTTP 409, naming the status)."""


def tag_of(tag_number: str | None) -> str:
    """The tag number as kept: stripped, upper case, no spaces, 1–40 characters."""
    tag = a_text(tag_number, "tag_number", "the tag number", 1, MAX_TAG).upper()
    require(" " not in tag, InvalidInput("a tag number has no spaces", field="tag_number"))
    return tag


def an_optional(value: str | None, field: str, what: str, most: int) -> str | None:
    return None if not (value or "").strip() else a_text(value, field, what, 1, most)


class FailedPart(Aggregate):
    """A tagged failed part and its custody."""

    max_events = 100  # moved that often, it is a case for a person

    class Event(Aggregate.Event):
        audit: Audit

    class Tagged(Event, Aggregate.Created):
        store_id: str
        tag_number: str
        work_order_id: UUID
        work_order_number: str
        line_id: str
        part_number: str
        causal: bool
        location: str

    class Moved(Event):
        location: str
        previous: str
        note: str | None

    class ReturnRequested(Event):
        request_ref: str

    class Shipped(Event):
        shipment_ref: str
        shipped_on: str  # YYYY-MM-DD, the store's day

    class ReceivedByOem(Event):
        receipt_ref: str | None

    class Scrapped(Event):
        instruction_ref: str | None
        reason: str | None

    class Lost(Event):
        reason: str

    @staticmethod
    def create_id(store_id: str, tag_number: str) -> UUID:
        return stable_id("failed-part", store_id, tag_number)

    @event(Tagged)
    def __init__(self, audit: Audit, store_id: str, tag_number: str, work_order_id: UUID,
                 work_order_number: str, line_id: str, part_number: str, causal: bool,
                 location: str, id: UUID | None = None) -> None:
        self.store_id = store_id
        self.tag_number = tag_number
        self.work_order_id = work_order_id
        self.work_order_number = work_order_number
        self.line_id = line_id
        self.part_number = part_number
        self.causal = causal
        self.location = location
        self.status = "held"
        self.tagged_on = audit.at.date()  # in UTC: a store's day may be the next
        self.request_ref: str | None = None
        self.shipment_ref: str | None = None
        self.instruction_ref: str | None = None

    def refusal(self, step: str, *allowed: str) -> CustodyRefused:
        return CustodyRefused(
            f"failed part {self.tag_number} is {self.status}: it cannot be {step} (only one "
            f"{' or '.join(allowed)} is)", custody_status=self.status,
            tag_number=self.tag_number)

    def move(self, audit: Audit, location: str | None, note: str | None) -> None:
        """To another storage place, while the part is still on the dealer's shelf."""
        where = a_text(location, "location", "the storage location", 1, MAX_LOCATION)
        why = an_optional(note, "note", "the note", MAX_TEXT)
        require(self.status in MOVABLE, self.refusal("moved", *MOVABLE))
        require(where != self.location, InvalidInput(
            f"failed part {self.tag_number} is already at {where}", field="location"))
        self._moved(audit, where, self.location, why)

    @event(Moved)
    def _moved(self, audit: Audit, location: str, previous: str, note: str | None) -> None:
        self.location = location

    def request_return(self, audit: Audit, request_ref: str | None) -> None:
        """The OEM asked for the part back under this request reference."""
        ref = a_text(request_ref, "request_ref", "the OEM's return request reference", 1,
                     MAX_REF)
        require(self.status == "held", self.refusal("requested", "held"))
        self._requested(audit, ref)

    @event(ReturnRequested)
    def _requested(self, audit: Audit, request_ref: str) -> None:
        self.status = "requested"
        self.request_ref = request_ref

    def ship(self, audit: Audit, shipment_ref: str | None, shipped_on: date) -> None:
        """Sent to the OEM under this shipment (waybill) on that day; only once requested,
        not before it was tagged nor after today."""
        ref = a_text(shipment_ref, "shipment_ref", "the shipment or waybill reference", 1,
                     MAX_REF)
        require(shipped_on >= self.tagged_on, InvalidInput(
            f"failed part {self.tag_number} was tagged on {self.tagged_on}: it cannot have "
            f"shipped on {shipped_on}", field="shipped_on"))
        latest = audit.at.date() + timedelta(days=1)  # UTC: the store's day may be the next
        require(shipped_on <= latest, InvalidInput(
            f"a shipment on {shipped_on} is still to come: record it once it left",
            field="shipped_on"))
        require(self.status == "requested", self.refusal("shipped", "requested"))
        self._shipped(audit, ref, shipped_on.isoformat())

    @event(Shipped)
    def _shipped(self, audit: Audit, shipment_ref: str, shipped_on: str) -> None:
        self.status = "shipped"
        self.shipment_ref = shipment_ref

    def receive(self, audit: Audit, receipt_ref: str | None) -> None:
        """The OEM confirmed it has the part (its receipt reference, when it gives one)."""
        ref = an_optional(receipt_ref, "receipt_ref", "the OEM's receipt reference", MAX_REF)
        require(self.status == "shipped", self.refusal("received by the OEM", "shipped"))
        self._received(audit, ref)

    @event(ReceivedByOem)
    def _received(self, audit: Audit, receipt_ref: str | None) -> None:
        self.status = "received_by_oem"

    def scrap(self, audit: Audit, instruction_ref: str | None, reason: str | None) -> None:
        """Scrapped on the OEM's instruction (its reference); without one only a manager may,
        saying why."""
        ref = an_optional(instruction_ref, "instruction_ref", "the OEM's scrap instruction",
                          MAX_REF)
        why = None
        if ref is None:
            why = require_reason(reason, "a scrap without the OEM's instruction")
            require(audit.role == MANAGER, NotPermitted(
                "only a manager scraps a failed part without the OEM's instruction",
                field="instruction_ref"))
        elif reason is not None and reason.strip():
            why = a_text(reason, "reason", "the reason", 1, MAX_TEXT)
        require(self.status in MOVABLE, self.refusal("scrapped", *MOVABLE))
        self._scrapped(audit, ref, why)

    @event(Scrapped)
    def _scrapped(self, audit: Audit, instruction_ref: str | None, reason: str | None) -> None:
        self.status = "scrapped"
        self.instruction_ref = instruction_ref

    def lose(self, audit: Audit, reason: str | None) -> None:
        """Marked lost by a manager, saying why; a part already at the OEM or scrapped is not."""
        why = require_reason(reason, "a lost failed part")
        require(audit.role == MANAGER, NotPermitted("only a manager marks a failed part lost"))
        require(self.status not in FINAL, self.refusal("lost", "held", "requested", "shipped"))
        self._lost(audit, why)

    @event(Lost)
    def _lost(self, audit: Audit, reason: str) -> None:
        self.status = "lost"
