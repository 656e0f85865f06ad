"""Appointment commands: the workshop's capacity per store and day, booking, rescheduling,
cancelling, no-shows, and arrival, which opens the work order.

Booking, rescheduling and cancelling change the appointment and the day streams they hold
capacity on in one save. Arrival opens the work order through `WorkOrders.open` and records the
arrival on the appointment in that same save (see `_WithArrival`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any, cast
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

from eventsourcing.application import AggregateNotFoundError

from domain.application import CommandResult, Decision, Request, ServiceCore, Session
from domain.appointment import Appointment, AppointmentError
from domain.common import (
    InvalidInput,
    NotFound,
    NotPermitted,
    require,
    require_group_store,
    require_reason,
)
from domain.customer import Customer
from domain.days import business_day, parse_clock, parse_day
from domain.labor_operation import LaborOperation
from domain.labor_pricing import master_operation
from domain.money import quantity
from domain.skills import check_skill, skill_for_op_code
from domain.vehicle import Vehicle
from domain.vehicle_ids import normalise_plate, normalise_vin
from domain.work_order_state import KINDS
from domain.work_orders import VehicleFile, WorkOrders, vehicle_id
from domain.workshop_day import WorkshopDay, check_plan

MAX_PLAN_DAYS = 92
BOOKING_HORIZON_DAYS = 366


Master = Callable[[str], LaborOperation | None]


def services_of(raw: Sequence[Mapping[str, Any]],
                master: Master = lambda op_code: None) -> list[dict[str, Any]]:
    """Expected work: description, hours, and the skill. A service whose op code is an active
    operation of the store's labor-operation master takes the master's flat-rate hours and
    skill where the booking leaves them out; otherwise the skill comes from the op code's
    prefix and the hours must be given."""
    require(0 < len(raw) <= 20, InvalidInput("an appointment lists 1-20 services",
                                                 field="services"))
    services = []
    for n, item in enumerate(raw):
        description = str(item.get("description") or "").strip()
        require(bool(description), InvalidInput("each service needs a description",
                                                field=f"services[{n}].description"))
        op_code = str(item.get("op_code") or "").strip().upper() or None
        operation = master(op_code) if op_code is not None else None
        if operation is not None and not operation.active:
            operation = None
        skill = item.get("skill")
        if skill is None and operation is not None:
            skill = operation.skill
        if skill is None and op_code is not None:
            found = skill_for_op_code(op_code)
            skill = found[0] if found else None
        if skill is None:
            raise InvalidInput(f"say which skill {description!r} needs (or give a known op code)",
                               field=f"services[{n}].skill")
        check_skill(str(skill), 1)
        given = item.get("hours")
        if given is None and operation is None:
            raise InvalidInput(f"say how many hours {description!r} takes (or give an op code "
                               "of the store's labor-operation master)",
                               field=f"services[{n}].hours")
        hours = operation.flat_rate_hours if given is None and operation is not None else \
            quantity(given, "service hours", field=f"services[{n}].hours")
        require(hours <= 24, InvalidInput("a service is booked for at most 24 hours",
                                          field=f"services[{n}].hours"))
        services.append({"description": description, "op_code": op_code, "skill": skill,
                         "hours": hours})
    return services


class _WithArrival:
    """The ServiceCore handed to `WorkOrders.open`: its one `execute` runs open's decision and
    then `also` in the same Session, so the work order and the appointment's arrival are saved
    together (a retry on conflict re-runs both on fresh state)."""

    def __init__(self, app: ServiceCore, also: Callable[[Session, Decision], Decision],
                 streams: tuple[UUID, ...]) -> None:
        self._app = app
        self._also = also
        self._streams = streams

    def __getattr__(self, name: str) -> Any:
        return getattr(self._app, name)

    def execute(self, request: Request, decide: Callable[[Session], Decision],
                streams: Sequence[UUID] = ()) -> CommandResult:
        return self._app.execute(request, lambda session: self._also(session, decide(session)),
                                 (*streams, *self._streams))


class Appointments:
    def __init__(self, app: ServiceCore, timezone: str = "Asia/Shanghai",
                 stores: Iterable[str] = ()) -> None:
        self.app = app
        self.timezone = timezone
        self.zone = ZoneInfo(timezone)
        self.stores = frozenset(stores)  # the group's stores (`require_group_store`)

    def _today(self, request: Request) -> date:
        return business_day(request.caller.at, self.zone)

    # -- capacity ----------------------------------------------------------------------------

    def plan_capacity(self, request: Request, *, store_id: str, from_day: str, to_day: str,
                      opens: str, closes: str, bays: int, skill_hours: Mapping[str, object],
                      weekdays: Sequence[int] = (1, 2, 3, 4, 5, 6, 7),
                      reason: str | None = None) -> CommandResult:
        """Opening hours, bays and labor hours per skill for a range of days (one save)."""
        require_group_store(self.stores, store_id)
        if not request.caller.may_use(store_id):
            raise NotPermitted(f"your token does not cover store {store_id}")
        first = self._bookable(request, from_day, "from_day")
        last = self._bookable(request, to_day, "to_day")
        require(first <= last, InvalidInput("the range ends before it starts", field="to_day"))
        require((last - first).days < MAX_PLAN_DAYS,
                InvalidInput(f"plan at most {MAX_PLAN_DAYS} days at once", field="to_day"))
        hours = {skill: quantity(h, f"{skill} hours", allow_zero=True,
                                     field=f"skill_hours.{skill}")
                 for skill, h in skill_hours.items()}
        check_plan(opens, closes, bays, hours)
        days = [d.isoformat() for d in (first + timedelta(n) for n in range((last - first).days + 1))
                if d.isoweekday() in weekdays]
        require(bool(days), InvalidInput("no day in the range falls on those weekdays",
                                         field="weekdays"))
        why = (reason or "").strip() or None

        def decide(session: Session) -> Decision:
            audit = session.audit(store_id)
            changed, streams = [], []
            for day in days:
                plan = session.find(WorkshopDay, WorkshopDay.create_id(store_id, day))
                if plan is None:
                    plan = WorkshopDay(audit=audit, store_id=store_id, day=day, opens=opens,
                                       closes=closes, bays=bays, skill_hours=hours)
                    session.add(plan)
                    changed.append(day)
                elif plan.replan(audit, opens, closes, bays, hours, why):
                    changed.append(day)
                streams.append(plan)
            return Decision(streams[0], {"store_id": store_id, "days": days, "changed": changed})

        return self.app.execute(request, decide,
                                [WorkshopDay.create_id(store_id, d) for d in days])

    # -- booking -----------------------------------------------------------------------------

    def _bookable(self, request: Request, value: object, field: str) -> date:
        """A day that can be booked: from today (in the store's time zone) up to
        `BOOKING_HORIZON_DAYS` ahead. Capacity is planned for the same days: a plan for a day
        no one can book holds nothing. The refusal names the request's `field`."""
        on = parse_day(value, field)
        today = self._today(request)
        require(on >= today, InvalidInput(f"{field} {on} is in the past", field=field))
        require((on - today).days <= BOOKING_HORIZON_DAYS, InvalidInput(
            f"{field} {on} is more than {BOOKING_HORIZON_DAYS} days ahead", field=field))
        return on

    def slot(self, request: Request, day: str, arrival: str, *,
             to_come: bool = True) -> tuple[str, str]:
        """A slot that can be booked: a bookable day (`_bookable`) and, `to_come`, an arrival
        not yet past at the command's own moment (`request.caller.at`, not the wall clock: an
        import or a backdated command is judged at its own time), in the store's time zone. A
        car already here opens its work order (`POST /work-orders`). The refusal names
        `arrival`."""
        on = self._bookable(request, day, "day")
        start = self.starts(on.isoformat(), arrival, field="arrival")
        require(not to_come or start >= request.caller.at, InvalidInput(
            f"arrival {arrival} on {on} has passed (it is "
            f"{request.caller.at.astimezone(self.zone):%H:%M} at the store)", field="arrival"))
        return on.isoformat(), arrival

    def starts(self, day: str, arrival: str, *, field: str | None = None) -> datetime:
        """The moment a slot begins, in the store's time zone."""
        return datetime.combine(parse_day(day), parse_clock(arrival, "arrival", field),
                                self.zone)

    @staticmethod
    def workshop_day(session: Session, store_id: str, day: str) -> WorkshopDay:
        found = session.find(WorkshopDay, WorkshopDay.create_id(store_id, day))
        if found is None:
            raise AppointmentError(f"no workshop capacity is planned for {store_id} on {day}")
        return found

    def book(self, request: Request, *, store_id: str, customer_id: UUID,
             vehicle: Mapping[str, Any], day: str, arrival: str,
             services: Sequence[Mapping[str, Any]], kind: str = "maintenance",
             note: str | None = None) -> CommandResult:
        """Hold the expected work's hours and a bay; refused when the day has no room."""
        require_group_store(self.stores, store_id)
        if not request.caller.may_use(store_id):
            raise NotPermitted(f"your token does not cover store {store_id}")
        require(kind in KINDS, InvalidInput(f"kind must be one of {', '.join(KINDS)}",
                                            field="kind"))
        on, at = self.slot(request, day, arrival)
        vin = normalise_vin(str(vehicle.get("vin") or ""), "vehicle.vin")
        given = {"vin": vin, "plate": normalise_plate(vehicle["plate"], "vehicle.plate")
                 if vehicle.get("plate") else None, "brand": vehicle.get("brand"), "model": vehicle.get("model"),
                 "year": vehicle.get("year")}
        appointment_id = uuid4()

        def decide(session: Session) -> Decision:
            return self.booked_in(session, appointment_id, store_id=store_id,
                                  customer_id=customer_id, vehicle=given, day=on, arrival=at,
                                  services=services, kind=kind, note=note)

        return self.app.execute(request, decide,
                                (WorkshopDay.create_id(store_id, on), appointment_id))

    def booked_in(self, session: Session, appointment_id: UUID, *, store_id: str,
                  customer_id: UUID, vehicle: Mapping[str, Any], day: str, arrival: str,
                  services: Sequence[Mapping[str, Any]], kind: str,
                  note: str | None) -> Decision:
        """The booking's decision inside the caller's session (`book`'s, or an online booking
        request's confirmation, saved with it): `vehicle` as `book` normalised it."""
        customer = session.get(Customer, customer_id, "customer")
        require(not customer.erased, InvalidInput("that customer has been erased",
                                                  field="customer_id"))
        known = session.find(Vehicle, vehicle_id(vehicle["vin"]))
        snapshot = {**(known.snapshot() if known else {}),
                    **{k: v for k, v in vehicle.items() if v is not None}}
        work = services_of(services,
                           lambda op_code: master_operation(session, store_id, op_code))
        audit = session.audit(store_id)
        appointment = Appointment(id=appointment_id, audit=audit, store_id=store_id,
                                  customer_id=customer_id, vehicle=snapshot, day=day,
                                  arrival=arrival, services=work, kind=kind,
                                  note=(note or "").strip() or None)
        workshop = self.workshop_day(session, store_id, day)
        workshop.reserve(audit, appointment_id, arrival, appointment.work())
        session.add(appointment)
        return Decision(appointment, {"appointment_id": str(appointment_id), "day": day,
                                      "arrival": arrival, "free": workshop.free(audit.at)})

    def _on(self, request: Request, appointment_id: UUID,
            act: Callable[[Session, Appointment], dict[str, Any] | None],
            also: Sequence[UUID] = ()) -> CommandResult:
        def decide(session: Session) -> Decision:
            appointment = session.target(Appointment, appointment_id, "appointment")
            answer = act(session, appointment) or {}
            return Decision(appointment, {"status": appointment.status, "day": appointment.day,
                                          "arrival": appointment.arrival, **answer})

        return self.app.execute(request, decide, (appointment_id, *also))

    def _current(self, appointment_id: UUID) -> Appointment | None:
        try:
            found: object = self.app.repository.get(appointment_id)
        except AggregateNotFoundError:
            return None
        return found if isinstance(found, Appointment) else None

    def reschedule(self, request: Request, appointment_id: UUID, *, day: str, arrival: str,
                   reason: str | None = None) -> CommandResult:
        """Move to another day or slot: the old hours are released and the new ones held. A
        slot of today already passed is taken: a car that came on another day than booked is
        moved to today, at the time it came, before its arrival (`arrive`) opens the visit."""
        on, at = self.slot(request, day, arrival, to_come=False)
        current = self._current(appointment_id)
        streams = [WorkshopDay.create_id(current.store_id, current.day)] if current else []

        def act(session: Session, appointment: Appointment) -> dict[str, Any]:
            audit = session.audit(appointment.store_id)
            self.workshop_day(session, appointment.store_id, appointment.day).release(
                audit, appointment_id, "rescheduled")
            appointment.reschedule(audit, on, at, (reason or "").strip() or None)
            workshop = self.workshop_day(session, appointment.store_id, on)
            workshop.reserve(audit, appointment_id, at, appointment.work())
            return {"free": workshop.free(audit.at)}

        if current:
            streams.append(WorkshopDay.create_id(current.store_id, on))
        return self._on(request, appointment_id, act, streams)

    def cancel(self, request: Request, appointment_id: UUID, *,
               reason: str | None) -> CommandResult:
        why = require_reason(reason, "cancelling an appointment")
        return self._release(request, appointment_id, "cancelled",
                             lambda audit, a: a.cancel(audit, why))

    def no_show(self, request: Request, appointment_id: UUID, *,
                note: str | None = None) -> CommandResult:
        """The customer did not come: recorded once the arrival time has passed."""

        def mark(audit: Any, appointment: Appointment) -> None:
            due = self.starts(appointment.day, appointment.arrival)
            require(request.caller.at >= due, AppointmentError(
                f"the appointment is at {appointment.day} {appointment.arrival}; not yet a no-show"))
            appointment.no_show(audit, (note or "").strip() or None)

        return self._release(request, appointment_id, "no_show", mark)

    def _release(self, request: Request, appointment_id: UUID, why: str,
                 change: Callable[[Any, Appointment], None]) -> CommandResult:
        current = self._current(appointment_id)

        def act(session: Session, appointment: Appointment) -> None:
            audit = session.audit(appointment.store_id)
            change(audit, appointment)
            self.workshop_day(session, appointment.store_id, appointment.day).release(
                audit, appointment_id, why)

        streams = [WorkshopDay.create_id(current.store_id, current.day)] if current else []
        return self._on(request, appointment_id, act, streams)

    # -- arrival -----------------------------------------------------------------------------

    def arrive(self, request: Request, appointment_id: UUID, *, mileage: int,
               complaints: Sequence[str] = (),
               vehicle_file: VehicleFile | None = None) -> CommandResult:
        """The car is here: the work order opens (linked to the appointment) and the appointment
        records the work order, in one save. Capacity stays held: the work is being done.
        `vehicle_file` as `WorkOrders.open` takes it."""
        current = self._current(appointment_id)
        if current is None or not request.caller.may_use(current.store_id):
            raise NotFound(f"appointment {appointment_id} not found")
        today = self._today(request).isoformat()

        def also(session: Session, opened: Decision) -> Decision:
            appointment = session.target(Appointment, appointment_id, "appointment")
            require(appointment.status != "booked" or appointment.day == today, AppointmentError(
                f"the appointment is for {appointment.day}; reschedule it to today first"))
            appointment.arrive(session.audit(appointment.store_id), opened.stream.id,
                               opened.answer["number"])
            return Decision(appointment, {
                "status": appointment.status, "work_order_id": str(opened.stream.id),
                "work_order_number": opened.answer["number"],
                "customer_id": str(appointment.customer_id)})

        described = [s["description"] for s in current.services]
        work_orders = WorkOrders(cast(ServiceCore, _WithArrival(self.app, also, (appointment_id,))),
                                 self.timezone)
        return work_orders.open(
            request, store_id=current.store_id, customer={}, customer_id=current.customer_id,
            vehicle=dict(current.vehicle), mileage=mileage, kind=current.kind,
            complaints=list(dict.fromkeys([*described, *complaints])),
            appointment_id=str(appointment_id), vehicle_file=vehicle_file)

