"""The KPIs of customer complaint cases (投诉建议, `fact_grievances`): complaints per 100 visits,
the on-time closure rate and the first-contact on-time rate. Suggestions (建议) count in none:
they have no deadline and are not complaints. The store is the case's (or, for the visits, the
work order's); a case carries no vehicle, so there is no brand or model filter."""

from __future__ import annotations

from typing import Any

from analytics.kpi_where import RATIO, Filters, Where

PER_100 = "DECIMAL(18, 2)"

PER_100_VISITS = ("complaint cases registered in the period × 100 ÷ work orders opened in the "
                  "period (suggestions not counted), to 2 places")
ON_TIME_CLOSURE = ("complaints first closed in the period whose first closure was by their "
                   "close_due ÷ complaints first closed in the period (a reopened case counts "
                   "once, by its first closure)")
FIRST_CONTACT = ("complaints first contacted in the period whose first contact was by their "
                 "contact_due ÷ complaints first contacted in the period; beside it the "
                 "complaints still waiting for their first contact past contact_due at the "
                 "end of the period (or now, if that is earlier)")


def per_100_visits(f: Filters) -> tuple[str, list[Any]]:
    cases = Where(f).period("g.registered_at").eq("g.store_id", "store_id")
    visits = Where(f).period("w.opened_at").eq("w.store_id", "store_id")
    return f"""
        WITH cases AS (
            SELECT count(*) AS complaints FROM fact_grievances g
            WHERE g.kind = 'complaint' AND {cases.sql()}),
        visits AS (
            SELECT count(*) AS work_orders FROM fact_work_orders w WHERE {visits.sql()})
        SELECT complaints, work_orders,
               CAST(round(complaints * 100 / nullif(work_orders, 0), 2) AS {PER_100})
                   AS complaints_per_100_visits
        FROM cases, visits""", [*cases.params, *visits.params]


def on_time_closure(f: Filters) -> tuple[str, list[Any]]:
    w = Where(f).period("g.first_closed_at").eq("g.store_id", "store_id")
    return f"""
        SELECT count(*) AS closed,
               count(*) FILTER (WHERE g.first_closed_at <= g.close_due) AS closed_on_time,
               CAST(round(closed_on_time / nullif(count(*), 0), 4) AS {RATIO})
                   AS on_time_closure_rate,
               count(*) FILTER (WHERE g.reopened > 0) AS reopened
        FROM fact_grievances g
        WHERE g.kind = 'complaint' AND g.first_closed_at IS NOT NULL AND {w.sql()}""", w.params


def first_contact(f: Filters) -> tuple[str, list[Any]]:
    w = Where(f).period("g.contacted_at").eq("g.store_id", "store_id")
    waiting = Where(f).eq("g.store_id", "store_id")
    return f"""
        WITH contacted AS (
            SELECT count(*) AS contacted,
                   count(*) FILTER (WHERE g.contacted_at <= g.contact_due) AS contacted_on_time
            FROM fact_grievances g
            WHERE g.kind = 'complaint' AND g.contacted_at IS NOT NULL AND {w.sql()}),
        cutoff AS (SELECT least(?::DATE + 1, now()) AS cutoff),  -- never after now
        waiting AS (
            SELECT count(*) AS waiting_past_due FROM fact_grievances g, cutoff
            WHERE g.kind = 'complaint' AND g.contact_due < cutoff
              AND (g.contacted_at IS NULL OR g.contacted_at >= cutoff) AND {waiting.sql()})
        SELECT contacted, contacted_on_time,
               CAST(round(contacted_on_time / nullif(contacted, 0), 4) AS {RATIO})
                   AS first_contact_on_time_rate,
               waiting_past_due
        FROM contacted, waiting""", [*w.params, f.end(), *waiting.params]
