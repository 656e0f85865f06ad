"""The numbers behind the manager's dashboard, read from the analytic tables.

Every figure comes from the KPI catalogue (one definition per KPI) except the counts and sums
the trends need. The connection's TimeZone must be the store's (see `analytics.reader`): date
filters cut, and trend buckets start, at midnight there.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from typing import Any

import duckdb

from analytics.kpis import Filters, Where, repair_time, run
from analytics.periods import Change, Number, Period, compare
from domain import kpi_figures

# (figure, kind): kind says how the page shows it and its change (ratio: percentage points)
FIGURES = (("work_orders", "count"), ("revenue", "money"), ("gross_profit", "money"),
           ("labor_rate", "money"), ("labor_margin", "ratio"), ("efficiency", "ratio"), ("comeback_rate", "ratio"),
           ("csi", "ratio"), ("fill_rate", "ratio"), ("repair_hours", "hours"))
TRENDS: dict[str, tuple[str, str, str, str]] = {
    # name: (tables, the date that places a row in a bucket, the value, extra condition)
    "work_orders": ("fact_work_orders w", "w.opened_at", "count(*)", "TRUE"),
    "revenue": ("fact_settlements s JOIN fact_work_orders w USING (work_order_id)",
                "s.settled_at", "sum(s.revenue)", "s.status = 'settled'"),
}


def _sum(rows: list[dict[str, Any]], column: str) -> Decimal:
    return sum((Decimal(r[column] or 0) for r in rows), Decimal(0))


def _float(value: Decimal | None) -> float | None:
    """A catalogue ratio or amount (DECIMAL) as the page computes with it."""
    return None if value is None else float(value)


def figures(conn: duckdb.DuckDBPyConnection, filters: Filters) -> dict[str, Number | None]:
    """The headline figures of one period (a ratio is None when its denominator is zero)."""
    where = Where(filters).period("w.opened_at").vehicle()
    opened = conn.execute(f"SELECT count(*) FROM fact_work_orders w WHERE {where.sql()}",
                          where.params).fetchall()[0][0]
    profit = run(conn, "gross_profit", filters)["rows"]
    labor = run(conn, "effective_labor_rate", filters)["rows"]
    margin = run(conn, "labor_gross_margin", filters)["rows"]
    techs = run(conn, "technician_efficiency", filters)["rows"]
    sql, params = repair_time(filters, per_store=False)  # over all the stores, divided once
    repair_hours = conn.execute(sql, params).fetchall()[0][1]
    return {
        "work_orders": int(opened),
        "revenue": _sum(profit, "revenue_ex_vat"),
        "gross_profit": _sum(profit, "gross_profit"),
        "labor_rate": _float(kpi_figures.labor_rate(_sum(labor, "labor_sales_ex_vat"),
                                                _sum(labor, "hours_sold"))),
        "labor_margin": _float(kpi_figures.labor_margin(_sum(margin, "labor_sales_ex_vat"),
                                                        _sum(margin, "labor_cost"))),
        "efficiency": _float(kpi_figures.efficiency(_sum(techs, "hours_sold"),
                                                int(_sum(techs, "clocked_seconds")))),
        "comeback_rate": _float(run(conn, "comeback_rate", filters)["rows"][0]["comeback_rate"]),
        "csi": _float(run(conn, "csi", filters)["rows"][0]["csi"]),
        "fill_rate": _float(run(conn, "parts_fill_rate", filters)["rows"][0]["fill_rate"]),
        "repair_hours": _float(repair_hours),
    }


def trend(conn: duckdb.DuckDBPyConnection, name: str, filters: Filters,
          period: Period) -> list[tuple[date, float]]:
    """One value per bucket of the period (zero where nothing happened), oldest first."""
    tables, column, value, extra = TRENDS[name]
    where = Where(filters).period(column).vehicle()
    rows = conn.execute(
        f"SELECT date_trunc('{period.bucket}', {column})::DATE, {value} FROM {tables} "
        f"WHERE {extra} AND {where.sql()} GROUP BY 1", where.params).fetchall()
    found = {bucket: float(total or 0) for bucket, total in rows}
    return [(bucket, found.get(bucket, 0.0)) for bucket in period.buckets()]


def stores(conn: duckdb.DuckDBPyConnection) -> list[str]:
    return [str(s) for (s,) in conn.execute("SELECT store_id FROM dim_store ORDER BY 1")
            .fetchall()]


@dataclass(frozen=True)
class Board:
    """Everything the page shows for one store (or all) and one period."""

    period: Period
    changes: dict[str, Change]
    trends: dict[str, list[tuple[date, float]]]
    efficiency: list[tuple[str, float]]  # (technician name or id, hours sold ÷ clocked)
    pay_types: list[dict[str, Any]]  # pay type, hours, effective labor rate


def collect(conn: duckdb.DuckDBPyConnection, filters: Filters, period: Period) -> Board:
    now = replace(filters, date_from=period.first, date_to=period.last)
    before = replace(filters, date_from=period.previous().first,
                     date_to=period.previous().last)
    current, previous = figures(conn, now), figures(conn, before)
    efficiency = [(r["technician_name"] or r["technician_id"], float(r["efficiency"]))
                  for r in run(conn, "technician_efficiency", now)["rows"]
                  if r["efficiency"] is not None]
    rates = {r["pay_type"]: r["effective_rate"]
             for r in run(conn, "effective_labor_rate", now)["rows"]}
    pay_types = [{"pay_type": r["pay_type"], "hours": r["hours"],
                  "labor_rate": rates.get(r["pay_type"])}
                 for r in run(conn, "pay_type_mix", now)["rows"]]
    return Board(
        period=period,
        changes={name: compare(current[name], previous[name]) for name, _ in FIGURES},
        trends={name: trend(conn, name, now, period) for name in TRENDS},
        efficiency=sorted(efficiency, key=lambda pair: pair[0]),
        pay_types=pay_types,
    )
