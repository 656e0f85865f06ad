"""/stock: per store and part (lots, reservations), movements, valuation, approvals, transfers;
/alerts: open low-stock alerts."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query
from starlette.concurrency import run_in_threadpool

from api.as_of import AsOf, requested_moment
from api.auth import Principal
from api.dates import QueryMoment, ordered
from api.deps import (
    Command,
    Ctx,
    DocumentId,
    IdFilter,
    Offset,
    PartNumber,
    StoreId,
    TextFilter,
    WaitFor,
    command,
    reader,
    wait_for_projection,
)
from api.json_bodies import JsonBodyRoute
from api.numbers import Plain
from api.paging import HistoryPage, Page
from api.paging import Limit as PageLimit
from api.reads import ReadModels, Reads
from api.schemas import ApprovalStatus, CommandAccepted, MovementType, TransferStatus
from api.schemas_stock import (
    ApprovalPage,
    CountIn,
    DecisionIn,
    LevelsIn,
    MovementPage,
    ReceiptIn,
    ScrapIn,
    SupplierReturnIn,
    TransferIn,
    TransferPage,
    TransferReceiptIn,
    ValuationPage,
)
from domain.common import NotFound
from domain.part import normalise_part_number
from domain.stock import StockItem
from domain.transfer import Transfer
from projections import audit
from projections.stock_as_of import in_transit_as_of, stock_as_of
from projections.stock_batch import work_order_of
from projections.stock_queries import (
    LOT_MOVEMENTS,
    get_lot,
    incoming_transfers,
    list_alerts,
    list_approvals,
    list_lots,
    list_movements,
    list_stock,
    list_transfers,
    valuation,
)
from projections.stock_queries import stock_item as stock_item_reading
from projections.stock_valuation import valuation_as_of

router = APIRouter(prefix="/stock", tags=["stock"], route_class=JsonBodyRoute)
# The single item (the most frequent stock request) and the lot ledger, which must come before
# it (/lots/{lot_id} would match it too): included first, as routes are tried in order and
# every route tried costs.
item_router = APIRouter(prefix="/stock", tags=["stock"], route_class=JsonBodyRoute)
alerts_router = APIRouter(prefix="/alerts", tags=["stock"], route_class=JsonBodyRoute)
VIEW = "stock"
READ = "stock.read"
Reader = Annotated[Principal, Depends(reader(READ))]
Auditor = Annotated[Principal, Depends(reader("stock.audit"))]
MoveCmd = Annotated[Command, Depends(command("stock.move"))]
ApproveCmd = Annotated[Command, Depends(command("stock.approve"))]
Limit = Annotated[int, Query(ge=1, le=500), Plain]
LotState = Literal["open", "exhausted", "all"]


# -- queries --------------------------------------------------------------------------------

@item_router.get("/lots/{lot_id}")
def lot_ledger(lot_id: DocumentId, ctx: Ctx, principal: Reader,
               movements_limit: Annotated[int, Query(ge=1, le=1000, description=(
                   "at most this many movements")), Plain] = LOT_MOVEMENTS,
               movements_offset: Offset = 0, wait_for: WaitFor = None) -> Any:
    """A lot: supplier, certificate, cost, and its movements in or out, in booking order, a
    page at a time (`movements_limit`, `movements_offset`; `movements_count` counts them
    all)."""
    wait_for_projection(ctx, VIEW, wait_for)
    with ctx.pool.connection() as conn:
        found = get_lot(conn, principal.stores, lot_id, limit=movements_limit,
                        offset=movements_offset)
    if found is None:
        raise NotFound(f"lot {lot_id} not found")
    return found


@item_router.get("/{store_id}/{part_number}")
async def stock_item(store_id: StoreId, part_number: PartNumber, reads: Reads,
                     principal: Reader, as_of: AsOf = None, wait_for: WaitFor = None) -> Any:
    """Figures, open lots and reservations from the read model, or, with `as_of` (a moment, or
    a day: its end in the store's time zone), replayed from the stock item's events as they
    stood at that moment. Exhausted lots: `GET /stock/{store_id}/{part_number}/lots`."""
    ctx = reads.ctx  # not a dependency of its own: each costs a solve on every request
    moment = requested_moment(as_of, ctx)
    if moment is not None:
        return await run_in_threadpool(_stock_as_of, ctx, principal, store_id, part_number,
                                       moment)
    return await current_stock_item(reads, principal, store_id, part_number, wait_for)


async def current_stock_item(reads: ReadModels, principal: Principal, store_id: str,
                             part_number: str, wait_for: int | None) -> dict[str, Any]:
    """The stock item from the read model (also answered by api/hot_reads.py)."""
    number = normalise_part_number(part_number)
    await reads.wait(VIEW, wait_for)
    found = await reads.fetch(stock_item_reading, principal.stores, store_id, number)
    if found is None:
        # A store that never held the part may have some on the way: say so, with the transfers.
        coming = await reads.fetch(incoming_transfers, principal.stores, store_id, number)
        on_way = "".join(f"; {t['qty']} on the way from {t['from_store']} ({t['number']})"
                         for t in coming)
        raise NotFound(f"store {store_id} holds no stock of {part_number}{on_way}",
                       in_transit=[{"id": str(t["id"]), "number": t["number"],
                                    "from_store": t["from_store"], "qty": str(t["qty"]),
                                    "sent_at": t["sent_at"].isoformat()} for t in coming])
    return found


def _stock_as_of(ctx: Ctx, principal: Principal, store_id: str, part_number: str,
                 as_of: datetime) -> dict[str, Any]:
    number = normalise_part_number(part_number)
    item: Any = None
    since: dict[str, datetime] = {}
    if "*" in principal.stores or store_id in principal.stores:
        item, since = stock_as_of(ctx.app, StockItem.create_id(store_id, number), as_of)
    if not isinstance(item, StockItem):
        raise NotFound(f"store {store_id} held no stock of {number} at {as_of.isoformat()}")
    lots = [{k: v for k, v in lot.items() if k != "seq"} for lot in item.open_lots.values()]
    # The same list as the current item's (`key`, `qty`, `work_order_id`, `line_id`, `at`).
    reservations = [{"key": key, "qty": qty, "work_order_id": work_order_of(key)[0],
                     "line_id": work_order_of(key)[1], "at": since.get(key)}
                    for key, qty in item.reserved.items()]
    reservations.sort(key=lambda r: (r["at"] is None, r["at"] or as_of, r["key"]))
    with ctx.pool.connection() as conn:
        in_transit = in_transit_as_of(ctx.app, conn, store_id, number, as_of)
    return {"store_id": store_id, "part_number": number, "as_of": as_of.isoformat(),
            "version": item.version, **item.figures(), "in_transit": in_transit,
            "fifo_value": item.fifo_value,
            "min_stock": item.min_stock, "low_stock": item.alert_raised, "lots": lots,
            "reservations": reservations}


@router.get("", response_model=Page)
def stock_list(ctx: Ctx, principal: Reader, store_id: IdFilter = None,
               part_number: IdFilter = None, low_only: bool = False, limit: Limit = 50,
               offset: Offset = 0, wait_for: WaitFor = None) -> Any:
    """On hand, reserved, available, on order, in transit and FIFO value per store and part."""
    wait_for_projection(ctx, VIEW, wait_for)
    number = normalise_part_number(part_number) if part_number else None
    with ctx.pool.connection() as conn:
        return list_stock(conn, principal.stores, store_id=store_id, part_number=number,
                          low_only=low_only, limit=limit, offset=offset)


@router.get("/valuation", response_model=ValuationPage, response_model_exclude_unset=True)
def stock_valuation(ctx: Ctx, principal: Auditor, store_id: IdFilter = None,
                    limit: PageLimit = 200, offset: Offset = 0, as_of: AsOf = None,
                    wait_for: WaitFor = None) -> Any:
    """Per store (`store_id`: one of them): parts in stock, units, FIFO value, parts below
    their minimum, stock sent and not yet booked in; with `as_of` (a moment, or a day: its
    end in the store's time zone), as they stood then (projections/stock_valuation.py)."""
    moment = requested_moment(as_of, ctx)
    wait_for_projection(ctx, VIEW, wait_for)
    with ctx.pool.connection() as conn:
        if moment is not None:
            return valuation_as_of(conn, ctx.app, principal.stores, moment,
                                   store_id=store_id, limit=limit, offset=offset)
        return valuation(conn, principal.stores, store_id=store_id, limit=limit,
                         offset=offset)


@router.get("/movements", response_model=MovementPage)
def movements(ctx: Ctx, principal: Auditor, store_id: IdFilter = None,
              part_number: IdFilter = None, lot_id: TextFilter = None,
              work_order_id: UUID | None = None, supplier: TextFilter = None,
              type: MovementType | None = None, at_from: QueryMoment | None = None,
              at_to: QueryMoment | None = None, reference: TextFilter = None,
              limit: Limit = 100, offset: Offset = 0, wait_for: WaitFor = None) -> Any:
    """The movement journal: one row per lot touched, newest first; `reference` the
    document a movement was booked under (a stocktake's count id such as `ST-2026-05`, a
    delivery note, a PO, a request; a transfer's `TR-…` number); `value` their net value;
    `at_to` before `at_from`: 422."""
    ordered(at_from, at_to, first_name="at_from", last_name="at_to")
    wait_for_projection(ctx, VIEW, wait_for)
    with ctx.pool.connection() as conn:
        return list_movements(
            conn, principal.stores, limit=limit, offset=offset, store_id=store_id,
            part_number=normalise_part_number(part_number) if part_number else None,
            lot_id=lot_id, work_order_id=work_order_id, supplier=supplier, type=type,
            at_from=at_from, at_to=at_to, reference=reference)


@router.get("/approvals", response_model=ApprovalPage, response_model_exclude_unset=True)
def approvals(ctx: Ctx, principal: Reader,
              status: ApprovalStatus | None = "awaiting_approval", store_id: IdFilter = None,
              limit: PageLimit = 200, offset: Offset = 0, wait_for: WaitFor = None) -> Any:
    """Scrap requests and stocktake variances waiting for (or decided by) a manager, of the
    caller's stores (`store_id`: one of them; another's: none)."""
    wait_for_projection(ctx, VIEW, wait_for)
    with ctx.pool.connection() as conn:
        return list_approvals(conn, principal.stores, status=status, store_id=store_id,
                              limit=limit, offset=offset)


@router.get("/transfers", response_model=TransferPage)
def transfers(ctx: Ctx, principal: Reader, status: TransferStatus | None = None,
              store_id: IdFilter = None, limit: PageLimit = 200, offset: Offset = 0,
              wait_for: WaitFor = None) -> Any:
    """The transfers from or to the caller's stores (`store_id`: from or to that one), the
    latest sent first, each with its `days_in_transit`; `cost` what the listed ones carry."""
    wait_for_projection(ctx, VIEW, wait_for)
    with ctx.pool.connection() as conn:
        return list_transfers(conn, principal.stores, status=status, store_id=store_id,
                              limit=limit, offset=offset)


@router.get("/transfers/{transfer_id}/history", response_model=HistoryPage)
def transfer_history(transfer_id: UUID, ctx: Ctx, principal: Auditor,
                     limit: Limit = 500, offset: Offset = 0) -> Any:
    """Every event of a transfer (dispatch, receipt), with actor, time and reason; for the
    sending and the receiving store (declared before the `/{store_id}/{part_number}` routes,
    which would otherwise read `transfers` as a store)."""
    found = audit.history_page(ctx.app, transfer_id, limit=limit, offset=offset)
    dispatched = next(iter(ctx.app.events.get(transfer_id, lte=1)), None) if found else None
    if found is None or not isinstance(dispatched, Transfer.Dispatched) or not (
            principal.sees(dispatched.from_store) or principal.sees(dispatched.to_store)):
        raise NotFound(f"transfer {transfer_id} not found")
    return found.page


@router.get("/{store_id}/{part_number}/lots", response_model=Page)
def stock_lots(store_id: StoreId, part_number: PartNumber, ctx: Ctx, principal: Reader,
               state: LotState = "exhausted", limit: PageLimit = 100, offset: Offset = 0,
               wait_for: WaitFor = None) -> Any:
    """The item's lots in receipt order, with supplier, certificate and cost: the exhausted
    ones (the default; the item's detail lists only open lots), the open ones, or all."""
    wait_for_projection(ctx, VIEW, wait_for)
    with ctx.pool.connection() as conn:
        found = list_lots(conn, principal.stores, store_id, normalise_part_number(part_number),
                          state=state, limit=limit, offset=offset)
    if found is None:
        raise NotFound(f"store {store_id} holds no stock of {part_number}")
    return found


@router.get("/{store_id}/{part_number}/history", response_model=HistoryPage)
def stock_history(store_id: StoreId, part_number: PartNumber, ctx: Ctx, principal: Auditor,
                  limit: Limit = 500, offset: Offset = 0) -> Any:
    """Every event of the stock item, with actor, time and reason."""
    if "*" not in principal.stores and store_id not in principal.stores:
        raise NotFound(f"store {store_id} holds no stock of {part_number}")
    found = audit.history_page(ctx.app, StockItem.create_id(
        store_id, normalise_part_number(part_number)), limit=limit, offset=offset)
    if found is None:
        raise NotFound(f"store {store_id} holds no stock of {part_number}")
    return found.page


@alerts_router.get("", response_model=Page)
def alerts(ctx: Ctx, principal: Reader, include_cleared: bool = False,
           store_id: IdFilter = None, limit: PageLimit = 200, offset: Offset = 0,
           wait_for: WaitFor = None) -> Any:
    """Low-stock alerts: available below the minimum (raised once, cleared once), of the
    caller's stores (`store_id`: one of them; another's: none)."""
    wait_for_projection(ctx, VIEW, wait_for)
    with ctx.pool.connection() as conn:
        return list_alerts(conn, principal.stores, include_cleared=include_cleared,
                           store_id=store_id, limit=limit, offset=offset)


# -- movements ------------------------------------------------------------------------------

@router.post("/{store_id}/{part_number}/receipts", response_model=CommandAccepted,
             status_code=201)
def receive(store_id: StoreId, part_number: PartNumber, body: ReceiptIn, cmd: MoveCmd, ctx: Ctx) -> Any:
    """A delivery: a new lot (supplier, delivery note, unit cost, certificate)."""
    return cmd.accepted(ctx.inventory.receive(cmd.envelope, store_id, part_number,
                                              **body.model_dump()))


@router.post("/{store_id}/{part_number}/levels", response_model=CommandAccepted)
def set_levels(store_id: StoreId, part_number: PartNumber, body: LevelsIn, cmd: MoveCmd, ctx: Ctx) -> Any:
    return cmd.accepted(ctx.inventory.set_levels(cmd.envelope, store_id, part_number,
                                                 **body.model_dump()))


@router.post("/{store_id}/{part_number}/scrap", response_model=CommandAccepted)
def scrap(store_id: StoreId, part_number: PartNumber, body: ScrapIn, cmd: MoveCmd, ctx: Ctx) -> Any:
    """Scrap now, or (above the thresholds, unless a manager asks) wait for approval."""
    return cmd.accepted(ctx.inventory.scrap(cmd.envelope, store_id, part_number,
                                            **body.model_dump()))


@router.post("/{store_id}/{part_number}/scrap/{request_id}/decision",
             response_model=CommandAccepted)
def decide_scrap(store_id: StoreId, part_number: PartNumber, request_id: DocumentId, body: DecisionIn,
                 cmd: ApproveCmd, ctx: Ctx) -> Any:
    return cmd.accepted(ctx.inventory.decide_scrap(cmd.envelope, store_id, part_number,
                                                   request_id, **body.model_dump()))


@router.post("/{store_id}/{part_number}/stocktakes", response_model=CommandAccepted)
def count(store_id: StoreId, part_number: PartNumber, body: CountIn, cmd: MoveCmd, ctx: Ctx) -> Any:
    """Counted vs book per lot (any lot the item took in: units found of a used-up one go
    back into it at its own cost); the variance posts now or waits for a manager."""
    return cmd.accepted(ctx.inventory.count(cmd.envelope, store_id, part_number,
                                            counted=dict(body.counted), reason=body.reason,
                                            count_ref=body.count_ref,
                                            as_of_version=body.as_of_version))


@router.post("/{store_id}/{part_number}/stocktakes/{count_id}/decision",
             response_model=CommandAccepted)
def decide_count(store_id: StoreId, part_number: PartNumber, count_id: DocumentId, body: DecisionIn,
                 cmd: ApproveCmd, ctx: Ctx) -> Any:
    return cmd.accepted(ctx.inventory.decide_count(cmd.envelope, store_id, part_number,
                                                   count_id, **body.model_dump()))


@router.post("/{store_id}/{part_number}/supplier-returns", response_model=CommandAccepted)
def return_to_supplier(store_id: StoreId, part_number: PartNumber, body: SupplierReturnIn,
                       cmd: MoveCmd, ctx: Ctx) -> Any:
    return cmd.accepted(ctx.inventory.return_to_supplier(cmd.envelope, store_id, part_number,
                                                         **body.model_dump()))


@router.post("/transfers", response_model=CommandAccepted, status_code=201)
def transfer(body: TransferIn, cmd: MoveCmd, ctx: Ctx) -> Any:
    """Parts leave the sending store and are in transit until the receiver books them in."""
    return cmd.accepted(ctx.inventory.transfer(cmd.envelope, **body.model_dump()))


@router.post("/transfers/{transfer_id}/receipt", response_model=CommandAccepted)
def receive_transfer(transfer_id: UUID, cmd: MoveCmd, ctx: Ctx,
                     body: TransferReceiptIn | None = None) -> Any:
    """The receiving store books the parts in; fewer than were sent are counted short."""
    given = body.model_dump() if body is not None else {}
    return cmd.accepted(ctx.inventory.receive_transfer(cmd.envelope, transfer_id, **given))
