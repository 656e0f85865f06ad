"""The monthly report's periods: the month, the month before (环比) and the same month a year
before (同比); a month still running is cut at today, its comparisons at the same day."""

from __future__ import annotations

from datetime import date

import pytest

from analytics.monthly import Month, month_of
from domain.common import InvalidInput

TODAY = date(2026, 3, 31)


def test_a_whole_month_is_compared_with_whole_months() -> None:
    january = month_of("2026-01", TODAY)
    assert (january.first, january.last, january.complete) == (
        date(2026, 1, 1), date(2026, 1, 31), True)
    assert january.back(1) == Month(date(2025, 12, 1), date(2025, 12, 31))  # across a year
    assert january.back(12) == Month(date(2025, 1, 1), date(2025, 1, 31))
    assert month_of("2024-03", TODAY).back(1) == Month(date(2024, 2, 1), date(2024, 2, 29))


def test_the_running_month_is_cut_at_today_and_its_comparisons_at_the_same_day() -> None:
    march = month_of("2026-03", date(2026, 3, 6))
    assert (march.last, march.complete) == (date(2026, 3, 6), False)
    assert march.back(1) == Month(date(2026, 2, 1), date(2026, 2, 6))
    assert march.back(12) == Month(date(2025, 3, 1), date(2025, 3, 6))
    # the 31st: February has no such day, so all of it
    assert month_of("2026-05", date(2026, 5, 30)).back(3) == Month(date(2026, 2, 1),
                                                                  date(2026, 2, 28))


@pytest.mark.parametrize("text", ["2026-13", "2026-00", "", "99999-01", "26-01", "2026-1",
                                  "2026/01", "２０２６-01", "2026-11\n", "2026-04", "1900-12"])
def test_no_month_that_is_malformed_not_begun_or_off_the_calendar(text: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        month_of(text, TODAY)
    assert refused.value.extra == {"field": "month"}
