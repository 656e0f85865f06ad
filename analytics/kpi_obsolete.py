"""Obsolete stock (呆滞库存) of the KPI catalogue (`analytics.kpis`): the KPI `obsolete_stock`
and `obsolete_parts`, the list behind it, both read from one CTE `per_part` that holds the rule
once: a part of a store with stock on hand at the end of `date_to` and no issue in the 12
calendar months that end with it (a part never issued counts from its first movement). Each
part's value is taken to the fen once (`book_value`), so the list's values add up to the KPI's
`obsolete_value` exactly, fractional quantities too."""

from __future__ import annotations

from typing import Any

from analytics.kpi_where import MONEY, TWELVE_MONTHS, Filters, Where, exact_ratio

KPI = ("value of parts on hand with no issue in the 12 calendar months that end with date_to "
       "(an issue on the same day a year before is outside them) ÷ inventory value")
LIST = ("one row per part of a store counted as obsolete by obsolete_stock (stock on hand, no "
        "issue in the 12 calendar months that end with date_to): part number and name, "
        "quantity on hand, value at cost, last issue (null: never issued) and days since it, "
        "last receipt; highest value first, at most 500; the values add up to obsolete_stock's "
        "obsolete_value")
QTY = "DECIMAL(18, 3)"


def per_part(f: Filters) -> tuple[str, list[Any]]:
    """CTEs `m` (the stock movements to the end of `date_to`) and `per_part` (one row per store
    and part number: value and quantity on hand, `book_value` (the value to the fen), last issue,
    last receipt, `obsolete`)."""
    end = f.end()
    store = Where(f).eq("m.store_id", "store_id")
    return f"""
        WITH m AS (SELECT * FROM fact_stock_movements m WHERE {store.sql()}
                   AND moved_at < ?::DATE + 1),
        per_part AS (
            SELECT *, CAST(round(value, 2) AS {MONEY}) AS book_value,
                   on_hand > 0 AND coalesce(last_issue, first_movement) < {TWELVE_MONTHS}
                       AS obsolete
            FROM (SELECT store_id, part_number, sum(value) AS value, sum(qty) AS on_hand,
                         max(moved_at) FILTER (WHERE type = 'issue') AS last_issue,
                         max(moved_at) FILTER (WHERE type = 'receipt') AS last_receipt,
                         min(moved_at) AS first_movement
                  FROM m GROUP BY 1, 2))""", [*store.params, end, end]


def obsolete_stock(f: Filters) -> tuple[str, list[Any]]:
    ctes, params = per_part(f)
    return f"""{ctes}
        SELECT coalesce(sum(book_value) FILTER (WHERE obsolete), 0) AS obsolete_value,
               round(sum(value) FILTER (WHERE on_hand > 0), 2) AS inventory_value,
               {exact_ratio("obsolete_value", "inventory_value", scale=2)} AS obsolete_share,
               count(*) FILTER (WHERE obsolete) AS obsolete_parts
        FROM per_part""", params


def obsolete_parts(f: Filters) -> tuple[str, list[Any]]:
    ctes, params = per_part(f)
    return f"""{ctes},
        names AS (SELECT part_number, min(name) AS name FROM dim_part GROUP BY 1)
        SELECT p.store_id, p.part_number, n.name, CAST(p.on_hand AS {QTY}) AS on_hand,
               p.book_value AS value,
               CAST(p.last_issue AS DATE) AS last_issue_date,
               ?::DATE - CAST(p.last_issue AS DATE) AS days_since_last_issue,
               CAST(p.last_receipt AS DATE) AS last_receipt_date
        FROM per_part p LEFT JOIN names n USING (part_number)
        WHERE p.obsolete
        ORDER BY p.value DESC, p.store_id, p.part_number LIMIT 500""", [*params, f.end()]
