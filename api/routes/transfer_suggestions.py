"""/transfers: which sister stores can spare what a store is short of (自动调拨), and sending
those transfers in one command."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from api.auth import Principal
from api.deps import (
    Command,
    Ctx,
    Offset,
    WaitFor,
    command,
    reader,
    wait_for_views,
)
from api.json_bodies import JsonBodyRoute
from api.paging import Limit, Page
from api.schemas import CommandAccepted
from api.schemas_stock import TransfersFromSuggestionsIn
from domain.part import normalise_part_number
from domain.transfer_suggesting import MAX_SUGGESTED_PARTS, require_plan_size, send_suggested
from projections.transfer_suggestions import coming_and_waiting, transfer_suggestions

router = APIRouter(prefix="/transfers", tags=["stock"], route_class=JsonBodyRoute)
VIEWS = ("stock", "parts_demand")
Reader = Annotated[Principal, Depends(reader("transfers.suggestions"))]
MoveCmd = Annotated[Command, Depends(command("stock.move"))]
ToStore = Annotated[str, Query(min_length=1, max_length=20, description=(
    "the store below its minimum"))]


@router.get("/suggestions", response_model=Page)
def suggestions(ctx: Ctx, principal: Reader, to_store: ToStore, limit: Limit = 200,
                offset: Offset = 0, wait_for: WaitFor = None) -> Any:
    """The store's parts whose available + on order + in transit is below the minimum that a
    sister store (of the token's) can spare: what it needs, and per donor its spare (available
    − minimum − what its own work orders wait for), the quantity it sends (most spare first,
    never more than needed in all) and the FIFO value that would leave it."""
    wait_for_views(ctx, wait_for, *VIEWS)
    with ctx.pool.connection() as conn:
        return transfer_suggestions(conn, principal.stores, to_store=to_store, limit=limit,
                                    offset=offset)


@router.post("/from-suggestions", response_model=CommandAccepted, status_code=201)
def send_from_suggestions(body: TransfersFromSuggestionsIn, cmd: MoveCmd, ctx: Ctx) -> Any:
    """Send the proposed transfers, one per part and donor, re-checked on the stock items; a
    retry with the Idempotency-Key of a call that was stored answers what it sent, as every
    command route does (api/replays.py). Without `lines`, what the list proposes now
    (re-planned on the current stock)."""
    lines = None if body.lines is None else [line.model_dump() for line in body.lines]
    # the views, caught up with the log first (bounded): the plan, what donors' work orders
    # wait for, and the transfers in transit to the store (the command re-checks what is
    # coming to it on the aggregates; the view's list adds those sent before that was kept)
    head = ctx.app.recorder.max_notification_id()
    wait_for_views(ctx, head, *VIEWS)
    stores = cmd.envelope.caller.stores
    with ctx.pool.connection() as conn:
        if lines is None:
            # planned no further than one command sends: past that it is refused anyway
            proposed = transfer_suggestions(conn, stores, to_store=body.to_store,
                                            limit=MAX_SUGGESTED_PARTS, offset=0)
            require_plan_size(proposed["total"])
            lines = [{"part_number": item["part_number"], "from_store": d["store_id"],
                      "qty": d["qty"]} for item in proposed["items"] for d in item["donors"]]
        numbers = sorted({normalise_part_number(str(line["part_number"])) for line in lines})
        in_transit, waiting = coming_and_waiting(conn, body.to_store, numbers)
    return cmd.accepted(send_suggested(ctx.inventory, cmd.envelope, to_store=body.to_store,
                                       lines=lines, in_transit=in_transit, waiting=waiting,
                                       reason=body.reason))
