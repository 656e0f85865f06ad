"""Periods of the manager's dashboard: the chosen one, the previous one of the same length, the
quick choices, the trend's buckets, and how a figure changed between two periods.

Dates are calendar days in the store's time zone; a period includes both its first and last day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from domain.common import InvalidInput

MAX_DAYS = 731  # two years: the trends stay readable, the queries stay small
DEFAULT_DAYS = 30


@dataclass(frozen=True)
class Period:
    first: date
    last: date

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def previous(self) -> Period:
        """The period of the same length that ends the day before this one starts."""
        return Period(self.first - timedelta(days=self.days), self.first - timedelta(days=1))

    @property
    def bucket(self) -> str:
        """The trend's step: a day up to about two months, a week up to half a year, else a
        month."""
        return "day" if self.days <= 62 else "week" if self.days <= 183 else "month"

    def buckets(self) -> list[date]:
        """The first day of every bucket that overlaps the period (empty ones included)."""
        step = self.bucket
        start = {"day": self.first, "week": self.first - timedelta(days=self.first.weekday()),
                 "month": self.first.replace(day=1)}[step]
        found = []
        while start <= self.last:
            found.append(start)
            if step == "day":
                start += timedelta(days=1)
            elif step == "week":
                start += timedelta(days=7)
            else:
                start = (start.replace(day=28) + timedelta(days=4)).replace(day=1)
        return found


def period_of(first: date | None, last: date | None, today: date) -> Period:
    """The period a request asks for: both ends, or the last 30 days up to `last` (or today)."""
    end = last or today
    start = first or end - timedelta(days=DEFAULT_DAYS - 1)
    if start > end:
        raise InvalidInput("date_from is after date_to", date_from=start.isoformat(),
                           date_to=end.isoformat())
    if (end - start).days + 1 > MAX_DAYS:
        raise InvalidInput(f"a dashboard period is at most {MAX_DAYS} days")
    return Period(start, end)


def quick_choices(today: date) -> dict[str, Period]:
    """Named periods for the filter form, by label key."""
    month_start = today.replace(day=1)
    last_month_end = month_start - timedelta(days=1)
    return {
        "this_month": Period(month_start, today),
        "last_month": Period(last_month_end.replace(day=1), last_month_end),
        "last_30_days": Period(today - timedelta(days=29), today),
        "last_90_days": Period(today - timedelta(days=89), today),
        "this_year": Period(today.replace(month=1, day=1), today),
    }


Number = Decimal | float | int


@dataclass(frozen=True)
class Change:
    """A figure of this period beside the previous period's.

    `delta` is value - previous; `relative` is delta ÷ previous (None when either is missing or
    the previous value is zero). For ratios the dashboard shows delta in percentage points.
    """

    value: Number | None
    previous: Number | None
    delta: float | None
    relative: float | None


def compare(value: Number | None, previous: Number | None) -> Change:
    if value is None or previous is None:
        return Change(value, previous, None, None)
    delta = float(value) - float(previous)
    relative = delta / float(previous) if float(previous) != 0 else None
    return Change(value, previous, delta, relative)
