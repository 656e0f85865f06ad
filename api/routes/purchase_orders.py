"""/purchase-orders: reorder suggestions, drafts (by hand or from suggestions), send, the
expected delivery day, receive against lines, close, cancel."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query

from api.as_of import AsOf, found_then, requested_moment
from api.auth import Principal
from api.deps import (
    Command,
    Ctx,
    IdFilter,
    Offset,
    TextFilter,
    WaitFor,
    command,
    reader,
    wait_for_projection,
    wait_for_views,
)
from api.histories import stream_history
from api.json_bodies import JsonBodyRoute
from api.numbers import Plain
from api.paging import HistoryPage, Limit, Page
from api.replays import answered_by, located
from api.schemas import CommandAccepted, PurchaseOrderStatus, ReasonIn
from api.schemas_stock import (
    CloseIn,
    ExpectedDateIn,
    FromSuggestionsIn,
    OrderIn,
    OrderLineIn,
    PoReceiptIn,
    PurchaseOrderPage,
)
from domain.common import InvalidInput, NotFound
from domain.purchase_order import MAX_DRAFT_LINES, require_draft_size
from projections.purchase_order_doc import purchase_order_as_of
from projections.purchase_order_queries import get_order, list_orders
from projections.stock_queries import reorder_suggestions

router = APIRouter(prefix="/purchase-orders", tags=["purchase orders"], route_class=JsonBodyRoute)
VIEW = "stock"
Reader = Annotated[Principal, Depends(reader("purchase_orders.read"))]
ManageCmd = Annotated[Command, Depends(command("purchase_orders.manage"))]


@router.get("/suggestions", response_model=Page)
def suggestions(ctx: Ctx, principal: Reader, store_id: IdFilter = None,
                supplier: TextFilter = None, limit: Limit = 200, offset: Offset = 0,
                after_transfers: bool = False, wait_for: WaitFor = None) -> Any:
    """What to reorder: available + on order below the minimum; quantity and supplier. With
    `after_transfers`, what is in transit to the store and what the token's other stores would
    send it (`GET /transfers/suggestions`) count as coming too (`by_transfer`)."""
    wait_for_views(ctx, wait_for, VIEW, *(("parts_demand",) if after_transfers else ()))
    with ctx.pool.connection() as conn:
        return reorder_suggestions(conn, principal.stores, store_id=store_id, supplier=supplier,
                                   limit=limit, offset=offset, after_transfers=after_transfers)


@router.post("", response_model=CommandAccepted, status_code=201)
@answered_by(located("/purchase-orders/{id}"))
def draft(body: OrderIn, cmd: ManageCmd, ctx: Ctx) -> Any:
    return ctx.inventory.draft_order(cmd.envelope, store_id=body.store_id,
                                     supplier=body.supplier,
                                     lines=body.line_data(), expected_on=body.expected_on)


@router.post("/from-suggestions", response_model=CommandAccepted, status_code=201)
@answered_by(located("/purchase-orders/{id}"))
def draft_from_suggestions(body: FromSuggestionsIn, cmd: ManageCmd, ctx: Ctx) -> Any:
    """The read model proposes; the command re-checks each part on its stock item. A retry
    with the Idempotency-Key of a draft that was stored answers that draft (the parts it put
    on order are no longer proposed), as every command route does (api/replays.py)."""
    numbers = body.part_numbers
    caps = None
    if numbers is None or body.after_transfers:
        with ctx.pool.connection() as conn:
            proposed = reorder_suggestions(conn, cmd.envelope.caller.stores,
                                           store_id=body.store_id, supplier=body.supplier,
                                           limit=None if numbers else MAX_DRAFT_LINES,
                                           offset=0, after_transfers=body.after_transfers)
        if body.after_transfers:
            caps = {row["part_number"]: row["suggested_qty"] for row in proposed["items"]}
    if numbers is None:
        require_draft_size(proposed["total"], f"proposed from {body.supplier}: name the "
                           "ones to order in part_numbers")
        numbers = [row["part_number"] for row in proposed["items"]]
    if not numbers:
        raise InvalidInput(f"nothing to reorder from {body.supplier} for {body.store_id}")
    return ctx.inventory.draft_from_suggestions(
        cmd.envelope, store_id=body.store_id, supplier=body.supplier, part_numbers=numbers,
        caps=caps, expected_on=body.expected_on)


@router.get("", response_model=PurchaseOrderPage)
def orders(ctx: Ctx, principal: Reader, store_id: IdFilter = None,
           status: PurchaseOrderStatus | None = None, supplier: TextFilter = None,
           overdue: Annotated[bool | None, Query(description=(
               "true: the overdue orders alone (sent or partly received, their expected "
               "delivery day before the store's today); false: the others"))] = None,
           limit: Annotated[int, Query(ge=1, le=500), Plain] = 50,
           offset: Offset = 0, wait_for: WaitFor = None) -> Any:
    """The purchase orders of the caller's stores (or `store_id`'s; another store's: none),
    the newest first, each with its `expected_on`, `overdue` and `open_value` (what it still
    owes at the ordered cost); the page's `open_value` sums every order listed."""
    wait_for_projection(ctx, VIEW, wait_for)
    with ctx.pool.connection() as conn:
        return list_orders(conn, principal.stores, today=ctx.today(), store_id=store_id,
                           status=status, supplier=supplier, overdue=overdue, limit=limit,
                           offset=offset)


@router.get("/{order_id}")
def order(order_id: UUID, ctx: Ctx, principal: Reader, as_of: AsOf = None,
          wait_for: WaitFor = None) -> Any:
    """The order with its lines and receipts; with `as_of` (a moment, or a day: its end in
    the store's time zone) as it stood then, replayed from its events through the read
    model's own fold (404 before it was drafted, as outside the token's stores; `wait_for`
    does not apply)."""
    moment = requested_moment(as_of, ctx)
    if moment is not None:
        return found_then(purchase_order_as_of(ctx.app, order_id, moment,
                                               ZoneInfo(ctx.timezone)), principal,
                          f"purchase order {order_id}", moment)
    wait_for_projection(ctx, VIEW, wait_for)
    with ctx.pool.connection() as conn:
        found = get_order(conn, principal.stores, order_id, ctx.today())
    if found is None:
        raise NotFound(f"purchase order {order_id} not found")
    return found


@router.get("/{order_id}/history", response_model=HistoryPage)
def order_history(order_id: UUID, ctx: Ctx, principal: Reader,
                  limit: Limit = 500, offset: Offset = 0) -> Any:
    return stream_history(ctx, order_id, "PurchaseOrder", principal.stores,
                          f"purchase order {order_id} not found", limit=limit,
                          offset=offset).page


@router.post("/{order_id}/lines", response_model=CommandAccepted)
def add_line(order_id: UUID, body: OrderLineIn, cmd: ManageCmd, ctx: Ctx) -> Any:
    return cmd.accepted(ctx.inventory.add_order_line(cmd.envelope, order_id, body.model_dump()))


@router.post("/{order_id}/send", response_model=CommandAccepted)
def send(order_id: UUID, cmd: ManageCmd, ctx: Ctx) -> Any:
    return cmd.accepted(ctx.inventory.send_order(cmd.envelope, order_id))


@router.post("/{order_id}/expected-date", response_model=CommandAccepted)
def expect(order_id: UUID, body: ExpectedDateIn, cmd: ManageCmd, ctx: Ctx) -> Any:
    """The day the supplier is expected to deliver, given or moved (with a reason once one was
    given) while it still owes the order something."""
    return cmd.accepted(ctx.inventory.expect_delivery(cmd.envelope, order_id,
                                                      expected_on=body.expected_on,
                                                      reason=body.reason))


@router.post("/{order_id}/receipts", response_model=CommandAccepted, status_code=201)
def receive(order_id: UUID, body: PoReceiptIn, cmd: ManageCmd, ctx: Ctx) -> Any:
    """Receive (part of) a line: a lot in the store and the line's received quantity, together."""
    return cmd.accepted(ctx.inventory.receive_on_order(cmd.envelope, order_id,
                                                       **body.model_dump()))


@router.post("/{order_id}/close", response_model=CommandAccepted)
def close(order_id: UUID, cmd: ManageCmd, ctx: Ctx, body: CloseIn | None = None) -> Any:
    return cmd.accepted(ctx.inventory.close_order(cmd.envelope, order_id,
                                                  reason=body.reason if body else None))


@router.post("/{order_id}/cancel", response_model=CommandAccepted)
def cancel(order_id: UUID, body: ReasonIn, cmd: ManageCmd, ctx: Ctx) -> Any:
    """Always with a reason (closing wants one only when the order is short)."""
    return cmd.accepted(ctx.inventory.cancel_order(cmd.envelope, order_id, reason=body.reason))
