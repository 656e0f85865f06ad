"""The online booking conversion (线上预约转化率, `fact_online_bookings`): of the requests made in
the period, how many the desk confirmed, declined, the customer cancelled or lapsed unanswered,
how many of those confirmed came (their work order opened), and how long the desk took to
answer.

A request still waiting past its `answer_by` has lapsed by the clock: it counts as expired from
then, whether or not the retention run has recorded its lapse yet (`OnlineBooking.Expired`), as
the desk's list and the customer's link show it; the clock is the query's (`now()`). Arrivals
count with the request, in the period it was made, whenever the car came.

It takes a breakdown, `by=store`, `by=channel` (the booking channel that made the request:
its backend's user, e.g. wechat-mp) or `by=weekday` (of the slot asked for, Monday first: all
seven, a day without requests zeros and no ratio): one row per value, each with the figures of
its own requests; the rows add up to the figures without a breakdown."""

from __future__ import annotations

from typing import Any

from analytics.kpi_where import HOURS, Filters, Where, exact_ratio

FORMULA = ("of the requests made in the period: confirmation rate = confirmed ÷ requests; "
           "arrival rate = arrived (the appointment's car came: its work order opened) ÷ "
           "confirmed; conversion = arrived ÷ requests; expired = lapsed unanswered past "
           "answer_by, recorded or by the clock now; waiting = neither answered, cancelled nor "
           "lapsed yet; median and p90 hours to answer over the requests the desk confirmed "
           "or declined (answered − requested, interpolated between them as a spreadsheet's "
           "PERCENTILE.INC), to 1/100 h; by=store, channel (the booking channel) or weekday "
           "(of the slot asked for): a row per value, adding up to the total")

# what a request came to, a lapse by the clock included
OUTCOME = ("CASE WHEN r.outcome IS NULL AND r.answer_by <= now() THEN 'expired' "
           "ELSE r.outcome END")
ANSWER_SECONDS = "epoch(r.answered_at - r.requested_at)"

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
# what `by=` may name: a request's value of it
KEYS = {"store": "r.store_id", "channel": "r.channel", "weekday": "lower(dayname(r.slot_day))"}
BREAKDOWNS = tuple(KEYS)


def _keys(f: Filters) -> tuple[str, str, str, list[Any]]:
    """The rows of the answer: a `keys` CTE (key, at: its place) over the requests counted
    (`r`), the expression giving a request's key, the answer's first column naming it, and
    the CTE's parameters. Without a breakdown one row, of the key NULL."""
    if f.by is None:
        return "keys AS (SELECT NULL::VARCHAR AS key, 0 AS at)", "NULL::VARCHAR", "", []
    if f.by == "weekday":
        days = "keys AS (SELECT unnest(?::VARCHAR[]) AS key, unnest(range(1, 8)) AS at)"
        return days, KEYS[f.by], "k.key AS weekday, ", [list(WEEKDAYS)]
    column = "store_id" if f.by == "store" else f.by
    return ("keys AS (SELECT DISTINCT key, 0 AS at FROM r)", KEYS[f.by],
            f"k.key AS {column}, ", [])


def conversion(f: Filters) -> tuple[str, list[Any]]:
    keys, key, label, params = _keys(f)
    w = Where(f).period("r.requested_at").eq("r.store_id", "store_id")
    n = "count(r.booking_id)"  # the requests of the row's key (none: 0)
    return f"""
        WITH r AS (
            SELECT r.*, {OUTCOME} AS ended, {key} AS key FROM fact_online_bookings r
            WHERE {w.sql()}),
        {keys}
        SELECT {label}{n} AS requests,
               {n} FILTER (WHERE ended = 'confirmed') AS confirmed,
               {n} FILTER (WHERE ended = 'declined') AS declined,
               {n} FILTER (WHERE ended = 'cancelled') AS cancelled,
               {n} FILTER (WHERE ended = 'expired') AS expired,
               {n} FILTER (WHERE ended IS NULL) AS waiting,
               {n} FILTER (WHERE r.work_order_id IS NOT NULL) AS arrived,
               {exact_ratio("confirmed", "requests")} AS confirmation_rate,
               {exact_ratio("arrived", "confirmed")} AS arrival_rate,
               {exact_ratio("arrived", "requests")} AS conversion,
               count(r.answered_at) AS answered,
               CAST(round(quantile_cont({ANSWER_SECONDS}, 0.5) / 3600, 2) AS {HOURS})
                   AS median_hours_to_answer,
               CAST(round(quantile_cont({ANSWER_SECONDS}, 0.9) / 3600, 2) AS {HOURS})
                   AS p90_hours_to_answer
        FROM keys k LEFT JOIN r ON r.key IS NOT DISTINCT FROM k.key
        GROUP BY k.key, k.at ORDER BY k.at, k.key""", [*w.params, *params]
