"""/dispatch: the board (queues, clocks, today's hours, waiting jobs with a proposal),
auto-dispatch (re-checked on the aggregates) and the manager's override with a reason."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends

from api.auth import Principal
from api.deps import Command, Ctx, StoreQuery, WaitFor, command, reader, wait_for_projection
from api.json_bodies import JsonBodyRoute
from api.schemas import CommandAccepted
from api.schemas_crm import AutoDispatchIn, OverrideIn
from projections.workshop_queries import board

router = APIRouter(prefix="/dispatch", tags=["dispatch"], route_class=JsonBodyRoute)
VIEW = "workshop"


@router.get("/board")
def dispatch_board(ctx: Ctx, principal: Annotated[Principal, Depends(reader("dispatch.read"))],
                   store_id: StoreQuery, wait_for: WaitFor = None) -> Any:
    wait_for_projection(ctx, VIEW, wait_for)
    now = datetime.now(ZoneInfo(ctx.timezone))
    with ctx.pool.connection() as conn:
        return board(conn, principal.stores, store_id=store_id, now=now)


@router.post("/auto", response_model=CommandAccepted)
def auto_dispatch(body: AutoDispatchIn,
                  cmd: Annotated[Command, Depends(command("dispatch.auto"))], ctx: Ctx) -> Any:
    """Dispatch the job to the qualified technician on shift with the least open load; the
    dispatch event records why."""
    return cmd.accepted(ctx.dispatch.auto(cmd.envelope, body.work_order_id, body.job_no,
                                          skill=body.skill, level=body.level,
                                          proposed=body.proposed))


@router.post("/override", response_model=CommandAccepted)
def override(body: OverrideIn,
             cmd: Annotated[Command, Depends(command("dispatch.override"))], ctx: Ctx) -> Any:
    """The manager's choice with a reason (recorded with whatever rules it sets aside)."""
    return cmd.accepted(ctx.dispatch.override(cmd.envelope, body.work_order_id, body.job_no,
                                              technician_id=body.technician_id,
                                              reason=body.reason))
