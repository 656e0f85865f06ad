"""/parts-desk: the parts clerk's list of what open work orders still need — approved part
lines to pick, on back order or special order — with what the store has available now
(projections/parts_demand.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from api.auth import Principal
from api.deps import Ctx, IdFilter, Offset, WaitFor, reader, wait_for_views
from api.json_bodies import JsonBodyRoute
from api.paging import Limit, PageOf
from domain.part import normalise_part_number
from projections.parts_demand import parts_desk

router = APIRouter(prefix="/parts-desk", tags=["stock"], route_class=JsonBodyRoute)
DeskReader = Annotated[Principal, Depends(reader("parts_desk.read"))]
DeskState = Literal["to_pick", "back_order", "special_order"]


class PartDemandOut(BaseModel):
    work_order_id: str
    work_order_number: str
    plate: str | None = Field(description="the car's plate, as the work order has it")
    store_id: str
    line_id: str
    job_no: int
    job: str = Field(description="the job's complaint")
    part_number: str
    description: str
    unit: str
    state: DeskState = Field(description=(
        "to_pick: the store holds its units (supply `reserved`); back_order: not enough was "
        "available when it was approved or last returned; special_order: the store held none "
        "of the part"))
    supply: str = Field(description="the line's supply as the work order names it: "
                                    "reserved, back_order or special_order")
    approved_qty: str = Field(description="what the customer approved (less any withdrawn)")
    reserved_qty: str = Field(description="held for the line in the store's stock")
    issued_qty: str = Field(description="what the job holds, net of returns")
    returned_qty: str = Field(description="returned from the job so far")
    outstanding_qty: str = Field(description="still to issue: approved − issued")
    available_now: str = Field(description=(
        "the part's available stock in the store (on hand − reserved) as the stock view shows "
        "it now; 0 where the store holds no stock item of it"))
    covered_now: bool = Field(description=(
        "what the line holds and what is available now cover what it still needs "
        "(reserved + available ≥ outstanding): a back order a receipt now covers"))
    covered_in_turn: bool = Field(description=(
        "for a line without units held: what is available also covers the older lines of "
        "the same part in the store that wait without units held (served oldest first); "
        "for a line to pick, covered_now"))
    technician_id: str | None = Field(description="the job's technician once dispatched")
    technician_name: str | None
    promised_at: datetime | None = Field(description="promised at check-in")
    opened_at: datetime
    approved_at: datetime | None
    updated_at: datetime = Field(description="the line's last change")
    waiting_hours: int | None = Field(description="whole hours since the line was approved")
    work_order_age_hours: int = Field(description="whole hours since the work order opened")


class PartsDeskPage(PageOf[PartDemandOut]):
    """One page of the parts desk, the longest waiting first."""


@router.get("", response_model=PartsDeskPage)
def desk(ctx: Ctx, principal: DeskReader, store_id: IdFilter = None,
         state: DeskState | None = None, part_number: IdFilter = None, limit: Limit = 50,
         offset: Offset = 0, wait_for: WaitFor = None) -> Any:
    """The approved part lines of the caller's stores' (or `store_id`'s) open work orders that
    still lack units and whose job has not passed QC: `to_pick` (units reserved: pick and
    issue them), `back_order` (waiting for a delivery), `special_order` (the store held none
    of the part), optionally of one `part_number`; the longest waiting first (approval time,
    work order, line). Each row with `available_now` from the stock view and `covered_now`.
    Each row names the car by its `plate`. `wait_for`: the parts demand view, the stock view
    and the work-order view have applied it."""
    number = normalise_part_number(part_number) if part_number else None
    wait_for_views(ctx, wait_for, "parts_demand", "stock", "work_orders")
    with ctx.pool.connection() as conn:
        return parts_desk(conn, principal.stores, store_id=store_id, state=state,
                          part_number=number, limit=limit, offset=offset)
