"""Technician commands: profile (skills, hourly cost) and roster, shifts, attendance."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from domain.application import CommandResult, Decision, Request, ServiceCore, Session
from domain.common import (
    InvalidInput,
    NotPermitted,
    require,
    require_group_store,
    require_reason,
)
from domain.days import business_day, parse_day
from domain.kpi_figures import hours as shown
from domain.money import money, quantity
from domain.roster import Roster
from domain.skills import skills_of
from domain.technician import PAST_DAYS, Technician, TechnicianError, shift_of

MAX_SHIFTS = 62
MAX_NAME = 40
# Days planned any distance from today (year 1000, 62 a request) were kept by the technician
# and grew the state every dispatch and clock loads, without end (300 requests: a 1.8 MB
# snapshot, a command 4-15 times slower). The state now keeps the past days the commands reach
# (domain/technician.py `PAST_DAYS`); the planning window bounds the days ahead.
SHIFT_WINDOW_DAYS = 366


class Technicians:
    def __init__(self, app: ServiceCore, stores: Iterable[str] = (),
                 timezone: str = "Asia/Shanghai") -> None:
        self.app = app
        self.stores = frozenset(stores)  # the group's stores (`require_group_store`)
        self.zone = ZoneInfo(timezone)

    def _plannable(self, request: Request, value: object) -> date:
        """A shift's day: at most `PAST_DAYS` before today (the store's), as far back as
        attendance reaches (a roster of a closed month rewritten would change its utilisation
        after the fact), and at most `SHIFT_WINDOW_DAYS` after it."""
        on = parse_day(value)
        today = business_day(request.caller.at, self.zone)
        ahead = (on - today).days
        require(ahead >= -PAST_DAYS, InvalidInput(
            f"a shift's day is at most {PAST_DAYS} days before today ({today}), not {on}",
            field="day", limit=PAST_DAYS))
        require(ahead <= SHIFT_WINDOW_DAYS, InvalidInput(
            f"a shift's day is at most {SHIFT_WINDOW_DAYS} days after today ({today}), "
            f"not {on}", field="day", limit=SHIFT_WINDOW_DAYS))
        return on

    def _on(self, request: Request, user_id: str,
            act: Callable[[Session, Technician], dict[str, Any] | None]) -> CommandResult:
        def decide(session: Session) -> Decision:
            tech = session.target(Technician, Technician.create_id(user_id), f"technician {user_id}")
            return Decision(tech, {"user_id": user_id, **(act(session, tech) or {})})

        return self.app.execute(request, decide, (Technician.create_id(user_id),))

    def set_profile(self, request: Request, user_id: str, *, store_id: str,
                    skills: Mapping[str, int], hourly_cost: object,
                    reason: str | None = None, name: str | None = None) -> CommandResult:
        """Skills with levels, hourly cost and (optionally) the technician's name; the
        technician joins the store's roster."""
        user_id = user_id.strip()
        require(bool(user_id), InvalidInput("user id is required"))
        called = " ".join((name or "").split()) or None
        require(called is None or len(called) <= MAX_NAME,
                InvalidInput(f"a technician's name is at most {MAX_NAME} characters"))
        require_group_store(self.stores, store_id)
        if not request.caller.may_use(store_id):
            raise NotPermitted(f"your token does not cover store {store_id}")
        levels = skills_of(skills)
        cost = money(hourly_cost, "hourly cost", field="hourly_cost")
        why = (reason or "").strip() or None

        def decide(session: Session) -> Decision:
            audit = session.audit(store_id)
            tech = session.find(Technician, Technician.create_id(user_id))
            if tech is None:
                tech = Technician(user_id=user_id, store_id=store_id, audit=audit)
                session.add(tech)
            elif tech.skills and levels != tech.skills:
                # A qualification held is changed (a level raised before a warranty job, a
                # skill taken away): the auditor asks why. The first skills given need none.
                require_reason(why, "changing a technician's skills or levels")
            require(tech.store_id == store_id, TechnicianError(
                f"{user_id} works at store {tech.store_id}, not {store_id}"))
            changed = [name for name, did in (
                ("skills", tech.set_skills(audit, levels, why)),
                ("hourly_cost", tech.set_hourly_cost(audit, cost, why)),
                ("name", called is not None and tech.set_name(audit, called))) if did]
            roster = session.find(Roster, Roster.create_id(store_id))
            if roster is None:
                roster = Roster(audit=audit, store_id=store_id)
                session.add(roster)
            roster.join(audit, user_id)
            return Decision(tech, {"user_id": user_id, "changed": changed})

        return self.app.execute(request, decide,
                                (Technician.create_id(user_id), Roster.create_id(store_id)))

    def leave_roster(self, request: Request, user_id: str, *, reason: str | None) -> CommandResult:
        """No longer considered by auto-dispatch (left the store, long leave)."""
        why = require_reason(reason, "taking a technician off the roster")

        def act(session: Session, tech: Technician) -> None:
            roster = session.get(Roster, Roster.create_id(tech.store_id), "roster")
            roster.leave(session.audit(tech.store_id), tech.user_id, why)

        return self._on(request, user_id, act)

    def plan_shifts(self, request: Request, user_id: str,
                    shifts: Sequence[Mapping[str, Any]]) -> CommandResult:
        """Shifts for some days (a day planned again is replaced)."""
        require(0 < len(shifts) <= MAX_SHIFTS, InvalidInput(f"plan 1-{MAX_SHIFTS} shifts at once"))
        planned = [shift_of(self._plannable(request, s.get("day")).isoformat(),
                            s.get("start", ""), s.get("end", ""),
                            int(s.get("break_minutes") or 0)) for s in shifts]
        def act(session: Session, tech: Technician) -> dict[str, Any]:
            tech.plan_shifts(session.audit(tech.store_id), planned)
            return {"days": [p["day"] for p in planned]}

        return self._on(request, user_id, act)

    def cancel_shift(self, request: Request, user_id: str, *, day: str,
                     reason: str | None) -> CommandResult:
        why = require_reason(reason, "cancelling a shift")
        on = parse_day(day).isoformat()
        today = business_day(request.caller.at, self.zone)
        return self._on(request, user_id,
                        lambda s, t: t.cancel_shift(s.audit(t.store_id), on, why, today))

    def record_attendance(self, request: Request, user_id: str, *, day: str, status: str,
                          hours: object | None = None, note: str | None = None) -> CommandResult:
        """Present (the shift's hours), absent (none) or partial (the hours actually there)."""
        on = parse_day(day).isoformat()
        worked = quantity(hours, "hours", field="hours") if hours is not None else None
        today = business_day(request.caller.at, self.zone)

        def act(session: Session, tech: Technician) -> dict[str, Any]:
            tech.record_attendance(session.audit(tech.store_id), on, status, worked,
                                   (note or "").strip() or None, today)
            return {"day": on,
                    "available_hours": str(shown(tech.available_hours(parse_day(on))))}

        return self._on(request, user_id, act)

