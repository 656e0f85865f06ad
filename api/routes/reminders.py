"""/reminders: the maintenance due list, reminder outcomes, and the service plans per model."""

from __future__ import annotations

from contextlib import suppress
from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from api.auth import Principal
from api.deps import Command, Ctx, IdFilter, Offset, WaitFor, command, reader, wait_for_projection
from api.histories import stream_history
from api.json_bodies import JsonBodyRoute
from api.numbers import Plain
from api.paging import HistoryPage, Limit, Page
from api.schemas import CommandAccepted
from api.schemas_crm import PlanIn, ReminderIn
from domain.common import NotFound
from domain.vehicle import ServicePlan
from projections.customer_queries import due_list, list_plans

router = APIRouter(prefix="/reminders", tags=["reminders"], route_class=JsonBodyRoute)
VIEW = "customers"
Reader = Annotated[Principal, Depends(reader("reminders.read"))]
PlanAuditor = Annotated[Principal, Depends(reader("reminders.plans_history"))]
Brand = Annotated[str, Query(min_length=1, max_length=40, description="the plan's brand")]
Model = Annotated[str, Query(min_length=1, max_length=60,
                             description='the plan\'s model ("*": the brand\'s plan)')]


class DuePage(Page):
    """Cars due by `until`, one page of them."""

    until: date


@router.get("/due", response_model=DuePage)
def due(ctx: Ctx, principal: Reader, store_id: IdFilter = None,
        days: Annotated[int, Query(ge=0, le=366), Plain] = 30, include_handled: bool = False,
        limit: Annotated[int, Query(ge=1, le=1000), Plain] = 200,
        offset: Offset = 0, wait_for: WaitFor = None) -> Any:
    """Cars due for service within `days` (overdue included), by months or km, whichever is
    first; booked and declined reminders for the same due date are left out unless asked."""
    wait_for_projection(ctx, VIEW, wait_for)
    until = ctx.today() + timedelta(days=days)
    with ctx.pool.connection() as conn:
        return due_list(conn, principal.stores, store_id=store_id, until=until,
                        include_handled=include_handled, limit=limit, offset=offset)


@router.post("", response_model=CommandAccepted, status_code=201)
def record_outcome(body: ReminderIn,
                   cmd: Annotated[Command, Depends(command("reminders.record"))],
                   ctx: Ctx) -> Any:
    """What came of a reminder: reminded, booked (with the appointment) or declined."""
    return cmd.accepted(ctx.vehicles.record_reminder(
        cmd.envelope, body.vin, store_id=body.store_id, due_on=body.due_on.isoformat(),
        outcome=body.outcome, channel=body.channel, note=body.note,
        appointment_id=body.appointment_id))


@router.post("/plans", response_model=CommandAccepted)
def set_plan(body: PlanIn, cmd: Annotated[Command, Depends(command("reminders.plans"))],
             ctx: Ctx) -> Any:
    return cmd.accepted(ctx.vehicles.set_plan(cmd.envelope, **body.model_dump()))


@router.get("/plans", dependencies=[Depends(reader("reminders.read"))], response_model=Page)
def plans(ctx: Ctx, limit: Limit = 200, offset: Offset = 0, wait_for: WaitFor = None) -> Any:
    wait_for_projection(ctx, VIEW, wait_for)
    with ctx.pool.connection() as conn:
        return list_plans(conn, limit=limit, offset=offset)


@router.get("/plans/history", response_model=HistoryPage,
            responses={404: {"description": "no service plan of the brand and model"}})
def plan_history(ctx: Ctx, principal: PlanAuditor, brand: Brand, model: Model,
                 limit: Limit = 500, offset: Offset = 0) -> Any:
    """The service plan's events, oldest first, paged like every history: the interval set,
    each change (months, km, the reason) with who and when. `brand` and `model` are matched as
    the plans match them (spacing, case, full-width letters); a plan is the group's, read in
    every store. No such plan: 404."""
    refusal = f"no service plan of {brand} {model}"
    keys = ((ServicePlan.key(brand), ServicePlan.key(model)),
            # a plan set before full-width letters were folded has its id from the older key
            (ServicePlan.legacy_key(brand), ServicePlan.legacy_key(model)))
    for plan_id in dict.fromkeys(ServicePlan.create_id(*key) for key in keys if all(key)):
        with suppress(NotFound):
            return stream_history(ctx, plan_id, "ServicePlan", None, refusal, limit=limit,
                                  offset=offset).page
    raise NotFound(refusal)
