"""Online booking (线上预约): the booking channel (the WeChat mini program's or the website's
backend, with a `booking_channel` token) reads the free slots and requests one; the desk lists
the requests with the booking conversion, confirms them (the appointment is booked) or declines
them; the customer follows and cancels their request through its link (/booking/{token}),
which, like a progress link, is its own credential and opens nothing else."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any
from uuid import UUID
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from api import log_context
from api.auth import Principal
from api.context import ApiContext
from api.dates import PlainDay, ordered
from api.deps import (
    Command,
    CorrelationId,
    Ctx,
    IdempotencyKey,
    IdFilter,
    LinkToken,
    Offset,
    StoreQuery,
    WaitFor,
    command,
    reader,
    wait_for_projection,
)
from api.errors import problem
from api.histories import stream_history
from api.json_bodies import JsonBodyRoute
from api.paging import HistoryPage, Limit
from api.pii_reads import PiiReader, pii_reader
from api.progress_guard import Attempts
from api.replays import answered_by, located
from api.routes.progress import LINK_REFUSALS, PAGE_HEADERS
from api.schemas import CommandAccepted
from api.schemas_online_booking import (
    BookingLinkOut,
    BookingStatus,
    CancelIn,
    ConfirmationIn,
    DeclineIn,
    FreeSlots,
    OnlineBookingAccepted,
    OnlineBookingIn,
)
from domain.application import CommandResult
from domain.common import CUSTOMER_ROLE, InvalidInput
from domain.idempotency import request_hash
from domain.kpi_figures import hours as shown_hours
from domain.online_bookings import (
    GENERAL_SKILL,
    LinkGone,
    LinkRefused,
    OnlineBookings,
    customer_view,
)
from projections.labor_operations import get_operation
from projections.online_bookings import SEALED, conversion, free_slots_of, list_bookings

router = APIRouter(prefix="/online-bookings", tags=["online booking"],
                   route_class=JsonBodyRoute)
link_router = APIRouter(prefix="/booking", tags=["online booking"], route_class=JsonBodyRoute)
VIEW = "online_bookings"
DecideCmd = Annotated[Command, Depends(command("online_bookings.decide"))]
MAX_DAYS = 31


def service(ctx: Ctx) -> OnlineBookings:
    return OnlineBookings(ctx.app, ctx.appointments, ctx.customers, ctx.jwt_secret,
                          ctx.online_booking_hours, ctx.online_booking_link_days,
                          ctx.online_booking_answer_hours)


@router.get("/availability", response_model=FreeSlots)
def availability(ctx: Ctx, principal: Annotated[Principal, Depends(
                     reader("online_bookings.availability"))], store_id: StoreQuery,
                 from_day: PlainDay, to_day: PlainDay, op_code: IdFilter = None,
                 wait_for: WaitFor = None) -> Any:
    """The free 30-minute arrival slots per planned day for the work asked (an op code of the
    store's labor-operation master; none: one free-text service). Only slots: no hours, bays,
    bookings or names."""
    zone = ZoneInfo(ctx.timezone)
    now = datetime.now(UTC).astimezone(zone)
    if from_day < now.date():
        raise InvalidInput(f"from_day {from_day} is in the past", field="from_day")
    ordered(from_day, to_day, first_name="from_day", last_name="to_day")
    if (to_day - from_day).days >= MAX_DAYS:
        raise InvalidInput(f"ask for 1-{MAX_DAYS} days", field="to_day")
    wait_for_projection(ctx, "workshop", wait_for)
    with ctx.pool.connection() as conn:
        work = {GENERAL_SKILL: ctx.online_booking_hours}
        if op_code is not None:
            found = get_operation(conn, principal.stores, store_id, op_code)
            if found is None or not found["active"]:
                raise InvalidInput(f"{op_code} is no operation of the store's labor-operation "
                                   "master", field="op_code")
            work = {found["skill"]: Decimal(found["flat_rate_hours"])}
        days = free_slots_of(conn, principal.stores, store_id=store_id, first=from_day,
                             last=to_day, work=work, now=now)
    return {"store_id": store_id, "hours": str(shown_hours(sum(work.values(), Decimal(0)))),
            "days": days}


def _requested(result: CommandResult, *, cmd: Command, ctx: ApiContext,
               **_: Any) -> dict[str, Any]:
    token = service(ctx).token(result.body)
    cmd.response.headers["Location"] = f"/booking/{token}"
    return {**cmd.accepted(result), "token": token}


@router.post("", response_model=OnlineBookingAccepted, status_code=201,
             responses={409: {"description": "the slot is taken: `alternatives` lists the "
                                             "day's free slots"}})
@answered_by(_requested)
def request_booking(body: OnlineBookingIn, ctx: Ctx, cmd: Annotated[
        Command, Depends(command("online_bookings.request"))]) -> Any:
    """A customer's request, held on its slot at once; retried with the channel's request id as
    `Idempotency-Key`, it answers the first answer (whatever the clock says by then). The
    answer's `token` opens the customer's link (`/booking/{token}`)."""
    return service(ctx).request(
        cmd.envelope, store_id=body.store_id, name=body.name, phone=body.phone, vin=body.vin,
        plate=body.plate, day=body.day.isoformat(), arrival=body.arrival,
        services=[s.model_dump() for s in body.services], note=body.note)


class BookingPage(BaseModel):
    """One page of the requests, and the booking conversion of all of them."""

    total: int
    limit: int
    offset: int
    items: list[dict[str, Any]]
    conversion: dict[str, Any]


@router.get("", response_model=BookingPage)
def bookings(ctx: Ctx, principal: Annotated[Principal, Depends(reader("online_bookings.read"))],
             store_id: IdFilter = None, status: BookingStatus | None = None, limit: Limit = 100,
             offset: Offset = 0, wait_for: WaitFor = None) -> Any:
    """The requests (the earliest slot first) with the customer's name, phone and note (or
    `[erased]` once shredded), and the booking conversion of the store (or the token's
    stores): confirmed ÷ requests, arrived ÷ confirmed. A request the store left unanswered
    past its `answer_by` is `expired`, recorded or not yet."""
    wait_for_projection(ctx, VIEW, wait_for)
    now = datetime.now(UTC)
    with ctx.pool.connection() as conn:
        found = list_bookings(conn, principal.stores, now=now, store_id=store_id,
                              status=status, limit=limit, offset=offset)
        figures = conversion(conn, principal.stores, now, store_id)
    opener, _ = ctx.app.personal_data.prefetched(row["id"] for row in found["items"])
    for row in found["items"]:
        sealed = row.pop("sealed")
        row.update({name: opener(row["id"], sealed.get(name)) for name in SEALED})
    return {**found, "conversion": figures}


@router.post("/{booking_id}/confirmation", response_model=CommandAccepted,
             responses={409: {"description": "the request is not awaiting an answer "
                                             "(confirmed, declined, cancelled or expired)"}})
@answered_by(located("/appointments/{appointment_id}"))
def confirm(booking_id: UUID, body: ConfirmationIn, cmd: DecideCmd, ctx: Ctx) -> Any:
    """Book the appointment the request asked for, for the matched customer (or one registered
    from the request), in one save with the confirmation; the held slot passes to it."""
    return service(ctx).confirm(cmd.envelope, booking_id, customer_id=body.customer_id,
                                vin=body.vin)


@router.post("/{booking_id}/decline", response_model=CommandAccepted)
def decline(booking_id: UUID, body: DeclineIn, cmd: DecideCmd, ctx: Ctx) -> Any:
    """The store cannot take the request: its slot is released; the customer's link shows it."""
    return cmd.accepted(service(ctx).decline(cmd.envelope, booking_id, reason=body.reason))


@router.get("/{booking_id}/history", response_model=HistoryPage)
def booking_history(booking_id: UUID, ctx: Ctx, reading: Annotated[
        PiiReader, Depends(pii_reader("online_bookings.history"))],
                    limit: Limit = 500, offset: Offset = 0) -> Any:
    """The request's events, oldest first, paged like every history: requested (slot,
    services, the car), confirmed (the appointment and customer), declined or cancelled (the
    reason), expired, shredded, each with who, when and why. The customer's name, phone and
    note stay sealed as stored (`GET /online-bookings` shows them to the desk); the link's
    nonce is left out. Another store's request, or none: 404."""
    opener = reading.opener()
    found = stream_history(ctx, booking_id, "OnlineBooking", reading.stores,
                           f"booking request {booking_id} not found", limit=limit,
                           offset=offset, opener=opener)
    reading.record_opened(opener, str(found.store_id), "online booking history")
    items = [{**item, "changes": {k: v for k, v in item["changes"].items()
                                  if k != "link_nonce"}} for item in found.page["items"]]
    return {**found.page, "items": items}


# -- the customer's link --------------------------------------------------------------------

def _attempts(request: Request) -> Attempts:
    state = request.app.state
    if not hasattr(state, "booking_attempts"):
        state.booking_attempts = Attempts()
    return state.booking_attempts  # type: ignore[no-any-return]


def _refused(exc: LinkRefused | LinkGone) -> Response:
    status = 410 if isinstance(exc, LinkGone) else 404
    answer = problem(status, exc.kind, exc.detail, code=type(exc).__name__)
    answer.headers.update(PAGE_HEADERS)
    return answer


def _guarded(request: Request, act: Any) -> Response:
    """`act`'s answer, unless the client has sent too many unknown links (429) or this one is
    unknown (404, counted) or gone (410)."""
    attempts = _attempts(request)
    client = request.client.host if request.client else "unknown"
    retry_after = attempts.retry_after(client)
    if retry_after is not None:
        busy = problem(429, "too-many-attempts",
                       "too many unknown links from this address; try again later")
        busy.headers.update({**PAGE_HEADERS, "Retry-After": str(retry_after)})
        return busy
    try:
        answer = act()
    except LinkRefused as exc:
        attempts.failed(client)
        return _refused(exc)
    except LinkGone as exc:
        return _refused(exc)
    return JSONResponse(answer, headers=PAGE_HEADERS)


@link_router.get("/{booking_token}", response_model=BookingLinkOut, responses=LINK_REFUSALS)
def booking_link(booking_token: LinkToken, request: Request, ctx: Ctx) -> Any:
    """The customer's request as they see it: status, slot, services."""
    def show() -> dict[str, Any]:
        at = datetime.now(UTC)
        claims, booking = service(ctx).grant(booking_token, at)
        log_context.identify(claims.actor, CUSTOMER_ROLE, (booking.store_id,))
        return BookingLinkOut(**customer_view(booking, at)).model_dump(mode="json")

    return _guarded(request, show)


@link_router.post("/{booking_token}/cancel", response_model=BookingLinkOut,
                  responses={**LINK_REFUSALS, 409: {"description": "already decided, or expired unanswered"}})
async def cancel(booking_token: LinkToken, body: CancelIn, request: Request, ctx: Ctx,
                 idempotency_key: IdempotencyKey = None,
                 x_correlation_id: CorrelationId = None) -> Any:
    """The customer withdraws the request while the store has not decided it; its slot is
    released."""
    # Not a `command` route (api/replays.py): the link is the credential and is checked
    # first, so a dead link is 410 to a retry too; on a live one a retry answers the request
    # as cancelled (below), and the command itself looks its key up before it decides.
    bookings = service(ctx)
    fingerprint = request_hash(request.url.path, body.model_dump()) if idempotency_key else None

    def withdraw() -> dict[str, Any]:
        at = datetime.now(UTC)
        _, booking = bookings.grant(booking_token, at)
        if booking.status_at(at) == "cancelled":  # pressed again, or a retry after a lost answer
            return BookingLinkOut(**customer_view(booking, at)).model_dump(mode="json")
        bookings.cancel(booking_token, reason=body.reason, at=at,
                                 correlation_id=log_context.correlation_id(x_correlation_id),
                                 idempotency_key=idempotency_key, request_hash=fingerprint)
        _, booking = bookings.grant(booking_token, at)
        return BookingLinkOut(**customer_view(booking, at)).model_dump(mode="json")

    return await run_in_threadpool(_guarded, request, withdraw)


