"""Queries on the workshop read model: availability, appointments, technicians, the dispatch
board (with a proposed technician per waiting job), and the technician KPIs per day.

The board's proposal uses the same ranking as the auto-dispatch command; the command re-checks
it on the aggregates.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any
from uuid import UUID

import psycopg

from domain import kpi_figures as figures
from domain.common import InvalidInput
from domain.days import minutes, parse_clock
from domain.skills import Candidate, exclusions, lines_requirement, ranked
from domain.workshop_day import SLOT_MINUTES, holding
from projections.base import page as _page
from projections.base import rows as _rows

ACTIVE = ("checked_in", "in_progress")
IN_THE_WORKSHOP = (*ACTIVE, "ready_for_settlement")




def _scope(stores: Sequence[str], column: str = "store_id") -> tuple[str, list[Any]]:
    if "*" in stores:
        return "TRUE", []
    return f"{column} = ANY(%s)", [list(stores)]


def availability(conn: psycopg.Connection[Any], stores: Sequence[str], *, store_id: str,
                 first: date, last: date, now: datetime | None = None) -> list[dict[str, Any]]:
    """Per day: labor hours per skill (capacity, booked, free) and free bays per slot; an
    online request's hold that has lapsed by `now` (default: the clock) holds nothing."""
    now = now or datetime.now(UTC)
    scope, params = _scope(stores)
    days = _rows(conn, f"""SELECT day, opens, closes, bays, skill_hours, bookings FROM
        workshop_days WHERE {scope} AND store_id = %s AND day BETWEEN %s AND %s ORDER BY day""",
                 [*params, store_id, first, last])
    for d in days:
        d["bookings"] = holding(d["bookings"], now)
        booked: dict[str, Decimal] = {}
        start, end = minutes(parse_clock(d["opens"])), minutes(parse_clock(d["closes"]))
        occupied = [0] * ((end - start) // SLOT_MINUTES)
        for booking in d["bookings"].values():
            for skill, hours in booking["work"].items():
                booked[skill] = booked.get(skill, Decimal(0)) + Decimal(hours)
            first_slot = (minutes(parse_clock(booking["arrival"])) - start) // SLOT_MINUTES
            for slot in range(first_slot, min(len(occupied), first_slot +
                                              booking["bay_minutes"] // SLOT_MINUTES)):
                occupied[slot] += 1
        d["skills"] = {skill: {"capacity": str(figures.hours(Decimal(cap))),
                               "booked": str(figures.hours(booked.get(skill))),
                               "free": str(figures.hours(Decimal(cap) - booked.get(skill, 0)))}
                       for skill, cap in d.pop("skill_hours").items()}
        d["free_bays"] = {f"{(start + i * SLOT_MINUTES) // 60:02d}:"
                          f"{(start + i * SLOT_MINUTES) % 60:02d}": d["bays"] - n
                          for i, n in enumerate(occupied)}
        d["appointments"] = len(d.pop("bookings"))
    return days


# A booking names the car by its VIN, its plate, or both: one booked by VIN alone shows the
# plate the store's vehicle file holds (the desk reads plates).
BOOKED_PLATE = "COALESCE(a.plate, v.plate)"
ON_FILE = "LEFT JOIN vehicles v ON v.vin = a.vin AND v.store_id = a.store_id"


def list_appointments(conn: psycopg.Connection[Any], stores: Sequence[str], *,
                      store_id: str | None = None, day: date | None = None,
                      status: str | None = None, customer_id: UUID | None = None,
                      limit: int = 100, offset: int = 0) -> dict[str, Any]:
    scope, params = _scope(stores, "a.store_id")
    where = [scope]
    for column, value in (("a.store_id", store_id), ("a.day", day), ("a.status", status),
                          ("a.customer_id", customer_id)):
        if value is not None:
            where.append(f"{column} = %s")
            params.append(value)
    return _page(conn, f"""
        SELECT a.id, a.store_id, a.day, a.arrival, a.status, a.customer_id,
               c.name AS customer_name, c.phones AS customer_phones, a.vin,
               {BOOKED_PLATE} AS plate, a.kind, a.services, a.note, a.work_order_id,
               a.work_order_number, a.version
        FROM appointments a LEFT JOIN customers c ON c.id = a.customer_id {ON_FILE}
        WHERE {' AND '.join(where)}""", params, order_by="a.day, a.arrival, a.id", limit=limit,
                 offset=offset)


def get_appointment(conn: psycopg.Connection[Any], appointment_id: UUID,
                    stores: Sequence[str]) -> dict[str, Any] | None:
    rows = _rows(conn, f"""SELECT a.*, c.name AS customer_name, c.phones AS customer_phones,
        {BOOKED_PLATE} AS booked_plate
        FROM appointments a LEFT JOIN customers c ON c.id = a.customer_id {ON_FILE}
        WHERE a.id = %s""", (appointment_id,))
    for row in rows:
        row["plate"] = row.pop("booked_plate")
    if not rows or ("*" not in stores and rows[0]["store_id"] not in stores):
        return None
    return rows[0]


def _days(column: str) -> str:
    """The days of a jsonb map keyed by ISO day (shifts, attendance) from one day to another:
    the maps keep every day, and grow by one a working day without end."""
    return ("(SELECT COALESCE(jsonb_object_agg(key, value), '{}'::jsonb) FROM "
            f"jsonb_each({column}) WHERE key BETWEEN %s AND %s)")


def _technicians(stores: Sequence[str], store_id: str | None, user_id: str | None,
                 days: tuple[date, date]) -> tuple[str, list[Any]]:
    scope, params = _scope(stores)
    where = [scope]
    for column, value in (("store_id", store_id), ("user_id", user_id)):
        if value:
            where.append(f"{column} = %s")
            params.append(value)
    first, last = (day.isoformat() for day in days)
    return (f"""SELECT user_id, name, store_id, on_roster, skills, hourly_cost,
        {_days("shifts")} AS shifts, {_days("attendance")} AS attendance, open_clock
        FROM technicians WHERE {' AND '.join(where)}""", [first, last, first, last, *params])


def list_technicians(conn: psycopg.Connection[Any], stores: Sequence[str], *,
                     days: tuple[date, date], store_id: str | None = None,
                     user_id: str | None = None) -> list[dict[str, Any]]:
    """The technicians of the caller's stores (a store's, or one user's): the name of their
    profile (None until one is given) next to the user id; their shifts and attendance from
    the first of `days` to the last."""
    sql, params = _technicians(stores, store_id, user_id, days)
    return _rows(conn, f"{sql} ORDER BY user_id", params)


def technicians_page(conn: psycopg.Connection[Any], stores: Sequence[str], *,
                     days: tuple[date, date], store_id: str | None, limit: int,
                     offset: int) -> dict[str, Any]:
    """One page of `list_technicians`, by user id."""
    sql, params = _technicians(stores, store_id, None, days)
    return _page(conn, sql, params, order_by="user_id", limit=limit, offset=offset)


def _on_shift(tech: dict[str, Any], today: date, now: time) -> tuple[bool, str]:
    shift = tech["shifts"].get(today.isoformat())
    seen = tech["attendance"].get(today.isoformat(), {})
    if shift is None:
        return False, f"no shift on {today}"
    if seen.get("status") == "absent":
        return False, f"absent on {today}"
    if now >= parse_clock(shift["end"]):
        return False, f"shift ended at {shift['end']}"
    return True, f"{shift['start']}-{shift['end']}"


def board(conn: psycopg.Connection[Any], stores: Sequence[str], *, store_id: str,
          now: datetime) -> dict[str, Any]:
    """Per technician: queue, current clock, open load, today's hours; and the waiting jobs,
    each with the technician auto-dispatch would propose. Every hours figure (a job's, the
    open load, today's available, clocked and sold) is shown as the technicians' KPIs show
    them: two decimals, half up (`domain/kpi_figures.py`); the view's rows are unchanged.
    Beside them, for the foreman and the QC inspector, the jobs not yet dispatched with a line
    still waiting for the customer's approval (`awaiting_approval`, no proposal: the work is
    not agreed yet) and the jobs completed and waiting for inspection (`awaiting_qc`)."""
    if "*" not in stores and store_id not in stores:
        return {"store_id": store_id, "technicians": [], "waiting": [],
                "awaiting_approval": [], "awaiting_qc": []}
    today = now.date()
    techs = list_technicians(conn, stores, store_id=store_id, days=(today, today))
    # The visits in the workshop only: a job declined after its diagnosis never passes QC and
    # stays as it was on the delivered visit, one more a week in every store, for years.
    # Each job with the car's plate and the time promised to the customer at check-in (the
    # work-order view's), which the workshop goes by.
    jobs = _rows(conn, f"""SELECT j.work_order_id, j.job_no, j.number, w.plate,
        w.doc->'check_in'->>'promised_at' AS promised_at, j.complaint, j.status,
        j.technician_id, j.hours, j.approved, j.pending, j.op_codes, j.dispatched_at,
        j.dispatch_reason, j.wo_status
        FROM ws_jobs j LEFT JOIN wo_view w ON w.id = j.work_order_id
        WHERE j.store_id = %s AND j.wo_status IN {IN_THE_WORKSHOP}
          AND j.status NOT IN ('passed', 'closed') ORDER BY j.dispatched_at NULLS LAST, j.number, j.job_no""",
                 (store_id,))
    days = {r["user_id"]: r for r in _rows(conn, """SELECT user_id, available_hours,
        clocked_seconds, sold_hours FROM tech_days WHERE store_id = %s AND day = %s""",
                                          (store_id, today))}
    candidates = []
    for tech in techs:
        queue = [j for j in jobs if j["technician_id"] == tech["user_id"]]
        load = sum((Decimal(j["hours"]) for j in queue), Decimal(0))
        on_shift, shift = _on_shift(tech, today, now.time())
        day = days.get(tech["user_id"], {})
        tech.update(
            queue=queue, open_load_hours=str(figures.hours(load)), on_shift=on_shift,
            shift_today=shift,
            today={"available_hours": str(figures.hours(day.get("available_hours"))),
                   "clocked_hours": str(figures.clocked_hours(day.get("clocked_seconds"))),
                   "sold_hours": str(figures.hours(day.get("sold_hours")))})
        if tech["on_roster"]:
            candidates.append(Candidate(tech["user_id"], tech["skills"], on_shift,
                                        shift if on_shift else None, load, len(queue),
                                        [] if on_shift else [shift]))
    undispatched = [j for j in jobs if j["technician_id"] is None and j["wo_status"] in ACTIVE]
    waiting = [j for j in undispatched if j["approved"] > 0 and j["pending"] == 0]
    awaiting_approval = [j for j in undispatched if j["pending"] > 0]
    awaiting_qc = [j for j in jobs if j["status"] == "awaiting_qc"]
    lines: dict[tuple[UUID, int], list[dict[str, Any]]] = {}
    for line in _rows(conn, """SELECT work_order_id, job_no, line_id, op_code, skill, level
            FROM ws_lines WHERE work_order_id = ANY(%s) AND kind = 'labor'
              AND status = 'approved' ORDER BY work_order_id, line_id""",
                      ([j["work_order_id"] for j in waiting],)):
        lines.setdefault((line["work_order_id"], line["job_no"]), []).append(
            {**line, "labor_operation": {"skill": line["skill"], "level": line["level"]}})
    for job in waiting:  # the need as auto-dispatch works it out (domain/skills.py)
        try:
            need = lines_requirement(lines.get((job["work_order_id"], job["job_no"]), []))
        except InvalidInput as exc:
            job.update(need=None, proposed=None, note=exc.detail)
            continue
        ranking = ranked(candidates, need)
        job.update(need=need, proposed=ranking[0].user_id if ranking else None,
                   excluded=exclusions(candidates, need))
    for job in jobs:  # shown as every hours figure of the board, once the load is summed
        job["hours"] = str(figures.hours(job["hours"]))
    return {"store_id": store_id, "at": now, "technicians": techs, "waiting": waiting,
            "awaiting_approval": awaiting_approval, "awaiting_qc": awaiting_qc}


def kpi_page(conn: psycopg.Connection[Any], stores: Sequence[str], *, store_id: str | None,
             first: date, last: date, user_id: str | None = None, by: str = "day",
             limit: int | None = None, offset: int = 0) -> dict[str, Any]:
    """One page of the KPIs per technician and day (`by` "period": per technician and store
    over the whole range): efficiency = sold / clocked, productivity = clocked / available,
    proficiency = sold / available (None where the divisor is zero). The page is cut in SQL
    (days by day and user id; periods by user id and store, in code point order) and only its
    rows are computed: a page costs its rows, not the staff times the span."""
    scope, params = _scope(stores, "d.store_id")
    where = [scope, "d.day BETWEEN %s AND %s"]
    params += [first, last]
    for column, value in (("d.store_id", store_id), ("d.user_id", user_id)):
        if value:
            where.append(f"{column} = %s")
            params.append(value)
    days = f"""SELECT d.user_id, t.name, d.store_id, d.day, d.available_hours,
        d.clocked_seconds, d.sold_hours FROM tech_days d
        LEFT JOIN technicians t ON t.user_id = d.user_id WHERE {' AND '.join(where)}"""
    if by == "day":
        found = _page(conn, days, params, order_by="d.day, d.user_id", limit=limit,
                      offset=offset)
        found["items"] = [_kpi_row(r, by) for r in found["items"]]
        return found
    found = _page(conn, f"""SELECT d.user_id, d.store_id FROM tech_days d
        WHERE {' AND '.join(where)} GROUP BY d.user_id, d.store_id""", params,
                  order_by='user_id COLLATE "C", store_id COLLATE "C"', limit=limit,
                  offset=offset)
    keys = found["items"]
    rows = _rows(conn, f"""{days} AND (d.user_id, d.store_id) IN
        (SELECT * FROM unnest(%s::text[], %s::text[])) ORDER BY d.day, d.user_id""",
                 [*params, [k["user_id"] for k in keys], [k["store_id"] for k in keys]])
    found["items"] = [_kpi_row(r, by) for r in _period_rows(rows, first, last)]
    return found


def kpis(conn: psycopg.Connection[Any], stores: Sequence[str], *, store_id: str | None,
         first: date, last: date, user_id: str | None = None,
         by: str = "day") -> list[dict[str, Any]]:
    """Every row of `kpi_page`, in its order."""
    rows: list[dict[str, Any]] = kpi_page(conn, stores, store_id=store_id, first=first,
                                          last=last, user_id=user_id, by=by)["items"]
    return rows


def _period_rows(rows: list[dict[str, Any]], first: date,
                 last: date) -> list[dict[str, Any]]:
    """The days of each technician and store summed: a week's efficiency is its hours sold
    over its hours clocked, not an average of the days' ratios."""
    summed: dict[tuple[str, str], dict[str, Any]] = {}
    for r in rows:
        key = (r["user_id"], r["store_id"])
        into = summed.setdefault(key, {**r, "from_day": first, "to_day": last, "days": 0,
                                       "available_hours": 0, "clocked_seconds": 0,
                                       "sold_hours": 0})
        into["days"] += 1
        for column in ("available_hours", "clocked_seconds", "sold_hours"):
            into[column] += Decimal(r[column])
    return [summed[key] for key in sorted(summed)]


def _kpi_row(r: dict[str, Any], by: str) -> dict[str, Any]:
    available, sold = Decimal(r["available_hours"]), Decimal(r["sold_hours"])
    seconds = int(r["clocked_seconds"])

    def shown(value: Decimal | None) -> str | None:
        return None if value is None else str(value)

    when = {"from_day": r["from_day"], "to_day": r["to_day"], "days": r["days"]} \
        if by == "period" else {"day": r["day"]}
    return {"user_id": r["user_id"], "name": r["name"], "store_id": r["store_id"], **when,
            "available_hours": str(figures.hours(available)),
            "clocked_hours": str(figures.clocked_hours(seconds)),
            "sold_hours": str(figures.hours(sold)), "efficiency": shown(figures.efficiency(sold, seconds)),
            "productivity": shown(figures.productivity(seconds, available)),
            "proficiency": shown(figures.proficiency(sold, available))}
