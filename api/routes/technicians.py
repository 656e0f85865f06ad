"""/technicians: profile (skills, hourly cost) and roster, shifts, attendance; the list and the
KPI inputs per technician and day (efficiency, productivity, proficiency)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query

from api.as_of import AsOf, found_then, requested_moment
from api.auth import Principal
from api.dates import PlainDay, ordered
from api.deps import (
    DAY_RANGE,
    Command,
    Ctx,
    Day,
    IdFilter,
    Offset,
    StoreId,
    UserId,
    WaitFor,
    command,
    reader,
    wait_for_projection,
)
from api.histories import stream_history
from api.json_bodies import JsonBodyRoute
from api.paging import HistoryPage, Limit, Page
from api.schemas import CommandAccepted, ReasonIn
from api.schemas_crm import AttendanceIn, ProfileIn, ShiftCancelIn, ShiftsIn
from domain.common import InvalidInput, NotFound
from domain.days import FIRST_DAY, LAST_DAY
from domain.roster import Roster
from domain.technician import Technician
from projections.workshop_as_of import technician_as_of
from projections.workshop_queries import kpi_page, list_technicians, technicians_page

router = APIRouter(prefix="/technicians", tags=["technicians"], route_class=JsonBodyRoute)
roster_router = APIRouter(prefix="/stores/{store_id}/roster", tags=["technicians"],
                          route_class=JsonBodyRoute)
VIEW = "workshop"
ManageCmd = Annotated[Command, Depends(command("technicians.manage"))]
Reader = Annotated[Principal, Depends(reader("technicians.read"))]
Auditor = Annotated[Principal, Depends(reader("technicians.audit"))]


@router.post("/{user_id}/profile", response_model=CommandAccepted)
def set_profile(user_id: UserId, body: ProfileIn, cmd: ManageCmd, ctx: Ctx) -> Any:
    """Skills with levels (1-5) and hourly cost; puts the technician on the store's roster."""
    return cmd.accepted(ctx.technicians.set_profile(cmd.envelope, user_id, **body.model_dump()))


@router.post("/{user_id}/roster-exit", response_model=CommandAccepted)
def leave_roster(user_id: UserId, body: ReasonIn, cmd: ManageCmd, ctx: Ctx) -> Any:
    return cmd.accepted(ctx.technicians.leave_roster(cmd.envelope, user_id, reason=body.reason))


@router.post("/{user_id}/shifts", response_model=CommandAccepted)
def plan_shifts(user_id: UserId, body: ShiftsIn, cmd: ManageCmd, ctx: Ctx) -> Any:
    shifts = [{**s.model_dump(), "day": s.day.isoformat()} for s in body.shifts]
    return cmd.accepted(ctx.technicians.plan_shifts(cmd.envelope, user_id, shifts))


@router.post("/{user_id}/shifts/cancellation", response_model=CommandAccepted)
def cancel_shift(user_id: UserId, body: ShiftCancelIn, cmd: ManageCmd, ctx: Ctx) -> Any:
    return cmd.accepted(ctx.technicians.cancel_shift(cmd.envelope, user_id,
                                                     day=body.day.isoformat(),
                                                     reason=body.reason))


@router.post("/{user_id}/attendance", response_model=CommandAccepted)
def attendance(user_id: UserId, body: AttendanceIn, cmd: ManageCmd, ctx: Ctx) -> Any:
    return cmd.accepted(ctx.technicians.record_attendance(
        cmd.envelope, user_id, day=body.day.isoformat(), status=body.status, hours=body.hours,
        note=body.note))


SHIFTS_BACK = 30  # the days before today a technician's shifts and attendance show by default
SHIFT_DAYS_MAX = 366  # at most so many days of them an answer
FromDay = Annotated[Day | None, Query(description=(
    f"shifts and attendance from this day ({DAY_RANGE}; default {SHIFTS_BACK} days before "
    "today)"))]
ToDay = Annotated[Day | None, Query(description=(
    f"to this day (default and at most {SHIFT_DAYS_MAX} days from `from_day` on)"))]


class TechnicianPage(Page):
    """Technicians, each with their shifts and attendance from `from_day` to `to_day`."""

    from_day: date
    to_day: date


def shown_days(ctx: Ctx, from_day: date | None, to_day: date | None) -> tuple[date, date]:
    """The days of shifts and attendance an answer shows: a technician keeps every day, one
    more each working day, so a bounded window (by default from a month back on)."""
    today = ctx.today()
    first = from_day or max(FIRST_DAY, (to_day or today) - timedelta(
        days=SHIFTS_BACK if to_day is None else SHIFT_DAYS_MAX - 1))
    last = to_day or min(LAST_DAY, first + timedelta(days=SHIFT_DAYS_MAX - 1))
    return checked_days(first, last)


def checked_days(first: date, last: date) -> tuple[date, date]:
    """`from_day` .. `to_day`, both included, is 1 to `SHIFT_DAYS_MAX` days (a leap year),
    for the shifts and attendance as for the KPIs; else one problem naming both and the
    limit; backwards, the answer every period gives (`api.dates.ordered`)."""
    ordered(first, last, first_name="from_day", last_name="to_day")
    if (last - first).days >= SHIFT_DAYS_MAX:
        raise InvalidInput(f"from_day .. to_day is 1 to {SHIFT_DAYS_MAX} days",
                           from_day=first.isoformat(), to_day=last.isoformat(),
                           limit=SHIFT_DAYS_MAX)
    return first, last


@router.get("", response_model=TechnicianPage)
def technicians(ctx: Ctx, principal: Reader, store_id: IdFilter = None,
                from_day: FromDay = None, to_day: ToDay = None, limit: Limit = 200,
                offset: Offset = 0, wait_for: WaitFor = None) -> Any:
    """Profiles, roster, open clock, and the shifts and attendance of the days asked for."""
    days = shown_days(ctx, from_day, to_day)
    wait_for_projection(ctx, VIEW, wait_for)
    with ctx.pool.connection() as conn:
        found = technicians_page(conn, principal.stores, store_id=store_id, days=days,
                                 limit=limit, offset=offset)
    return {**found, "from_day": days[0], "to_day": days[1]}


@router.get("/kpi", response_model=Page)
def technician_kpis(ctx: Ctx, principal: Annotated[Principal, Depends(reader("technicians.kpi"))],
                    from_day: PlainDay, to_day: PlainDay, store_id: IdFilter = None,
                    user_id: IdFilter = None, by: Literal["day", "period"] = "day",
                    limit: Limit = 1000, offset: Offset = 0,
                    wait_for: WaitFor = None) -> Any:
    """Per technician and day (`by=period`: per technician and store over the whole range,
    the hours summed first): hours available, clocked and sold; efficiency (sold / clocked),
    productivity (clocked / available), proficiency (sold / available), each a string with
    four decimals as every ratio of the API (null where its divisor is zero)."""
    checked_days(from_day, to_day)
    wait_for_projection(ctx, VIEW, wait_for)
    with ctx.pool.connection() as conn:
        return kpi_page(conn, principal.stores, store_id=store_id, first=from_day,
                        last=to_day, user_id=user_id, by=by, limit=limit, offset=offset)


@router.get("/{user_id}")
def technician(user_id: UserId, ctx: Ctx, principal: Reader, from_day: FromDay = None,
               to_day: ToDay = None, as_of: AsOf = None, wait_for: WaitFor = None) -> Any:
    """The profile, and the shifts and attendance from `from_day` to `to_day`; with `as_of`
    (a moment, or a day: its end in the store's time zone) as they stood then — skills and
    levels, hourly cost, on the roster or not, the shifts and attendance recorded by then —
    replayed from the technician's events (404 before them; `wait_for` does not apply)."""
    days = shown_days(ctx, from_day, to_day)
    moment = requested_moment(as_of, ctx)
    if moment is not None:
        then = found_then(technician_as_of(ctx.app, user_id, moment, days), principal,
                          f"technician {user_id}", moment)
        return {**then, "from_day": days[0], "to_day": days[1]}
    wait_for_projection(ctx, VIEW, wait_for)
    with ctx.pool.connection() as conn:
        found = list_technicians(conn, principal.stores, user_id=user_id, days=days)
    if not found:
        raise NotFound(f"technician {user_id} not found")
    return {**found[0], "from_day": days[0], "to_day": days[1]}


@router.get("/{user_id}/history", response_model=HistoryPage)
def technician_history(user_id: UserId, ctx: Ctx, principal: Auditor, limit: Limit = 500,
                       offset: Offset = 0) -> Any:
    """Every event of the technician: the skills and levels set (with the reason of a
    change), hourly cost, name, shifts, attendance, the jobs assigned and released, the clocks;
    who, when and why. What the technician was qualified for on the day of a repair."""
    return stream_history(ctx, Technician.create_id(user_id), "Technician", principal.stores,
                          f"technician {user_id} not found", limit=limit,
                          offset=offset).page


@roster_router.get("/history", response_model=HistoryPage)
def roster_history(store_id: StoreId, ctx: Ctx, principal: Auditor, limit: Limit = 500,
                   offset: Offset = 0) -> Any:
    """The store's roster (whom dispatch considers), oldest first, paged like every history:
    started, each technician who joined it (a profile) and left it (`/roster-exit`, with the
    reason), with who and when. A store without a roster, or one the token does not name:
    404."""
    return stream_history(ctx, Roster.create_id(store_id), "Roster",
                          (store_id,) if principal.sees(store_id) else (),
                          f"store {store_id} has no roster", limit=limit, offset=offset).page
