"""The workshop as the service manager sees it: capacity and bookings per store and day,
appointments, technicians (skills, shifts, attendance, clock), every job's dispatch state and
hours (the dispatch board), and per technician and day the hours available, clocked and sold.

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
from projections.work_orders import dumps


def _json(value: Any) -> Jsonb:
    return Jsonb(value, dumps=dumps)


class WorkshopView(ReadModel):
    name = "workshop"
    handles = (WorkOrder.Event, WorkshopDay.Event, Appointment.Event, Technician.Event,
               Roster.Joined, Roster.Left)
    pipelined = True  # one or more statements per event
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
            on_roster boolean NOT NULL,
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
            PRIMARY KEY (work_order_id, line_id)""",
    }
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
        for _, event in events:
            if isinstance(event, WorkOrder.Event):
                self._work_order(conn, suffix, event)
            elif isinstance(event, WorkshopDay.Event):
                self._workshop_day(conn, suffix, event)
            elif isinstance(event, Appointment.Event):
                self._appointment(conn, suffix, event)
            elif isinstance(event, Technician.Event):
                self._technician(conn, suffix, event)
            elif isinstance(event, Roster.Joined | Roster.Left):
                conn.execute(
                    f"""INSERT INTO technicians{suffix} (user_id, id, store_id, on_roster, skills,
                        shifts, attendance, updated_at)
                    VALUES (%s, %s, %s, %s, '{{}}', '{{}}', '{{}}', %s)
                    ON CONFLICT (user_id) DO UPDATE SET on_roster = EXCLUDED.on_roster""",
                    (event.user_id, Technician.create_id(event.user_id), event.audit.store_id, isinstance(event, Roster.Joined),
                     event.audit.at))

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
            sets, params = ("bookings = bookings || jsonb_build_object(%s::text, %s::jsonb)",
                            [e.appointment_id, _json(booking)])
        else:
            sets, params = "bookings = bookings - %s", [e.appointment_id]
        conn.execute(
            f"UPDATE workshop_days{sx} SET {sets}, version = %s WHERE id = %s",
            (*params, e.originator_version, e.originator_id))

    def _appointment(self, conn: psycopg.Connection[Any], sx: str, e: Any) -> None:
        entry = {"event": type(e).__name__, "by": e.audit.user_id, "at": e.audit.at.isoformat(),
                 "reason": getattr(e, "reason", None) or getattr(e, "note", None)}
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
        sets: dict[str, Any] = {}
        if isinstance(e, Appointment.Rescheduled):
            sets = {"day": e.day, "arrival": e.arrival}
            entry["from"] = f"{e.previous_day} {e.previous_arrival}"
        elif isinstance(e, Appointment.Cancelled):
            sets = {"status": "cancelled"}
        elif isinstance(e, Appointment.NoShow):
            sets = {"status": "no_show"}
        elif isinstance(e, Appointment.Arrived):
            sets = {"status": "arrived", "work_order_id": e.work_order_id,
                    "work_order_number": e.work_order_number}
        conn.execute(
            f"""UPDATE appointments{sx} SET {''.join(f'{k} = %s, ' for k in sets)}
                history = history || %s, updated_at = %s, version = %s WHERE id = %s""",
            (*sets.values(), _json([entry]), e.audit.at, e.originator_version, e.originator_id))

    # -- technicians -------------------------------------------------------------------------

    def _technician(self, conn: psycopg.Connection[Any], sx: str, e: Any) -> None:
        if isinstance(e, Technician.Registered):
            conn.execute(
                f"""INSERT INTO technicians{sx} (user_id, id, store_id, on_roster, skills, shifts,
                    attendance, updated_at) VALUES (%s, %s, %s, false, '{{}}', '{{}}', '{{}}', %s)
                ON CONFLICT (user_id) DO NOTHING""",
                (e.user_id, e.originator_id, e.store_id, e.audit.at))
            return
        user_id = self._user_of(conn, sx, e.originator_id)
        if user_id is None:
            return
        sets, params = "updated_at = %s", [e.audit.at]
        days: list[str] = []
        if isinstance(e, Technician.SkillsSet):
            sets, params = sets + ", skills = %s", [*params, _json(e.skills)]
        elif isinstance(e, Technician.HourlyCostSet):
            sets, params = sets + ", hourly_cost = %s", [*params, e.hourly_cost]
        elif isinstance(e, Technician.ShiftsPlanned):
            shifts = {s["day"]: s for s in e.shifts}
            sets, params = sets + ", shifts = shifts || %s", [*params, _json(shifts)]
            days = list(shifts)
        elif isinstance(e, Technician.ShiftCancelled):
            sets, params = sets + ", shifts = shifts - %s", [*params, e.day]
            days = [e.day]
        elif isinstance(e, Technician.AttendanceRecorded):
            seen = {e.day: {"status": e.status, "hours": e.hours, "note": e.note}}
            sets, params = sets + ", attendance = attendance || %s", [*params, _json(seen)]
            days = [e.day]
        elif isinstance(e, Technician.ClockedOn):
            clock = {"work_order_id": e.work_order_id, "job_no": e.job_no,
                     "since": e.audit.at.isoformat()}
            sets, params = sets + ", open_clock = %s", [*params, _json(clock)]
        elif isinstance(e, Technician.ClockedOff):
            sets += ", open_clock = NULL"
        conn.execute(f"UPDATE technicians{sx} SET {sets} WHERE user_id = %s", (*params, user_id))
        for day in days:
            self._available(conn, sx, user_id, day)

    def _available(self, conn: psycopg.Connection[Any], sx: str, user_id: str, day: str) -> None:
        row = conn.execute(f"SELECT store_id, shifts -> %s, attendance -> %s FROM "
                           f"technicians{sx} WHERE user_id = %s", (day, day, user_id)).fetchone()
        assert row is not None
        store_id, shift, seen = row
        hours = Decimal(shift["hours"]) if shift else Decimal(0)
        if shift and seen and seen["status"] == "absent":
            hours = Decimal(0)
        elif shift and seen and seen["status"] == "partial":
            hours = Decimal(str(seen["hours"]))
        self._tech_day(conn, sx, user_id, date.fromisoformat(day), store_id,
                       "available_hours = %s", hours)

    @staticmethod
    def _tech_day(conn: psycopg.Connection[Any], sx: str, user_id: str, day: date,
                  store_id: str, assignment: str, value: Any) -> None:
        conn.execute(
            f"""INSERT INTO tech_days{sx} (user_id, day, store_id) VALUES (%s, %s, %s)
            ON CONFLICT (user_id, day) DO NOTHING""", (user_id, day, store_id))
        conn.execute(f"UPDATE tech_days{sx} SET {assignment} WHERE user_id = %s AND day = %s",
                     (value, user_id, day))

    @staticmethod
    def _user_of(conn: psycopg.Connection[Any], sx: str, technician_id: UUID) -> str | None:
        row = conn.execute(f"SELECT user_id FROM technicians{sx} WHERE id = %s",
                           (technician_id,)).fetchone()
        return str(row[0]) if row else None

    # -- jobs (the dispatch board) and hours -------------------------------------------------

    def _work_order(self, conn: psycopg.Connection[Any], sx: str, e: Any) -> None:
        wo = e.originator_id
        if isinstance(e, WorkOrder.Opened):
            with conn.cursor() as cur:
                cur.executemany(
                    f"""INSERT INTO ws_jobs{sx} (work_order_id, job_no, store_id, number,
                        wo_status, complaint, status) VALUES (%s, %s, %s, %s, 'opened', %s,
                        'reported')""",
                    [(wo, n, e.audit.store_id, e.number, c)
                     for n, c in enumerate(e.complaints, start=1)])
            return
        name = type(e).__qualname__
        if isinstance(e, WorkOrder.JobAdded):
            conn.execute(
                f"""INSERT INTO ws_jobs{sx} (work_order_id, job_no, store_id, number, wo_status,
                    complaint, status)
                SELECT work_order_id, max(job_no) + 1, min(store_id), min(number),
                    min(wo_status), %s, 'reported'
                FROM ws_jobs{sx} WHERE work_order_id = %s GROUP BY work_order_id""",
                (e.complaint, wo))
        elif isinstance(e, WorkOrder.LineAdded | WorkOrder.LinesCarriedOver):
            lines = [e.line] if isinstance(e, WorkOrder.LineAdded) else e.lines
            for line in lines:
                conn.execute(
                    f"""INSERT INTO ws_lines{sx} (work_order_id, line_id, job_no, kind, op_code,
                        hours, status) VALUES (%s, %s, %s, %s, %s, %s, %s)""",
                    (wo, line["line_id"], line["job_no"], line["kind"], line.get("op_code"),
                     line.get("hours"), line["status"]))
                self._job_lines(conn, sx, wo, line["job_no"])
            if isinstance(e, WorkOrder.LineAdded):
                conn.execute(f"""UPDATE ws_jobs{sx} SET status = 'in_repair' WHERE
                    work_order_id = %s AND job_no = %s AND status = 'awaiting_qc'""",
                             (wo, e.line["job_no"]))
        elif isinstance(e, WorkOrder.LineAuthorized):
            self._line_status(conn, sx, wo, [e.line_id], e.decision)
        elif isinstance(e, WorkOrder.LineWithdrawn) and e.qty == 0:
            self._line_status(conn, sx, wo, [e.line_id], "declined")
        elif isinstance(e, WorkOrder.LinesMoved):
            self._line_status(conn, sx, wo, list(e.line_ids), "moved")
        elif isinstance(e, WorkOrder.JobDispatched):
            conn.execute(
                f"""UPDATE ws_jobs{sx} SET technician_id = %s, dispatched_at = %s,
                    dispatch_reason = %s, status = CASE WHEN status IN ('reported', 'diagnosed')
                    THEN 'dispatched' ELSE status END WHERE work_order_id = %s AND job_no = %s""",
                (e.technician_id, e.audit.at, e.reason, wo, e.job_no))
            self._wo_status(conn, sx, wo, "in_progress")
        elif isinstance(e, WorkOrder.Diagnosed):
            self._job_status(conn, sx, wo, e.job_no, "diagnosed", only_from="reported")
        elif isinstance(e, WorkOrder.ClockedOn):
            self._job_status(conn, sx, wo, e.job_no, "in_repair")
        elif isinstance(e, WorkOrder.ClockedOff):
            self._tech_day(conn, sx, e.technician_id, self.day(e), e.audit.store_id,
                           "clocked_seconds = clocked_seconds + %s", e.seconds)
        elif isinstance(e, WorkOrder.JobCompleted):
            self._job_status(conn, sx, wo, e.job_no, "awaiting_qc")
        elif isinstance(e, WorkOrder.QualityChecked):
            self._quality_checked(conn, sx, e)
        elif isinstance(e, WorkOrder.CheckedIn):
            self._wo_status(conn, sx, wo, "checked_in")
        elif isinstance(e, WorkOrder.ReadyForSettlement):
            self._wo_status(conn, sx, wo, "ready_for_settlement")
        elif isinstance(e, WorkOrder.BackInProgress):
            self._wo_status(conn, sx, wo, "in_progress")
        elif isinstance(e, WorkOrder.Cancelled):
            self._wo_status(conn, sx, wo, "cancelled")
        elif name in ("WorkOrder.Settled", "WorkOrder.Delivered", "WorkOrder.Closed"):
            self._wo_status(conn, sx, wo, name.split(".")[1].lower())

    def _quality_checked(self, conn: psycopg.Connection[Any], sx: str, e: Any) -> None:
        if not e.passed:
            self._job_status(conn, sx, e.originator_id, e.job_no, "in_repair")
            return
        row = conn.execute(
            f"""UPDATE ws_jobs{sx} SET status = 'passed', passed_at = %s
            WHERE work_order_id = %s AND job_no = %s RETURNING technician_id, hours""",
            (e.audit.at, e.originator_id, e.job_no)).fetchone()
        if row and row[0]:
            self._tech_day(conn, sx, row[0], self.day(e), e.audit.store_id,
                           "sold_hours = sold_hours + %s", row[1])

    @staticmethod
    def _wo_status(conn: psycopg.Connection[Any], sx: str, wo: UUID, status: str) -> None:
        conn.execute(f"UPDATE ws_jobs{sx} SET wo_status = %s WHERE work_order_id = %s",
                     (status, wo))

    @staticmethod
    def _job_status(conn: psycopg.Connection[Any], sx: str, wo: UUID, job_no: int, status: str,
                    only_from: str | None = None) -> None:
        conn.execute(
            f"""UPDATE ws_jobs{sx} SET status = %s WHERE work_order_id = %s AND job_no = %s
                AND (%s::text IS NULL OR status = %s)""", (status, wo, job_no, only_from,
                                                          only_from))

    def _line_status(self, conn: psycopg.Connection[Any], sx: str, wo: UUID,
                     line_ids: list[str], status: str) -> None:
        rows = conn.execute(
            f"""UPDATE ws_lines{sx} SET status = %s WHERE work_order_id = %s
                AND line_id = ANY(%s) RETURNING job_no""", (status, wo, line_ids)).fetchall()
        for job_no in {r[0] for r in rows}:
            self._job_lines(conn, sx, wo, job_no)

    @staticmethod
    def _job_lines(conn: psycopg.Connection[Any], sx: str, wo: UUID, job_no: int) -> None:
        conn.execute(
            f"""UPDATE ws_jobs{sx} j SET
                hours = coalesce((SELECT sum(hours) FROM ws_lines{sx} l WHERE
                    l.work_order_id = j.work_order_id AND l.job_no = j.job_no
                    AND l.kind = 'labor' AND l.status = 'approved'), 0),
                approved = (SELECT count(*) FROM ws_lines{sx} l WHERE l.work_order_id =
                    j.work_order_id AND l.job_no = j.job_no AND l.status = 'approved'),
                pending = (SELECT count(*) FROM ws_lines{sx} l WHERE l.work_order_id =
                    j.work_order_id AND l.job_no = j.job_no AND l.status = 'pending'),
                op_codes = coalesce((SELECT array_agg(DISTINCT op_code) FROM ws_lines{sx} l
                    WHERE l.work_order_id = j.work_order_id AND l.job_no = j.job_no
                    AND l.kind = 'labor' AND l.status = 'approved'), '{{}}')
            WHERE j.work_order_id = %s AND j.job_no = %s""", (wo, job_no))
