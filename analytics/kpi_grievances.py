"""The KPIs of customer complaint cases (投诉建议, `fact_grievances`): complaints per 100 visits,
the on-time closure rate and the first-contact on-time rate. Suggestions (建议) count in none:
they have no deadline and are not complaints. The store is the case's (or, for the visits, the
work order's); a case carries no vehicle, so there is no brand or model filter.

Each takes a breakdown, `by=category` or `by=channel`: one row per category (or channel) the
domain knows, in its order, and any other a case holds, each with the figures of its own
complaints (a value without any, zeros and no ratio); the visits of complaints per 100 visits
are all the period's not cancelled, whatever a complaint is about."""

from __future__ import annotations

from typing import Any

from analytics.kpi_where import Filters, Where, exact_ratio
from domain.grievance import CATEGORIES, CHANNELS

# what `by=` may name: the column of fact_grievances and the values the domain knows, in order
KNOWN = {"category": CATEGORIES, "channel": CHANNELS}
BREAKDOWNS = tuple(KNOWN)

PER_100_VISITS = ("complaint cases registered in the period × 100 ÷ work orders opened in the "
                  "period, not cancelled (the visits of the monthly report and the comeback "
                  "rate; suggestions not counted), to 2 places")
ON_TIME_CLOSURE = ("complaints first closed in the period whose first closure was by their "
                   "close_due ÷ complaints first closed in the period (a reopened case counts "
                   "once, by its first closure)")
FIRST_CONTACT = ("complaints first contacted in the period whose first contact was by their "
                 "contact_due ÷ complaints first contacted in the period; beside it the "
                 "complaints still waiting for their first contact past contact_due at the "
                 "end of the period (or now, if that is earlier)")


def _keys(f: Filters) -> tuple[str, str, str, list[Any]]:
    """The rows of the answer: a `keys` CTE (key, at: its place), the expression giving a
    case's key, the answer's first column naming the key, and the CTE's parameters. Without a
    breakdown one row, of the key NULL."""
    if f.by is None:
        return "keys AS (SELECT NULL::VARCHAR AS key, 0 AS at)", "NULL::VARCHAR", "", []
    known = list(KNOWN[f.by])
    return (f"""keys AS (
            SELECT key, coalesce(list_position(?::VARCHAR[], key), {len(known) + 1}) AS at
            FROM (SELECT unnest(?::VARCHAR[]) AS key
                  UNION SELECT {f.by} FROM fact_grievances WHERE {f.by} IS NOT NULL))""",
            f"g.{f.by}", f"k.key AS {f.by}, ", [known, known])


def per_100_visits(f: Filters) -> tuple[str, list[Any]]:
    keys, key, label, params = _keys(f)
    cases = Where(f).period("g.registered_at").eq("g.store_id", "store_id")
    visits = Where(f).period("w.opened_at").eq("w.store_id", "store_id")
    return f"""
        WITH {keys},
        cases AS (
            SELECT {key} AS key, count(*) AS complaints FROM fact_grievances g
            WHERE g.kind = 'complaint' AND {cases.sql()} GROUP BY 1),
        visits AS (
            SELECT count(*) AS work_orders FROM fact_work_orders w
            WHERE w.status <> 'cancelled' AND {visits.sql()})
        SELECT {label}coalesce(c.complaints, 0) AS complaints, work_orders,
               {exact_ratio("coalesce(c.complaints, 0) * 100", "work_orders", 2)}
                   AS complaints_per_100_visits
        FROM keys k LEFT JOIN cases c ON c.key IS NOT DISTINCT FROM k.key, visits
        ORDER BY k.at, k.key""", [*params, *cases.params, *visits.params]


def on_time_closure(f: Filters) -> tuple[str, list[Any]]:
    keys, key, label, params = _keys(f)
    w = Where(f).period("g.first_closed_at").eq("g.store_id", "store_id")
    return f"""
        WITH {keys},
        closed AS (
            SELECT {key} AS key, count(*) AS closed,
                   count(*) FILTER (WHERE g.first_closed_at <= g.close_due) AS closed_on_time,
                   count(*) FILTER (WHERE g.reopened > 0) AS reopened
            FROM fact_grievances g
            WHERE g.kind = 'complaint' AND g.first_closed_at IS NOT NULL AND {w.sql()}
            GROUP BY 1)
        SELECT {label}coalesce(c.closed, 0) AS closed,
               coalesce(c.closed_on_time, 0) AS closed_on_time,
               {exact_ratio("c.closed_on_time", "c.closed")} AS on_time_closure_rate,
               coalesce(c.reopened, 0) AS reopened
        FROM keys k LEFT JOIN closed c ON c.key IS NOT DISTINCT FROM k.key
        ORDER BY k.at, k.key""", [*params, *w.params]


def first_contact(f: Filters) -> tuple[str, list[Any]]:
    keys, key, label, params = _keys(f)
    w = Where(f).period("g.contacted_at").eq("g.store_id", "store_id")
    waiting = Where(f).eq("g.store_id", "store_id")
    return f"""
        WITH {keys},
        contacted AS (
            SELECT {key} AS key, count(*) AS contacted,
                   count(*) FILTER (WHERE g.contacted_at <= g.contact_due) AS contacted_on_time
            FROM fact_grievances g
            WHERE g.kind = 'complaint' AND g.contacted_at IS NOT NULL AND {w.sql()}
            GROUP BY 1),
        cutoff AS (SELECT least(?::DATE + 1, now()) AS cutoff),  -- never after now
        waiting AS (
            SELECT {key} AS key, count(*) AS waiting_past_due FROM fact_grievances g, cutoff
            WHERE g.kind = 'complaint' AND g.contact_due < cutoff
              AND (g.contacted_at IS NULL OR g.contacted_at >= cutoff) AND {waiting.sql()}
            GROUP BY 1)
        SELECT {label}coalesce(c.contacted, 0) AS contacted,
               coalesce(c.contacted_on_time, 0) AS contacted_on_time,
               {exact_ratio("c.contacted_on_time", "c.contacted")}
                   AS first_contact_on_time_rate,
               coalesce(l.waiting_past_due, 0) AS waiting_past_due
        FROM keys k LEFT JOIN contacted c ON c.key IS NOT DISTINCT FROM k.key
             LEFT JOIN waiting l ON l.key IS NOT DISTINCT FROM k.key
        ORDER BY k.at, k.key""", [*params, *w.params, f.end(), *waiting.params]
