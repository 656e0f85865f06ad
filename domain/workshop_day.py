"""A store's workshop on one day: opening hours, bays, labor hours per skill, and the bookings
holding them. One stream per store and day, so two desks booking the last hours conflict on
its version and exactly one wins.

A booking holds its labor hours per skill for the day and one bay from its arrival for its
total hours (rounded up to whole slots, at least one slot, at most until closing). An online
booking request's hold may lapse (`lapses_at`, the time by which the store must answer it):
from then on no capacity check counts it (`holding`), even before its release is recorded.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.common import Audit, IllegalTransition, InvalidInput, require, stable_id
from domain.days import minutes, parse_clock
from domain.kpi_figures import hours as shown
from domain.skills import SKILLS

SLOT_MINUTES = 30


class CapacityExceeded(IllegalTransition):
    pass


def bay_minutes(work: Mapping[str, Decimal]) -> int:
    total = sum(work.values(), Decimal(0))
    slots = -(-int(total * 60) // SLOT_MINUTES)
    return max(1, slots) * SLOT_MINUTES


def holding(bookings: Mapping[str, Mapping[str, Any]],
            at: datetime) -> dict[str, Mapping[str, Any]]:
    """The bookings that still hold capacity at `at`: all but the holds lapsed by then (a
    lapse kept as an ISO string in a read model's copy reads the same)."""
    def lapsed(booking: Mapping[str, Any]) -> bool:
        until = booking.get("lapses_at")
        if until is None:
            return False
        return at >= (until if isinstance(until, datetime) else datetime.fromisoformat(until))

    return {key: b for key, b in bookings.items() if not lapsed(b)}


def check_plan(opens: str, closes: str, bays: int, skill_hours: Mapping[str, Decimal]) -> None:
    start = minutes(parse_clock(opens, "opening time", "opens"))
    end = minutes(parse_clock(closes, "closing time", "closes"))
    require(end > start, InvalidInput("the workshop closes after it opens", field="closes"))
    require(start % SLOT_MINUTES == 0 and end % SLOT_MINUTES == 0, InvalidInput(
        f"opening hours are on {SLOT_MINUTES}-minute slots",
        field="opens" if start % SLOT_MINUTES else "closes"))
    require(0 <= bays <= 200, InvalidInput("bays must be 0-200", field="bays"))
    for skill, hours in skill_hours.items():
        require(skill in SKILLS, InvalidInput(f"skill must be one of {', '.join(SKILLS)}",
                                              field=f"skill_hours.{skill}"))
        require(Decimal(0) <= hours <= 2000, InvalidInput("skill hours must be 0-2000",
                                                          field=f"skill_hours.{skill}"))


def overbooked(opens: str, closes: str, bays: int, skill_hours: Mapping[str, Decimal],
               bookings: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Where the bookings do not fit the plan: a skill's hours, a slot's bays, opening hours."""
    start, end = minutes(parse_clock(opens)), minutes(parse_clock(closes))
    problems: list[dict[str, Any]] = []
    booked: dict[str, Decimal] = {}
    occupied = [0] * ((end - start) // SLOT_MINUTES)
    for appointment_id, booking in bookings.items():
        for skill, hours in booking["work"].items():
            booked[skill] = booked.get(skill, Decimal(0)) + Decimal(hours)
        arrival = minutes(parse_clock(booking["arrival"]))
        if not start <= arrival < end:
            problems.append({"appointment_id": appointment_id, "problem": "outside opening hours",
                             "opens": opens, "closes": closes})
            continue
        first = (arrival - start) // SLOT_MINUTES
        for slot in range(first, min(len(occupied), first + booking["bay_minutes"] // SLOT_MINUTES)):
            occupied[slot] += 1
    for skill, hours in sorted(booked.items()):
        capacity = Decimal(skill_hours.get(skill, 0))
        if hours > capacity:
            problems.append({"skill": skill, "problem": "labor hours",
                             "capacity": str(shown(capacity)), "booked": str(shown(hours))})
    for slot, count in enumerate(occupied):
        if count > bays:
            at = start + slot * SLOT_MINUTES
            problems.append({"slot": f"{at // 60:02d}:{at % 60:02d}", "problem": "bays",
                             "bays": bays, "booked": count})
    return problems


def free_slots(opens: str, closes: str, bays: int, skill_hours: Mapping[str, Decimal],
               bookings: Mapping[str, Mapping[str, Any]], work: Mapping[str, Decimal],
               after: str | None = None) -> list[str]:
    """The arrival slots at which a booking of `work` would fit beside `bookings` (by the rule
    `reserve` holds them to), those later than `after` only where it is given."""
    start, end = minutes(parse_clock(opens)), minutes(parse_clock(closes))
    earliest = minutes(parse_clock(after)) if after is not None else -1
    held = bay_minutes(work)
    free = []
    for at in range(start, end, SLOT_MINUTES):
        arrival = f"{at // 60:02d}:{at % 60:02d}"
        asked = {"arrival": arrival, "work": dict(work), "bay_minutes": held}
        if at > earliest and not overbooked(opens, closes, bays, skill_hours,
                                            {**bookings, "": asked}):
            free.append(arrival)
    return free


class WorkshopDay(Aggregate):
    @staticmethod
    def create_id(store_id: str, day: str) -> UUID:
        return stable_id("workshop-day", store_id, day)

    class Event(Aggregate.Event):
        audit: Audit

    class Planned(Event, Aggregate.Created):
        store_id: str
        day: str
        opens: str
        closes: str
        bays: int
        skill_hours: dict[str, Decimal]

    class Replanned(Event):
        opens: str
        closes: str
        bays: int
        skill_hours: dict[str, Decimal]
        reason: str | None

    class Reserved(Event):
        class_version = 2
        appointment_id: str
        arrival: str
        work: dict[str, Decimal]
        bay_minutes: int
        lapses_at: datetime | None  # an online request's hold: unanswered by then, it lapses

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["lapses_at"] = None

    class Released(Event):
        appointment_id: str
        why: str

    @event(Planned)
    def __init__(self, audit: Audit, store_id: str, day: str, opens: str, closes: str, bays: int,
                 skill_hours: dict[str, Decimal]) -> None:
        self.store_id = store_id
        self.day = day
        self.opens, self.closes, self.bays = opens, closes, bays
        self.skill_hours = dict(skill_hours)
        self.bookings: dict[str, dict[str, Any]] = {}

    def holding(self, at: datetime | None) -> dict[str, Mapping[str, Any]]:
        """The bookings holding capacity at `at` (every one recorded, without `at`)."""
        return dict(self.bookings) if at is None else holding(self.bookings, at)

    def booked(self, at: datetime | None = None) -> dict[str, Decimal]:
        totals: dict[str, Decimal] = {}
        for booking in self.holding(at).values():
            for skill, hours in booking["work"].items():
                totals[skill] = totals.get(skill, Decimal(0)) + hours
        return totals

    def free_slots(self, work: Mapping[str, Decimal], at: datetime,
                   after: str | None = None) -> list[str]:
        return free_slots(self.opens, self.closes, self.bays, self.skill_hours,
                          self.holding(at), work, after)

    def free(self, at: datetime | None = None) -> dict[str, str]:
        """Labor hours per skill not yet booked, as hours are shown ("22.50")."""
        booked = self.booked(at)
        return {skill: str(shown(hours - booked.get(skill, Decimal(0))))
                for skill, hours in self.skill_hours.items()}

    def replan(self, audit: Audit, opens: str, closes: str, bays: int,
               skill_hours: dict[str, Decimal], reason: str | None) -> bool:
        check_plan(opens, closes, bays, skill_hours)
        if (opens, closes, bays, skill_hours) == (self.opens, self.closes, self.bays,
                                                  self.skill_hours):
            return False
        problems = overbooked(opens, closes, bays, skill_hours, self.holding(audit.at))
        if problems:
            raise CapacityExceeded(
                f"{self.day}: the new plan leaves booked appointments without room; "
                "reschedule them first", problems=problems)
        self._replanned(audit, opens, closes, bays, skill_hours, reason)
        return True

    @event(Replanned)
    def _replanned(self, audit: Audit, opens: str, closes: str, bays: int,
                   skill_hours: dict[str, Decimal], reason: str | None) -> None:
        self.opens, self.closes, self.bays = opens, closes, bays
        self.skill_hours = dict(skill_hours)

    def reserve(self, audit: Audit, appointment_id: UUID, arrival: str,
                work: dict[str, Decimal], lapses_at: datetime | None = None) -> None:
        key = str(appointment_id)
        require(key not in self.bookings,
                IllegalTransition(f"appointment {key} already holds capacity on {self.day}"))
        arrives = minutes(parse_clock(arrival, "arrival", "arrival"))
        require(arrives % SLOT_MINUTES == 0,
                InvalidInput(f"arrival is on a {SLOT_MINUTES}-minute slot (e.g. 09:00, 09:30)",
                             field="arrival"))
        held = bay_minutes(work)
        booking = {"arrival": arrival, "work": dict(work), "bay_minutes": held}
        problems = [self._as_asked(problem, key, arrival) for problem in overbooked(
            self.opens, self.closes, self.bays, self.skill_hours,
            {**self.holding(audit.at), key: booking})]
        if problems:
            raise CapacityExceeded(
                f"no room on {self.day} at {arrival}: "
                + "; ".join(self._shortfall(problem, work) for problem in problems),
                day=self.day, arrival=arrival, problems=problems, free=self.free(audit.at))
        self._reserved(audit, key, arrival, dict(work), held, lapses_at)

    def _as_asked(self, problem: dict[str, Any], key: str, arrival: str) -> dict[str, Any]:
        """A problem of the booking being made names its day and arrival, not its id: a
        refused booking is never stored, so its id points nowhere."""
        if problem.get("appointment_id") != key:
            return problem
        return {"day": self.day, "arrival": arrival,
                **{k: v for k, v in problem.items() if k != "appointment_id"}}

    def _shortfall(self, problem: dict[str, Any], work: Mapping[str, Decimal]) -> str:
        if problem["problem"] == "labor hours":
            skill, asked = problem["skill"], work.get(problem["skill"], Decimal(0))
            free = Decimal(problem["capacity"]) - Decimal(problem["booked"]) + asked
            return (f"{skill} needs {shown(asked)} h, {shown(max(free, Decimal(0)))} h of "
                    f"{problem['capacity']} h free")
        if problem["problem"] == "bays":
            return f"all {problem['bays']} bays are taken at {problem['slot']}"
        return f"the workshop is open {problem['opens']}-{problem['closes']}"

    @event(Reserved)
    def _reserved(self, audit: Audit, appointment_id: str, arrival: str,
                  work: dict[str, Decimal], bay_minutes: int,
                  lapses_at: datetime | None = None) -> None:
        self.bookings[appointment_id] = {"arrival": arrival, "work": dict(work),
                                         "bay_minutes": bay_minutes}
        if lapses_at is not None:
            self.bookings[appointment_id]["lapses_at"] = lapses_at

    def release(self, audit: Audit, appointment_id: UUID, why: str) -> None:
        if str(appointment_id) in self.bookings:
            self._released(audit, str(appointment_id), why)

    @event(Released)
    def _released(self, audit: Audit, appointment_id: str, why: str) -> None:
        del self.bookings[appointment_id]
