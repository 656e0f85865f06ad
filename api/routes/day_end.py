"""/day-end: a cashier's day-end close; /day-end/{business_date}: the daily cash report, now or
as it stood at a moment, and the history of one cashier's day."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from api.as_of import AsOf, requested_moment
from api.auth import Principal
from api.context import ApiContext
from api.dates import PlainDay
from api.deps import (
    Command,
    Ctx,
    IdFilter,
    Offset,
    StoreQuery,
    WaitFor,
    command,
    reader,
    stores_asked,
    wait_for_projection,
)
from api.histories import stream_history
from api.json_bodies import JsonBodyRoute
from api.paging import HistoryPage, Limit
from api.replays import answered_by
from api.schemas import CommandAccepted
from api.schemas_money import DayEndIn
from domain.application import CommandResult
from domain.cashier_day import CashierDay
from domain.common import NotFound
from projections import chain_witness, day_report, finance_queries
from projections.cashier_day_as_of import cashier_day_as_of

router = APIRouter(tags=["finance"], route_class=JsonBodyRoute)
VIEW = "finance"
FinanceReader = Annotated[Principal, Depends(reader("finance.read"))]
Auditor = Annotated[Principal, Depends(reader("day_end.audit"))]
Cashier = Annotated[str, Query(min_length=1, max_length=64, description="the cashier's user id")]
CloseCmd = Annotated[Command, Depends(command("day_end.close"))]


def _closed(result: CommandResult, *, cmd: Command, ctx: ApiContext, body: DayEndIn,
            **_: Any) -> dict[str, Any]:
    answer = cmd.accepted(result)
    note = chain_witness.day_end_note(body.store_id, answer["business_date"],
                                      answer["cashier_id"])
    with ctx.pool.connection() as conn:
        recorded = chain_witness.witness_once(conn, ctx.witness_path, note,
                                              cmd.envelope.caller.user_id,
                                              answer["notification_id"] or 0)
    return {**answer, "anchor": recorded["anchor"]}


@router.post("/day-end", response_model=CommandAccepted)
@answered_by(_closed)
def close_day(body: DayEndIn, cmd: CloseCmd, ctx: Ctx) -> Any:
    """Totals by method; expected vs counted cash (a variance needs a reason); the day then
    refuses back-dated payments. Today's close is 409 (`DayStillOwes`, `open_refunds`) while a
    refund the cashier asked for in the store waits for a manager's decision (found in the
    finance view once it holds the log's head, re-checked on each settlement). The chain head
    after the close is recorded as an anchor and written to the witness file outside the
    database; `anchor` (`N:HEX`) answers it, once: a retry with the close's Idempotency-Key
    answers the anchor recorded after it (recording it then if the first attempt's answer
    was lost before it was)."""
    cashier = body.cashier_id or cmd.envelope.caller.user_id
    wait_for_projection(ctx, VIEW, _log_head(ctx))
    with ctx.pool.connection() as conn:
        waiting = finance_queries.waiting_refunds(conn, body.store_id, cashier)
    return ctx.settlements.close_day(cmd.envelope, **body.model_dump(), waiting=waiting)


@router.get("/day-end/{business_date}")
def daily_cash(business_date: PlainDay, ctx: Ctx, principal: FinanceReader, as_of: AsOf = None,
               store_id: IdFilter = None, wait_for: WaitFor = None) -> Any:
    """The daily cash report: taken and refunded per cashier and method, each day-end, and
    the chain anchor each close recorded (`chain_anchors`, to keep on the printed report);
    apart from the cashiers' figures, the OEM's and insurers' remittances by bank transfer
    (`bank_receipts`) and those paid back by bank transfer (`bank_refunds`), in no day.
    With `as_of` (a moment, or a day: its end in the store's time zone) the report as it stood
    then: the payments taken and refunds approved by then, each cashier's day replayed from
    its events (open or closed, totals, expected and counted cash), the anchors recorded by
    then, and `as_of` (404 when none of the day's cashier days in your stores was open yet).
    The payments, refunds and the cashier days there are come from the finance view, read
    once it holds every event stored when the request came (or `wait_for`'s). `store_id`:
    one of the caller's stores alone (another store's: nothing)."""
    stores = stores_asked(principal.stores, store_id)
    moment = requested_moment(as_of, ctx)
    if moment is not None:
        wait_for_projection(ctx, VIEW, wait_for or _log_head(ctx))
        return _as_of(ctx, stores, business_date, moment)
    wait_for_projection(ctx, VIEW, wait_for)
    with ctx.pool.connection() as conn:
        report = day_report.daily_cash(conn, stores, business_date)
        anchors = chain_witness.day_end_anchors(conn, stores, business_date)
    return {**report, "chain_anchors": anchors}


def _log_head(ctx: Ctx) -> int | None:
    with ctx.pool.connection() as conn:
        row = conn.execute("SELECT max(notification_id) FROM servicecore_events").fetchone()
    return row[0] if row else None


def _as_of(ctx: Ctx, stores: Sequence[str], business_date: date,
           moment: datetime) -> dict[str, Any]:
    with ctx.pool.connection() as conn:
        report = day_report.daily_cash(
            conn, stores, business_date, until=moment,
            replayed=lambda day_id: cashier_day_as_of(ctx.app, day_id, moment))
        anchors = chain_witness.day_end_anchors(conn, stores, business_date, moment)
    if not report["cashier_days"]:
        raise NotFound(f"the cashier days of {business_date} did not exist at "
                       f"{moment.isoformat()}")
    return {**report, "chain_anchors": anchors, "as_of": moment.isoformat()}


@router.get("/day-end/{business_date}/history", response_model=HistoryPage)
def cashier_day_history(business_date: PlainDay, ctx: Ctx, principal: Auditor,
                        store_id: StoreQuery, cashier: Cashier, limit: Limit = 500,
                        offset: Offset = 0) -> Any:
    """Every event of one cashier's day in a store: opened, each payment taken and refund
    paid out (settlement, method, amount), the close with its totals, counted cash and the
    variance's reason; who and when."""
    day = business_date.isoformat()
    return stream_history(ctx, CashierDay.create_id(store_id, cashier, day), "CashierDay",
                          principal.stores, f"no day of cashier {cashier} on {day} in "
                          f"store {store_id}", limit=limit, offset=offset).page
