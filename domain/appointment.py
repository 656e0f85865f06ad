"""A booked visit: customer, vehicle, day and arrival slot, the expected work; rescheduled,
cancelled, a no-show, or arrived (then linked to the work order it became, both ways)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.common import Audit, IllegalTransition, require

STATUSES = ("booked", "arrived", "cancelled", "no_show")


class AppointmentError(IllegalTransition):
    pass


def work_of(services: list[dict[str, Any]]) -> dict[str, Decimal]:
    """Labor hours per skill of a list of expected services."""
    totals: dict[str, Decimal] = {}
    for service in services:
        totals[service["skill"]] = totals.get(service["skill"], Decimal(0)) + \
            Decimal(service["hours"])
    return totals


class Appointment(Aggregate):
    class Event(Aggregate.Event):
        audit: Audit

    class Booked(Event, Aggregate.Created):
        store_id: str
        customer_id: UUID
        vehicle: dict[str, Any]
        day: str
        arrival: str
        services: list[dict[str, Any]]
        kind: str
        note: str | None

    class Rescheduled(Event):
        day: str
        arrival: str
        previous_day: str
        previous_arrival: str
        reason: str | None

    class Cancelled(Event):
        reason: str

    class NoShow(Event):
        note: str | None

    class Arrived(Event):
        work_order_id: UUID
        work_order_number: str

    @event(Booked)
    def __init__(self, audit: Audit, store_id: str, customer_id: UUID, vehicle: dict[str, Any],
                 day: str, arrival: str, services: list[dict[str, Any]], kind: str,
                 note: str | None, id: UUID | None = None) -> None:
        self.store_id = store_id
        self.customer_id = customer_id
        self.vehicle = dict(vehicle)
        self.day, self.arrival = day, arrival
        self.services = [dict(s) for s in services]
        self.kind = kind
        self.status = "booked"
        self.work_order: dict[str, Any] | None = None

    def work(self) -> dict[str, Decimal]:
        """Labor hours per skill the visit is expected to need."""
        return work_of(self.services)

    def _require_booked(self, doing: str) -> None:
        require(self.status == "booked",
                AppointmentError(f"cannot {doing}: the appointment is {self.status}"))

    def reschedule(self, audit: Audit, day: str, arrival: str, reason: str | None) -> None:
        self._require_booked("reschedule")
        require((day, arrival) != (self.day, self.arrival),
                AppointmentError("the appointment is already at that time"))
        self._rescheduled(audit, day, arrival, self.day, self.arrival, reason)

    @event(Rescheduled)
    def _rescheduled(self, audit: Audit, day: str, arrival: str, previous_day: str,
                     previous_arrival: str, reason: str | None) -> None:
        self.day, self.arrival = day, arrival

    def cancel(self, audit: Audit, reason: str) -> None:
        self._require_booked("cancel")
        self._cancelled(audit, reason)

    @event(Cancelled)
    def _cancelled(self, audit: Audit, reason: str) -> None:
        self.status = "cancelled"

    def no_show(self, audit: Audit, note: str | None) -> None:
        self._require_booked("record a no-show")
        self._no_show(audit, note)

    @event(NoShow)
    def _no_show(self, audit: Audit, note: str | None) -> None:
        self.status = "no_show"

    def arrive(self, audit: Audit, work_order_id: UUID, work_order_number: str) -> None:
        self._require_booked("record the arrival")
        self._arrived(audit, work_order_id, work_order_number)

    @event(Arrived)
    def _arrived(self, audit: Audit, work_order_id: UUID, work_order_number: str) -> None:
        self.status = "arrived"
        self.work_order = {"id": work_order_id, "number": work_order_number}
