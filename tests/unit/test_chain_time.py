"""The recorded time an event's stored bytes carry, read as the application decodes them: the
common shape without decoding, every other one (a second `timestamp` key, one spelled with
escapes, the key not first) by decoding, so no arrangement of the bytes shows one time to the
check and another to the application."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from uuid import uuid4

from domain.integrity import message
from projections.chain_time import (
    CLOCK_SKEW,
    DATED,
    DATED_AFTER,
    STAMP,
    RecordedTimes,
    anchor_time,
    recorded_at,
)

NOW = "2026-12-07T02:03:25.595972+00:00"
OLD = "2026-01-02T03:04:05+00:00"


def _stamp(when: str) -> str:
    return f'{{"_type_":"datetime_iso","_data_":"{when}"}}'


def _event(state: str) -> bytes:
    return message(42, uuid4(), 3, "domain.counter:DocumentCounter.Taken", state.encode())


def test_the_usual_shape_is_read_where_it_stands() -> None:
    state = f'{{"timestamp":{_stamp(NOW)},"audit":{{"at":"{OLD}"}},"number":7}}'
    assert state.encode().startswith(STAMP)
    assert recorded_at(_event(state)) == datetime.fromisoformat(NOW)


def test_every_other_shape_reads_as_the_application_decodes_it() -> None:
    shapes = [
        # a second key: JSON decoding keeps the last
        f'{{"timestamp":{_stamp(NOW)},"number":7,"timestamp":{_stamp(OLD)}}}',
        # the second key spelled with an escape
        f'{{"timestamp":{_stamp(NOW)},"number":7,"\\u0074imestamp":{_stamp(OLD)}}}',
        # a second time inside the time object
        f'{{"timestamp":{{"_type_":"datetime_iso","_data_":"{NOW}","_data_":"{OLD}"}}}}',
        # not first, behind a decoy of the same shape one level down
        f'{{"x":{{"timestamp":{_stamp(NOW)}}},"timestamp":{_stamp(OLD)}}}',
    ]
    for state in shapes:
        assert json.loads(state)["timestamp"]["_data_"] == OLD
        assert recorded_at(_event(state)) == datetime.fromisoformat(OLD), state


def test_no_time_that_reads_as_one_is_none() -> None:
    for state in ['{"number":7}', "not json", "[1,2]", f'{{"timestamp":"{NOW}"}}',
                  '{"timestamp":{"_type_":"datetime_iso","_data_":"2026-12-07T02:03:25"}}']:
        assert recorded_at(_event(state)) is None, state
    assert anchor_time(NOW) == datetime.fromisoformat(NOW)
    assert [anchor_time(v) for v in (None, 7, "yesterday", "2026-12-07T02:03:25")] == [None] * 4


def _at(when: datetime) -> bytes:
    return _event(f'{{"timestamp":{_stamp(when.isoformat())}}}')


def test_an_event_is_held_to_the_witnessed_anchors_before_and_after_it() -> None:
    closed = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)
    within, beyond = CLOCK_SKEW - timedelta(seconds=1), CLOCK_SKEW + timedelta(seconds=1)
    # Before the first witnessed anchor only its own later time binds; after it, its time too.
    times = RecordedTimes(None, True)
    assert times.event(1, _at(closed - timedelta(days=300))) is None
    assert times.event(2, _at(closed + within)) is None
    assert times.witnessed(closed) is None
    assert times.event(3, _at(closed - within)) is None
    found = times.event(4, _at(closed - beyond))
    assert found is not None and (found.notification_id, found.reason) == (4, DATED)
    assert (found.stored, found.computed) == ((closed - beyond).isoformat(), closed.isoformat())
    # Post-dated: the latest time since the anchor before is named when the next one is met.
    times = RecordedTimes(closed, True)
    for number, when in ((5, closed + beyond * 3), (6, closed + timedelta(minutes=1))):
        assert times.event(number, _at(when)) is None
    found = times.witnessed(closed + beyond)
    assert found is not None and (found.notification_id, found.reason) == (5, DATED_AFTER)
    # No anchor with a time: nothing is read.
    assert RecordedTimes(None, False).event(7, _at(closed - timedelta(days=1))) is None
    assert RecordedTimes(closed, True).witnessed(None) is None
