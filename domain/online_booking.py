"""A customer's own booking request (线上预约) from the WeChat mini program or the store's website:
requested, then confirmed (it became an appointment), declined by the store, or cancelled by
the customer through the request's link.

The request holds its slot's capacity on the workshop day from the moment it is made (keyed by
the request's id, as an appointment's hold is by the appointment's): the customer is answered
at once whether the slot is free, and two requests for the last bay cannot both be taken. The
hold is released when the request is declined or cancelled, and handed to the appointment in
the confirmation's save.

The customer's name, phone and note are sealed with a key of the request's own (its id), as a
customer's are with theirs; the customer's link token is never stored: the stream keeps its
nonce and expiry, from which the server recomputes it (domain/progress_link.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.common import Audit, IllegalTransition, require
from domain.progress_link import LinkClaims, LinkGone, LinkRefused

STATUSES = ("requested", "confirmed", "declined", "cancelled")
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

    class Confirmed(Event):
        appointment_id: UUID
        customer_id: UUID
        registered: bool  # a new customer registered from the request

    class Declined(Event):
        reason: str

    class Cancelled(Event):
        reason: str

    @event(Requested)
    def __init__(self, audit: Audit, store_id: str, day: str, arrival: str, kind: str,
                 services: list[dict[str, Any]], vehicle: dict[str, Any],
                 sealed: dict[str, Any], link_nonce: str, link_expires_at: datetime,
                 id: UUID | None = None) -> None:
        self.store_id = store_id
        self.day, self.arrival, self.kind = day, arrival, kind
        self.services = [dict(s) for s in services]
        self.vehicle = dict(vehicle)
        self.sealed = dict(sealed)
        self.link_nonce, self.link_expires_at = link_nonce, link_expires_at
        self.status = "requested"
        self.appointment_id: UUID | None = None

    def require_requested(self, doing: str) -> None:
        require(self.status == "requested",
                OnlineBookingError(f"cannot {doing}: the booking request is {self.status}"))

    def confirm(self, audit: Audit, appointment_id: UUID, customer_id: UUID,
                registered: bool) -> None:
        self.require_requested("confirm")
        self._confirmed(audit, appointment_id, customer_id, registered)

    @event(Confirmed)
    def _confirmed(self, audit: Audit, appointment_id: UUID, customer_id: UUID,
                   registered: bool) -> None:
        self.status = "confirmed"
        self.appointment_id = appointment_id

    def decline(self, audit: Audit, reason: str) -> None:
        self.require_requested("decline")
        self._declined(audit, reason)

    @event(Declined)
    def _declined(self, audit: Audit, reason: str) -> None:
        self.status = "declined"

    def cancel(self, audit: Audit, reason: str) -> None:
        self.require_requested("cancel")
        self._cancelled(audit, reason)

    @event(Cancelled)
    def _cancelled(self, audit: Audit, reason: str) -> None:
        self.status = "cancelled"

    def check_link(self, claims: LinkClaims, at: datetime) -> None:
        """Refuse a link this request never had (404), or one past its expiry (410)."""
        if claims.work_order_id != self.id or claims.nonce != self.link_nonce \
                or claims.expires_at != self.link_expires_at:
            raise LinkRefused("no such booking link")
        if at >= self.link_expires_at:
            raise LinkGone("this booking link is no longer valid")
