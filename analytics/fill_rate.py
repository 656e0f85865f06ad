"""Parts fill rate (DOMAIN.md): (demand − emergency purchases − lost sales) ÷ demand, counted in
lines. Demand is the approved part lines of work orders (by approval time) and the lost sales
(by recording time) not voided as wrong entries; emergency purchases are the emergency lines of
purchase orders sent in the period. Beside it the former figure, approved part lines reserved
from stock at approval ÷ approved part lines (`reserved_at_approval_rate`), so that nothing
shown before goes away.

Lost sales and emergency purchases belong to no vehicle and no pay type: the KPI's `brand` and
`model` count only the lost sales asked for on a work order of that brand or model, and no
emergency purchase; its `pay_type` counts neither (`kpis._fill_rate` builds the clauses).
"""

from __future__ import annotations

from typing import Any

from domain import kpi_figures as figures

RATIO = "DECIMAL(18, 4)"
FORMULA = ("(demand − emergency purchases − lost sales) ÷ demand, in lines, at least 0: "
           "demand = approved part lines + lost sales recorded (not voided); emergency purchases = "
           "emergency lines of purchase orders sent; with brand or model only the lost sales "
           "of such work orders count, and no emergency purchase; with pay_type neither; "
           "reserved_at_approval_rate = approved part lines reserved from stock at approval ÷ "
           "approved part lines (back orders and special orders are its unfilled demand)")

Clause = tuple[str, list[Any]]  # SQL and its parameters


def query(lines: Clause, lost: Clause, bought: Clause) -> Clause:
    """The counts behind the rate: approved part lines (`p`, with their work order `w`), lost
    sales (`l`, with the work order they name, `w`) and purchase-order lines (`o`), each
    filtered by its clause."""
    return f"""
        WITH lines AS (
            SELECT count(*) AS part_lines_demanded,
                   count(*) FILTER (WHERE p.supply = 'reserved') AS filled_from_stock,
                   count(*) FILTER (WHERE p.supply = 'back_order') AS back_ordered,
                   count(*) FILTER (WHERE p.supply = 'special_order') AS special_orders
            FROM fact_part_lines p JOIN fact_work_orders w USING (work_order_id)
            WHERE p.supply IS NOT NULL AND {lines[0]}),
        lost AS (
            SELECT count(*) AS lost_sales
            FROM fact_lost_sales l LEFT JOIN fact_work_orders w USING (work_order_id)
            WHERE l.voided_at IS NULL AND {lost[0]}),
        bought AS (
            SELECT count(*) AS emergency_purchases
            FROM fact_purchase_order_lines o
            WHERE o.emergency AND o.sent_at IS NOT NULL AND {bought[0]})
        SELECT part_lines_demanded + lost_sales AS demand, emergency_purchases, lost_sales,
               NULL::{RATIO} AS fill_rate, part_lines_demanded, filled_from_stock,
               back_ordered, special_orders, NULL::{RATIO} AS reserved_at_approval_rate
        FROM lines, lost, bought""", [*lines[1], *lost[1], *bought[1]]


def rates(r: dict[str, Any]) -> dict[str, Any]:
    """The row's two quotients (`kpi_figures`: exact, rounded once)."""
    return {"fill_rate": figures.fill_rate(r["demand"], r["emergency_purchases"],
                                           r["lost_sales"]),
            "reserved_at_approval_rate": figures.quotient(r["filled_from_stock"],
                                                          r["part_lines_demanded"])}
