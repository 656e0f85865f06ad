"""The online booking conversion (线上预约转化率, `fact_online_bookings`): of the requests made in
the period, how many the desk confirmed, declined, the customer cancelled or lapsed unanswered,
how many of those confirmed came (their work order opened), and how long the desk took to
answer.

A request still waiting past its `answer_by` has lapsed by the clock: it counts as expired from
then, whether or not the retention run has recorded its lapse yet (`OnlineBooking.Expired`), as
the desk's list and the customer's link show it; the clock is the query's (`now()`). Arrivals
count with the request, in the period it was made, whenever the car came."""

from __future__ import annotations

from typing import Any

from analytics.kpi_where import HOURS, RATIO, Filters, Where

FORMULA = ("of the requests made in the period: confirmation rate = confirmed ÷ requests; "
           "arrival rate = arrived (the appointment's car came: its work order opened) ÷ "
           "confirmed; conversion = arrived ÷ requests; expired = lapsed unanswered past "
           "answer_by, recorded or by the clock now; waiting = neither answered, cancelled nor "
           "lapsed yet; median and p90 hours to answer over the requests the desk confirmed "
           "or declined (answered − requested, interpolated between them as a spreadsheet's "
           "PERCENTILE.INC), to 1/100 h")

# what a request came to, a lapse by the clock included
OUTCOME = ("CASE WHEN r.outcome IS NULL AND r.answer_by <= now() THEN 'expired' "
           "ELSE r.outcome END")
ANSWER_SECONDS = "epoch(r.answered_at - r.requested_at)"


def conversion(f: Filters) -> tuple[str, list[Any]]:
    w = Where(f).period("r.requested_at").eq("r.store_id", "store_id")
    return f"""
        WITH r AS (
            SELECT r.*, {OUTCOME} AS ended FROM fact_online_bookings r WHERE {w.sql()})
        SELECT count(*) AS requests,
               count(*) FILTER (WHERE ended = 'confirmed') AS confirmed,
               count(*) FILTER (WHERE ended = 'declined') AS declined,
               count(*) FILTER (WHERE ended = 'cancelled') AS cancelled,
               count(*) FILTER (WHERE ended = 'expired') AS expired,
               count(*) FILTER (WHERE ended IS NULL) AS waiting,
               count(*) FILTER (WHERE r.work_order_id IS NOT NULL) AS arrived,
               CAST(round(confirmed / nullif(requests, 0), 4) AS {RATIO}) AS confirmation_rate,
               CAST(round(arrived / nullif(confirmed, 0), 4) AS {RATIO}) AS arrival_rate,
               CAST(round(arrived / nullif(requests, 0), 4) AS {RATIO}) AS conversion,
               count(r.answered_at) AS answered,
               CAST(round(quantile_cont({ANSWER_SECONDS}, 0.5) / 3600, 2) AS {HOURS})
                   AS median_hours_to_answer,
               CAST(round(quantile_cont({ANSWER_SECONDS}, 0.9) / 3600, 2) AS {HOURS})
                   AS p90_hours_to_answer
        FROM r""", w.params
