"""`?as_of=`: a moment with its time zone, or a day meaning the end of that day in the store's
time zone (`SERVICECORE_STORE_TIMEZONE`).

History is what has happened: a moment after the server's clock, or a day after today, is
refused (422 `as-of-in-the-future`, naming the server's time in `now`) rather than answered
with the present as if it were that future's state. Today, a day not yet over, is the day so
far: the moment answered is now.

Clients' clocks drift: a moment up to `skew` seconds after the server's clock
(`SERVICECORE_AS_OF_CLOCK_SKEW_SECONDS`), or the day such a moment falls on, is taken as now; a
moment further ahead is still refused."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Annotated, TypeVar
from zoneinfo import ZoneInfo

from fastapi import Query

from api.dates import DayOrMoment, plain_moment, zone_plus
from domain.common import InvalidInput, NotFound
from domain.days import plain_day

if TYPE_CHECKING:
    from api.auth import Principal
    from api.context import ApiContext

Doc = TypeVar("Doc", bound=dict)  # type: ignore[type-arg]

AsOf = Annotated[str | None, Query(
    max_length=40, description="a moment with its time zone (2026-03-01T10:00:00+08:00), not "
    "after the server's clock (a few seconds ahead, SERVICECORE_AS_OF_CLOCK_SKEW_SECONDS, count "
    "as now), or a day up to today (2026-03-01: the end of that day in the store's time zone; "
    "today: now)"), DayOrMoment]


class AsOfInFuture(InvalidInput):
    """`as_of` names a moment that has not happened yet (HTTP 422)."""

    kind = "as-of-in-the-future"


def as_of_moment(value: str | None, timezone: str, now: datetime | None = None, *,
                 skew: float = 0.0) -> datetime | None:
    """The moment `as_of` names (None when not given): at most `now` (the server's clock; up
    to `skew` seconds later counts as now); InvalidInput for anything else, AsOfInFuture for a
    moment or day still to come."""
    if value is None:
        return None
    zone = ZoneInfo(timezone)
    now = now or datetime.now(UTC)
    day = plain_day(value)
    if day is not None:
        if day > latest_day(now, zone, skew):
            raise in_future(f"as_of {day} is a day in the future", now, zone)
        return now.astimezone(zone) if day >= now.astimezone(zone).date() \
            else datetime.combine(day, time.max, zone)
    moment = plain_moment(zone_plus(value))
    if moment is None:
        raise InvalidInput("as_of must be a day (2026-05-01) or a moment with its time zone "
                           "(2026-05-01T10:00:00+08:00)", field="as_of")
    if moment > now + timedelta(seconds=skew):
        raise in_future(f"as_of {moment.isoformat()} is in the future", now, zone)
    return min(moment, now)


def requested_moment(as_of: str | None, ctx: ApiContext) -> datetime | None:
    """The moment a route's `as_of` names, under the server's store time zone and clock
    skew (None: the current state is asked for)."""
    return as_of_moment(as_of, ctx.timezone, skew=ctx.as_of_clock_skew_seconds)


def found_then(doc: Doc | None, principal: Principal, what: str, moment: datetime) -> Doc:
    """A replayed `doc` the caller may see; 404 alike when it did not exist yet at `moment`
    and when it is in a store the token does not name."""
    if doc is not None and not principal.sees(doc["store_id"]):
        doc = None
    return existed_then(doc, what, moment)


def existed_then(doc: Doc | None, what: str, moment: datetime) -> Doc:
    """A replayed `doc` of the whole group (a master: no store of its own); 404 when it did
    not exist yet at `moment`."""
    if doc is None:
        raise NotFound(f"{what} did not exist at {moment.isoformat()}")
    return doc


def latest_day(now: datetime, zone: ZoneInfo, skew: float = 0.0) -> date:
    """The last day an `as_of` may name: today in the store's time zone, or tomorrow within
    `skew` seconds of midnight (a client whose clock runs ahead is already there)."""
    return (now + timedelta(seconds=skew)).astimezone(zone).date()


def in_future(what: str, now: datetime, zone: ZoneInfo) -> AsOfInFuture:
    """The refusal of a future `as_of`, with the server's time (UTC, as every timestamp the
    API answers; `zone` only decided which day is today)."""
    shown = now.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return AsOfInFuture(f"{what}: the server's time is {shown}; history goes up to now",
                        field="as_of", now=shown)
