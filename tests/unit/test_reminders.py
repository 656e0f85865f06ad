"""Next service due: months or kilometres, whichever first, against a reference that walks the
calendar day by day and month by month."""

from __future__ import annotations

import calendar
from datetime import date, timedelta
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.reminders import Plan, Reading, next_service

days = st.dates(min_value=date(2018, 1, 1), max_value=date(2030, 12, 31))
readings = st.lists(st.builds(Reading, days, st.integers(0, 300_000)), max_size=6)
plans = st.builds(Plan, st.integers(1, 24), st.integers(1_000, 30_000))


def months_later(day: date, months: int) -> date:
    """Step month by month; the day of month is kept where the month is long enough."""
    year, month = day.year, day.month
    for _ in range(months):
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def reference(plan: Plan, history: list[Reading], last: Reading | None,
              sale: date | None) -> tuple[date, str] | None:
    points = sorted(set(history) | ({Reading(sale, 0)} if sale else set()))
    anchor = last or (Reading(sale, 0) if sale else None) or (points[0] if points else None)
    if anchor is None:
        return None
    by_time = months_later(anchor.on, plan.months)
    if len(points) >= 2 and points[-1].on > points[0].on and points[-1].km > points[0].km:
        first, final = points[0], points[-1]
        rate = Fraction(final.km - first.km, (final.on - first.on).days)
        target, day = anchor.km + plan.km, final.on
        while day < by_time and final.km + rate * (day - final.on).days < target:
            day += timedelta(days=1)  # walk until the target is reached or time comes first
        if day < by_time:
            return day, "mileage"
    return by_time, "time"


@settings(max_examples=150)
@given(plan=plans, history=readings, last=st.none() | st.builds(Reading, days,
                                                                st.integers(0, 300_000)),
       sale=st.none() | days)
def test_due_date_matches_the_reference(plan: Plan, history: list[Reading],
                                        last: Reading | None, sale: date | None) -> None:
    due = next_service(plan, history, last_service=last, sale_date=sale)
    expected = reference(plan, history, last, sale)
    assert (None if due is None else (due.due_on, due.basis)) == expected


def test_a_car_driven_a_lot_is_due_by_kilometres_first() -> None:
    # Sold 2025-01-01; 6,000 km by 2025-04-01 (90 days, 66.7 km/day); plan 12 months / 10,000 km.
    due = next_service(Plan(12, 10_000), [Reading(date(2025, 4, 1), 6_000)], last_service=None,
                       sale_date=date(2025, 1, 1))
    assert due is not None and due.basis == "mileage"
    assert due.due_on == date(2025, 4, 1) + timedelta(days=60)  # 4,000 km more at 66.7 km/day
    assert due.by_time == date(2026, 1, 1)


def test_the_last_maintenance_visit_restarts_both_clocks() -> None:
    history = [Reading(date(2025, 1, 10), 20_000), Reading(date(2025, 7, 10), 23_000)]
    due = next_service(Plan(6, 5_000), history, last_service=Reading(date(2025, 7, 10), 23_000),
                       sale_date=None)
    assert due is not None and (due.due_on, due.basis) == (date(2026, 1, 10), "time")
    assert due.target_km == 28_000


def test_month_ends_clamp() -> None:
    due = next_service(Plan(1, 10_000), [], last_service=Reading(date(2025, 1, 31), 0),
                       sale_date=None)
    assert due is not None and due.due_on == date(2025, 2, 28)
