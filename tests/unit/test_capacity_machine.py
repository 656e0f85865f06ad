"""Bookings, reschedules, cancellations, no-shows and replans in any order never overbook a
day: checked against a small model that decides independently whether each booking fits.

Refused commands store nothing; after every step each day's stream holds exactly the model's
bookings, no skill's hours nor any slot's bays are exceeded, and the hours it shows as free
are the model's, in one form (two decimals).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from uuid import UUID

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from domain.application import ServiceCore
from domain.appointments import Appointments
from domain.common import DomainError
from domain.customers import Customers
from domain.workshop_day import CapacityExceeded, WorkshopDay
from tests.unit.support import T0, VIN, events_stored, request

DAYS = ("2026-05-04", "2026-05-05")
SLOTS = ("08:00", "08:30", "09:00", "10:00", "11:30", "15:00", "16:30", "17:30")
OPENS, CLOSES = 8 * 60, 18 * 60
SKILLS = ("chassis", "maintenance")
HOURS = st.sampled_from([Decimal("0.5"), Decimal(1), Decimal("1.5"), Decimal(2), Decimal(3),
                         Decimal("4.5")])


def minutes(clock: str) -> int:
    return int(clock[:2]) * 60 + int(clock[3:])


@dataclass
class Booking:
    day: str
    arrival: str
    skill: str
    hours: Decimal

    def slots(self) -> set[int]:
        """The half-hours the car holds a bay: its hours rounded up, until closing at most."""
        count = max(1, -(-int(self.hours * 2) // 1))
        start = minutes(self.arrival)
        return {m for m in range(start, start + 30 * count, 30) if m < CLOSES}


@dataclass
class DayPlan:
    bays: int
    hours: dict[str, Decimal]


class CapacityMachine(RuleBasedStateMachine):
    @initialize()
    def store(self) -> None:
        self.app = ServiceCore()
        self.service = Appointments(self.app)
        self.customer = UUID(Customers(self.app).register(
            request(), store_id="S01", name="陈静", phones=["13912345678"]).body["id"])
        self.plans = {day: DayPlan(2, {"chassis": Decimal(6), "maintenance": Decimal(8)})
                      for day in DAYS}
        for day, plan in self.plans.items():
            self._plan(day, plan)
        self.booked: dict[UUID, Booking] = {}
        self.closed: list[UUID] = []

    def _plan(self, day: str, plan: DayPlan) -> None:
        self.service.plan_capacity(request("manager"), store_id="S01", from_day=day, to_day=day,
                                   opens="08:00", closes="18:00", bays=plan.bays,
                                   skill_hours=plan.hours)

    def fits(self, bookings: list[Booking], day: str, plan: DayPlan) -> bool:
        mine = [b for b in bookings if b.day == day]
        for skill in SKILLS:
            if sum((b.hours for b in mine if b.skill == skill), Decimal(0)) > plan.hours[skill]:
                return False
        return all(sum(slot in b.slots() for b in mine) <= plan.bays
                   for slot in range(OPENS, CLOSES, 30))

    def attempt(self, command: object, accepted: bool) -> bool:
        """Run the command; it succeeds exactly when the model says so, or stores nothing."""
        before = events_stored(self.app)
        try:
            command()  # type: ignore[operator]
        except CapacityExceeded:
            assert not accepted, "refused although the model has room"
            assert events_stored(self.app) == before
            return False
        assert accepted, "accepted although the model says the day is full"
        return True

    @rule(day=st.sampled_from(DAYS), arrival=st.sampled_from(SLOTS),
          skill=st.sampled_from(SKILLS), hours=HOURS)
    def book(self, day: str, arrival: str, skill: str, hours: Decimal) -> None:
        wanted = Booking(day, arrival, skill, hours)
        found: list[UUID] = []

        def command() -> None:
            found.append(UUID(self.service.book(
                request(), store_id="S01", customer_id=self.customer, vehicle={"vin": VIN},
                day=day, arrival=arrival, kind="maintenance",
                services=[{"description": "work", "skill": skill, "hours": hours}]).body["id"]))

        if self.attempt(command, self.fits([*self.booked.values(), wanted], day,
                                           self.plans[day])):
            self.booked[found[0]] = wanted

    @rule(pick=st.integers(0, 50), day=st.sampled_from(DAYS), arrival=st.sampled_from(SLOTS))
    def reschedule(self, pick: int, day: str, arrival: str) -> None:
        if not self.booked:
            return
        appointment_id = list(self.booked)[pick % len(self.booked)]
        old = self.booked[appointment_id]
        if (old.day, old.arrival) == (day, arrival):
            return
        moved = Booking(day, arrival, old.skill, old.hours)
        others = [b for k, b in self.booked.items() if k != appointment_id]
        if self.attempt(lambda: self.service.reschedule(request(), appointment_id, day=day,
                                                        arrival=arrival),
                        self.fits([*others, moved], day, self.plans[day])):
            self.booked[appointment_id] = moved

    @rule(pick=st.integers(0, 50), no_show=st.booleans())
    def release(self, pick: int, no_show: bool) -> None:
        if not self.booked:
            return
        appointment_id = list(self.booked)[pick % len(self.booked)]
        if no_show:
            self.service.no_show(request(at=T0 + timedelta(days=30)), appointment_id)
        else:
            self.service.cancel(request(), appointment_id, reason="customer called off")
        del self.booked[appointment_id]
        self.closed.append(appointment_id)

    @rule(pick=st.integers(0, 50))
    def closed_stays_closed(self, pick: int) -> None:
        if not self.closed:
            return
        appointment_id = self.closed[pick % len(self.closed)]
        before = events_stored(self.app)
        try:
            self.service.reschedule(request(), appointment_id, day=DAYS[0], arrival="08:00")
            raise AssertionError("a closed appointment was rescheduled")
        except DomainError:
            assert events_stored(self.app) == before

    @rule(day=st.sampled_from(DAYS), bays=st.integers(0, 3), chassis=st.integers(0, 8))
    def replan(self, day: str, bays: int, chassis: int) -> None:
        plan = DayPlan(bays, {"chassis": Decimal(chassis), "maintenance": Decimal(8)})
        if self.attempt(lambda: self._plan(day, plan),
                        self.fits(list(self.booked.values()), day, plan)):
            self.plans[day] = plan

    @invariant()
    def days_hold_exactly_the_model_bookings_within_capacity(self) -> None:
        if not hasattr(self, "app"):
            return
        for day in DAYS:
            stored: object = self.app.repository.get(WorkshopDay.create_id("S01", day))
            assert isinstance(stored, WorkshopDay)
            mine = {str(k) for k, b in self.booked.items() if b.day == day}
            assert set(stored.bookings) == mine
            booked = stored.booked()
            for skill, capacity in stored.skill_hours.items():
                assert booked.get(skill, Decimal(0)) <= capacity
            assert self.fits(list(self.booked.values()), day, self.plans[day])
            # What a booking's answer shows as free: the model's hours left, two decimals.
            for skill, free in stored.free().items():
                left = self.plans[day].hours[skill] - sum(
                    (b.hours for b in self.booked.values() if (b.day, b.skill) == (day, skill)),
                    Decimal(0))
                assert free == f"{left:.2f}", (day, skill, free, left)


CapacityMachine.TestCase.settings = settings(max_examples=40, stateful_step_count=25)
TestCapacity = CapacityMachine.TestCase
