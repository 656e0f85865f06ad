"""A desk's command made as of another moment than now: the API's clock (the caller's `at`) set
for the commands sent inside `commands_at`. The domain judges a command by its own clock, so a
visit booked for 09:00 today is booked as the desk would have booked it, at 07:00, whenever the
test runs (a slot already past is refused: see `Appointments.slot`)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

import pytest

ZONE = ZoneInfo("Asia/Shanghai")  # the stores' time zone in the tests


def today() -> date:
    """The stores' date now: read when a test needs it, never once for a run (a run that
    crosses midnight in Shanghai, 16:00 UTC, would book and read yesterday)."""
    return datetime.now(ZONE).date()


def this_morning(hour: int = 7, minute: int = 0) -> datetime:
    """Today (in the stores' time zone) at `hour`:`minute`, or now while that is still to come
    (a run between midnight and seven): a command is never stamped later than the run, where
    a read `as_of` now would not find it. Either is before a slot of today from `hour` on."""
    now = datetime.now(ZONE)
    return min(now, datetime(now.year, now.month, now.day, hour, minute, tzinfo=ZONE))


def last_passed(hour: int, minute: int) -> datetime:
    """The latest moment at `hour`:`minute` (store time) already past: today's, or
    yesterday's while today's is still to come."""
    now = datetime.now(ZONE)
    at = datetime(now.year, now.month, now.day, hour, minute, tzinfo=ZONE)
    return at if at <= now else at - timedelta(days=1)


@contextmanager
def commands_at(moment: datetime) -> Iterator[None]:
    """The commands sent inside run at `moment` (reads and the rest of the test keep now)."""

    class _At(datetime):
        @classmethod
        def now(cls, tz: tzinfo | None = None) -> _At:  # type: ignore[override]
            at = moment.astimezone(tz or UTC)
            return cls.fromtimestamp(at.timestamp(), at.tzinfo)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("api.deps.datetime", _At)
        yield
