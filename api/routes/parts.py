"""/parts: the part master (register, details, list price with reason) and its search."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from api.as_of import AsOf, existed_then, requested_moment
from api.deps import Command, Ctx, Offset, PartNumber, WaitFor, command, reader, wait_for_projection
from api.histories import stream_history
from api.json_bodies import JsonBodyRoute
from api.numbers import Plain
from api.paging import HistoryPage, Limit, Page
from api.replays import answered_by, located
from api.schemas import CommandAccepted
from api.schemas_stock import PartChangeIn, PartIn, PriceIn
from domain.common import NotFound
from domain.part import Part, normalise_part_number
from projections.master_as_of import part_as_of
from projections.stock_queries import get_part, search_parts

router = APIRouter(prefix="/parts", tags=["parts"], route_class=JsonBodyRoute)
VIEW = "stock"
Reader = Depends(reader("parts.read"))
ManageCmd = Annotated[Command, Depends(command("parts.manage"))]


@router.post("", response_model=CommandAccepted, status_code=201)
@answered_by(located("/parts/{part_number}"))
def register_part(body: PartIn, cmd: ManageCmd, ctx: Ctx) -> Any:
    details = body.model_dump(exclude={"part_number", "list_price"}, exclude_none=True)
    return ctx.inventory.register_part(cmd.envelope, part_number=body.part_number,
                                       details=details, list_price=body.list_price)


@router.post("/{part_number}/details", response_model=CommandAccepted)
def change_details(part_number: PartNumber, body: PartChangeIn, cmd: ManageCmd, ctx: Ctx) -> Any:
    return cmd.accepted(ctx.inventory.change_part(
        cmd.envelope, part_number, body.model_dump(exclude_none=True, exclude={"reason"}),
        body.reason))


@router.post("/{part_number}/price", response_model=CommandAccepted)
def change_price(part_number: PartNumber, body: PriceIn, cmd: ManageCmd, ctx: Ctx) -> Any:
    return cmd.accepted(ctx.inventory.change_price(cmd.envelope, part_number,
                                                   list_price=body.list_price,
                                                   reason=body.reason))


@router.get("", dependencies=[Reader], response_model=Page)
def find_parts(ctx: Ctx, q: str | None = Query(default=None, max_length=100,
                                               description="part number, barcode or name"),
               limit: Annotated[int, Query(ge=1, le=500), Plain] = 50,
               offset: Offset = 0, wait_for: WaitFor = None) -> Any:
    wait_for_projection(ctx, VIEW, wait_for)
    with ctx.pool.connection() as conn:
        return search_parts(conn, q, limit=limit, offset=offset)


@router.get("/{part_number}", dependencies=[Reader])
def part_detail(part_number: PartNumber, ctx: Ctx, as_of: AsOf = None,
                wait_for: WaitFor = None) -> Any:
    """The master record; with `as_of` (a moment, or a day: its end in the store's time zone)
    its details and list price as they stood then, replayed from its events, with `as_of` (404
    before it was registered; `wait_for` does not apply)."""
    moment = requested_moment(as_of, ctx)
    if moment is not None:
        return existed_then(part_as_of(ctx.app, normalise_part_number(part_number), moment),
                            f"part {part_number}", moment)
    wait_for_projection(ctx, VIEW, wait_for)
    with ctx.pool.connection() as conn:
        found = get_part(conn, normalise_part_number(part_number))
    if found is None:
        raise NotFound(f"part {part_number} is not in the part master")
    return found


@router.get("/{part_number}/history", response_model=HistoryPage,
            dependencies=[Depends(reader("stock.audit"))])
def part_history(part_number: PartNumber, ctx: Ctx,
                 limit: Limit = 500, offset: Offset = 0) -> Any:
    """Every change to the master record: who, when, why (price changes carry the reason)."""
    return stream_history(ctx, Part.create_id(normalise_part_number(part_number)), "Part", None,
                          f"part {part_number} is not in the part master", limit=limit,
                          offset=offset).page
