"""Comebacks (返修): a vehicle back for a repair an earlier visit did not fix, within the repair
quality-guarantee period of that visit (`domain.repair_guarantee`), or as the advisor marked it.

A work order is a comeback when an earlier visit of the same VIN (at any store, not cancelled)
was completed — delivered, else ready for settlement — no later than the new one was opened,
the new one opened within that visit's guarantee (on a day at most its days after the day of
completion — calendar days in the connection's time zone, the store's: the period runs from the
day the car left the shop, so a 10-day guarantee of a car delivered on 1 May holds all of 11
May, whatever the hour — and, where both mileages in are known, at most its km further on the
odometer), and either
- the complaint is the same (case and surrounding spaces ignored): `matched_by` complaint, or
- an approved labor operation of the new visit repeats one of the earlier visit's (op codes
  compared normalised: letters and digits, upper case): `matched_by` op_code;
or when the advisor marked it a comeback of an earlier visit (`fact_work_orders.comeback_of`,
a mark not withdrawn), whatever the rule finds: `matched_by` advisor. Each comeback is paired
with the visit the advisor named, else the latest earlier visit the rule matched.
"""

from __future__ import annotations

from typing import Any

from domain.repair_guarantee import DEFAULT_CLASS, GUARANTEES, OP_CODE_CLASSES, RANK


def _rank_case(column: str) -> tuple[str, list[Any]]:
    """SQL for the guarantee rank of an op code, as `class_of_op_code` decides it."""
    code = f"regexp_replace(upper({column}), '[^A-Z0-9]', '', 'g')"
    prefixes = sorted(OP_CODE_CLASSES, key=len, reverse=True)
    whens = " ".join(f"WHEN starts_with({code}, ?) THEN {RANK[OP_CODE_CLASSES[p]]}"
                     for p in prefixes)
    return f"CASE {whens} ELSE {RANK[DEFAULT_CLASS]} END", list(prefixes)


def _guarantees() -> str:
    return ", ".join(f"({RANK[g.repair_class]}, '{g.repair_class}', {g.days}, {g.km})"
                     for g in GUARANTEES)


def _normalised(column: str) -> str:
    return f"regexp_replace(upper({column}), '[^A-Z0-9]', '', 'g')"


def pairs(where: str, params: list[Any]) -> tuple[str, list[Any]]:
    """CTEs `visits` (work orders that `where` selects on `fact_work_orders w`, not cancelled)
    and `comebacks` (one row per comeback among them, with its earlier visit)."""
    rank, rank_params = _rank_case("l.op_code")
    longest = GUARANTEES[-1]
    return f"""
        WITH visits AS (
            SELECT w.work_order_id, w.number, w.store_id, w.vin, w.opened_at, w.mileage_in,
                   lower(trim(w.complaint)) AS complaint, w.comeback_of
            FROM fact_work_orders w WHERE w.status <> 'cancelled' AND {where}),
        guarantee(rank, repair_class, days, km) AS (VALUES {_guarantees()}),
        earlier AS (
            SELECT e.work_order_id, e.vin, lower(trim(e.complaint)) AS complaint,
                   coalesce(e.delivered_at, e.ready_at) AS completed_at
            FROM fact_work_orders e
            WHERE e.status <> 'cancelled' AND coalesce(e.delivered_at, e.ready_at) IS NOT NULL
              AND e.vin IN (SELECT vin FROM visits)),
        op_codes AS (  -- the approved labor operations of the visits and their VINs' others
            SELECT DISTINCT l.work_order_id, {_normalised("l.op_code")} AS op_code
            FROM fact_labor_lines l
            WHERE l.status = 'approved' AND {_normalised("l.op_code")} <> ''
              AND (l.work_order_id IN (SELECT work_order_id FROM earlier)
                   OR l.work_order_id IN (SELECT work_order_id FROM visits))),
        automatic AS (  -- within the longest guarantee; each one's own class decides below
            SELECT v.work_order_id, e.work_order_id AS earlier_work_order_id,
                   CASE WHEN e.complaint = v.complaint THEN 'complaint' ELSE 'op_code' END
                       AS matched_by
            FROM visits v
            JOIN earlier e ON e.vin = v.vin
                AND e.work_order_id <> v.work_order_id AND e.completed_at <= v.opened_at
                AND CAST(v.opened_at AS DATE)
                    <= CAST(e.completed_at AS DATE) + INTERVAL {longest.days} DAY
            WHERE e.complaint = v.complaint
               OR EXISTS (SELECT 1 FROM op_codes a JOIN op_codes b USING (op_code)
                          WHERE a.work_order_id = v.work_order_id
                            AND b.work_order_id = e.work_order_id)),
        marked AS (  -- the advisor's word, whatever the rule finds
            SELECT work_order_id, comeback_of AS earlier_work_order_id, 'advisor' AS matched_by
            FROM visits WHERE comeback_of IS NOT NULL),
        candidates AS (
            SELECT v.work_order_id, v.number, v.store_id, v.vin, v.complaint, v.opened_at,
                   e.work_order_id AS earlier_work_order_id, e.number AS earlier_number,
                   e.store_id AS earlier_store_id,
                   coalesce(e.delivered_at, e.ready_at) AS earlier_completed_at,
                   v.mileage_in - e.mileage_in AS km_between, m.matched_by
            FROM (SELECT * FROM automatic UNION ALL SELECT * FROM marked) m
            JOIN visits v USING (work_order_id)
            JOIN fact_work_orders e ON e.work_order_id = m.earlier_work_order_id),
        ranks AS (
            SELECT l.work_order_id, max({rank}) AS rank FROM fact_labor_lines l
            WHERE l.status = 'approved'
              AND l.work_order_id IN (SELECT earlier_work_order_id FROM candidates)
            GROUP BY 1),
        matched AS (
            SELECT c.*, g.repair_class, g.days AS guarantee_days, g.km AS guarantee_km,
                   CAST(round(epoch(c.opened_at - c.earlier_completed_at) / 86400, 1)
                        AS DECIMAL(18, 1)) AS days_between,
                   row_number() OVER (PARTITION BY c.work_order_id
                                      ORDER BY c.matched_by = 'advisor' DESC,
                                               c.earlier_completed_at DESC NULLS LAST,
                                               c.earlier_number DESC) AS nth
            FROM candidates c
            LEFT JOIN ranks r ON r.work_order_id = c.earlier_work_order_id
            JOIN guarantee g ON g.rank = coalesce(r.rank, {RANK[DEFAULT_CLASS]})
            WHERE c.matched_by = 'advisor'
               OR (CAST(c.opened_at AS DATE) <= CAST(c.earlier_completed_at AS DATE) + g.days
                   AND (c.km_between IS NULL OR c.km_between <= g.km))),
        comebacks AS (SELECT * FROM matched WHERE nth = 1)""", [*params, *rank_params]


def listing(where: str, params: list[Any]) -> tuple[str, list[Any]]:
    """The comebacks, latest first, with the technicians of the earlier visit's labor."""
    ctes, all_params = pairs(where, params)
    return f"""{ctes},
        technicians AS (
            SELECT l.work_order_id,
                   string_agg(DISTINCT l.technician_id, ', ' ORDER BY l.technician_id)
                       AS earlier_technicians,
                   string_agg(DISTINCT d.name, ', ' ORDER BY d.name) AS earlier_technician_names
            FROM fact_labor_lines l LEFT JOIN dim_technician d USING (technician_id)
            WHERE l.status = 'approved'
              AND l.work_order_id IN (SELECT earlier_work_order_id FROM comebacks)
            GROUP BY 1)
        SELECT c.number AS work_order, c.earlier_number AS earlier_work_order, c.vin,
               c.complaint, c.repair_class, c.guarantee_days, c.guarantee_km,
               c.days_between, c.km_between, c.opened_at, c.earlier_completed_at,
               c.store_id, c.earlier_store_id, t.earlier_technicians,
               t.earlier_technician_names, c.matched_by, c.work_order_id,
               c.earlier_work_order_id
        FROM comebacks c LEFT JOIN technicians t
          ON t.work_order_id = c.earlier_work_order_id
        ORDER BY c.opened_at DESC, c.number LIMIT 500""", all_params
