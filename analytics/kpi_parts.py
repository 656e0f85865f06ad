"""Parts sales and parts gross margin (配件销售额) of the KPI catalogue (`analytics.kpis`).

Read from the settled settlements' own bill lines (`fact_settlements.bills_json`), the lines
whose sums are the gross profit's revenue and parts cost: a part line's net (gross − its share
of the settlement discounts) less the VAT inside it, as each bill prints it. So labor sales as
the effective labor rate counts them plus these parts sales are the gross profit's
`revenue_ex_vat` for the same settlements, credits (price allowances after settlement, which
the gross profit deducts per settlement, not per line) aside."""

from __future__ import annotations

from typing import Any

from analytics.kpi_where import MONEY, Filters, Where, exact_ratio

FORMULA = (
    "parts sales = the part lines of the settlements paid in full in the period, after "
    "settlement discounts, without VAT (net − VAT inside it, per bill line, as the gross "
    "profit's revenue counts them); parts cost = their FIFO cost; parts gross profit = sales − "
    "cost; parts gross margin = gross profit ÷ sales (null where nothing was sold); per pay "
    "type of the line (a warranty or insurance line's deductible and excess, billed to the "
    "customer, count with their line) and a total row; part_lines = lines billed, units = the "
    "quantity issued (net of returns) in each part's unit; credits after settlement are not "
    "in it (the gross profit deducts them from its revenue per settlement)")

BILLS = ("customer", "warranty", "insurance", "internal")
QTY = "DECIMAL(18, 3)"


def parts_sales(f: Filters) -> tuple[str, list[Any]]:
    w = Where(f).period("s.settled_at").vehicle()
    payer = Where(f).eq("p.pay_type", "pay_type")
    kinds = ", ".join(f"('{kind}')" for kind in BILLS)
    return f"""
        WITH bills AS (
            SELECT s.work_order_id, b.bill,
                   json_extract(s.bills_json, '$.' || b.bill || '.lines') AS lines
            FROM fact_settlements s JOIN fact_work_orders w USING (work_order_id)
            CROSS JOIN (VALUES {kinds}) b(bill)
            WHERE s.status = 'settled' AND {w.sql()}),
        pieces AS (
            SELECT work_order_id, bill, unnest(from_json(lines, '["JSON"]')) AS ln
            FROM bills WHERE lines IS NOT NULL),
        p AS (
            SELECT work_order_id, ln->>'line_id' AS line_id,
                   coalesce(ln->>'deductible_of', bill) AS pay_type,
                   CAST(ln->>'net' AS {MONEY}) - CAST(ln->>'vat' AS {MONEY}) AS sales,
                   CAST(ln->>'cost' AS {MONEY}) AS cost, CAST(ln->>'qty' AS {QTY}) AS qty
            FROM pieces WHERE ln->>'kind' = 'part')
        SELECT CASE WHEN grouping(p.pay_type) = 1 THEN 'total' ELSE p.pay_type END AS pay_type,
               count(DISTINCT (p.work_order_id, p.line_id)) AS part_lines,
               CAST(coalesce(sum(p.qty), 0) AS {QTY}) AS units,
               CAST(coalesce(sum(p.sales), 0) AS {MONEY}) AS parts_sales_ex_vat,
               CAST(coalesce(sum(p.cost), 0) AS {MONEY}) AS parts_cost,
               CAST(coalesce(sum(p.sales - p.cost), 0) AS {MONEY}) AS parts_gross_profit,
               {exact_ratio("sum(p.sales - p.cost)", "sum(p.sales)", scale=2)}
                   AS parts_gross_margin
        FROM p WHERE {payer.sql()}
        GROUP BY GROUPING SETS ((p.pay_type), ())
        ORDER BY grouping(p.pay_type), p.pay_type""", w.params + payer.params
