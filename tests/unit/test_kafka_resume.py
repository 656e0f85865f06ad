"""Where the Kafka projection goes on with a partition after an assignment or a lost broker.

A log that still holds the stored event before the stored offset is resumed there, whatever
end offset the broker reports (Apache Kafka: one past the last record; tansu 0.6: one past the
first offset of the last batch). A log that does not — empty after a restart, shorter, or with
another event there — is read again from the beginning.
"""

from __future__ import annotations

import json
import socket

from hypothesis import given
from hypothesis import strategies as st

from workers.kafka_resume import (
    ABSENT,
    Found,
    Stored,
    coordinator_reachable,
    decide,
    identity,
)

A = ("7b0e0d52-5c43-4d43-9b1f-4b8f3c1e0a01", 3)
B = ("0f5d7c1e-2222-4a4a-8a8a-000000000002", 1)


def record(event: tuple[str, int]) -> bytes:
    return json.dumps({"stream_id": event[0], "stream_version": event[1],
                       "type": "work_order.opened", "payload": {}}).encode()


def test_the_event_of_a_record_is_its_stream_and_version() -> None:
    assert identity(record(A)) == A
    assert identity(b"not json") is None
    assert identity(b'{"type": "x"}') is None
    assert identity(None) is None


def test_the_same_event_before_the_stored_offset_resumes_there() -> None:
    decision = decide(Stored(500, A), begin=0, end=800, found=Found(True, A))
    assert not decision.replaced


def test_tansu_s_low_end_offset_alone_does_not_count_as_a_replaced_log() -> None:
    # tansu reports one past the first offset of the last batch: below the stored offset
    decision = decide(Stored(500, A), begin=0, end=481, found=Found(True, A))
    assert not decision.replaced


def test_an_empty_partition_is_a_replaced_log() -> None:
    decision = decide(Stored(500, A), begin=0, end=0, found=None)
    assert decision.replaced and "empty" in decision.reason


def test_a_log_that_no_longer_reaches_the_stored_offset_is_replaced() -> None:
    decision = decide(Stored(500, A), begin=0, end=120, found=ABSENT)
    assert decision.replaced and "no record at offset 499" in decision.reason


def test_another_event_before_the_stored_offset_is_a_replaced_log() -> None:
    decision = decide(Stored(500, A), begin=0, end=900, found=Found(True, B))
    assert decision.replaced and B[0] in decision.reason


def test_a_record_that_is_not_an_event_there_is_a_replaced_log() -> None:
    assert decide(Stored(500, A), begin=0, end=900, found=Found(True, None)).replaced


def test_offsets_stored_before_events_were_kept_resume_while_the_log_reaches_them() -> None:
    assert not decide(Stored(500, None), begin=0, end=900, found=Found(True, B)).replaced
    assert decide(Stored(500, None), begin=0, end=0, found=None).replaced


def test_nothing_applied_yet_and_a_log_that_starts_later_are_not_checked() -> None:
    assert not decide(Stored(0, None), begin=0, end=0, found=None).replaced
    # retention removed the records up to 600: the consumer starts at the earliest one
    assert not decide(Stored(500, A), begin=600, end=900, found=None).replaced


events = st.lists(st.tuples(st.sampled_from(["s1", "s2", "s3"]), st.integers(1, 4)),
                  max_size=12)


@given(old=events, new=events, data=st.data())
def test_a_log_is_resumed_only_where_it_holds_the_applied_event(
        old: list[tuple[str, int]], new: list[tuple[str, int]], data: st.DataObject) -> None:
    """Any old log the projection applied up to some offset; any log on the broker now (the
    same one grown, or another): it resumes only when the record before the stored offset is
    the event it applied from there."""
    grown = data.draw(st.booleans())
    now = old + new if grown else new
    applied = data.draw(st.integers(0, len(old)))
    stored = Stored(applied, old[applied - 1] if applied else None)
    at = applied - 1
    found = None if applied == 0 or not now else (
        Found(True, now[at]) if at < len(now) else ABSENT)
    # tansu may report a lower end offset than the true one, never a higher one
    end = data.draw(st.integers(min(1, len(now)), len(now))) if now else 0
    decision = decide(stored, begin=0, end=end, found=found)
    if applied == 0:
        assert not decision.replaced
    elif decision.replaced:
        assert at >= len(now) or now[at] != old[at]
    else:
        assert at < len(now) and now[at] == old[at]
    if grown:  # the same log, grown: never read again
        assert not decision.replaced


class Coordinator:
    def __init__(self, known: bool, connected: bool) -> None:
        self.known, self.up = known, connected

    def coordinator_unknown(self) -> bool:
        return not self.known

    def connected(self) -> bool:
        return self.up


class Consumer:
    def __init__(self, coordinator: object) -> None:
        self._coordinator = coordinator


def test_the_coordinator_is_reachable_only_while_known_and_connected() -> None:
    assert coordinator_reachable(Consumer(Coordinator(True, True)), "127.0.0.1:1")
    assert not coordinator_reachable(Consumer(Coordinator(True, False)), "127.0.0.1:1")
    assert not coordinator_reachable(Consumer(Coordinator(False, False)), "127.0.0.1:1")


def test_without_kafka_python_s_coordinator_a_bootstrap_server_that_answers_stands_in() -> None:
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        port = listening.getsockname()[1]
        assert coordinator_reachable(Consumer(object()), f"127.0.0.1:{port}")
    assert not coordinator_reachable(Consumer(object()), f"127.0.0.1:{port}")
