"""The technicians' and labor KPIs of the catalogue (`analytics.kpis`): efficiency,
productivity and proficiency, effective labor rate, labor gross margin. Each query sums exact
figures (clocked time in seconds, hours and money as recorded); the quotients are made once, in
`domain.kpi_figures`, as the workshop's `/technicians/kpi` makes them."""

from __future__ import annotations

from typing import Any

from analytics.kpi_where import HOURS, MONEY, NAMED, RATIO, SECONDS, Filters, Where
from domain import kpi_figures as figures


def efficiency(f: Filters) -> tuple[str, list[Any]]:
    sold = Where(f).period("l.passed_at").vehicle().eq("l.technician_id", "technician")
    clocked = Where(f).period("p.clock_off_at").vehicle().eq("p.technician_id", "technician")
    return f"""
        WITH sold AS (
            SELECT l.technician_id, sum(l.hours_sold) AS hours_sold
            FROM fact_labor_lines l JOIN fact_work_orders w USING (work_order_id)
            WHERE l.status = 'approved' AND l.passed_at IS NOT NULL
              AND l.technician_id IS NOT NULL AND {sold.sql()} GROUP BY 1),
        clocked AS (
            SELECT p.technician_id, sum({SECONDS}) AS clocked_seconds
            FROM fact_clock_punches p JOIN fact_work_orders w USING (work_order_id)
            WHERE {clocked.sql()} GROUP BY 1)
        SELECT technician_id, d.name AS technician_name,
               coalesce(hours_sold, 0) AS hours_sold,
               CAST(coalesce(clocked_seconds, 0) AS BIGINT) AS clocked_seconds,
               NULL::{HOURS} AS hours_clocked, NULL::{RATIO} AS efficiency
        FROM sold FULL JOIN clocked USING (technician_id) {NAMED}
        ORDER BY technician_id""", \
        sold.params + clocked.params


def efficiency_of(r: dict[str, Any]) -> dict[str, Any]:
    return {"hours_sold": figures.hours(r["hours_sold"]),
            "hours_clocked": figures.clocked_hours(r["clocked_seconds"]),
            "efficiency": figures.efficiency(r["hours_sold"], r["clocked_seconds"])}


def productivity_of(r: dict[str, Any]) -> dict[str, Any]:
    return {"hours_available": figures.hours(r["hours_available"]),
            "hours_sold": figures.hours(r["hours_sold"]),
            "hours_clocked": figures.clocked_hours(r["clocked_seconds"]),
            "productivity": figures.productivity(r["clocked_seconds"], r["hours_available"]),
            "unapplied_time": figures.unapplied(r["clocked_seconds"], r["hours_available"]),
            "proficiency": figures.proficiency(r["hours_sold"], r["hours_available"])}


def labor_rate_of(r: dict[str, Any]) -> dict[str, Any]:
    return {"hours_sold": figures.hours(r["hours_sold"]),
            "effective_rate": figures.labor_rate(r["labor_sales_ex_vat"], r["hours_sold"])}


def available(f: Filters) -> tuple[str, list[Any], str, list[Any]]:
    avail = Where(f).period("a.day").eq("a.store_id", "store_id").eq("a.technician_id",
                                                                     "technician")
    clocked = Where(f).period("p.clock_off_at").vehicle().eq("p.technician_id", "technician")
    return avail.sql(), avail.params, clocked.sql(), clocked.params


def productivity(f: Filters) -> tuple[str, list[Any]]:
    avail_sql, avail_params, clocked_sql, clocked_params = available(f)
    sold = Where(f).period("l.passed_at").vehicle().eq("l.technician_id", "technician")
    return f"""
        WITH available AS (
            SELECT a.technician_id, sum(a.available_hours) AS hours_available
            FROM fact_attendance a WHERE {avail_sql} GROUP BY 1),
        clocked AS (
            SELECT p.technician_id, sum({SECONDS}) AS clocked_seconds
            FROM fact_clock_punches p JOIN fact_work_orders w USING (work_order_id)
            WHERE {clocked_sql} GROUP BY 1),
        sold AS (
            SELECT l.technician_id, sum(l.hours_sold) AS hours_sold
            FROM fact_labor_lines l JOIN fact_work_orders w USING (work_order_id)
            WHERE l.status = 'approved' AND l.passed_at IS NOT NULL AND {sold.sql()}
            GROUP BY 1)
        SELECT technician_id, d.name AS technician_name,
               coalesce(hours_available, 0) AS hours_available,
               CAST(coalesce(clocked_seconds, 0) AS BIGINT) AS clocked_seconds,
               NULL::{HOURS} AS hours_clocked, coalesce(hours_sold, 0) AS hours_sold,
               NULL::{RATIO} AS productivity, NULL::{RATIO} AS proficiency,
               NULL::{RATIO} AS unapplied_time
        FROM available FULL JOIN clocked USING (technician_id) FULL JOIN sold USING (technician_id)
        {NAMED}
        WHERE technician_id IS NOT NULL ORDER BY technician_id""", \
        avail_params + clocked_params + sold.params


def labor_rate(f: Filters) -> tuple[str, list[Any]]:
    w = Where(f).period("w.settled_at").vehicle().eq("l.pay_type", "pay_type").eq(
        "l.technician_id", "technician")
    return f"""
        SELECT l.pay_type, sum(l.hours_sold) AS hours_sold,
               sum(l.net_ex_vat) AS labor_sales_ex_vat, NULL::{MONEY} AS effective_rate
        FROM fact_labor_lines l JOIN fact_work_orders w USING (work_order_id)
        WHERE l.status = 'approved' AND w.settled_at IS NOT NULL AND {w.sql()}
        GROUP BY 1 ORDER BY 1""", w.params


# The hourly cost in force from when it was set until the next one (set at the same instant:
# the later event's)
COSTS = """
    SELECT technician_id, hourly_cost, set_at AS valid_from,
           lead(set_at) OVER (PARTITION BY technician_id ORDER BY set_at, notification_id)
               AS valid_until
    FROM fact_hourly_costs"""
# the cost of a punch: its seconds at the cost in force when it was clocked on, in CNY-seconds
PUNCH_COST = f"{SECONDS} * c.hourly_cost"


def labor_margin(f: Filters) -> tuple[str, list[Any]]:
    """Per store: labor sales as the effective labor rate counts them, and the cost of the time
    clocked on the same work orders; the cost summed in CNY-seconds and rounded to the fen once
    (half up, in whole numbers: Σ seconds × cost × 100 is one)."""
    sold = Where(f).period("w.settled_at").vehicle().eq("l.technician_id", "technician")
    clocked = Where(f).period("w.settled_at").vehicle().eq("p.technician_id", "technician")
    return f"""
        WITH sales AS (
            SELECT w.store_id, sum(l.net_ex_vat) AS labor_sales_ex_vat
            FROM fact_labor_lines l JOIN fact_work_orders w USING (work_order_id)
            WHERE l.status = 'approved' AND w.settled_at IS NOT NULL AND {sold.sql()}
            GROUP BY 1),
        costs AS ({COSTS}),
        clocked AS (
            SELECT w.store_id, sum({SECONDS}) AS clocked_seconds,
                   coalesce(sum({SECONDS}) FILTER (WHERE c.hourly_cost IS NULL), 0)
                       AS seconds_without_cost,
                   coalesce(sum({PUNCH_COST}), 0) AS cost_seconds
            FROM fact_clock_punches p JOIN fact_work_orders w USING (work_order_id)
            LEFT JOIN costs c ON c.technician_id = p.technician_id
             AND p.clock_on_at >= c.valid_from
             AND (c.valid_until IS NULL OR p.clock_on_at < c.valid_until)
            WHERE w.settled_at IS NOT NULL AND {clocked.sql()} GROUP BY 1)
        SELECT store_id, coalesce(labor_sales_ex_vat, 0) AS labor_sales_ex_vat,
               CAST(coalesce(clocked_seconds, 0) AS BIGINT) AS clocked_seconds,
               NULL::{HOURS} AS hours_clocked,
               CAST(coalesce(seconds_without_cost, 0) AS BIGINT) AS seconds_without_cost,
               NULL::{HOURS} AS hours_without_cost,
               CAST(((coalesce(cost_seconds, 0) * 100)::HUGEINT + 1800) // 3600
                    AS DECIMAL(18, 0)) * 0.01 AS labor_cost,
               NULL::{MONEY} AS labor_gross_profit, NULL::{RATIO} AS labor_gross_margin
        FROM sales FULL JOIN clocked USING (store_id)
        ORDER BY store_id""", sold.params + clocked.params


def labor_margin_of(r: dict[str, Any]) -> dict[str, Any]:
    return {"hours_clocked": figures.clocked_hours(r["clocked_seconds"]),
            "hours_without_cost": figures.clocked_hours(r["seconds_without_cost"]),
            "labor_gross_profit": r["labor_sales_ex_vat"] - r["labor_cost"],
            "labor_gross_margin": figures.labor_margin(r["labor_sales_ex_vat"], r["labor_cost"])}
