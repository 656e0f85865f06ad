"""The workshop as the service manager sees it: capacity and bookings per store and day,
appointments, technicians (name, skills, shifts, attendance, clock), every job's dispatch state
and hours (the dispatch board), and per technician and day the hours available, clocked and
sold.

Hours sold are the flat-rate hours of a job's approved labor lines, credited to its technician
on the day the job passes QC; clocked hours are credited on the day of the clock-off.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import psycopg
from psycopg.types.json import Jsonb

from domain.appointment import Appointment
from domain.roster import Roster
from domain.technician import Technician
from domain.work_order import WorkOrder
from domain.workshop_day import WorkshopDay
from projections.base import Index, ReadModel
from projections.batch_rows import plain
from projections.work_orders import dumps
from projections.workshop_batch import WorkshopBatch, hours_of, master_skill


def _json(value: Any) -> Jsonb:
    return Jsonb(value, dumps=dumps)



def appointment_entry(e: Any) -> dict[str, Any]:
    """The booking's `history` entry for one of its events: what, by whom, when, why."""
    return {"event": type(e).__name__, "by": e.audit.user_id, "at": e.audit.at.isoformat(),
            "reason": getattr(e, "reason", None) or getattr(e, "note", None)}


def appointment_changes(e: Any, entry: dict[str, Any]) -> dict[str, Any]:
    """The columns an event after the booking changes (`day` as the event keeps it, an ISO
    day); a move also names on `entry` where the booking was before."""
    if isinstance(e, Appointment.Rescheduled):
        entry["from"] = f"{e.previous_day} {e.previous_arrival}"
        return {"day": e.day, "arrival": e.arrival}
    if isinstance(e, Appointment.Cancelled):
        return {"status": "cancelled"}
    if isinstance(e, Appointment.NoShow):
        return {"status": "no_show"}
    if isinstance(e, Appointment.Arrived):
        return {"status": "arrived", "work_order_id": e.work_order_id,
                "work_order_number": e.work_order_number}
    return {}


def new_technician(user_id: str, store_id: str, on_roster: bool) -> dict[str, Any]:
    """A technician's row before any change: no name, skills, cost, shifts or open clock."""
    return {"user_id": user_id, "store_id": store_id, "name": None, "on_roster": on_roster,
            "skills": {}, "hourly_cost": None, "shifts": {}, "attendance": {},
            "open_clock": None}


def technician_change(row: dict[str, Any], e: Any) -> list[str]:
    """Apply a technician's event after the registration to its row, in place; the days whose
    shift or attendance it changed (their available hours to recompute)."""
    if isinstance(e, Technician.SkillsSet):
        row["skills"] = plain(e.skills)
    elif isinstance(e, Technician.HourlyCostSet):
        row["hourly_cost"] = e.hourly_cost
    elif isinstance(e, Technician.Named):
        row["name"] = e.name
    elif isinstance(e, Technician.ShiftsPlanned):
        shifts = plain({s["day"]: s for s in e.shifts})
        row["shifts"].update(shifts)
        return list(shifts)
    elif isinstance(e, Technician.ShiftCancelled):
        row["shifts"].pop(e.day, None)
        return [e.day]
    elif isinstance(e, Technician.AttendanceRecorded):
        row["attendance"].update(plain({e.day: {"status": e.status, "hours": e.hours,
                                                "note": e.note}}))
        return [e.day]
    elif isinstance(e, Technician.ClockedOn):
        row["open_clock"] = plain({"work_order_id": e.work_order_id, "job_no": e.job_no,
                                   "since": e.audit.at.isoformat()})
    elif isinstance(e, Technician.ClockedOff):
        row["open_clock"] = None
    return []


class WorkshopView(ReadModel):
    name = "workshop"
    handles = (WorkOrder.Event, WorkshopDay.Event, Appointment.Event, Technician.Event,
               Roster.Joined, Roster.Left)
    pipelined = True  # the statements of the rarer events (capacity, appointments)
    tables = {  # noqa: RUF012
        "workshop_days": """
            id uuid NOT NULL UNIQUE, store_id text NOT NULL, day date NOT NULL,
            opens text NOT NULL, closes text NOT NULL,
            bays integer NOT NULL, skill_hours jsonb NOT NULL, bookings jsonb NOT NULL,
            version integer NOT NULL, PRIMARY KEY (store_id, day)""",
        "appointments": """
            id uuid PRIMARY KEY, store_id text NOT NULL, day date NOT NULL, arrival text NOT NULL,
            status text NOT NULL, customer_id uuid NOT NULL, vin text NOT NULL, plate text,
            vehicle jsonb NOT NULL, services jsonb NOT NULL, kind text NOT NULL, note text,
            work_order_id uuid, work_order_number text, history jsonb NOT NULL,
            booked_at timestamptz NOT NULL, updated_at timestamptz NOT NULL,
            version integer NOT NULL""",
        "technicians": """
            user_id text PRIMARY KEY, id uuid NOT NULL UNIQUE, store_id text NOT NULL,
            name text, on_roster boolean NOT NULL,
            skills jsonb NOT NULL, hourly_cost numeric, shifts jsonb NOT NULL,
            attendance jsonb NOT NULL, open_clock jsonb, updated_at timestamptz NOT NULL""",
        "tech_days": """
            user_id text NOT NULL, day date NOT NULL, store_id text NOT NULL,
            available_hours numeric NOT NULL DEFAULT 0, clocked_seconds bigint NOT NULL DEFAULT 0,
            sold_hours numeric NOT NULL DEFAULT 0, PRIMARY KEY (user_id, day)""",
        "ws_jobs": """
            work_order_id uuid NOT NULL, job_no integer NOT NULL, store_id text NOT NULL,
            number text NOT NULL, wo_status text NOT NULL, complaint text NOT NULL,
            status text NOT NULL, technician_id text, hours numeric NOT NULL DEFAULT 0,
            approved integer NOT NULL DEFAULT 0, pending integer NOT NULL DEFAULT 0,
            op_codes text[] NOT NULL DEFAULT '{}', dispatched_at timestamptz,
            dispatch_reason text, passed_at timestamptz, PRIMARY KEY (work_order_id, job_no)""",
        "ws_lines": """
            work_order_id uuid NOT NULL, line_id text NOT NULL, job_no integer NOT NULL,
            kind text NOT NULL, op_code text, hours numeric, status text NOT NULL,
            skill text, level integer, PRIMARY KEY (work_order_id, line_id)""",
    }
    # the skill and level the labor-operation master gave a labor line (dispatch's need)
    added_columns = (("ws_lines", "skill text"), ("ws_lines", "level integer"))
    # 2: lines added before the columns: their master's skill and level; 3: an online
    # request's hold keeps the time it lapses (`lapses_at`), which the reads leave out after
    revision = 3
    indexes = (
        Index("appointments", "appointments_day_idx", "(store_id, day, arrival)"),
        Index("appointments", "appointments_customer_idx", "(customer_id)"),
        Index("ws_jobs", "ws_jobs_technician_idx", "(technician_id, status)"),
        Index("ws_jobs", "ws_jobs_store_idx", "(store_id, wo_status)"),
        Index("tech_days", "tech_days_store_idx", "(store_id, day)"),
    )

    def __init__(self, timezone: str = "Asia/Shanghai") -> None:
        self.zone = ZoneInfo(timezone)

    def day(self, event: Any) -> date:
        return event.audit.at.astimezone(self.zone).date()  # type: ignore[no-any-return]

    def apply(self, conn: psycopg.Connection[Any], events: Sequence[tuple[int, Any]],
              suffix: str = "") -> None:
        b = WorkshopBatch(conn, suffix)
        b.preload(events)
        for _, event in events:
            if isinstance(event, WorkOrder.Event):
                self._work_order(b, event)
            elif isinstance(event, WorkshopDay.Event):
                self._workshop_day(conn, suffix, event)
            elif isinstance(event, Appointment.Event):
                self._appointment(conn, suffix, event)
            elif isinstance(event, Technician.Event):
                self._technician(b, event)
            elif isinstance(event, Roster.Joined | Roster.Left):
                self._roster(b, event)
        b.flush()

    # -- capacity and appointments -----------------------------------------------------------

    def _workshop_day(self, conn: psycopg.Connection[Any], sx: str, e: Any) -> None:
        if isinstance(e, WorkshopDay.Planned):
            conn.execute(
                f"""INSERT INTO workshop_days{sx} (id, store_id, day, opens, closes, bays,
                    skill_hours, bookings, version) VALUES (%s, %s, %s, %s, %s, %s, %s, '{{}}', %s)""",
                (e.originator_id, e.store_id, e.day, e.opens, e.closes, e.bays, _json(e.skill_hours),
                 e.originator_version))
            return
        if isinstance(e, WorkshopDay.Replanned):
            sets, params = ("opens = %s, closes = %s, bays = %s, skill_hours = %s",
                            [e.opens, e.closes, e.bays, _json(e.skill_hours)])
        elif isinstance(e, WorkshopDay.Reserved):
            booking = {"arrival": e.arrival, "work": e.work, "bay_minutes": e.bay_minutes}
            if e.lapses_at is not None:
                booking["lapses_at"] = e.lapses_at.isoformat()
            sets, params = ("bookings = bookings || jsonb_build_object(%s::text, %s::jsonb)",
                            [e.appointment_id, _json(booking)])
        else:
            sets, params = "bookings = bookings - %s", [e.appointment_id]
        conn.execute(
            f"UPDATE workshop_days{sx} SET {sets}, version = %s WHERE id = %s",
            (*params, e.originator_version, e.originator_id))

    def _appointment(self, conn: psycopg.Connection[Any], sx: str, e: Any) -> None:
        entry = appointment_entry(e)
        if isinstance(e, Appointment.Booked):
            conn.execute(
                f"""INSERT INTO appointments{sx} (id, store_id, day, arrival, status, customer_id,
                    vin, plate, vehicle, services, kind, note, history, booked_at, updated_at,
                    version) VALUES (%s, %s, %s, %s, 'booked', %s, %s, %s, %s, %s, %s, %s, %s,
                    %s, %s, %s)""",
                (e.originator_id, e.store_id, e.day, e.arrival, e.customer_id, e.vehicle["vin"],
                 e.vehicle.get("plate"), _json(e.vehicle), _json(e.services), e.kind, e.note,
                 _json([entry]), e.audit.at, e.audit.at, e.originator_version))
            return
        sets = appointment_changes(e, entry)
        conn.execute(
            f"""UPDATE appointments{sx} SET {''.join(f'{k} = %s, ' for k in sets)}
                history = history || %s, updated_at = %s, version = %s WHERE id = %s""",
            (*sets.values(), _json([entry]), e.audit.at, e.originator_version, e.originator_id))

    # -- technicians -------------------------------------------------------------------------

    @staticmethod
    def _roster(b: WorkshopBatch, e: Any) -> None:
        joined = isinstance(e, Roster.Joined)
        if e.user_id in b.technicians:
            b.technician(e.user_id)["on_roster"] = joined
            return
        b.add_technician({**new_technician(e.user_id, e.audit.store_id, joined),
                          "id": Technician.create_id(e.user_id), "updated_at": e.audit.at})

    def _technician(self, b: WorkshopBatch, e: Any) -> None:
        if isinstance(e, Technician.Registered):
            if e.user_id not in b.technicians:
                b.add_technician({**new_technician(e.user_id, e.store_id, False),
                                  "id": e.originator_id, "updated_at": e.audit.at})
            return
        user_id = b.user_ids.get(e.originator_id)
        if user_id is None:
            return
        row = b.technician(user_id)
        row["updated_at"] = e.audit.at
        for day in technician_change(row, e):
            self._available(b, row, day)

    @staticmethod
    def _available(b: WorkshopBatch, row: dict[str, Any], day: str) -> None:
        shift, seen = row["shifts"].get(day), row["attendance"].get(day)
        hours = Decimal(shift["hours"]) if shift else Decimal(0)
        if shift and seen and seen["status"] == "absent":
            hours = Decimal(0)
        elif shift and seen and seen["status"] == "partial":
            hours = Decimal(str(seen["hours"]))
        b.tech_day(row["user_id"], date.fromisoformat(day), row["store_id"]).available = hours

    # -- jobs (the dispatch board) and hours -------------------------------------------------

    def _work_order(self, b: WorkshopBatch, e: Any) -> None:
        wo = e.originator_id
        if isinstance(e, WorkOrder.Opened):
            for n, complaint in enumerate(e.complaints, start=1):
                b.add_job(self._new_job(wo, n, e.audit.store_id, e.number, "opened", complaint))
            return
        name = type(e).__qualname__
        if isinstance(e, WorkOrder.JobAdded):
            jobs = b.jobs[wo].values()
            if jobs:
                b.add_job(self._new_job(
                    wo, max(j["job_no"] for j in jobs) + 1, min(j["store_id"] for j in jobs),
                    min(j["number"] for j in jobs), min(j["wo_status"] for j in jobs),
                    e.complaint))
        elif isinstance(e, WorkOrder.LineAdded | WorkOrder.LinesCarriedOver):
            lines = [e.line] if isinstance(e, WorkOrder.LineAdded) else e.lines
            for line in lines:
                b.add_line({"work_order_id": wo, "line_id": line["line_id"],
                            "job_no": line["job_no"], "kind": line["kind"],
                            "op_code": line.get("op_code"), "hours": hours_of(line.get("hours")),
                            "status": line["status"],
                            **master_skill(line)})
                self._job_lines(b, wo, line["job_no"])
            if isinstance(e, WorkOrder.LineAdded):
                job = b.jobs[wo].get(e.line["job_no"])
                if job is not None and job["status"] == "awaiting_qc":
                    b.job(wo, e.line["job_no"])
                    job["status"] = "in_repair"
        elif isinstance(e, WorkOrder.LineAuthorized):
            self._line_status(b, wo, [e.line_id], e.decision)
        elif isinstance(e, WorkOrder.LineWithdrawn) and e.qty == 0:
            self._line_status(b, wo, [e.line_id], "declined")
        elif isinstance(e, WorkOrder.LinesMoved):
            self._line_status(b, wo, list(e.line_ids), "moved")
        elif isinstance(e, WorkOrder.JobDispatched):
            job = b.job(wo, e.job_no)
            if job is not None:
                job.update(technician_id=e.technician_id, dispatched_at=e.audit.at,
                           dispatch_reason=e.reason)
                if job["status"] in ("reported", "diagnosed"):
                    job["status"] = "dispatched"
            self._wo_status(b, wo, "in_progress")
        elif isinstance(e, WorkOrder.Diagnosed):
            self._job_status(b, wo, e.job_no, "diagnosed", only_from="reported")
        elif isinstance(e, WorkOrder.ClockedOn):
            self._job_status(b, wo, e.job_no, "in_repair")
        elif isinstance(e, WorkOrder.ClockedOff):
            b.tech_day(e.technician_id, self.day(e), e.audit.store_id).clocked += e.seconds
        elif isinstance(e, WorkOrder.JobCompleted):
            self._job_status(b, wo, e.job_no, "awaiting_qc")
        elif isinstance(e, WorkOrder.JobClosed):
            self._job_status(b, wo, e.job_no, "closed")
        elif isinstance(e, WorkOrder.QualityChecked):
            self._quality_checked(b, e)
        elif isinstance(e, WorkOrder.CheckedIn):
            self._wo_status(b, wo, "checked_in")
        elif isinstance(e, WorkOrder.ReadyForSettlement):
            self._wo_status(b, wo, "ready_for_settlement")
        elif isinstance(e, WorkOrder.BackInProgress):
            self._wo_status(b, wo, "in_progress")
        elif isinstance(e, WorkOrder.Cancelled):
            self._wo_status(b, wo, "cancelled")
        elif name in ("WorkOrder.Settled", "WorkOrder.Delivered", "WorkOrder.Closed"):
            self._wo_status(b, wo, name.split(".")[1].lower())

    @staticmethod
    def _new_job(wo: UUID, job_no: int, store_id: str, number: str, wo_status: str,
                 complaint: str) -> dict[str, Any]:
        return {"work_order_id": wo, "job_no": job_no, "store_id": store_id, "number": number,
                "wo_status": wo_status, "complaint": complaint, "status": "reported",
                "technician_id": None, "hours": Decimal(0), "approved": 0, "pending": 0,
                "op_codes": [], "dispatched_at": None, "dispatch_reason": None,
                "passed_at": None}

    def _quality_checked(self, b: WorkshopBatch, e: Any) -> None:
        if not e.passed:
            self._job_status(b, e.originator_id, e.job_no, "in_repair")
            return
        job = b.job(e.originator_id, e.job_no)
        if job is None:
            return
        job.update(status="passed", passed_at=e.audit.at)
        if job["technician_id"]:
            b.tech_day(job["technician_id"], self.day(e), e.audit.store_id).sold += job["hours"]

    @staticmethod
    def _wo_status(b: WorkshopBatch, wo: UUID, status: str) -> None:
        for job_no in b.jobs[wo]:
            b.job(wo, job_no)["wo_status"] = status  # type: ignore[index]

    @staticmethod
    def _job_status(b: WorkshopBatch, wo: UUID, job_no: int, status: str,
                    only_from: str | None = None) -> None:
        job = b.jobs[wo].get(job_no)
        if job is not None and (only_from is None or job["status"] == only_from):
            b.job(wo, job_no)
            job["status"] = status

    def _line_status(self, b: WorkshopBatch, wo: UUID, line_ids: list[str],
                     status: str) -> None:
        jobs = set()
        for line_id in line_ids:
            line = b.line(wo, line_id)
            if line is not None:
                line["status"] = status
                jobs.add(line["job_no"])
        for job_no in jobs:
            self._job_lines(b, wo, job_no)

    @staticmethod
    def _job_lines(b: WorkshopBatch, wo: UUID, job_no: int) -> None:
        """The job's figures from its lines: approved labor hours and op codes, counts."""
        job = b.job(wo, job_no)
        if job is None:
            return
        lines = [line for line in b.lines[wo].values() if line["job_no"] == job_no]
        labor = [line for line in lines if line["kind"] == "labor"
                 and line["status"] == "approved"]
        job.update(
            hours=sum((line["hours"] for line in labor if line["hours"] is not None), Decimal(0)),
            approved=sum(1 for line in lines if line["status"] == "approved"),
            pending=sum(1 for line in lines if line["status"] == "pending"),
            op_codes=[line["op_code"] for line in labor])
