"""The days and moments every request takes, in one plain grammar wherever they come from.

A day (a body's `day`, `sale_date`, `business_date`; a query's `from_day`, `date_from`, `from`;
a path's `/day-end/{business_date}`) is `YYYY-MM-DD` in ASCII digits: `2026-05-01`. A moment
(a check-in's `promised_at`; a query's `opened_from`, `at_from`) is ISO 8601
`YYYY-MM-DDTHH:MM[:SS[.ffffff]]` with its time zone, `Z` or `±HH:MM`:
`2026-05-01T17:00:00+08:00`. Anything else pydantic or `fromisoformat()` would have read
leniently is refused as invalid input naming the field (`plain_day`, `plain_moment`), the value
never echoed: `20260501` and `1777593600` (as a string or a JSON number: read as unix
timestamps, 1970-08-23 and 2026-05-01), `2026-5-1`, `２０２６-05-01`, a space for the `T`, a
moment without its time zone (read in whatever zone the server or database happened to use).
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any, TypeVar

import annotated_types
from pydantic import BeforeValidator
from pydantic_core import PydanticCustomError

from domain.common import InvalidInput
from domain.days import FIRST_DAY, LAST_DAY, PLAIN_DAY_RULE, plain_day

PLAIN_MOMENT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}"
                          r"(?::[0-9]{2}(?:\.[0-9]{1,6})?)?(?:Z|[+-][0-9]{2}:[0-9]{2})")
PLAIN_MOMENT_RULE = ("a moment written YYYY-MM-DDTHH:MM[:SS[.ffffff]] with its time zone, "
                     "Z or ±HH:MM (2026-05-01T17:00:00+08:00)")
# A period's ends: two days, two moments (a `datetime` is a `date`), or two notification ids.
End = TypeVar("End", date, int)
# In a query string an unencoded "+08:00" arrives as " 08:00" (a form's `+` is a space).
_SPACE_FOR_PLUS = re.compile(r"(T[0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,6})?)?) "
                             r"([0-9]{2}:[0-9]{2})")


def plain_moment(text: str) -> datetime | None:
    """The moment `text` writes in the grammar, with its zone; None for anything else."""
    if not PLAIN_MOMENT.fullmatch(text):
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:  # no such day or time (2026-02-30, 24:00, +25:00)
        return None


def zone_plus(text: str) -> str:
    """`text` with an unencoded `+` of its time zone put back (query values only)."""
    found = _SPACE_FOR_PLUS.fullmatch(text[10:]) if len(text) > 10 else None
    return text[:10] + found.expand(r"\1+\2") if found else text


def day(value: Any) -> date:
    """`value` as a day if written `YYYY-MM-DD`; otherwise a validation error of type
    `plain_day` (its message never quotes the value)."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    found = plain_day(value) if isinstance(value, str) else None
    if found is None:
        raise PydanticCustomError("plain_day", "Must be " + PLAIN_DAY_RULE)
    return found


def day_text(value: Any) -> str:
    """A day kept as the text it was written in (a field the domain reads itself)."""
    return day(value).isoformat()


def moment(value: Any) -> datetime:
    """`value` as a moment if written in the grammar with its time zone; otherwise a
    validation error of type `plain_moment`."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value
    found = plain_moment(value) if isinstance(value, str) else None
    if found is None:
        raise PydanticCustomError("plain_moment", "Must be " + PLAIN_MOMENT_RULE)
    return found


def ordered(first: End | None, last: End | None, *,
            first_name: str = "date_from", last_name: str = "date_to") -> None:
    """A period (two days, two moments, or two notification ids) runs forwards: its end is
    its start or later, else invalid input naming the end (`date_to`, `to_day`, `at_to`,
    `opened_to`, `to`) in the same words on every route. Either left out: any period will
    do."""
    if first is not None and last is not None and last < first:
        raise InvalidInput(f"{last_name} {_shown(last)} is before {first_name} "
                           f"{_shown(first)}", field=last_name)


def _shown(value: date | int) -> str:
    return value.isoformat() if isinstance(value, date) else str(value)


def query_moment(value: Any) -> datetime:
    """A moment of a query string, whose `+08:00` may have arrived as ` 08:00`."""
    return moment(zone_plus(value) if isinstance(value, str) else value)


def day_or_moment_text(value: Any) -> str:
    """A query's `as_of`, `from` or `to`: a day or a moment (with its zone) in the grammar,
    kept as text for the route to read against the store's time zone; otherwise a
    validation error of type `plain_day_or_moment`."""
    if isinstance(value, str):
        text = zone_plus(value)
        if plain_day(text) is not None or plain_moment(text) is not None:
            return text
    raise PydanticCustomError("plain_day_or_moment", "Must be " + PLAIN_DAY_RULE + ", or "
                              + PLAIN_MOMENT_RULE)


# A day, any calendar day: `sale_date: PlainDay | None = None`.
PlainDay = Annotated[date, BeforeValidator(day)]
# A day a report counts from or to, within the years the project's calendar arithmetic holds.
Day = Annotated[date, annotated_types.Ge(FIRST_DAY), annotated_types.Le(LAST_DAY),
                BeforeValidator(day)]
DAY_RANGE = f"{FIRST_DAY} to {LAST_DAY}"  # for a `Day` parameter's description
# A day the domain takes as text (`business_date`): the same grammar, kept a string.
DayText = Annotated[str, BeforeValidator(day_text)]
# A moment with its time zone: of a body, and of a query.
Moment = Annotated[datetime, BeforeValidator(moment)]
QueryMoment = Annotated[datetime, BeforeValidator(query_moment)]
# A query's day or moment, as text: `Annotated[str | None, Query(...), DayOrMoment]`.
DayOrMoment = BeforeValidator(day_or_moment_text)
