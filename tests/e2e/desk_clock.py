"""A desk's command made as of another moment than now: the API's clock (the caller's `at`) set
for the commands sent inside `commands_at`. The domain judges a command by its own clock, so a
visit booked for 09:00 today is booked as the desk would have booked it, at 07:00, whenever the
test runs (a slot already past is refused: see `Appointments.slot`)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo

import pytest

ZONE = ZoneInfo("Asia/Shanghai")  # the stores' time zone in the tests


def this_morning(hour: int = 7, minute: int = 0) -> datetime:
    """Today (in the stores' time zone) at `hour`:`minute`."""
    today = datetime.now(ZONE).date()
    return datetime(today.year, today.month, today.day, hour, minute, tzinfo=ZONE)


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
