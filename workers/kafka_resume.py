"""Where a Kafka projection goes on with a partition: at its stored next offset, or from the
beginning when the broker's log is no longer the one that offset was stored for; whether the
consumer still reaches its group coordinator; and whether the assignment the broker handed back
is the one the group's leader made. The stored offsets (`kafka_offsets`) are
made, read and written here; the projection writes them in the transaction of its rows.

A broker can come back with another log under the same topic and partition: memory storage
(tansu in the tests) or Kafka without a volume restarts EMPTY, a topic is deleted and
re-created, an unclean leader election truncates a partition. Offsets start again at 0 there,
so a stored next offset of 500 would skip the first 500 records of the new log (tansu answers
a fetch past its end with nothing: the consumer waits there until the log reaches 500). With
each partition's next offset the projection stores the event of the last record it applied
(stream id, stream version); when a partition is assigned, and after the coordinator was
unreachable, it asks the broker:

- the partition is empty or gone, or holds no record at next offset - 1: replaced;
- the record there is another event: replaced;
- it is the same event (or the offset was stored before events were kept): go on at the offset.

A replaced log is read from its beginning: the board skips the stream versions it already
holds, so reading again is harmless. The end offset alone decides nothing but "empty": tansu
reports one past the first offset of the last batch, below the true end (see
`workers.relay_offsets`).

The group's leader (a member) computes every member's partitions and the broker hands them out.
A broker can hand a member something else: tansu (0.6) answers a member that joins again with
its member id with the assignment of the group's first generation, made while the topic did not
exist yet (a projection started before the relay made its topics, or a broker restarted empty):
none, for ever. `LeadingAssignor` remembers what this member gave itself when it led; a member
handed less than that starts a new consumer (a new member id), which the broker assigns afresh.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import psycopg
from kafka.coordinator.assignors.range import RangePartitionAssignor

from workers.relay_broker import broker_answers

log = logging.getLogger(__name__)
Identity = tuple[str, int]  # (stream id, stream version) of a record's event


@dataclass(frozen=True)
class Stored:
    """A partition's stored next offset and the event of the record before it."""

    next_offset: int
    last: Identity | None = None  # None: stored before events were kept with offsets


@dataclass(frozen=True)
class Found:
    """What the broker holds at a stored next offset - 1."""

    present: bool  # a record is at that offset
    identity: Identity | None = None  # its event; None: not an event (not JSON, no stream)


ABSENT = Found(False)


@dataclass(frozen=True)
class Decision:
    replaced: bool
    reason: str


class ResumeCheckFailed(Exception):
    """The broker did not say in time what it holds: the partitions cannot be positioned."""


def ensure_offsets_table(conn: psycopg.Connection[Any], table: str) -> None:
    conn.execute(f"""CREATE TABLE IF NOT EXISTS {table} (
        consumer_group text NOT NULL, topic text NOT NULL, partition int NOT NULL,
        next_offset bigint NOT NULL, updated_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (consumer_group, topic, partition))""")
    # the event of the record before next_offset (tables made before it: NULL)
    conn.execute(f"""ALTER TABLE {table} ADD COLUMN IF NOT EXISTS last_stream_id text,
        ADD COLUMN IF NOT EXISTS last_stream_version int""")


def load_stored(conn: psycopg.Connection[Any], table: str, group: str,
                topics: Iterable[str]) -> dict[tuple[str, int], Stored]:
    rows = conn.execute(
        f"""SELECT topic, partition, next_offset, last_stream_id, last_stream_version
            FROM {table} WHERE consumer_group = %s AND topic = ANY(%s)""",
        (group, sorted(set(topics)))).fetchall()
    return {(str(t), int(p)): Stored(int(o), None if sid is None or v is None
                                     else (str(sid), int(v)))
            for t, p, o, sid, v in rows}


def save_stored(conn: psycopg.Connection[Any], table: str, group: str,
                stored: Mapping[tuple[str, int], Stored]) -> None:
    """In the caller's transaction, with the rows the records were applied to."""
    with conn.cursor() as cur:
        cur.executemany(
            f"""INSERT INTO {table} (consumer_group, topic, partition, next_offset,
                    last_stream_id, last_stream_version) VALUES (%s, %s, %s, %s, %s, %s)
                ON CONFLICT (consumer_group, topic, partition) DO UPDATE
                SET next_offset = EXCLUDED.next_offset, last_stream_id = EXCLUDED.last_stream_id,
                    last_stream_version = EXCLUDED.last_stream_version, updated_at = now()""",
            [(group, t, p, s.next_offset, *(s.last or (None, None)))
             for (t, p), s in sorted(stored.items())])


def identity(value: bytes | None) -> Identity | None:
    """The event a record carries (see `domain.integration_events`), or None."""
    try:
        event = json.loads(value or b"")
        return str(event["stream_id"]), int(event["stream_version"])
    except (ValueError, TypeError, KeyError):
        return None


def decide(stored: Stored, *, begin: int, end: int, found: Found | None) -> Decision:
    """Go on at `stored.next_offset`, or read the partition again from its beginning.

    `begin`/`end`: the broker's beginning and end offsets of the partition; `found`: what is at
    `next_offset - 1` (None: not asked, the log starts after it)."""
    at = stored.next_offset - 1
    if stored.next_offset <= 0:
        return Decision(False, "nothing applied yet")
    if end <= 0:
        return Decision(True, f"the partition is empty (stored next offset {stored.next_offset})")
    if begin > at:
        # the records before the log's start are gone (retention): nothing to compare with;
        # a stored offset below the start makes the consumer begin at the earliest record
        return Decision(False, f"the log starts at {begin}, after offset {at}")
    if found is None or not found.present:
        return Decision(True, f"no record at offset {at} (end offset {end})")
    if stored.last is None:
        return Decision(False, "no event stored with the offset")
    if found.identity != stored.last:
        return Decision(True, f"offset {at} holds {_name(found.identity)}, not the "
                              f"{_name(stored.last)} applied from it")
    return Decision(False, f"offset {at} holds {_name(stored.last)} as stored")


def _name(event: Identity | None) -> str:
    return "a record that is not an event" if event is None else f"{event[0]} v{event[1]}"


def inspect(checker: Any, stored: Mapping[Any, Stored], timeout: float) -> dict[Any, Decision]:
    """Ask the broker, through `checker` (a KafkaConsumer without a group), what each partition
    holds at its stored next offset - 1, and decide. A record the broker does not return within
    `timeout` is absent when the end offset is below it (tansu's end offset can be below the
    true end, so it is asked for anyway); raises ResumeCheckFailed when the end offset says it
    is there."""
    from kafka.errors import OffsetOutOfRangeError

    tps = [tp for tp, s in stored.items() if s.next_offset > 0]
    if not tps:
        return {tp: decide(s, begin=0, end=0, found=None) for tp, s in stored.items()}
    # a topic the broker no longer has (it came back empty, the relay has not made it again)
    # holds nothing: asking for its offsets would only time out
    known = {t: checker.partitions_for_topic(t) or set() for t in {tp.topic for tp in tps}}
    held = [tp for tp in tps if tp.partition in known[tp.topic]]
    ends = {tp: int(o) for tp, o in (checker.end_offsets(held) if held else {}).items()}
    begins = {tp: int(o) for tp, o in (checker.beginning_offsets(held) if held else {}).items()}
    wanted = {tp: stored[tp].next_offset - 1 for tp in tps
              if ends.get(tp, 0) > 0 and begins.get(tp, 0) <= stored[tp].next_offset - 1}
    found: dict[Any, Found] = {}
    if wanted:
        checker.assign(list(wanted))
        for tp, offset in wanted.items():
            checker.seek(tp, offset)
        deadline = time.monotonic() + timeout
        while len(found) < len(wanted) and time.monotonic() < deadline:
            try:
                batches = checker.poll(timeout_ms=100)
            except OffsetOutOfRangeError as exc:  # past the end (Apache Kafka)
                out = exc.args[0] if exc.args and isinstance(exc.args[0], dict) else {}
                for tp in out:
                    found[tp] = ABSENT
                    checker.pause(tp)
                if not out:
                    raise
                continue
            for tp, records in batches.items():
                first = next((r for r in records if r.offset >= wanted.get(tp, -1)), None)
                if tp in found or tp not in wanted or first is None:
                    continue
                here = first.offset == wanted[tp]
                found[tp] = Found(here, identity(first.value) if here else None)
                checker.pause(tp)
        for tp, offset in wanted.items():
            if tp not in found:
                if ends.get(tp, 0) > offset:
                    raise ResumeCheckFailed(f"{tp.topic}[{tp.partition}]: the record at "
                                            f"offset {offset} did not arrive in {timeout:.0f} s")
                found[tp] = ABSENT
    return {tp: decide(s, begin=begins.get(tp, 0), end=ends.get(tp, 0), found=found.get(tp))
            for tp, s in stored.items()}


def coordinator_reachable(consumer: Any, bootstrap_servers: str) -> bool:
    """Does the consumer know its group coordinator and hold a connection to it?

    kafka-python (2.x) has no public call for this: `poll()` keeps returning empty batches
    while the coordinator (the broker) is gone. Its coordinator object's `coordinator_unknown()`
    and `connected()` tell. Without them (another version), whether a bootstrap server accepts
    a TCP connection stands in."""
    coordinator = getattr(consumer, "_coordinator", None)
    unknown = getattr(coordinator, "coordinator_unknown", None)
    connected = getattr(coordinator, "connected", None)
    if callable(unknown) and callable(connected):
        try:
            return not unknown() and bool(connected())
        except Exception:  # a private API: fall back below
            log.debug("asking kafka-python about the coordinator failed", exc_info=True)
    return broker_answers(bootstrap_servers)


def take_lost_join(consumer: Any) -> bool:
    """Take the assignment of a join that completed after the poll had given up on it.

    kafka-python (2.x) cuts a join at the poll's timeout and takes the join's result at a
    later poll, but only while it still wants to join. A join the group's leader started
    because the topic's metadata changed (a topic made, partitions added) stops being wanted
    once the leader has computed the assignment: a result arriving after the poll's timeout
    (round trips longer than the poll: a loaded machine) is then never taken, and the member
    keeps its old assignment (none, for a topic made after it joined) for good. A completed
    join that nobody took is taken here: a rejoin is requested, which takes the completed
    join's result at the next poll. Answers whether it found one."""
    coordinator: Any = getattr(consumer, "_coordinator", None)
    try:
        pending = getattr(coordinator, "join_future", None)
        if coordinator is None or pending is None or not pending.is_done \
                or coordinator.need_rejoin():
            return False
        coordinator.request_rejoin()
    except Exception:  # a private API: without it, nothing to take
        log.debug("asking kafka-python about its join failed", exc_info=True)
        return False
    log.warning("kafka: a group join completed after the poll gave up on it; taking its "
                "assignment now")
    return True


class AssignmentDiffers(Exception):
    """The broker handed this member other partitions than the group's leader (this member)
    assigned it: a new consumer joins with a new member id."""


class LeadingAssignor(RangePartitionAssignor):  # type: ignore[misc]
    """Kafka's range assignor (the default), remembering what it assigned each member in the
    last assignment this member computed as the group's leader. One instance per consumer."""

    def __init__(self) -> None:
        self.given: dict[str, set[tuple[str, int]]] | None = None

    def forget(self) -> None:
        """Before a (re)join: the next assignment may be another member's to make."""
        self.given = None

    def assign(self, cluster: Any, group_subscriptions: Any) -> Any:
        assignments = super().assign(cluster, group_subscriptions)
        self.given = {member: {(tp.topic, tp.partition) for tp in assignment.partitions()}
                      for member, assignment in assignments.items()}
        return assignments

    def differs(self, consumer: Any, received: Iterable[Any]) -> AssignmentDiffers | None:
        """When this member led the join that just completed: does what the broker handed it
        differ from what it assigned itself?"""
        coordinator = getattr(consumer, "_coordinator", None)
        member = getattr(getattr(coordinator, "_generation", None), "member_id", None)
        if self.given is None or member is None or member not in self.given:
            return None
        got = {(tp.topic, tp.partition) for tp in received}
        if got == self.given[member]:
            return None
        return AssignmentDiffers(
            f"the broker handed member {member} {_partitions(got)}, not the "
            f"{_partitions(self.given[member])} it assigned itself as the group's leader")


def _partitions(tps: set[tuple[str, int]]) -> str:
    return ", ".join(f"{t}[{p}]" for t, p in sorted(tps)) or "no partitions"
