"""Calendar rules shared by loyalty, reminders, shifts and appointments: business days and months."""

from __future__ import annotations

import calendar
import re
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from domain.common import InvalidInput

_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
# A day a report counts from or to: the calendar arithmetic behind it (the next day, the years
# of a validity before it) stays inside the years Python and PostgreSQL hold.
FIRST_DAY, LAST_DAY = date(1900, 1, 1), date(9998, 12, 31)
# How a day is written wherever one enters (the API, the command line): YYYY-MM-DD in ASCII
# digits. date.fromisoformat() also reads "20260501", "2026-W18-5" and other digits than ASCII.
PLAIN_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
PLAIN_DAY_RULE = "a day written YYYY-MM-DD (2026-05-01)"


def plain_day(text: str) -> date | None:
    """The calendar day `text` writes as YYYY-MM-DD in ASCII digits; None for anything else
    (another form, or no such day: 2026-02-30)."""
    if not PLAIN_DAY.fullmatch(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def parse_day(value: object, what: str = "day") -> date:
    """An ISO calendar day (YYYY-MM-DD); a date passes through."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise InvalidInput(f"{what} must be a date YYYY-MM-DD, not {value!r}") from None


def parse_clock(value: object, what: str = "time", field: str | None = None) -> time:
    """A wall-clock time HH:MM (24 h); refused naming the body's `field` that carries it."""
    found = _CLOCK.match(str(value))
    if not found:
        raise InvalidInput(f"{what} must be a time HH:MM (00:00-23:59), not {value!r}",
                           **({"field": field} if field else {}))
    return time(int(found.group(1)), int(found.group(2)))


def minutes(value: time) -> int:
    return value.hour * 60 + value.minute


def business_day(at: datetime, zone: ZoneInfo) -> date:
    """The store's calendar day at the moment `at`."""
    return at.astimezone(zone).date()


def month_days(month: str) -> tuple[date, date]:
    """The first and the last day of a month written YYYY-MM."""
    year, number = int(month[:4]), int(month[5:7])
    return date(year, number, 1), date(year, number, calendar.monthrange(year, number)[1])


def add_months(day: date, months: int) -> date:
    """The same day `months` later; the 31st becomes the month's last day when it has fewer."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))
