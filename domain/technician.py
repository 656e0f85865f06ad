"""The technician: one open clock across all work orders, skills with levels, hourly cost,
shifts and attendance (available hours per day), and the jobs dispatched to them (open load).

The first three event classes are the original ones (names and fields unchanged).

Shifts and attendance are kept from `PAST_DAYS` before the latest planning or attendance on:
the commands that name a past day (attendance, a cancellation) reach no further back, and
dispatch reads today's. The events keep every day (the read models and audits read them), so
ten years of shifts no longer ride in every load and snapshot of the technician.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from eventsourcing.domain import Aggregate, event

from domain.common import Audit, IllegalTransition, InvalidInput, require, require_reason, stable_id
from domain.days import business_day, minutes, parse_clock
from domain.money import CENT

ATTENDANCE = ("present", "absent", "partial")
# How far back attendance and a cancellation reach: two months, so a month's attendance can
# still be corrected until the end of the next one. The state keeps one day more (the store's
# day may be a day ahead of or behind UTC's).
PAST_DAYS = 62


class TechnicianError(IllegalTransition):
    pass


def shift_of(day: str, start: str, end: str, break_minutes: int) -> dict[str, Any]:
    """A validated shift: the day, its hours, and the hours it makes available."""
    opens = parse_clock(start, "shift start", "start")
    closes = parse_clock(end, "shift end", "end")
    length = minutes(closes) - minutes(opens)
    require(length > 0, InvalidInput("a shift ends after it starts (no overnight shifts)",
                                     field="end", day=day))
    require(0 <= break_minutes < length, InvalidInput("the break must be shorter than the shift",
                                                      field="break_minutes", day=day))
    return {"day": day, "start": start, "end": end, "break_minutes": break_minutes,
            "hours": str((Decimal(length - break_minutes) / 60).quantize(CENT))}


def job_key(work_order_id: UUID | str, job_no: int) -> str:
    return f"{work_order_id}:{job_no}"


def kept_from(at: datetime) -> str:
    """The first day the state keeps once an event at `at` applied."""
    return (at.astimezone(UTC).date() - timedelta(days=PAST_DAYS + 1)).isoformat()


def require_recent(day: str, today: date) -> None:
    """A past day a command names is at most `PAST_DAYS` before today (the store's)."""
    require(date.fromisoformat(day) >= today - timedelta(days=PAST_DAYS), InvalidInput(
        f"attendance and cancellations reach back at most {PAST_DAYS} days from today "
        f"({today}), not {day}", field="day", limit=PAST_DAYS))


class Technician(Aggregate):
    # 2: shifts and attendance only from `kept_from` on (was every day ever planned)
    class_version = 2

    @staticmethod
    def create_id(user_id: str) -> UUID:
        return stable_id("technician", user_id)

    class Event(Aggregate.Event):
        audit: Audit

    class Registered(Event, Aggregate.Created):
        user_id: str
        store_id: str

    class ClockedOn(Event):
        work_order_id: str
        job_no: int

    class ClockedOff(Event):
        work_order_id: str
        job_no: int

    class SkillsSet(Event):
        skills: dict[str, int]
        reason: str | None

    class HourlyCostSet(Event):
        hourly_cost: Decimal
        reason: str | None

    class Named(Event):
        """The name people know the technician by (shown on boards and the dashboard)."""

        name: str

    class ShiftsPlanned(Event):
        shifts: list[dict[str, Any]]

    class ShiftCancelled(Event):
        day: str
        reason: str

    class AttendanceRecorded(Event):
        day: str
        status: str
        hours: Decimal | None
        note: str | None

    class JobAssigned(Event):
        work_order_id: str
        job_no: int
        hours: Decimal
        need: dict[str, int]

    class JobReleased(Event):
        work_order_id: str
        job_no: int
        why: str

    @event(Registered)
    def __init__(self, user_id: str, store_id: str, audit: Audit) -> None:
        self.user_id = user_id
        self.store_id = store_id
        self.open_clock: dict[str, Any] | None = None
        self.name: str | None = None
        self.skills: dict[str, int] = {}
        self.hourly_cost: Decimal | None = None
        self.shifts: dict[str, dict[str, Any]] = {}
        self.attendance: dict[str, dict[str, Any]] = {}
        self.kept_from = ""  # the first day of `shifts` and `attendance` (ISO: compared as text)
        self.assignments: dict[str, dict[str, Any]] = {}

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        """Snapshots that kept every day: kept as they are until the next planning or
        attendance forgets the days before its `kept_from` (no command reads them: each
        refuses a day that far back before looking)."""
        state["kept_from"] = ""

    # -- clocks ------------------------------------------------------------------------------

    def clock_on(self, audit: Audit, work_order_id: UUID, job_no: int) -> None:
        if self.open_clock is not None:
            held = self.clock_held()
            raise TechnicianError(
                f"technician {self.user_id} is already clocked on work order "
                f"{held['work_order_id']} job {held['job_no']}", open_clock=held)
        self._clocked_on(audit, str(work_order_id), job_no)

    @event(ClockedOn)
    def _clocked_on(self, audit: Audit, work_order_id: str, job_no: int) -> None:
        self.open_clock = {"work_order_id": work_order_id, "job_no": job_no}

    def clock_held(self) -> dict[str, Any]:
        """The open clock, its job by number (a snapshot taken before kept it as text)."""
        assert self.open_clock is not None
        return {"work_order_id": self.open_clock["work_order_id"],
                "job_no": int(self.open_clock["job_no"])}

    def clock_off(self, audit: Audit, work_order_id: UUID, job_no: int) -> None:
        require(
            self.open_clock is not None
            and self.clock_held() == {"work_order_id": str(work_order_id), "job_no": job_no},
            TechnicianError(f"technician {self.user_id} is not clocked on that job"),
        )
        self._clocked_off(audit, str(work_order_id), job_no)

    @event(ClockedOff)
    def _clocked_off(self, audit: Audit, work_order_id: str, job_no: int) -> None:
        self.open_clock = None

    # -- profile -----------------------------------------------------------------------------

    def set_skills(self, audit: Audit, skills: dict[str, int], reason: str | None) -> bool:
        if skills == self.skills:
            return False
        self._skills_set(audit, skills, reason)
        return True

    @event(SkillsSet)
    def _skills_set(self, audit: Audit, skills: dict[str, int], reason: str | None) -> None:
        self.skills = dict(skills)

    def set_hourly_cost(self, audit: Audit, hourly_cost: Decimal, reason: str | None) -> bool:
        """The cost of an hour clocked (labor cost and margin KPIs): the first needs no
        reason, a change of one held does (InvalidInput naming `reason`)."""
        if hourly_cost == self.hourly_cost:
            return False
        if self.hourly_cost is not None:
            reason = require_reason(reason, "changing a technician's hourly cost")
        self._hourly_cost_set(audit, hourly_cost, reason)
        return True

    @event(HourlyCostSet)
    def _hourly_cost_set(self, audit: Audit, hourly_cost: Decimal, reason: str | None) -> None:
        self.hourly_cost = hourly_cost

    def set_name(self, audit: Audit, name: str) -> bool:
        if name == self.name:
            return False
        self._named(audit, name)
        return True

    @event(Named)
    def _named(self, audit: Audit, name: str) -> None:
        self.name = name

    # -- shifts and attendance ---------------------------------------------------------------

    def _forget_past(self, at: datetime) -> None:
        first = kept_from(at)
        if first > self.kept_from:
            self.kept_from = first
            self.shifts = {day: s for day, s in self.shifts.items() if day >= first}
            self.attendance = {day: a for day, a in self.attendance.items() if day >= first}

    def plan_shifts(self, audit: Audit, shifts: list[dict[str, Any]]) -> None:
        require(bool(shifts), InvalidInput("plan at least one shift"))
        days = [s["day"] for s in shifts]
        require(len(set(days)) == len(days), InvalidInput("one shift per day"))
        self._shifts_planned(audit, shifts)

    @event(ShiftsPlanned)
    def _shifts_planned(self, audit: Audit, shifts: list[dict[str, Any]]) -> None:
        self._forget_past(audit.at)
        for shift in shifts:
            if shift["day"] >= self.kept_from:  # a day long past: in the event, for the record
                self.shifts[shift["day"]] = dict(shift)

    def cancel_shift(self, audit: Audit, day: str, reason: str, today: date) -> None:
        require_recent(day, today)
        require(day in self.shifts, TechnicianError(f"{self.user_id} has no shift on {day}"))
        self._shift_cancelled(audit, day, reason)

    @event(ShiftCancelled)
    def _shift_cancelled(self, audit: Audit, day: str, reason: str) -> None:
        del self.shifts[day]

    def record_attendance(self, audit: Audit, day: str, status: str, hours: Decimal | None,
                          note: str | None, today: date) -> None:
        if status not in ATTENDANCE:
            raise InvalidInput(f"attendance is one of {', '.join(ATTENDANCE)}")
        require_recent(day, today)
        require(date.fromisoformat(day) <= today, InvalidInput(
            f"attendance records what happened: today ({today}) or a day before it, not {day} "
            "(plan a shift, or cancel it, ahead)", field="day", day=day))
        require(day in self.shifts, TechnicianError(f"{self.user_id} has no shift on {day}"))
        require(status != "partial" or hours is not None,
                InvalidInput("partial attendance needs the hours worked", field="hours"))
        require(status == "partial" or hours is None,
                InvalidInput("hours are given for partial attendance only", field="hours"))
        require(hours is None or Decimal(0) < hours <= 16,
                InvalidInput("partial attendance is more than 0 and at most 16 hours"))
        if self.attendance.get(day, {"status": status, "hours": hours}) != {
                "status": status, "hours": hours}:
            # A day's hours available change the productivity and proficiency already shown:
            # a correction says why, as every correction does.
            note = require_reason(note, f"changing the attendance recorded for {day}",
                                  field="note")
        self._attendance_recorded(audit, day, status, hours, note)

    @event(AttendanceRecorded)
    def _attendance_recorded(self, audit: Audit, day: str, status: str, hours: Decimal | None,
                             note: str | None) -> None:
        self._forget_past(audit.at)
        if day >= self.kept_from:
            self.attendance[day] = {"status": status, "hours": hours}

    def available_hours(self, day: date) -> Decimal:
        shift = self.shifts.get(day.isoformat())
        if shift is None:
            return Decimal(0)
        seen = self.attendance.get(day.isoformat(), {"status": "present"})
        if seen["status"] == "absent":
            return Decimal(0)
        if seen["status"] == "partial":
            return Decimal(seen["hours"])
        return Decimal(shift["hours"])

    def on_shift(self, at: datetime, zone: ZoneInfo) -> tuple[bool, str]:
        """On shift at `at`: a shift that day, not absent, and not yet over. With why not."""
        day = business_day(at, zone)
        shift = self.shifts.get(day.isoformat())
        if shift is None:
            return False, f"no shift on {day}"
        if self.available_hours(day) <= 0:
            return False, f"absent on {day}"
        local = at.astimezone(zone).time()
        if local >= parse_clock(shift["end"]):
            return False, f"shift ended at {shift['end']}"
        return True, f"{shift['start']}-{shift['end']}"

    # -- dispatched jobs (open load) ---------------------------------------------------------

    def assign(self, audit: Audit, work_order_id: UUID, job_no: int, hours: Decimal,
               need: dict[str, int]) -> None:
        require(job_key(work_order_id, job_no) not in self.assignments,
                TechnicianError(f"job {job_no} is already assigned to {self.user_id}"))
        self._job_assigned(audit, str(work_order_id), job_no, hours, need)

    @event(JobAssigned)
    def _job_assigned(self, audit: Audit, work_order_id: str, job_no: int, hours: Decimal,
                      need: dict[str, int]) -> None:
        self.assignments[job_key(work_order_id, job_no)] = {
            "work_order_id": work_order_id, "job_no": job_no, "hours": hours,
            "at": audit.at.isoformat()}

    def release(self, audit: Audit, work_order_id: UUID | str, job_no: int, why: str) -> None:
        if job_key(work_order_id, job_no) in self.assignments:
            self._job_released(audit, str(work_order_id), job_no, why)

    @event(JobReleased)
    def _job_released(self, audit: Audit, work_order_id: str, job_no: int, why: str) -> None:
        del self.assignments[job_key(work_order_id, job_no)]
