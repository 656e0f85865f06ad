"""Online booking commands: the booking channel's request (holding its slot until the store
answers it, at the latest by its `answer_by`), the desk's confirmation (the customer matched or
registered, the appointment booked, in one save) or decline, the customer's cancellation
through the request's link, and the system's records of a request's lapse and of its key's
shredding (servicecore/booking_retention.py runs them)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError

from domain.application import CommandResult, Decision, Request, ServiceCore, Session
from domain.appointment import work_of
from domain.appointments import Appointments, Master, services_of
from domain.common import (
    CUSTOMER_ROLE,
    Audit,
    Caller,
    InvalidInput,
    NotFound,
    NotPermitted,
    require,
    require_group_store,
    require_reason,
)
from domain.customer import Customer
from domain.customers import Customers, normalise_phone
from domain.days import business_day, parse_day
from domain.labor_pricing import master_operation
from domain.online_booking import CLOSED, LINK_LABEL, OnlineBooking, OnlineBookingError
from domain.pii import ERASED
from domain.progress_link import LinkClaims, LinkGone, LinkRefused, LinkSigner, new_nonce
from domain.vehicle_ids import normalise_plate, normalise_vin
from domain.workshop_day import CapacityExceeded, WorkshopDay

GENERAL_SKILL = "maintenance"  # what a service asked in free text is booked as
MAX_NAME = 100
MAX_NOTE = 500


class SlotTaken(CapacityExceeded):
    """The slot asked for has no room (HTTP 409, with the day's free slots as alternatives)."""


def asked_services(raw: Sequence[Mapping[str, Any]], master: Master,
                   default_hours: Decimal) -> list[dict[str, Any]]:
    """The customer's services as expected work: an op code of the store's labor-operation
    master books its flat-rate hours and skill; free text books `default_hours` of general
    maintenance, for the desk to refine on confirmation."""
    require(0 < len(raw) <= 20, InvalidInput("a booking request lists 1-20 services",
                                             field="services"))
    asked: list[dict[str, Any]] = []
    for n, item in enumerate(raw):
        description = str(item.get("description") or "").strip()
        op_code = str(item.get("op_code") or "").strip().upper() or None
        operation = master(op_code) if op_code is not None else None
        if op_code is not None and (operation is None or not operation.active):
            raise InvalidInput(f"{op_code} is no operation of the store's labor-operation master",
                               field=f"services[{n}].op_code")
        if operation is not None:
            asked.append({"description": description or operation.description,
                          "op_code": op_code})
        else:
            require(bool(description), InvalidInput(
                "each service needs a description or an op code",
                field=f"services[{n}].description"))
            asked.append({"description": description, "skill": GENERAL_SKILL,
                          "hours": default_hours})
    return services_of(asked, master)


class OnlineBookings:
    def __init__(self, app: ServiceCore, appointments: Appointments, customers: Customers,
                 server_secret: str, default_hours: Decimal = Decimal(1),
                 link_days: int = 30, answer_hours: int = 24) -> None:
        self.app = app
        self.appointments = appointments
        self.customers = customers
        self.signer = LinkSigner(server_secret, LINK_LABEL)
        self.default_hours = default_hours
        self.link_days = link_days
        self.answer_hours = answer_hours

    def answer_by(self, made: datetime, day: str, arrival: str) -> datetime:
        """When a request made at `made` lapses unanswered: `answer_hours` after it was made,
        or when its slot starts, whichever comes first."""
        starts = datetime.combine(parse_day(day), time.fromisoformat(arrival),
                                  self.appointments.zone)
        return min(made + timedelta(hours=self.answer_hours), starts)

    def deadline_of(self, booking: OnlineBooking) -> datetime:
        """The request's own `answer_by`; for one made before requests had one, the deadline
        the rule gives it now."""
        if booking.answer_by is not None:
            return booking.answer_by
        return self.answer_by(booking.requested_at, booking.day, booking.arrival)

    # -- the booking channel -----------------------------------------------------------------

    def request(self, request: Request, *, store_id: str, name: str, phone: str,
                vin: str | None, plate: str | None, day: str, arrival: str,
                services: Sequence[Mapping[str, Any]], note: str | None = None) -> CommandResult:
        """Record the request and hold its slot; SlotTaken (409) names the day's free slots."""
        require_group_store(self.appointments.stores, store_id)
        if not request.caller.may_use(store_id):
            raise NotPermitted(f"your token does not cover store {store_id}")
        on, at = self.appointments.slot(request, day, arrival)
        now = request.caller.at.astimezone(self.appointments.zone)
        who = name.strip()
        require(0 < len(who) <= MAX_NAME, InvalidInput(
            f"name is 1-{MAX_NAME} characters", field="name"))
        told = (note or "").strip() or None
        require(told is None or len(told) <= MAX_NOTE,
                InvalidInput(f"note is at most {MAX_NOTE} characters", field="note"))
        vehicle = {"vin": normalise_vin(vin) if vin else None,
                   "plate": normalise_plate(plate) if plate else None}
        require(any(vehicle.values()), InvalidInput("give the car's VIN or plate", field="vin"))
        booking_id, nonce = uuid4(), new_nonce()
        answer_by = self.answer_by(request.caller.at, on, at)
        expires_at = datetime.combine(parse_day(on) + timedelta(days=self.link_days), time(),
                                      self.appointments.zone)
        sealed = self.app.personal_data.seal_fields(booking_id, {
            "name": who, "phone": normalise_phone(phone, "phone"), "note": told})

        def decide(session: Session) -> Decision:
            work = asked_services(services, lambda code: master_operation(session, store_id, code),
                                  self.default_hours)
            audit = session.audit(store_id)
            booking = OnlineBooking(id=booking_id, audit=audit, store_id=store_id, day=on,
                                    arrival=at, kind="maintenance", services=work,
                                    vehicle=vehicle, sealed=sealed, link_nonce=nonce,
                                    link_expires_at=expires_at, answer_by=answer_by)
            workshop = session.find(WorkshopDay, WorkshopDay.create_id(store_id, on))
            if workshop is None:
                raise SlotTaken(f"the store takes no bookings on {on}", alternatives=[])
            hours = work_of(work)
            try:
                workshop.reserve(audit, booking_id, at, hours, lapses_at=answer_by)
            except CapacityExceeded:
                after = now.strftime("%H:%M") if on == now.date().isoformat() else None
                raise SlotTaken(f"{on} {at} is taken; choose another slot",
                                alternatives=workshop.free_slots(hours, audit.at, after)) from None
            session.add(booking)
            return Decision(booking, {"booking_id": str(booking_id), "status": booking.status,
                                      "day": on, "arrival": at, "link_id": nonce,
                                      "expires_at": expires_at.isoformat(),
                                      "answer_by": answer_by.isoformat()})

        return self.app.execute(request, decide,
                                (WorkshopDay.create_id(store_id, on), booking_id))

    def token(self, answer: Mapping[str, Any]) -> str:
        """The customer's link token of a request `request` answered (recomputed, never kept)."""
        return self.signer.token(LinkClaims(UUID(answer["booking_id"]),
                                            datetime.fromisoformat(answer["expires_at"]),
                                            answer["link_id"]))

    # -- the desk ----------------------------------------------------------------------------

    def _current(self, booking_id: UUID) -> OnlineBooking | None:
        try:
            found: object = self.app.repository.get(booking_id)
        except AggregateNotFoundError:
            return None
        return found if isinstance(found, OnlineBooking) else None

    def _streams(self, request: Request, booking_id: UUID) -> OnlineBooking:
        current = self._current(booking_id)
        if current is None or not request.caller.may_use(current.store_id):
            raise NotFound(f"booking request {booking_id} not found")
        return current

    def confirm(self, request: Request, booking_id: UUID, *, customer_id: UUID | None = None,
                vin: str | None = None) -> CommandResult:
        """Book the appointment the request asked for, for the customer the desk matched
        (`customer_id`) or a new one registered from the request's name and phone, in one
        save with the request's confirmation; its held slot passes to the appointment."""
        current = self._streams(request, booking_id)
        current.require_requested("confirm", request.caller.at)
        car = normalise_vin(vin) if vin else current.vehicle.get("vin")
        require(bool(car), InvalidInput("the request names no VIN: give the car's", field="vin"))
        registered = customer_id is None
        who = customer_id if customer_id is not None else uuid4()
        sealed: dict[str, Any] = {}
        if registered:
            opened = self.app.personal_data.open_fields(booking_id, {
                "name": current.sealed.get("name"), "phone": current.sealed.get("phone")})
            require(ERASED not in opened.values() and all(opened.values()), InvalidInput(
                "the request's name and phone are gone: match a customer", field="customer_id"))
            sealed = self.customers.seal(who, str(opened["name"]), [str(opened["phone"])])
        appointment_id = uuid4()
        today = business_day(request.caller.at, self.appointments.zone).isoformat()

        def decide(session: Session) -> Decision:
            booking = session.target(OnlineBooking, booking_id, "booking request")
            booking.require_requested("confirm", session.caller.at)
            require(booking.day >= today, OnlineBookingError(
                f"the request was for {booking.day}, now past: decline it"))
            audit = session.audit(booking.store_id)
            if registered:
                session.add(Customer(id=who, audit=audit, kind="person", sealed=sealed))
            self.appointments.workshop_day(session, booking.store_id, booking.day).release(
                audit, booking_id, "confirmed")
            booked = self.appointments.booked_in(
                session, appointment_id, store_id=booking.store_id, customer_id=who,
                vehicle={"vin": car, "plate": booking.vehicle.get("plate")}, day=booking.day,
                arrival=booking.arrival, services=booking.services, kind=booking.kind,
                note=None)
            booking.confirm(audit, appointment_id, who, registered)
            return Decision(booking, {"booking_id": str(booking_id), "status": booking.status,
                                      "customer_id": str(who), "registered": registered,
                                      **booked.answer})

        return self.app.execute(request, decide, (
            booking_id, WorkshopDay.create_id(current.store_id, current.day), appointment_id))

    def decline(self, request: Request, booking_id: UUID, *, reason: str | None) -> CommandResult:
        why = require_reason(reason, "declining a booking request")
        current = self._streams(request, booking_id)
        return self._release(request, booking_id, current,
                             lambda audit, booking: booking.decline(audit, why), "declined")

    def _release(self, request: Request, booking_id: UUID, current: OnlineBooking,
                 change: Callable[[Audit, OnlineBooking], None], why: str) -> CommandResult:
        def decide(session: Session) -> Decision:
            booking = session.target(OnlineBooking, booking_id, "booking request")
            audit = session.audit(booking.store_id)
            change(audit, booking)
            self.appointments.workshop_day(session, booking.store_id, booking.day).release(
                audit, booking_id, why)
            return Decision(booking, {"booking_id": str(booking_id), "status": booking.status})

        return self.app.execute(request, decide, (
            booking_id, WorkshopDay.create_id(current.store_id, current.day)))

    # -- the system: lapses and retention -----------------------------------------------------

    def expire(self, request: Request, booking_id: UUID) -> CommandResult | None:
        """Record the lapse of a request left unanswered past its deadline and release its
        hold; None if it is not (or no longer) one."""
        current = self._current(booking_id)
        if current is None or current.status != "requested" \
                or request.caller.at < self.deadline_of(current):
            return None

        def decide(session: Session) -> Decision:
            booking = session.target(OnlineBooking, booking_id, "booking request")
            audit = session.audit(booking.store_id)
            booking.expire(audit, self.deadline_of(booking))
            self.appointments.workshop_day(session, booking.store_id, booking.day).release(
                audit, booking_id, "expired")
            return Decision(booking, {"booking_id": str(booking_id), "status": booking.status})

        return self.app.execute(request, decide, (
            booking_id, WorkshopDay.create_id(current.store_id, current.day)))

    def shred_unconfirmed(self, request: Request, booking_id: UUID, retention_days: int) -> bool:
        """Shred a request never confirmed (declined, cancelled, expired) once
        `retention_days` have passed since it closed; whether this call recorded it."""
        current = self._current(booking_id)
        if current is None or current.status not in CLOSED or current.closed_at is None \
                or request.caller.at < current.closed_at + timedelta(days=retention_days):
            return False
        return self._shred(request, current, f"kept {retention_days} days after it closed "
                                             f"{current.status}, never confirmed")

    def _shred(self, request: Request, current: OnlineBooking, reason: str) -> bool:
        """Record the shredding of the request's name, phone and note, then delete its key
        (again, if a run stopped in between); whether this call recorded it."""
        booking_id = current.id
        recorded = False
        if not current.shredded:
            def decide(session: Session) -> Decision:
                booking = session.target(OnlineBooking, booking_id, "booking request")
                booking.shred(session.audit(booking.store_id), reason)
                return Decision(booking, {"booking_id": str(booking_id)})

            recorded = not self.app.execute(request, decide, (booking_id,)).replayed
        self.app.personal_data.keys.delete_key(booking_id)
        return recorded

    # -- the customer, through the request's link -------------------------------------------

    def grant(self, token: str, at: datetime) -> tuple[LinkClaims, OnlineBooking]:
        """The link's claims and request if it is ours and live: LinkRefused (404) or
        LinkGone (410), checked on the event store itself."""
        try:
            claims = self.signer.claims(token)
        except LinkRefused:
            raise LinkRefused("no such booking link") from None
        booking = self._current(claims.work_order_id)
        if booking is None:
            raise LinkRefused("no such booking link")
        booking.check_link(claims, at)
        return claims, booking

    def cancel(self, token: str, *, reason: str | None, at: datetime, correlation_id: str,
               idempotency_key: str | None = None,
               request_hash: str | None = None) -> CommandResult:
        """The customer withdraws the request (while the store has not yet decided)."""
        claims, current = self.grant(token, at)
        why = (reason or "").strip()[:MAX_NOTE] or "cancelled by the customer"
        caller = Caller(user_id=claims.actor, role=CUSTOMER_ROLE, stores=(current.store_id,),
                        at=at, correlation_id=correlation_id, idempotency_key=idempotency_key)
        return self._release(Request(caller, request_hash), current.id, current,
                             lambda audit, booking: booking.cancel(audit, why), "cancelled")


def customer_view(booking: OnlineBooking, at: datetime) -> dict[str, Any]:
    """What the customer's link shows at `at`: the request's status, slot and services (no
    figures)."""
    status = booking.status_at(at)
    return {"booking_id": str(booking.id), "store_id": booking.store_id,
            "status": status, "day": booking.day, "arrival": booking.arrival,
            "services": [s["description"] for s in booking.services],
            "link_expires_at": booking.link_expires_at.isoformat(),
            "cancellable": status == "requested"}


__all__ = ["LinkGone", "LinkRefused", "OnlineBookings", "SlotTaken", "customer_view"]
