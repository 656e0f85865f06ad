"""/stores/{store_id}/lost-sales: parts asked for at the counter or the desk and not sold
(record: parts clerk, advisor, manager; read: those and the analyst; void a wrong entry: a
manager, with a reason). The part need not be in the part master (a part never stocked has no
record there): the number is kept as the master spells part numbers (domain/lost_sale.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from api.auth import Principal
from api.dates import PlainDay, ordered
from api.deps import (
    Command,
    Ctx,
    IdFilter,
    Offset,
    StoreId,
    WaitFor,
    command,
    reader,
    wait_for_projection,
)
from api.histories import stream_history
from api.json_bodies import JsonBodyRoute
from api.numbers import Number
from api.paging import HistoryPage, Limit, PageOf
from api.schemas import REASON, Body, CommandAccepted, example
from domain.common import NotFound
from domain.lost_sale import MAX_NOTE
from domain.lost_sales import LostSales
from domain.part import normalise_part_number
from projections.lost_sales import BY_PART, list_lost_sales

router = APIRouter(prefix="/stores/{store_id}/lost-sales", tags=["stock"],
                   route_class=JsonBodyRoute)
VIEW = "lost_sales"
Reader = Annotated[Principal, Depends(reader("lost_sales.read"))]
RecordCmd = Annotated[Command, Depends(command("lost_sales.record"))]
VoidCmd = Annotated[Command, Depends(command("lost_sales.void"))]
HistoryReader = Annotated[Principal, Depends(reader("lost_sales.history"))]
Reason = Literal["not_stocked", "out_of_stock", "price", "customer_declined_wait"]


class LostSaleIn(Body):
    model_config = example({"part_number": "5Q0698151", "qty": "2", "reason": "out_of_stock",
                            "work_order_id": None, "customer_id": None,
                            "note": "customer bought elsewhere"})

    part_number: str = Field(min_length=1, max_length=40, description=(
        "as written (blanks dropped, upper case); need not be in the part master"))
    qty: Number = Field(gt=0, le=1_000_000, description="the quantity asked for")
    reason: Reason = Field(description=(
        "not_stocked (the store does not carry the part), out_of_stock, price, "
        "customer_declined_wait (would not wait for an order)"))
    work_order_id: UUID | None = Field(default=None, description="the store's work order")
    customer_id: UUID | None = Field(default=None, description="the customer who asked")
    note: str | None = Field(default=None, max_length=MAX_NOTE)


class LostSaleOut(BaseModel):
    id: str
    store_id: str
    part_number: str
    qty: str
    reason: Reason
    work_order_id: str | None
    customer_id: str | None
    note: str | None
    recorded_at: datetime
    recorded_by: str = Field(description="the user who recorded it")
    recorded_role: str
    voided: bool = Field(description=(
        "voided as a wrong entry: listed, but in no count (`by_part`, `parts`, the fill rate)"))
    voided_at: datetime | None
    voided_by: str | None
    void_reason: str | None


class LostPartTotal(BaseModel):
    part_number: str
    lines: int = Field(description="lost sales of the part (each a line of unfilled demand)")
    qty: str = Field(description="the quantity asked for over them")


class LostSalePage(PageOf[LostSaleOut]):
    """One page of the store's lost sales, the latest first, with totals per part over all
    of them but the voided."""

    parts: int = Field(description="how many parts the lost sales not voided name")
    by_part: list[LostPartTotal] = Field(description=(
        f"per part, over the lost sales not voided, the most lines first (at most {BY_PART})"))


@router.post("", response_model=CommandAccepted, status_code=201)
def record_lost_sale(store_id: StoreId, body: LostSaleIn, cmd: RecordCmd, ctx: Ctx) -> Any:
    """A lost sale of the store, who and when from the token; a work order named must be the
    store's and a customer named known (else 404); bad input 422 naming `field`."""
    result = LostSales(ctx.app, ctx.work_orders.stores).record(
        cmd.envelope, store_id, **body.model_dump())
    return cmd.accepted(result)


class LostSaleVoidIn(Body):
    model_config = example({"reason": "typed 20 for 2: a duplicate of the clerk's entry"})

    reason: str = Field(min_length=1, max_length=1000, description=REASON)


class LostSaleVoided(CommandAccepted):
    store_id: str | None = None
    part_number: str | None = None
    qty: str | None = None
    reason: str | None = Field(default=None, description="the lost sale's reason as recorded")
    voided_by: str | None = None
    void_reason: str | None = None


@router.post("/{lost_sale_id}/void", response_model=LostSaleVoided)
def void_lost_sale(store_id: StoreId, lost_sale_id: UUID, body: LostSaleVoidIn, cmd: VoidCmd,
                   ctx: Ctx) -> Any:
    """A wrong entry (a typo) taken out of every count, kept in the list as voided: a
    manager's, with a reason (else 422 naming `reason`); a lost sale not of this store 404; one
    voided already 409."""
    return cmd.accepted(LostSales(ctx.app, ctx.work_orders.stores).void(
        cmd.envelope, store_id, lost_sale_id, reason=body.reason))


@router.get("", response_model=LostSalePage)
def lost_sales(store_id: StoreId, ctx: Ctx, principal: Reader, part_number: IdFilter = None,
               reason: Reason | None = None, date_from: PlainDay | None = None,
               date_to: PlainDay | None = None, limit: Limit = 50, offset: Offset = 0,
               wait_for: WaitFor = None) -> Any:
    """The store's lost sales (of one `part_number`, for one `reason`, recorded from
    `date_from` to `date_to`, both included, days in the store's time zone), the latest first,
    the voided ones marked and left out of `by_part` and `parts`; a store the token does not
    cover 404."""
    if not principal.sees(store_id):
        raise NotFound(f"store {store_id} not found")
    ordered(date_from, date_to)
    number = normalise_part_number(part_number) if part_number else None
    wait_for_projection(ctx, VIEW, wait_for)
    with ctx.pool.connection() as conn:
        return list_lost_sales(conn, principal.stores, store_id, part_number=number,
                               reason=reason, days=(date_from, date_to), zone=ctx.timezone,
                               limit=limit, offset=offset)


@router.get("/{lost_sale_id}/history", response_model=HistoryPage)
def lost_sale_history(store_id: StoreId, lost_sale_id: UUID, ctx: Ctx,
                      principal: HistoryReader, limit: Limit = 500,
                      offset: Offset = 0) -> Any:
    """The lost sale's events, oldest first, paged like every history: recorded (part,
    quantity, reason, who asked) and, for a wrong entry, voided with the manager's reason.
    A lost sale of another store than `store_id`, a store the token does not name, or none:
    404."""
    return stream_history(ctx, lost_sale_id, "LostSale",
                          (store_id,) if principal.sees(store_id) else (),
                          f"lost sale {lost_sale_id} not found in store {store_id}",
                          limit=limit, offset=offset).page
