"""/appointments: capacity per store and day, availability, booking, rescheduling, cancelling,
no-shows, and arrival (which opens the work order)."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query

from api.as_of import AsOf, found_then, requested_moment
from api.auth import Principal
from api.context import ApiContext
from api.dates import PlainDay, ordered
from api.deps import (
    Command,
    Ctx,
    IdFilter,
    Offset,
    StoreQuery,
    WaitFor,
    command,
    reader,
    wait_for_projection,
)
from api.histories import stream_history
from api.json_bodies import JsonBodyRoute
from api.numbers import Plain
from api.paging import HistoryPage, Limit, Page
from api.pii_reads import APPOINTMENT_FIELDS, PiiReader, pii_reader, shows_personal_data
from api.reception import vehicle_file
from api.replays import answered_by, located
from api.routes.campaigns import reception_campaigns
from api.schemas import AppointmentStatus, CommandAccepted, ReasonIn
from api.schemas_crm import ArrivalIn, BookIn, CapacityIn, NoShowIn, RescheduleIn
from domain.application import CommandResult
from domain.common import InvalidInput, NotFound
from domain.workshop_day import WorkshopDay
from projections.base import page_of
from projections.workshop_as_of import appointment_as_of
from projections.workshop_queries import availability, get_appointment, list_appointments

router = APIRouter(prefix="/appointments", tags=["appointments"], route_class=JsonBodyRoute)
VIEW = "workshop"
Reader = Annotated[Principal, Depends(reader("appointments.read"))]
# The bookings show the customer's name and phones: an auditor's read of them is recorded.
PiiRead = Annotated[PiiReader, Depends(pii_reader("appointments.read"))]
BookCmd = Annotated[Command, Depends(command("appointments.book"))]


@router.post("/capacity", response_model=CommandAccepted)
def plan_capacity(body: CapacityIn,
                  cmd: Annotated[Command, Depends(command("appointments.capacity"))],
                  ctx: Ctx) -> Any:
    """Opening hours, bays and labor hours per skill for a range of days."""
    data = body.model_dump(exclude={"from_day", "to_day"})
    return cmd.accepted(ctx.appointments.plan_capacity(
        cmd.envelope, **data, from_day=body.from_day.isoformat(),
        to_day=body.to_day.isoformat()))


@router.get("/availability", response_model=Page)
def free_capacity(ctx: Ctx, principal: Reader, store_id: StoreQuery, from_day: PlainDay,
                  to_day: PlainDay, limit: Limit = 93, offset: Offset = 0, wait_for: WaitFor = None) -> Any:
    ordered(from_day, to_day, first_name="from_day", last_name="to_day")
    if (to_day - from_day).days > 92:
        raise InvalidInput("ask for 1-93 days", field="to_day")
    wait_for_projection(ctx, VIEW, wait_for)
    with ctx.pool.connection() as conn:
        return page_of(availability(conn, principal.stores, store_id=store_id, first=from_day,
                                    last=to_day), limit=limit, offset=offset)


@router.get("/capacity/history", response_model=HistoryPage, responses={404: {
    "description": "no workshop day of the store planned on that day, or a store the token "
                   "does not name"}})
def capacity_history(ctx: Ctx, principal: Annotated[
        Principal, Depends(reader("appointments.capacity_history"))], store_id: StoreQuery,
                     day: PlainDay, limit: Limit = 500, offset: Offset = 0) -> Any:
    """The store's workshop day, oldest first, paged like every history: its capacity planned
    and replanned (hours, bays, labor hours per skill, the reason), each booking's hold and
    its release, with who, when and why (declared before `/{appointment_id}/history`). A day
    never planned, or a store the token does not name: 404."""
    return stream_history(ctx, WorkshopDay.create_id(store_id, day.isoformat()), "WorkshopDay",
                          (store_id,) if principal.sees(store_id) else (),
                          f"store {store_id} has no workshop day {day.isoformat()} planned",
                          limit=limit, offset=offset).page


@router.post("", response_model=CommandAccepted, status_code=201)
@answered_by(located("/appointments/{id}"))
def book(body: BookIn, cmd: BookCmd, ctx: Ctx) -> Any:
    return ctx.appointments.book(
        cmd.envelope, store_id=body.store_id, customer_id=body.customer_id,
        vehicle=body.vehicle.model_dump(), day=body.day.isoformat(), arrival=body.arrival,
        services=[s.model_dump() for s in body.services], kind=body.kind, note=body.note)


@router.post("/{appointment_id}/reschedule", response_model=CommandAccepted)
def reschedule(appointment_id: UUID, body: RescheduleIn, cmd: BookCmd, ctx: Ctx) -> Any:
    return cmd.accepted(ctx.appointments.reschedule(
        cmd.envelope, appointment_id, day=body.day.isoformat(), arrival=body.arrival,
        reason=body.reason))


@router.post("/{appointment_id}/cancel", response_model=CommandAccepted)
def cancel(appointment_id: UUID, body: ReasonIn, cmd: BookCmd, ctx: Ctx) -> Any:
    return cmd.accepted(ctx.appointments.cancel(cmd.envelope, appointment_id,
                                                reason=body.reason))


@router.post("/{appointment_id}/no-show", response_model=CommandAccepted)
def no_show(appointment_id: UUID, body: NoShowIn, cmd: BookCmd, ctx: Ctx) -> Any:
    return cmd.accepted(ctx.appointments.no_show(cmd.envelope, appointment_id, note=body.note))


def _arrived(result: CommandResult, *, cmd: Command, ctx: ApiContext,
             **_: Any) -> dict[str, Any]:
    cmd.response.headers["Location"] = f"/work-orders/{result.body['work_order_id']}"
    return {**cmd.accepted(result), "open_campaigns": reception_campaigns(
        ctx, work_order_id=UUID(str(result.body["work_order_id"])))}


@router.post("/{appointment_id}/arrival", response_model=CommandAccepted, status_code=201)
@answered_by(_arrived)
def arrive(appointment_id: UUID, body: ArrivalIn,
           cmd: Annotated[Command, Depends(command("work_orders.open"))], ctx: Ctx) -> Any:
    """The car is here: opens the work order linked to the appointment, in one save; 201 with
    the work order's Location and the car's `open_campaigns`, as `POST /work-orders` answers."""
    return ctx.appointments.arrive(cmd.envelope, appointment_id, mileage=body.mileage,
                                   complaints=body.complaints,
                                   vehicle_file=vehicle_file(ctx, cmd.envelope.caller.stores))


@router.get("", response_model=Page)
def appointments(ctx: Ctx, reading: PiiRead, store_id: IdFilter = None,
                 day: PlainDay | None = None, status: AppointmentStatus | None = None,
                 customer_id: UUID | None = None,
                 limit: Annotated[int, Query(ge=1, le=500), Plain] = 100,
                 offset: Offset = 0, wait_for: WaitFor = None) -> Any:
    """The bookings; each one's `customer_name` and `customer_phones` for the roles that may
    read customers' personal data (advisor, manager, cashier, auditor), null for the others."""
    wait_for_projection(ctx, VIEW, wait_for)
    with ctx.pool.connection() as conn:
        found = list_appointments(conn, reading.stores, store_id=store_id, day=day,
                                  status=status, customer_id=customer_id, limit=limit,
                                  offset=offset)
    for booking in found["items"]:
        reading.masked(booking, APPOINTMENT_FIELDS)
    reading.record(_shown(found["items"]), "appointment list")
    return found


@router.get("/{appointment_id}")
def appointment(appointment_id: UUID, ctx: Ctx, reading: PiiRead, as_of: AsOf = None,
                wait_for: WaitFor = None) -> Any:
    """The booking; `customer_name` and `customer_phones` as in the list. With `as_of` (a
    moment, or a day: its end in the store's time zone) the booking as it stood then — day,
    arrival, status, its history until then — replayed from its events; the customer's name
    and phones are those the customer file holds now (`wait_for`: once the customers view
    has it; 404 before it was booked)."""
    moment = requested_moment(as_of, ctx)
    found: dict[str, Any] | None
    if moment is not None:
        wait_for_projection(ctx, "customers", wait_for)
        with ctx.pool.connection() as conn:
            found = found_then(appointment_as_of(ctx.app, conn, appointment_id, moment),
                               reading.principal, f"appointment {appointment_id}", moment)
    else:
        wait_for_projection(ctx, VIEW, wait_for)
        with ctx.pool.connection() as conn:
            found = get_appointment(conn, appointment_id, reading.stores)
    if found is None:
        raise NotFound(f"appointment {appointment_id} not found")
    reading.masked(found, APPOINTMENT_FIELDS)
    reading.record(_shown([found]), "appointment" if moment is None
                   else "appointment as of a moment")
    return found


def _shown(bookings: list[dict[str, Any]]) -> list[tuple[UUID, str]]:
    """The customers whose name or phones these bookings show (customer, store booked in)."""
    return [(UUID(str(b["customer_id"])), str(b["store_id"])) for b in bookings
            if b.get("customer_id") and shows_personal_data(b.get("customer_name"),
                                                            b.get("customer_phones"))]


@router.get("/{appointment_id}/history", response_model=HistoryPage)
def appointment_history(appointment_id: UUID, ctx: Ctx, principal: Annotated[
        Principal, Depends(reader("work_orders.history"))],
                        limit: Limit = 500, offset: Offset = 0) -> Any:
    return stream_history(ctx, appointment_id, "Appointment", principal.stores,
                          f"appointment {appointment_id} not found", limit=limit,
                          offset=offset).page
