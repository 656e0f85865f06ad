"""`?as_of=`: a moment with its time zone, or a day meaning the end of that day in the store's
time zone (`SERVICECORE_STORE_TIMEZONE`)."""

from __future__ import annotations

import re
from datetime import date, datetime, time
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import Query

from domain.common import InvalidInput

AsOf = Annotated[str | None, Query(
    max_length=40, description="a moment with its time zone (2026-03-01T10:00:00+08:00), or a "
    "day (2026-03-01: the end of that day in the store's time zone)")]
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
# An unencoded "+08:00" in a query string arrives as " 08:00".
_SPACE_FOR_PLUS = re.compile(r"([T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?) (\d{2}:?\d{2})$")


def as_of_moment(value: str | None, timezone: str) -> datetime | None:
    """The moment `as_of` names (None when not given); InvalidInput for anything else."""
    if value is None:
        return None
    text = value.strip()
    try:
        if _DAY.fullmatch(text):
            return datetime.combine(date.fromisoformat(text), time.max, ZoneInfo(timezone))
        moment = datetime.fromisoformat(_SPACE_FOR_PLUS.sub(r"\1+\2", text))
    except ValueError:
        raise InvalidInput(f"as_of {value!r} is neither a day (2026-03-01) nor a moment "
                           "(2026-03-01T10:00:00+08:00)") from None
    if moment.tzinfo is None:
        raise InvalidInput("as_of needs a time zone, e.g. 2026-05-01T10:00:00+08:00, "
                           "or a day, e.g. 2026-05-01")
    return moment
