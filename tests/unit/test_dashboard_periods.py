"""The dashboard's periods, its comparison with the previous period, and its language choice."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from analytics.dashboard_text import language
from analytics.periods import MAX_DAYS, Change, Period, compare, period_of, quick_choices
from domain.common import InvalidInput

days = st.dates(min_value=date(2000, 1, 1), max_value=date(2090, 12, 31))


def test_the_previous_period_has_the_same_length_and_ends_the_day_before() -> None:
    april = Period(date(2025, 4, 1), date(2025, 4, 30))
    assert april.previous() == Period(date(2025, 3, 2), date(2025, 3, 31))
    assert Period(date(2025, 3, 1), date(2025, 3, 31)).previous() == Period(
        date(2025, 1, 29), date(2025, 2, 28))
    one_day = Period(date(2025, 1, 1), date(2025, 1, 1))
    assert one_day.previous() == Period(date(2024, 12, 31), date(2024, 12, 31))


@given(days, st.integers(min_value=1, max_value=MAX_DAYS))
def test_periods_and_their_buckets(first: date, length: int) -> None:
    period = Period(first, first + timedelta(days=length - 1))
    before = period.previous()
    assert before.days == period.days and before.last + timedelta(days=1) == period.first
    buckets = period.buckets()
    # every day of the period falls in exactly one bucket, and no bucket is empty of days
    assert buckets[0] <= period.first and buckets[-1] <= period.last
    assert buckets == sorted(set(buckets))
    step = {"day": 1, "week": 7}.get(period.bucket)
    if step is not None:
        assert all(b - a == timedelta(days=step) for a, b in pairwise(buckets))
    else:
        assert all(b.day == 1 for b in buckets)
    assert (buckets[-1] + timedelta(days=step or 31)) > period.last


def test_bucket_sizes_follow_the_length() -> None:
    assert Period(date(2025, 1, 1), date(2025, 3, 3)).bucket == "day"  # 62 days
    assert Period(date(2025, 1, 1), date(2025, 3, 4)).bucket == "week"
    assert Period(date(2025, 1, 1), date(2025, 7, 2)).bucket == "week"  # 183 days
    assert Period(date(2025, 1, 1), date(2025, 7, 3)).bucket == "month"
    year = Period(date(2024, 1, 15), date(2024, 12, 31)).buckets()
    assert year[0] == date(2024, 1, 1) and year[-1] == date(2024, 12, 1) and len(year) == 12


def test_a_requested_period() -> None:
    today = date(2025, 4, 20)
    assert period_of(None, None, today) == Period(date(2025, 3, 22), today)  # last 30 days
    assert period_of(None, date(2025, 2, 28), today) == Period(date(2025, 1, 30),
                                                               date(2025, 2, 28))
    assert period_of(date(2025, 4, 1), None, today) == Period(date(2025, 4, 1), today)
    with pytest.raises(InvalidInput, match="after"):
        period_of(date(2025, 4, 2), date(2025, 4, 1), today)
    with pytest.raises(InvalidInput, match="at most"):
        period_of(date(2020, 1, 1), today, today)


def test_quick_choices() -> None:
    q = quick_choices(date(2025, 3, 15))
    assert q["this_month"] == Period(date(2025, 3, 1), date(2025, 3, 15))
    assert q["last_month"] == Period(date(2025, 2, 1), date(2025, 2, 28))
    assert q["last_30_days"] == Period(date(2025, 2, 14), date(2025, 3, 15))
    assert q["last_90_days"].days == 90 and q["last_90_days"].last == date(2025, 3, 15)
    assert q["this_year"] == Period(date(2025, 1, 1), date(2025, 3, 15))
    assert quick_choices(date(2025, 1, 5))["last_month"] == Period(date(2024, 12, 1),
                                                                    date(2024, 12, 31))


def test_comparison_with_the_previous_period() -> None:
    assert compare(3, 1) == Change(3, 1, 2.0, 2.0)
    assert compare(Decimal("90.00"), Decimal("120.00")) == Change(
        Decimal("90.00"), Decimal("120.00"), -30.0, -0.25)
    assert compare(0.25, 0.0) == Change(0.25, 0.0, 0.25, None)  # from zero: no ratio
    assert compare(None, 0.5) == Change(None, 0.5, None, None)  # nothing to compare
    assert compare(0.5, None) == Change(0.5, None, None, None)
    assert compare(7, 7).delta == 0.0


@pytest.mark.parametrize(("asked", "header", "chosen"), [
    ("en", "zh-CN,zh;q=0.9", "en"),  # the query parameter decides
    ("zh", "en-US", "zh"),
    (None, "zh-CN,zh;q=0.9,en;q=0.8", "zh"),
    (None, "en-US,en;q=0.9,zh-CN;q=0.8", "en"),
    (None, "fr-FR, en;q=0.5, zh;q=0.7", "zh"),  # by quality, not by order
    (None, "de, en;q=0.5", "en"),
    (None, "zh-TW;q=0.5, en-GB;q=0.5", "zh"),  # equal quality: the first
    (None, "fr, de", "zh"),  # neither: the store's language
    (None, None, "zh"),
    (None, "en;q=abc, zh;q=0.1", "zh"),  # a broken weight counts as 0
])
def test_the_language(asked: str | None, header: str | None, chosen: str) -> None:
    assert language(asked, header) == chosen
