"""When a car is next due for maintenance: by months or by kilometres, whichever comes first.

The kilometre date is extrapolated from the car's mileage history: the average daily distance
between its first and last readings (a known sale date counts as a reading of 0 km).
The anchor is the last maintenance visit, else the sale date, else the first reading.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from domain.days import add_months

MAX_DAYS_AHEAD = 36_500


@dataclass(frozen=True, order=True)
class Reading:
    on: date
    km: int


@dataclass(frozen=True)
class Plan:
    months: int
    km: int


@dataclass(frozen=True)
class Due:
    due_on: date
    basis: str  # "time" or "mileage"
    by_time: date
    by_km: date | None
    target_km: int
    km_per_day: float | None
    anchor: Reading


def next_service(plan: Plan, readings: Sequence[Reading], *, last_service: Reading | None,
                 sale_date: date | None) -> Due | None:
    history = sorted({*readings, *([Reading(sale_date, 0)] if sale_date else [])})
    anchor = last_service or (Reading(sale_date, 0) if sale_date else None) or \
        (history[0] if history else None)
    if anchor is None:
        return None
    by_time = add_months(anchor.on, plan.months)
    target = anchor.km + plan.km
    by_km: date | None = None
    rate: float | None = None
    if history:
        first, last = history[0], history[-1]
        span_days, span_km = (last.on - first.on).days, last.km - first.km
        if span_days > 0 and span_km > 0:
            rate = span_km / span_days
            remaining = target - last.km
            days = -(-remaining * span_days // span_km) if remaining > 0 else 0
            if days <= MAX_DAYS_AHEAD:  # a car that hardly moves is due by time alone
                by_km = last.on + timedelta(days=days)
    if by_km is not None and by_km < by_time:
        return Due(by_km, "mileage", by_time, by_km, target, rate, anchor)
    return Due(by_time, "time", by_time, by_km, target, rate, anchor)
