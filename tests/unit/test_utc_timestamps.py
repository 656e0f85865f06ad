"""Every timestamp an answer carries is written one way: UTC with `Z` (api/timestamps.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from api.timestamps import utc_timestamps


def rewritten(value: object, **dumps: object) -> object:
    return json.loads(utc_timestamps(json.dumps(value, **dumps).encode()))  # type: ignore[arg-type]


def test_offsets_become_z_in_utc_and_nothing_else_changes() -> None:
    answer = {"at": "2026-12-04T09:30:00.123456+00:00", "local": "2026-12-04T17:30:00+08:00",
              "west": "2026-12-04T01:30:00-05:30", "already": "2026-12-04T09:30:00Z",
              "day": "2026-12-04", "slot": "09:30", "list": ["2026-12-04T09:30:00+00:00", 1],
              "note": 'moved to "2026-12-04T09:30:00+00:00"', "impossible": "2026-13-04T01:30:00+08:00",
              "beyond": "9999-12-31T23:00:00-10:00"}
    expected = {**answer, "at": "2026-12-04T09:30:00.123456Z", "local": "2026-12-04T09:30:00Z",
                "west": "2026-12-04T07:00:00Z", "list": ["2026-12-04T09:30:00Z", 1]}
    assert rewritten(answer) == expected
    assert rewritten(answer, separators=(",", ":")) == expected
    assert utc_timestamps(b'"2026-12-04T09:30:00+00:00"') == b'"2026-12-04T09:30:00Z"'


@given(st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(9000, 1, 1)),
       st.integers(min_value=-14 * 60, max_value=14 * 60))
def test_the_moment_stays_the_same(moment: datetime, minutes: int) -> None:
    at = moment.replace(tzinfo=timezone(timedelta(minutes=minutes)))
    text = str(json.loads(utc_timestamps(json.dumps(at.isoformat()).encode())))
    assert text.endswith("Z") and "+" not in text
    assert datetime.fromisoformat(text) == at
    assert datetime.fromisoformat(text).utcoffset() == UTC.utcoffset(None)
