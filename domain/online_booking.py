"""A customer's own booking request (线上预约) from the WeChat mini program or the store's website:
requested, then confirmed (it became an appointment), declined by the store, cancelled by
the customer through the request's link, or expired: the store did not answer it by its
`answer_by` (the earlier of a set number of hours after it was made and its slot's start).

The request holds its slot's capacity on the workshop day from the moment it is made (keyed by
the request's id, as an appointment's hold is by the appointment's): the customer is answered
at once whether the slot is free, and two requests for the last bay cannot both be taken. The
hold is released when the request is declined or cancelled, and handed to the appointment in
the confirmation's save. It lapses at `answer_by` by itself: no capacity check counts it from
then on (domain/workshop_day.py `holding`), and the request reads as expired (`status_at`)
before the sweep records `Expired` and the hold's release (`servicecore online-bookings
retention`).

The customer's name, phone and note are sealed with a key of the request's own (its id), as a
customer's are with theirs; the customer's link token is never stored: the stream keeps its
nonce and expiry, from which the server recomputes it (domain/progress_link.py). `Shredded`
records that the request's key was deleted once its retention period after it closed
unconfirmed had passed; a confirmed request's key goes with its customer's erasure, which
`Customer.Erased` records (projections/online_bookings.py deletes it).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.common import Audit, IllegalTransition, require
from domain.progress_link import LinkClaims, LinkGone, LinkRefused

STATUSES = ("requested", "confirmed", "declined", "cancelled", "expired")
CLOSED = ("declined", "cancelled", "expired")  # never confirmed: kept for a retention period
LINK_LABEL = b"servicecore/online-booking-link/v1"


class OnlineBookingError(IllegalTransition):
    pass


class OnlineBooking(Aggregate):
    class Event(Aggregate.Event):
        audit: Audit

    class Requested(Event, Aggregate.Created):
        store_id: str
        day: str
        arrival: str
        kind: str
        services: list[dict[str, Any]]
        vehicle: dict[str, Any]  # vin and plate as given (never published)
        sealed: dict[str, Any]  # name, phone, note: sealed with the request's own key
        link_nonce: str
        link_expires_at: datetime
        class_version = 2
        answer_by: datetime | None  # unanswered by then, it lapses (none: made before lapses)

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["answer_by"] = None

    class Confirmed(Event):
        appointment_id: UUID
        customer_id: UUID
        registered: bool  # a new customer registered from the request

    class Declined(Event):
        reason: str

    class Cancelled(Event):
        reason: str

    class Expired(Event):
        answer_by: datetime  # the deadline it was not answered by

    class Shredded(Event):
        reason: str  # its retention period passed (kept so long after it closed)

    @event(Requested)
    def __init__(self, audit: Audit, store_id: str, day: str, arrival: str, kind: str,
                 services: list[dict[str, Any]], vehicle: dict[str, Any],
                 sealed: dict[str, Any], link_nonce: str, link_expires_at: datetime,
                 answer_by: datetime | None = None, id: UUID | None = None) -> None:
        self.store_id = store_id
        self.day, self.arrival, self.kind = day, arrival, kind
        self.services = [dict(s) for s in services]
        self.vehicle = dict(vehicle)
        self.sealed = dict(sealed)
        self.link_nonce, self.link_expires_at = link_nonce, link_expires_at
        self.answer_by = answer_by
        self.requested_at: datetime = audit.at
        self.status = "requested"
        self.appointment_id: UUID | None = None
        self.customer_id: UUID | None = None
        self.closed_at: datetime | None = None
        self.shredded = False

    def status_at(self, at: datetime) -> str:
        """The status at `at`: a request left unanswered past its `answer_by` is expired,
        whether or not the lapse has been recorded yet."""
        if self.status == "requested" and self.answer_by is not None and at >= self.answer_by:
            return "expired"
        return self.status

    def require_requested(self, doing: str, at: datetime) -> None:
        status = self.status_at(at)
        require(status == "requested",
                OnlineBookingError(f"cannot {doing}: the booking request is {status}"))

    def confirm(self, audit: Audit, appointment_id: UUID, customer_id: UUID,
                registered: bool) -> None:
        self.require_requested("confirm", audit.at)
        self._confirmed(audit, appointment_id, customer_id, registered)

    @event(Confirmed)
    def _confirmed(self, audit: Audit, appointment_id: UUID, customer_id: UUID,
                   registered: bool) -> None:
        self.status = "confirmed"
        self.appointment_id = appointment_id
        self.customer_id = customer_id

    def decline(self, audit: Audit, reason: str) -> None:
        self.require_requested("decline", audit.at)
        self._declined(audit, reason)

    @event(Declined)
    def _declined(self, audit: Audit, reason: str) -> None:
        self.status = "declined"
        self.closed_at = audit.at

    def cancel(self, audit: Audit, reason: str) -> None:
        self.require_requested("cancel", audit.at)
        self._cancelled(audit, reason)

    @event(Cancelled)
    def _cancelled(self, audit: Audit, reason: str) -> None:
        self.status = "cancelled"
        self.closed_at = audit.at

    def expire(self, audit: Audit, answer_by: datetime) -> None:
        """Record the lapse of a request left unanswered past `answer_by` (its own, or the
        one the sweep reckons for a request made before requests had one)."""
        require(self.status == "requested" and audit.at >= answer_by, OnlineBookingError(
            f"cannot expire: the booking request is {self.status_at(audit.at)}"))
        self._expired(audit, answer_by)

    @event(Expired)
    def _expired(self, audit: Audit, answer_by: datetime) -> None:
        self.status = "expired"
        self.closed_at = answer_by

    def shred(self, audit: Audit, reason: str) -> None:
        """Record that the request's key is deleted (its name, phone and note read as erased)."""
        require(not self.shredded, OnlineBookingError("the booking request is already shredded"))
        self._shredded(audit, reason)

    @event(Shredded)
    def _shredded(self, audit: Audit, reason: str) -> None:
        self.shredded = True

    def check_link(self, claims: LinkClaims, at: datetime) -> None:
        """Refuse a link this request never had (404), or one past its expiry (410)."""
        if claims.work_order_id != self.id or claims.nonce != self.link_nonce \
                or claims.expires_at != self.link_expires_at:
            raise LinkRefused("no such booking link")
        if at >= self.link_expires_at:
            raise LinkGone("this booking link is no longer valid")
