"""The KPI catalogue: named queries over the analytic tables, each with its formula beside it.

Filters (all optional): date_from / date_to (on the date that makes the KPI's event count),
store_id or region (its stores), brand and model (by their keys: "VOLKSWAGEN" and full-width
"ＶＯＬＫＳＷＡＧＥＮ" are "Volkswagen", "LAVIDA" is "Lavida"), technician, pay_type; and `by`,
a breakdown where the KPI offers one (one row per value: the complaint KPIs by category or
channel). Formulas follow the trade's definitions (see the README's KPI section); ratios are
DECIMAL with 4 places and money DECIMAL with 2 (strings in the API's JSON, as the workshop's
`/technicians/kpi` and the finance views give them), NULL where the denominator is zero. Money
is without VAT. The technician ratios, the effective labor rate and the labor gross margin are
divided in `domain.kpi_figures` from the figures the query sums (clocked time in seconds), as
the workshop's rows are, so both give the same figure; the technicians' and labor queries are
`analytics.kpi_labor`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

import duckdb

from analytics import comebacks, fill_rate, kpi_credits
from analytics import kpi_grievances as grievances
from analytics import kpi_labor as labor
from analytics import kpi_obsolete as obsolete
from analytics import kpi_online_bookings as online_bookings
from analytics import kpi_parts as parts
from analytics.kpi_where import MONEY, RATIO, TWELVE_MONTHS, Filters, Where, exact_ratio
from domain import kpi_figures as figures
from domain.common import InvalidInput

__all__ = ["CATALOGUE", "Filters", "Kpi", "Where", "repair_time", "require_breakdown",
           "require_filters", "run"]


@dataclass(frozen=True)
class Kpi:
    name: str
    title: str
    formula: str
    filters: tuple[str, ...]
    build: Callable[[Filters], tuple[str, list[Any]]]
    derive: Callable[[dict[str, Any]], dict[str, Any]] | None = None  # quotients of a row
    breakdowns: tuple[str, ...] = ()  # what `by=` may name: one row per its value


def _hours_of(column: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """A derive showing a sum of hours to 2 places (`kpi_figures.hours`)."""
    def derive(r: dict[str, Any]) -> dict[str, Any]:
        return {column: figures.hours(r[column])}
    return derive


def _hours_per_wo(f: Filters) -> tuple[str, list[Any]]:
    w = Where(f).period("w.settled_at").vehicle().eq("l.pay_type", "pay_type")
    return f"""
        SELECT w.kind, count(DISTINCT w.work_order_id) AS work_orders,
               coalesce(sum(l.hours_sold), 0) AS hours_sold,
               {exact_ratio("coalesce(sum(l.hours_sold), 0)", "count(DISTINCT w.work_order_id)",
                            2, scale=3)} AS hours_per_work_order
        FROM fact_work_orders w LEFT JOIN fact_labor_lines l
          ON l.work_order_id = w.work_order_id AND l.status = 'approved'
        WHERE w.settled_at IS NOT NULL AND {w.sql()} GROUP BY 1 ORDER BY 1""", w.params


# A visit's time from check-in to delivery, and to its first clock-on, in microseconds
_REPAIR_US = "date_diff('microsecond', w.checked_in_at, w.delivered_at)"
_WAITING_US = "date_diff('microsecond', w.checked_in_at, w.first_clock_on_at)"
_US_PER_HOUR = 3_600_000_000


def repair_time(f: Filters, per_store: bool = True) -> tuple[str, list[Any]]:
    """The mean repair and waiting time per store (or, `per_store=False`, over all the stores
    the filters name: the dashboard's figure), from the summed microseconds, divided once and
    rounded half up (DuckDB's avg is DOUBLE: 5.005 h came out 5.00, and a group figure made
    from the stores' rounded means came out a hundredth off)."""
    w = Where(f).period("w.delivered_at").vehicle()
    key, group = ("w.store_id, ", "GROUP BY 1 ORDER BY 1") if per_store else ("", "")
    return f"""
        SELECT {key}count(*) AS delivered,
               {exact_ratio(f"sum({_REPAIR_US})", f"count(*) * {_US_PER_HOUR}", 2)}
                   AS avg_repair_hours,
               {exact_ratio(f"sum({_WAITING_US})", f"count({_WAITING_US}) * {_US_PER_HOUR}", 2)}
                   AS avg_waiting_hours
        FROM fact_work_orders w
        WHERE w.delivered_at IS NOT NULL AND w.checked_in_at IS NOT NULL AND {w.sql()}
        {group}""", w.params


def _comeback(f: Filters) -> tuple[str, list[Any]]:
    w = Where(f).period("w.opened_at").vehicle()
    ctes, params = comebacks.pairs(w.sql(), w.params)
    return f"""{ctes}
        SELECT count(*) AS work_orders, count(c.work_order_id) AS comebacks,
               {exact_ratio("comebacks", "count(*)")} AS comeback_rate,
               count(*) FILTER (WHERE c.matched_by = 'complaint') AS matched_by_complaint,
               count(*) FILTER (WHERE c.matched_by = 'op_code') AS matched_by_op_code,
               count(*) FILTER (WHERE c.matched_by = 'advisor') AS matched_by_advisor
        FROM visits v LEFT JOIN comebacks c USING (work_order_id)""", params


def _comebacks(f: Filters) -> tuple[str, list[Any]]:
    w = Where(f).period("w.opened_at").vehicle()
    return comebacks.listing(w.sql(), w.params)


def _fill_rate(f: Filters) -> tuple[str, list[Any]]:
    lines = Where(f).period("p.approved_at").vehicle().eq("p.pay_type", "pay_type")
    lost = Where(f).period("l.recorded_at").eq("l.store_id", "store_id").typed(
        "w.brand_key", "brand").typed("w.model_key", "model")
    bought = Where(f).period("o.sent_at").eq("o.store_id", "store_id")
    if f.pay_type is not None:  # neither has a pay type
        lost.clauses.append("FALSE")
    if f.brand is not None or f.model is not None or f.pay_type is not None:
        bought.clauses.append("FALSE")  # no vehicle either
    return fill_rate.query(*((w.sql(), w.params) for w in (lines, lost, bought)))


def _inventory_window(f: Filters) -> tuple[date, date]:
    end = f.end()
    start = f.date_from or end - timedelta(days=365)
    if start > end:
        raise InvalidInput(f"date_from {start} is after {end}, the period's end",
                           field="date_from")
    return start, end


def _turnover(f: Filters) -> tuple[str, list[Any]]:
    start, end = _inventory_window(f)
    days = max((end - start).days + 1, 1)
    store = Where(f).eq("m.store_id", "store_id")
    return f"""
        WITH m AS (SELECT * FROM fact_stock_movements m WHERE {store.sql()}),
        figures AS (
            SELECT
              -coalesce(sum(value) FILTER (WHERE type IN ('issue', 'return_from_job')
                        AND moved_at >= ?::DATE AND moved_at < ?::DATE + 1), 0) AS cost_sold,
              coalesce(sum(value) FILTER (WHERE moved_at < ?::DATE), 0) AS value_start,
              coalesce(sum(value) FILTER (WHERE moved_at < ?::DATE + 1), 0) AS value_end
            FROM m)
        SELECT round(cost_sold, 2) AS cost_of_parts_sold,
               round(value_start, 2) AS inventory_start, round(value_end, 2) AS inventory_end,
               CAST(round((value_start + value_end) / 2, 2) AS {MONEY}) AS average_inventory,
               {exact_ratio(f"cost_sold * {2 * 365}", f"(value_start + value_end) * {days}",
                            2, scale=5)} AS turns_per_year,
               CASE WHEN value_start + value_end > 0 THEN {exact_ratio(
                   f"(value_start + value_end) * {days}", "cost_sold * 2", 1, scale=5)} END
                   AS days_of_supply,
               {exact_ratio(f"value_end * {12 * days}", "cost_sold * 365", 2, scale=5)}
                   AS months_of_supply
        FROM figures""", [*store.params, start, end, start, end]


def _loss_rate(f: Filters) -> tuple[str, list[Any]]:
    start, end = _inventory_window(f)
    store = Where(f).eq("m.store_id", "store_id")
    return f"""
        WITH m AS (SELECT * FROM fact_stock_movements m WHERE {store.sql()}),
        figures AS (
            SELECT
              sum(value) FILTER (WHERE type = 'stocktake_variance'
                                 AND moved_at >= ?::DATE AND moved_at < ?::DATE + 1) AS variance,
              coalesce(sum(value) FILTER (WHERE moved_at < ?::DATE), 0) AS value_start,
              coalesce(sum(value) FILTER (WHERE moved_at < ?::DATE + 1), 0) AS value_end
            FROM m)
        SELECT round(coalesce(variance, 0), 2) AS stocktake_variance_value,
               CAST(round((value_start + value_end) / 2, 2) AS {MONEY}) AS average_inventory,
               {exact_ratio("-2 * coalesce(variance, 0)", "value_start + value_end", scale=5)}
                   AS loss_rate
        FROM figures""", [*store.params, start, end, start, end]


def _gross_profit(f: Filters) -> tuple[str, list[Any]]:
    w = Where(f).period("s.settled_at").vehicle()
    return f"""
        SELECT w.store_id, count(*) AS work_orders, sum(s.revenue) AS revenue_ex_vat,
               sum(s.parts_cost) AS parts_cost, sum(s.revenue - s.parts_cost) AS gross_profit,
               {exact_ratio("sum(s.revenue - s.parts_cost)", "sum(s.revenue)", scale=2)}
                   AS gross_margin
        FROM fact_settlements s JOIN fact_work_orders w USING (work_order_id)
        WHERE s.status = 'settled' AND {w.sql()} GROUP BY 1 ORDER BY 1""", w.params


def _gross_profit_per(key: str) -> Callable[[Filters], tuple[str, list[Any]]]:
    def build(f: Filters) -> tuple[str, list[Any]]:
        w = Where(f).period("s.settled_at").vehicle()
        group = {"work_order": "w.number, w.work_order_id", "vehicle": "w.vin, w.brand, w.model"}
        return f"""
            SELECT {group[key]}, count(*) AS settlements, sum(s.revenue) AS revenue_ex_vat,
                   sum(s.parts_cost) AS parts_cost,
                   sum(s.revenue - s.parts_cost) AS gross_profit
            FROM fact_settlements s JOIN fact_work_orders w USING (work_order_id)
            WHERE s.status = 'settled' AND {w.sql()} GROUP BY {group[key]}
            ORDER BY gross_profit DESC LIMIT 500""", w.params

    return build


def _pay_type_mix(f: Filters) -> tuple[str, list[Any]]:
    w = Where(f).period("l.approved_at").vehicle().eq("l.technician_id", "technician")
    return f"""
        SELECT l.pay_type, sum(l.hours_sold) AS hours,
               sum(l.net_ex_vat) AS labor_sales_ex_vat,
               {exact_ratio("sum(l.hours_sold)", "sum(sum(l.hours_sold)) OVER ()", scale=3)}
                   AS hours_share,
               {exact_ratio("sum(l.net_ex_vat)", "sum(sum(l.net_ex_vat)) OVER ()", scale=2)}
                   AS sales_share
        FROM fact_labor_lines l JOIN fact_work_orders w USING (work_order_id)
        WHERE l.status = 'approved' AND w.status <> 'cancelled' AND {w.sql()}
        GROUP BY 1 ORDER BY 1""", w.params


def _csi(f: Filters) -> tuple[str, list[Any]]:
    w = Where(f).period("c.completed_at").vehicle()
    return f"""
        SELECT count(*) AS surveys, count(*) FILTER (WHERE c.csi >= 4) AS satisfied,
               {exact_ratio("satisfied", "count(*)")} AS csi,
               {exact_ratio("sum(c.csi)", "count(*)", 2)} AS average_score,
               count(*) FILTER (WHERE c.complaint OR EXISTS (
                   SELECT 1 FROM fact_grievances g
                   WHERE g.work_order_id = c.work_order_id AND g.channel = 'follow_up'
                     AND g.kind = 'complaint')) AS complaints
        FROM fact_follow_ups c JOIN fact_work_orders w USING (work_order_id)
        WHERE c.csi IS NOT NULL AND {w.sql()}""", w.params


def _appointments(f: Filters) -> tuple[str, list[Any]]:
    w = Where(f).period("a.day").eq("a.store_id", "store_id")
    return f"""
        SELECT count(*) AS booked,
               count(*) FILTER (WHERE a.status = 'arrived') AS arrived,
               count(*) FILTER (WHERE a.status = 'no_show') AS no_shows,
               count(*) FILTER (WHERE a.status = 'cancelled') AS cancelled,
               {exact_ratio("arrived", "count(*) - cancelled")} AS conversion_rate,
               {exact_ratio("no_shows", "arrived + no_shows")} AS no_show_rate
        FROM fact_appointments a WHERE {w.sql()}""", w.params


def _churn(f: Filters) -> tuple[str, list[Any]]:
    end = f.end()
    w = Where(f).vehicle()
    return f"""
        WITH last_visit AS (
            SELECT w.customer_id, max(w.opened_at) AS last_visit FROM fact_work_orders w
            WHERE w.opened_at < ?::DATE + 1 AND w.status <> 'cancelled' AND {w.sql()}
            GROUP BY 1)
        SELECT count(*) AS customers,
               count(*) FILTER (WHERE last_visit < {TWELVE_MONTHS}) AS churned,
               {exact_ratio("churned", "count(*)")} AS churn_rate,
               CAST(1 - churn_rate AS {RATIO}) AS retention_rate
        FROM last_visit""", [end, *w.params, end]


def _regional(kpi: Kpi) -> Kpi:
    """A KPI that takes store_id takes region too: the stores of one region (`Where.eq`)."""
    if "store_id" not in kpi.filters:
        return kpi
    at = kpi.filters.index("store_id") + 1
    return replace(kpi, filters=(*kpi.filters[:at], "region", *kpi.filters[at:]))


CATALOGUE: dict[str, Kpi] = {k.name: _regional(k) for k in (
    Kpi("technician_efficiency", "Technician efficiency",
        "flat-rate hours sold on jobs that passed QC (on the day they passed) ÷ hours clocked "
        "on jobs (on the day of the clock-off; may exceed 100%), "
        "from the clocked seconds, rounded once (half up); per technician: user id and "
        "current name",
        ("date_from", "date_to", "store_id", "brand", "model", "technician"),
        labor.efficiency, labor.efficiency_of),
    Kpi("productivity", "Productivity, proficiency and unapplied time",
        "productivity = hours clocked ÷ hours available (attendance); "
        "proficiency = hours sold (QC passed) ÷ hours available; unapplied time = (hours "
        "available − hours clocked) ÷ hours available = 1 − productivity (target < 5%); per "
        "technician: user id and current name",
        ("date_from", "date_to", "store_id", "technician"), labor.productivity, labor.productivity_of),
    Kpi("effective_labor_rate", "Effective labor rate per pay type",
        "labor sales after settlement discounts, without VAT ÷ labor hours sold, on settled "
        "work orders; to the fen, half up",
        ("date_from", "date_to", "store_id", "brand", "model", "technician", "pay_type"),
        labor.labor_rate, labor.labor_rate_of),
    Kpi("labor_gross_margin", "Labor gross margin per store",
        "(labor sales − labor cost) ÷ labor sales, on settled work orders; labor sales after "
        "settlement discounts, without VAT, as the effective labor rate counts them; labor cost "
        "= the time clocked on those work orders × the technician's hourly cost in force when "
        "they clocked on (from when it was set; never back in time), to the fen, half up; "
        "time clocked with no hourly cost set yet is left out of the cost and shown as "
        "hours_without_cost",
        ("date_from", "date_to", "store_id", "brand", "model", "technician"),
        labor.labor_margin, labor.labor_margin_of),
    Kpi("hours_per_work_order", "Hours per work order",
        "labor hours sold ÷ settled work orders, per work-order kind",
        ("date_from", "date_to", "store_id", "brand", "model", "pay_type"), _hours_per_wo,
        _hours_of("hours_sold")),
    Kpi("repair_time", "Average repair and waiting time",
        "repair = delivery − check-in; waiting = first clock-on − check-in (hours, the mean "
        "divided once from the summed time, half up)",
        ("date_from", "date_to", "store_id", "brand", "model"), repair_time),
    Kpi("comeback_rate", "Comeback rate",
        "work orders whose vehicle (VIN) came back with the same complaint or a repeat of an "
        "approved labor operation within the repair guarantee of its earlier visit (by the "
        "class of its labor operations: assembly 100 days / 20,000 km, second-level "
        "maintenance 30 days / 5,000 km, other 10 days / 2,000 km, from completion, "
        "whichever ends first), or that the advisor marked a comeback ÷ work orders; "
        "matched_by_complaint / _op_code / _advisor: how each comeback was found",
        ("date_from", "date_to", "store_id", "brand", "model"), _comeback),
    Kpi("comebacks", "Comebacks",
        "one row per comeback opened in the period (as counted by comeback_rate): both work "
        "order numbers, VIN, complaint, the earlier visit's repair class and guarantee, days "
        "and km between, the technicians of the earlier visit's labor, matched_by "
        "(complaint, op_code or advisor); latest first, at most 500", ("date_from", "date_to", "store_id", "brand", "model"), _comebacks),
    Kpi("parts_fill_rate", "Parts fill rate", fill_rate.FORMULA,
        ("date_from", "date_to", "store_id", "brand", "model", "pay_type"), _fill_rate,
        fill_rate.rates),
    Kpi("parts_turnover", "Parts turnover, days and months of supply",
        "annualised FIFO cost of parts issued (net of returns) ÷ average inventory value "
        "(start and end of the period); days of supply = 365 ÷ turns; months of supply = "
        "inventory value at the end of the period ÷ average monthly cost of parts sold (cost "
        "of parts sold ÷ the period's months, days × 12 ÷ 365; guide 2.5–4.5)",
        ("date_from", "date_to", "store_id"), _turnover),
    Kpi("parts_loss_rate", "Parts loss rate",
        "− stocktake variance value ÷ average inventory value over the period",
        ("date_from", "date_to", "store_id"), _loss_rate),
    Kpi("obsolete_stock", "Obsolete stock", obsolete.KPI, ("date_to", "store_id"),
        obsolete.obsolete_stock),
    Kpi("obsolete_parts", "Obsolete parts", obsolete.LIST, ("date_to", "store_id"),
        obsolete.obsolete_parts),
    Kpi("gross_profit", "Gross profit per store",
        "revenue without VAT − FIFO cost of parts, settled work orders (labor cost not deducted)",
        ("date_from", "date_to", "store_id", "brand", "model"), _gross_profit),
    Kpi("gross_profit_per_work_order", "Gross profit per work order",
        "revenue without VAT − FIFO cost of parts per settled work order",
        ("date_from", "date_to", "store_id", "brand", "model"), _gross_profit_per("work_order")),
    Kpi("gross_profit_per_vehicle", "Gross profit per vehicle",
        "revenue without VAT − FIFO cost of parts over a vehicle's settled work orders",
        ("date_from", "date_to", "store_id", "brand", "model"), _gross_profit_per("vehicle")),
    Kpi("parts_sales", "Parts sales and parts gross margin (配件销售额)", parts.FORMULA,
        ("date_from", "date_to", "store_id", "brand", "model", "pay_type"), parts.parts_sales),
    Kpi("credits", "Credits after settlement (退款与红冲)", kpi_credits.FORMULA,
        ("date_from", "date_to", "store_id", "brand", "model", "pay_type"), kpi_credits.credits),
    Kpi("pay_type_mix", "Pay-type mix",
        "share of approved labor hours and of labor sales (after settlement discounts, "
        "without VAT, as the effective labor rate counts them) per pay type",
        ("date_from", "date_to", "store_id", "brand", "model", "technician"), _pay_type_mix,
        _hours_of("hours")),
    Kpi("csi", "Customer satisfaction (CSI)",
        ("follow-up surveys scoring 4 or 5 ÷ all surveys; complaints = the calls that opened a "
         "complaint case (channel follow_up) or a complaint of the older register"),
        ("date_from", "date_to", "store_id", "brand", "model"), _csi),
    Kpi("appointments", "Appointment conversion and no-show rates",
        "conversion = arrived ÷ (booked − cancelled); no-show = no-shows ÷ (arrived + no-shows)",
        ("date_from", "date_to", "store_id"), _appointments),
    Kpi("customer_churn", "Customer churn",
        "customers with no visit in the 12 calendar months that end with date_to (a visit on "
        "the same day a year before is outside them) ÷ customers with a visit; retention = 1 − "
        "churn", ("date_to", "store_id", "brand", "model"), _churn),
    Kpi("complaints_per_100_visits", "Complaints per 100 visits", grievances.PER_100_VISITS,
        ("date_from", "date_to", "store_id"), grievances.per_100_visits,
        breakdowns=grievances.BREAKDOWNS),
    Kpi("complaint_on_time_closure", "On-time closure rate of complaints",
        grievances.ON_TIME_CLOSURE, ("date_from", "date_to", "store_id"),
        grievances.on_time_closure, breakdowns=grievances.BREAKDOWNS),
    Kpi("complaint_first_contact", "First-contact on-time rate of complaints",
        grievances.FIRST_CONTACT, ("date_from", "date_to", "store_id"), grievances.first_contact,
        breakdowns=grievances.BREAKDOWNS),
    Kpi("online_booking_conversion", "Online booking conversion (线上预约转化率)",
        online_bookings.FORMULA, ("date_from", "date_to", "store_id"), online_bookings.conversion,
        breakdowns=online_bookings.BREAKDOWNS),
)}


def require_breakdown(kpi: Kpi, by: str | None) -> None:
    """A breakdown the KPI offers, or none; 422 naming `by` otherwise."""
    if by is not None and by not in kpi.breakdowns:
        offered = (f"one of {', '.join(kpi.breakdowns)}" if kpi.breakdowns
                   else "not given: it has no breakdown")
        raise InvalidInput(f"by for {kpi.name} is {offered}", field="by")


def require_filters(kpi: Kpi, given: dict[str, Any]) -> None:
    """Only filters the KPI takes, else 422 naming the first other one: not applied, it would
    be answered as if it had not been asked for."""
    for name, value in given.items():
        if value is not None and name not in kpi.filters:
            raise InvalidInput(f"{kpi.name} does not take {name}; its filters are "
                               f"{', '.join(kpi.filters)}", field=name)


def run(conn: duckdb.DuckDBPyConnection, name: str, filters: Filters) -> dict[str, Any]:
    kpi = CATALOGUE.get(name)
    if kpi is None:
        raise KeyError(name)
    require_breakdown(kpi, filters.by)
    sql, params = kpi.build(filters)
    cursor = conn.execute(sql, params)
    columns = [d[0] for d in cursor.description]
    rows = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    if kpi.derive is not None:
        for row in rows:
            row.update(kpi.derive(row))
    used = {k: getattr(filters, k) for k in (*kpi.filters, "by")
            if getattr(filters, k) is not None}
    return {"name": kpi.name, "title": kpi.title, "formula": kpi.formula, "filters": used,
            "columns": columns, "rows": rows}
