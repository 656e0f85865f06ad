"""The monthly report (月度报表): the headline KPIs a service manager reviews for one calendar
month, beside the month before (环比) and the same month a year before (同比).

Every figure is the KPI catalogue's (`analytics.kpis.run`, one definition per KPI): a KPI that
answers one row per store, technician or pay type is summed over its rows (one with a total row
read from it) and its ratio divided once from those sums in `domain.kpi_figures`, as the
catalogue divides a row's. A month still
running is counted up to today, and both comparisons up to the same day of their month (the
first 6 days of December beside the first 6 of November), so that a partial month is not set
against whole ones.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import duckdb

from analytics.kpis import Filters, run
from domain import kpi_figures
from domain.common import InvalidInput
from domain.days import FIRST_DAY

MONTH = re.compile(r"([0-9]{4})-([0-9]{2})")  # ASCII digits: \d takes "２０２６" too
Value = Decimal | int | None


@dataclass(frozen=True)
class Month:
    first: date
    last: date  # the month's last day, or today for the month still running

    @property
    def complete(self) -> bool:
        return self.last.day == calendar.monthrange(self.first.year, self.first.month)[1]

    def back(self, months: int) -> Month:
        """The month `months` before this one, cut at the same day of its month."""
        index = self.first.year * 12 + self.first.month - 1 - months
        first = date(index // 12, index % 12 + 1, 1)
        days = calendar.monthrange(first.year, first.month)[1]
        return Month(first, first.replace(day=days if self.complete else min(self.last.day,
                                                                             days)))

    def as_dict(self) -> dict[str, str]:
        return {"date_from": self.first.isoformat(), "date_to": self.last.isoformat()}


def month_of(text: str, today: date) -> Month:
    """`YYYY-MM` of a month that has begun (the store's today), with a year before it on the
    calendar every report takes; 422 otherwise."""
    found = MONTH.fullmatch(text)  # "2026-11\n" is none either
    if found is None or not 1 <= int(found[2]) <= 12:
        raise InvalidInput("month must be a calendar month, YYYY-MM (2026-11)", field="month")
    if int(found[1]) - 1 < FIRST_DAY.year:  # before `date()`, which has no year 0: a 500
        raise InvalidInput(f"month must be from {FIRST_DAY.year + 1}-01 on", field="month")
    first = date(int(found[1]), int(found[2]), 1)
    if first > today:
        raise InvalidInput(f"month {text} has not begun (today is {today})", field="month")
    days = calendar.monthrange(first.year, first.month)[1]
    return Month(first, min(first.replace(day=days), today))


def _sum(rows: list[dict[str, Any]], column: str) -> Decimal:
    return sum((Decimal(r[column] or 0) for r in rows), Decimal(0))


def _total(rows: list[dict[str, Any]], column: str) -> Decimal:
    """The figure of a KPI's total row (`pay_type` total), beside its rows per pay type."""
    return sum((Decimal(r[column]) for r in rows if r["pay_type"] == "total"), Decimal(0))


def _one(rows: list[dict[str, Any]], column: str) -> Any:
    return rows[0][column] if rows else None


Rows = dict[str, list[dict[str, Any]]]
# (figure, kind, the catalogue KPIs it reads, how): kind says how it is written and compared
HEADLINES: tuple[tuple[str, str, tuple[str, ...], Callable[[Rows], Value]], ...] = (
    ("visits", "count", ("comeback_rate",), lambda r: _one(r["comeback_rate"], "work_orders")),
    ("settled_work_orders", "count", ("gross_profit",),
     lambda r: int(_sum(r["gross_profit"], "work_orders"))),
    ("revenue_ex_vat", "money", ("gross_profit",), lambda r: _sum(r["gross_profit"],
                                                                  "revenue_ex_vat")),
    ("gross_profit", "money", ("gross_profit",), lambda r: _sum(r["gross_profit"],
                                                                "gross_profit")),
    ("gross_margin", "ratio", ("gross_profit",), lambda r: kpi_figures.quotient(
        _sum(r["gross_profit"], "gross_profit"), _sum(r["gross_profit"], "revenue_ex_vat"))),
    ("labor_sales_ex_vat", "money", ("effective_labor_rate",),
     lambda r: _sum(r["effective_labor_rate"], "labor_sales_ex_vat")),
    ("labor_hours_sold", "hours", ("effective_labor_rate",),
     lambda r: kpi_figures.hours(_sum(r["effective_labor_rate"], "hours_sold"))),
    ("effective_labor_rate", "money", ("effective_labor_rate",), lambda r: kpi_figures.labor_rate(
        _sum(r["effective_labor_rate"], "labor_sales_ex_vat"),
        _sum(r["effective_labor_rate"], "hours_sold"))),
    ("labor_gross_margin", "ratio", ("labor_gross_margin",), lambda r: kpi_figures.labor_margin(
        _sum(r["labor_gross_margin"], "labor_sales_ex_vat"),
        _sum(r["labor_gross_margin"], "labor_cost"))),
    ("parts_sales_ex_vat", "money", ("parts_sales",),
     lambda r: _total(r["parts_sales"], "parts_sales_ex_vat")),
    ("parts_gross_margin", "ratio", ("parts_sales",), lambda r: kpi_figures.quotient(
        _total(r["parts_sales"], "parts_gross_profit"),
        _total(r["parts_sales"], "parts_sales_ex_vat"))),
    ("credits_amount", "money", ("credits",), lambda r: _total(r["credits"], "amount")),
    ("credit_notes_ex_vat", "money", ("credits",),
     lambda r: _total(r["credits"], "credit_notes_ex_vat")),
    ("technician_efficiency", "ratio", ("technician_efficiency",),
     lambda r: kpi_figures.efficiency(_sum(r["technician_efficiency"], "hours_sold"),
                                      int(_sum(r["technician_efficiency"], "clocked_seconds")))),
    ("productivity", "ratio", ("productivity",), lambda r: kpi_figures.productivity(
        int(_sum(r["productivity"], "clocked_seconds")),
        _sum(r["productivity"], "hours_available"))),
    ("csi", "ratio", ("csi",), lambda r: _one(r["csi"], "csi")),
    ("comeback_rate", "ratio", ("comeback_rate",), lambda r: _one(r["comeback_rate"],
                                                                  "comeback_rate")),
    ("parts_fill_rate", "ratio", ("parts_fill_rate",), lambda r: _one(r["parts_fill_rate"],
                                                                      "fill_rate")),
    ("parts_turns_per_year", "number", ("parts_turnover",),
     lambda r: _one(r["parts_turnover"], "turns_per_year")),
    ("complaints_per_100_visits", "number", ("complaints_per_100_visits",),
     lambda r: _one(r["complaints_per_100_visits"], "complaints_per_100_visits")),
    ("complaint_on_time_closure", "ratio", ("complaint_on_time_closure",),
     lambda r: _one(r["complaint_on_time_closure"], "on_time_closure_rate")),
    ("online_booking_requests", "count", ("online_booking_conversion",),
     lambda r: _one(r["online_booking_conversion"], "requests")),
    ("online_booking_conversion", "ratio", ("online_booking_conversion",),
     lambda r: _one(r["online_booking_conversion"], "conversion")),
)
KPIS = sorted({name for _, _, names, _ in HEADLINES for name in names})


def figures(conn: duckdb.DuckDBPyConnection, filters: Filters, month: Month) -> dict[str, Value]:
    """The headline figures of one month (None where a ratio's denominator is zero)."""
    period = replace(filters, date_from=month.first, date_to=month.last)
    rows = {name: run(conn, name, period)["rows"] for name in KPIS}
    return {name: how(rows) for name, _, _, how in HEADLINES}


def _text(value: Value, kind: str) -> str | int | None:
    """Money, hours and plain numbers with 2 places, ratios with 4, as strings; counts as
    numbers."""
    if value is None or kind == "count":
        return None if value is None else int(value)
    places = Decimal("0.0001") if kind == "ratio" else Decimal("0.01")
    return str(Decimal(value).quantize(places, ROUND_HALF_UP))


def _change(value: Value, other: Value, kind: str) -> tuple[str | int | None, str | None]:
    """value − other (for a ratio: in its own units, 0.0150 = 1.5 percentage points), and for
    every other kind that change ÷ other (None when other is missing or zero)."""
    if value is None or other is None:
        return None, None
    delta = Decimal(value) - Decimal(other)
    relative = None if kind == "ratio" or not other else _text(delta / Decimal(other), "ratio")
    return _text(delta, kind), relative  # type: ignore[return-value]


def report(conn: duckdb.DuckDBPyConnection, filters: Filters, month: Month) -> dict[str, Any]:
    """The month's headline figures, each beside the month before and a year before."""
    before, year_ago = month.back(1), month.back(12)
    now, prev, last_year = (figures(conn, filters, m) for m in (month, before, year_ago))
    rows = []
    for name, kind, kpis, _ in HEADLINES:
        mom, mom_rate = _change(now[name], prev[name], kind)
        yoy, yoy_rate = _change(now[name], last_year[name], kind)
        rows.append({"figure": name, "kind": kind, "kpis": list(kpis),
                     "value": _text(now[name], kind),
                     "previous_month": _text(prev[name], kind), "change_mom": mom,
                     "change_mom_rate": mom_rate,
                     "year_ago": _text(last_year[name], kind), "change_yoy": yoy,
                     "change_yoy_rate": yoy_rate})
    return {"month": month.first.strftime("%Y-%m"), "complete": month.complete,
            "period": month.as_dict(), "previous_month": before.as_dict(),
            "year_ago": year_ago.as_dict(), "rows": rows}


COLUMNS = ["figure", "kind", "value", "previous_month", "change_mom", "change_mom_rate",
           "year_ago", "change_yoy", "change_yoy_rate"]
