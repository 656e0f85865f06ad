"""The lists finance looks over at month end, one store or all of the caller's: the imported
bank statements with how many lines are still unmatched (GET /reconciliation/statements),
every write-off and charge-back over a period (GET /write-offs) and a month's summed by payer
(GET /write-offs/by-payer), and the cashier days of a month (GET /day-end). Read from the
finance view; a `store_id` outside the token lists nothing."""

from __future__ import annotations

import calendar
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from api.auth import Principal
from api.csv_answers import CSV_RESPONSE, Bom, Format, csv_answer
from api.dates import PlainDay, ordered
from api.deps import Ctx, IdFilter, Offset, WaitFor, reader, wait_for_projection
from api.json_bodies import JsonBodyRoute
from api.paging import Limit, PageOf
from api.routes.finance import MONTH, require_month
from api.routes.write_offs import Kind, WriteOffOut
from domain.common import InvalidInput
from domain.days import month_days
from projections import finance_queries
from projections.statement_rows import list_statements
from projections.write_off_rows import write_offs_by_payer, write_offs_over

router = APIRouter(tags=["finance"], route_class=JsonBodyRoute)
VIEW = "finance"
FinanceReader = Annotated[Principal, Depends(reader("finance.read"))]
WriteOffReader = Annotated[Principal, Depends(reader("receivables.write_offs"))]
Month = Annotated[str | None, Query(max_length=7, pattern=MONTH, description="YYYY-MM")]
StatementStatus = Annotated[Literal["open", "reconciled"] | None, Query(description="open: some line is unmatched; reconciled: none is")]


class StatementSummary(BaseModel):
    id: str
    store_id: str
    source: str = Field(description="bank, card_acquirer, wechat_pay or alipay")
    account: str
    date_from: date | None = Field(description="its earliest line's date")
    date_to: date | None = Field(description="its latest line's date")
    imported_at: datetime
    imported_by: str
    lines: int
    matched: int = Field(description="lines matched to a payment or a refund")
    explained: int = Field(description="lines explained as needing no match")
    unmatched: int = Field(description="lines neither matched nor explained")
    status: Literal["open", "reconciled"]


class StatementsPage(PageOf[StatementSummary]):
    """One page of the imported statements, the latest imported first."""


@router.get("/reconciliation/statements", response_model=StatementsPage)
def statements(ctx: Ctx, principal: FinanceReader, store_id: IdFilter = None,
               status: StatementStatus = None, limit: Limit = 50, offset: Offset = 0,
               wait_for: WaitFor = None) -> Any:
    """The imported statements, the latest imported first: store, source, account, the dates
    its lines cover, who imported it and when, and its lines counted matched, explained and
    unmatched (`status` `open` lists those with a line unmatched). No payer is shown: a line's
    counterparty is on the statement's own page."""
    wait_for_projection(ctx, VIEW, wait_for)
    with ctx.pool.connection() as conn:
        found = list_statements(conn, principal.stores, store_id=store_id, status=status,
                                limit=limit, offset=offset)
    for item in found["items"]:
        item["id"] = str(item["id"])
    return found


class WriteOffRow(WriteOffOut):
    settlement_id: str
    store_id: str


class WriteOffsPage(PageOf[WriteOffRow]):
    """One page of the write-offs over a period, the latest booked first, with the sums over
    every row the filters list (not only this page's)."""

    amount: str = Field(description="every listed write-off's amount, CNY")
    reversed_amount: str = Field(description="of it, what was taken back since")
    net_amount: str = Field(description="of it, what stands (not taken back)")


@router.get("/write-offs", response_model=WriteOffsPage,
            tags=["settlement and payments"])
def write_offs(ctx: Ctx, principal: WriteOffReader, store_id: IdFilter = None,
               date_from: PlainDay | None = None, date_to: PlainDay | None = None,
               kind: Kind | None = None, limit: Limit = 200, offset: Offset = 0,
               wait_for: WaitFor = None) -> Any:
    """Every write-off and OEM charge-back booked from `date_from` to `date_to` (the day it
    was booked, in the stores' time zone), the latest first: the settlement (id and number),
    the bill, kind, amount, reason, who booked it and when, and whether it was taken back;
    `amount`, `reversed_amount` and `net_amount` sum every row the filters list."""
    ordered(date_from, date_to)
    wait_for_projection(ctx, VIEW, wait_for)
    with ctx.pool.connection() as conn:
        return write_offs_over(conn, principal.stores, zone=ctx.timezone, store_id=store_id,
                               date_from=date_from, date_to=date_to, kind=kind, limit=limit,
                               offset=offset)


BY_PAYER_COLUMNS = ["payer", "bill", "payer_key", "payer_name", "count", "amount",
                    "reversed_amount", "net_amount"]


@router.get("/write-offs/by-payer", responses=CSV_RESPONSE, tags=["settlement and payments"])
def write_offs_by_payer_of_month(
        ctx: Ctx, principal: WriteOffReader,
        month: Annotated[str, Query(max_length=7, pattern=MONTH, description="YYYY-MM")],
        store_id: IdFilter = None, format: Format = "json", bom: Bom = False,
        wait_for: WaitFor = None) -> Any:
    """The month's write-offs and charge-backs (booked that month, in the stores' time zone)
    summed per payer: `customer`, `insurance` (the insurer), `warranty` (the OEM), `internal`,
    as `GET /receivables` names them — each listed, 0.00 when none —, with
    each insurer and OEM within; `amount`, `reversed_amount` and `net_amount` as `GET
    /write-offs` sums the same rows. `format=csv`: one row per payer (and per insurer or OEM
    after it), the totals last."""
    require_month(month)
    first, last = month_days(month)
    wait_for_projection(ctx, VIEW, wait_for)
    with ctx.pool.connection() as conn:
        found = write_offs_by_payer(conn, principal.stores, zone=ctx.timezone, date_from=first,
                                    date_to=last, store_id=store_id)
    found["month"] = month
    if format == "csv":
        lines: list[dict[str, Any]] = []
        for group in found["payers"]:
            lines.append(group)
            lines += [{**one, "payer": group["payer"], "bill": group["bill"],
                       "payer_name": one["payer"]} for one in group["payers"]]
        lines.append({"payer": "total", **{k: found[k] for k in BY_PAYER_COLUMNS[5:]}})
        return csv_answer(BY_PAYER_COLUMNS, lines,
                          f"write-offs-by-payer-{store_id or 'all'}-{month}", bom=bom)
    return found


class CashierDayRow(BaseModel):
    business_date: date
    store_id: str
    cashier_id: str
    status: str = Field(description="open or closed")
    totals: dict[str, Decimal] = Field(description="taken by method, CNY")
    expected_cash: Decimal | None
    counted_cash: Decimal | None
    variance: Decimal | None = Field(description="counted less expected cash")
    reason: str | None = Field(description="the variance's reason")
    closed_at: datetime | None
    closed_by: str | None


class CashierDaysPage(PageOf[CashierDayRow]):
    """One page of cashier days, the latest day first."""


@router.get("/day-end", response_model=CashierDaysPage)
def cashier_days(ctx: Ctx, principal: FinanceReader, month: Month = None,
                 date_from: PlainDay | None = None, date_to: PlainDay | None = None,
                 store_id: IdFilter = None, limit: Limit = 200, offset: Offset = 0,
                 wait_for: WaitFor = None) -> Any:
    """Each cashier's day of `month` (YYYY-MM), or from `date_from` to `date_to`, the latest
    day first: open or closed, totals by method, expected and counted cash, the variance and
    its reason, who closed it and when (a day with no payment and no close is not there)."""
    if month is not None:
        if date_from is not None or date_to is not None:
            raise InvalidInput("give month, or date_from and date_to, not both",
                               field="month")
        require_month(month)  # the pattern lets year 0000 through, which `date()` refuses
        first = date(int(month[:4]), int(month[5:]), 1)
        date_from = first
        date_to = first.replace(day=calendar.monthrange(first.year, first.month)[1])
    elif date_from is None or date_to is None:
        raise InvalidInput("give month, or date_from and date_to",
                           field="month" if date_from is None and date_to is None
                           else "date_to" if date_to is None else "date_from")
    ordered(date_from, date_to)
    wait_for_projection(ctx, VIEW, wait_for)
    with ctx.pool.connection() as conn:
        return finance_queries.cashier_days(conn, principal.stores, date_from=date_from,
                                            date_to=date_to, store_id=store_id, limit=limit,
                                            offset=offset)
