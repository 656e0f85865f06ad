"""`?as_of=` asks for history: up to now, never a moment still to come."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from api.as_of import AsOfInFuture, as_of_moment
from domain.common import InvalidInput

ZONE = "Asia/Shanghai"
NOW = datetime(2026, 12, 4, 12, 30, tzinfo=UTC)  # 20:30 on 4 December in Shanghai


def test_a_past_moment_or_day_is_that_moment_or_the_end_of_that_day() -> None:
    assert as_of_moment("2026-12-04T20:00:00+08:00", ZONE, NOW) == \
        datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
    end = as_of_moment("2026-12-03", ZONE, NOW)
    assert end is not None and end.isoformat() == "2026-12-03T23:59:59.999999+08:00"
    assert as_of_moment(None, ZONE, NOW) is None


def test_today_is_the_day_so_far() -> None:
    today = as_of_moment("2026-12-04", ZONE, NOW)
    assert today == NOW and today is not None and today.isoformat().endswith("+08:00")


@pytest.mark.parametrize("value", [
    "2026-12-05",  # tomorrow in Shanghai (still the 4th in UTC)
    "2099-01-01",
    "2026-12-04T20:30:00.000001+08:00",  # a microsecond after the server's clock
    "2999-01-01T00:00:00+08:00",
])
def test_the_future_is_refused_with_the_servers_time(value: str) -> None:
    with pytest.raises(AsOfInFuture) as refused:
        as_of_moment(value, ZONE, NOW)
    assert isinstance(refused.value, InvalidInput)  # 422
    assert refused.value.extra == {"field": "as_of", "now": "2026-12-04T12:30:00Z"}
    assert "2026-12-04T12:30:00Z" in refused.value.detail


def test_now_itself_is_history() -> None:
    assert as_of_moment("2026-12-04T12:30:00+00:00", ZONE, NOW) == NOW
    assert as_of_moment((NOW - timedelta(days=400)).isoformat(), ZONE, NOW) is not None


def test_a_client_clock_a_few_seconds_ahead_asks_for_now() -> None:
    ahead = (NOW + timedelta(seconds=4)).isoformat()
    assert as_of_moment(ahead, ZONE, NOW, skew=5) == NOW  # answered as now, not later
    assert as_of_moment((NOW + timedelta(seconds=5)).isoformat(), ZONE, NOW, skew=5) == NOW
    with pytest.raises(AsOfInFuture):
        as_of_moment(ahead, ZONE, NOW)  # no skew allowed: the future


def test_beyond_the_skew_is_still_the_future() -> None:
    with pytest.raises(AsOfInFuture) as refused:
        as_of_moment((NOW + timedelta(seconds=5, microseconds=1)).isoformat(), ZONE, NOW,
                     skew=5)
    assert refused.value.extra == {"field": "as_of", "now": "2026-12-04T12:30:00Z"}
    with pytest.raises(AsOfInFuture):
        as_of_moment("2026-12-05", ZONE, NOW, skew=5)  # tomorrow, hours away


def test_tomorrow_within_the_skew_of_midnight_is_today_so_far() -> None:
    before_midnight = datetime(2026, 12, 4, 15, 59, 58, tzinfo=UTC)  # 23:59:58 in Shanghai
    assert as_of_moment("2026-12-05", ZONE, before_midnight, skew=5) == before_midnight
    with pytest.raises(AsOfInFuture):
        as_of_moment("2026-12-05", ZONE, before_midnight, skew=1)
