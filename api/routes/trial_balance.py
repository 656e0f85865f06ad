"""/ledger/trial-balance: per store and account, the balance brought forward, the period's
movements and the closing balance, for a month or any run of days; JSON or CSV
(projections/trial_balance.py)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from api.auth import Principal
from api.csv_answers import CSV_RESPONSE, Bom, Format, csv_answer
from api.dates import ordered
from api.deps import DAY_RANGE, Ctx, Day, IdFilter, WaitFor, reader, wait_for_projection
from api.json_bodies import JsonBodyRoute
from api.routes.finance import MONTH, require_month
from domain.common import InvalidInput
from domain.days import month_days
from projections.trial_balance import trial_balance as balances

router = APIRouter(tags=["finance"], route_class=JsonBodyRoute)
LedgerReader = Annotated[Principal, Depends(reader("ledger.read"))]
# the columns the month-end file always had first, then the balances brought forward and carried
COLUMNS = ["store_id", "account", "name", "debit", "credit", "balance", "opening_debit",
           "opening_credit", "closing_debit", "closing_credit"]


def period(month: str | None, date_from: date | None,
           date_to: date | None) -> tuple[date, date]:
    """The days a trial balance covers: a month's, or `date_from` to `date_to`; 422 naming
    the parameter to correct."""
    if month is not None:
        if date_from is not None or date_to is not None:
            raise InvalidInput("give month, or date_from and date_to, not both", field="month")
        require_month(month)
        return month_days(month)
    if date_from is None and date_to is None:
        raise InvalidInput("give month, or date_from and date_to", field="month")
    if date_from is None or date_to is None:
        missing = "date_from" if date_from is None else "date_to"
        raise InvalidInput(f"{missing} is required with the other day", field=missing)
    ordered(date_from, date_to)
    return date_from, date_to


@router.get("/ledger/trial-balance", responses=CSV_RESPONSE)
def trial_balance(ctx: Ctx, principal: LedgerReader,
                  month: Annotated[str | None, Query(max_length=7, pattern=MONTH, description=(
                      "YYYY-MM: the month's days (or date_from and date_to)"))] = None,
                  date_from: Annotated[Day | None, Query(description=(
                      f"the period's first day, {DAY_RANGE} (with date_to; in place of "
                      "month)"))] = None,
                  date_to: Annotated[Day | None, Query(description=(
                      "the period's last day, included"))] = None,
                  store_id: IdFilter = None, format: Format = "json", bom: Bom = False,
                  wait_for: WaitFor = None) -> Any:
    """Per store and account, the balance brought forward from before the period, the
    period's debits, credits and balance, and the closing balance, with the totals of each;
    `store_id` one store (one of the caller's; another's: no accounts); `format=csv` the
    accounts as a CSV file, the totals its last row."""
    first, last = period(month, date_from, date_to)
    wait_for_projection(ctx, "finance", wait_for)
    with ctx.pool.connection() as conn:
        found = balances(conn, principal.stores, date_from=first, date_to=last,
                         store_id=store_id, month=month)
    if format == "csv":
        total = {"store_id": "total", **{c: found[c] for c in COLUMNS[3:] if c != "balance"},
                 "balance": found["debit"] - found["credit"]}
        name = month or f"{first.isoformat()}_{last.isoformat()}"
        return csv_answer(COLUMNS, [*found["accounts"], total],
                          f"trial-balance-{store_id or 'all'}-{name}", bom=bom)
    return found
