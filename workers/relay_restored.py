"""Whether the relay's topics hold events the log no longer does: the database restored from a
backup (or a point-in-time recovery) behind what the relay published.

The relay's position and acknowledged end offsets live in PostgreSQL, so a restore puts them
back with the log, while the broker keeps every record published since the backup. Going on
would publish new events under the notification ids, and the stream versions (so the event
ids), of events the restore took away: a consumer that skips versions it applied would keep
the lost event and drop the new one. So, on every connection, the records past the
acknowledged end offsets the database holds (normally none, or a few sent again after a
failure) are read and looked up in the log by notification id; one whose event the log holds
otherwise, or not at all, stops the relay (`LogBehindTopics`) until the topics are made anew
(README: Restoring the database from a backup).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import orjson
from psycopg_pool import ConnectionPool

from servicecore.schema import EVENTS_TABLE
from workers.relay_offsets import Partition
from workers.relay_sends import SendFailed

log = logging.getLogger("workers.relay")
READ_SECONDS = 10.0  # longest wait for the records past the acknowledged ends

Published = tuple[Partition, int, "Named"]  # where, offset, the event it names


class LogBehindTopics(SendFailed):
    """A topic holds an event the log does not: nothing more is published to the topics."""


class NotInLog(ValueError):
    """A record names an event the log does not hold (the Kafka board stops at it)."""


Named = tuple[int, str, int, str | None]  # notification id, stream, version, recorded at


def named(body: Mapping[str, Any]) -> Named:
    """The event a record's message names: what `first_not_in_log` looks up."""
    recorded = body.get("recorded_at")
    return (int(body["notification_id"]), str(body["stream_id"]), int(body["stream_version"]),
            None if recorded is None else str(recorded))


def first_not_in_log(conn: Any, events: Iterable[Named]) -> tuple[Named, str] | None:
    """Of the events records name, the first (by notification id) the log does not hold at
    that notification id (another stream or version there, or the same one recorded at
    another time: a new command given the lost event's id and version), and what the log
    holds there instead; None when the log holds them all."""
    wanted = sorted(set(events), key=lambda e: e[0])
    if not wanted:
        return None
    rows = conn.execute(
        f"SELECT notification_id, originator_id::text, originator_version, state "
        f"FROM {EVENTS_TABLE} WHERE notification_id = ANY(%s)",
        ([e[0] for e in wanted],)).fetchall()
    log_holds = {int(n): (str(s), int(v), _recorded_at(state)) for n, s, v, state in rows}
    for event in wanted:
        there = log_holds.get(event[0])
        if there is None:
            return event, "holds no event there"
        if there[:2] != event[1:3]:
            return event, f"holds {there[0]} v{there[1]} there"
        if None not in (there[2], event[3]) and there[2] != event[3]:
            return event, f"holds the {there[0]} v{there[1]} recorded at {there[2]} there"
    return None


def _recorded_at(state: bytes) -> str | None:
    """The stored event's timestamp as its message carries it (None: a state that is not
    plain JSON, ciphered or compressed: the stream and version are compared alone)."""
    try:
        found = orjson.loads(bytes(state))["timestamp"]["_data_"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return None
    return found if isinstance(found, str) else None


def not_in_log(event: Named, instead: str) -> NotInLog:
    notification_id, stream, version, _ = event
    return NotInLog(f"notification {notification_id} ({stream} v{version}) is not in the log, "
                    f"which {instead}: the database was restored from a backup (or the log cut) "
                    "behind what the relay published (README: Restoring the database from a "
                    "backup)")


def check(pool: ConnectionPool, checker: Any, acked: Mapping[Partition, int],
          held: Mapping[Partition, int], prefix: str) -> None:
    """Raise `LogBehindTopics` when a record past `acked` (the end offsets the database
    holds), up to `held` (the broker's), names an event the log does not hold."""
    for found in past_acked(checker, acked, held, _event):
        with pool.connection() as conn:
            stray = first_not_in_log(conn, (f[2] for f in found))
        if stray is not None:
            notification_id, stream, version, _ = stray[0]
            (topic, partition), offset = next(f[:2] for f in found if f[2] == stray[0])
            refused = LogBehindTopics(
                f"{topic}[{partition}] holds at offset {offset} notification {notification_id} "
                f"({stream} v{version}), past what the database recorded as acknowledged, and "
                f"the log {stray[1]}: the database was restored from a backup (or the log cut) "
                "behind what the relay published. Nothing more is published: consumers would "
                "take new events for repeats of the lost ones under the same stream versions. "
                f"Delete the relay's topics ({prefix}*) so that it publishes the log again "
                "from event 0, and have their consumers read them again from the beginning "
                "(README: Restoring the database from a backup)")
            log.error("kafka relay: %s", refused)
            raise refused


def past_acked(checker: Any, starts: Mapping[Partition, int], held: Mapping[Partition, int],
               parse: Callable[[bytes | None], Any]) -> Any:
    """The records past the acknowledged ends `starts`, up to `held`, as `parse` reads them
    (the anchors topic's: workers/anchor_relay.py), a poll at a time."""
    return _batches(checker, {p: end for p, end in starts.items() if held.get(p, 0) > end},
                    held, parse)


def _batches(checker: Any, starts: Mapping[Partition, int],
             held: Mapping[Partition, int], parse: Callable[[bytes | None], Any]) -> Any:
    """The records from each partition's start to its held end, a poll at a time, each as
    `parse` reads its value; a record it cannot read (None) is passed over."""
    from kafka import TopicPartition

    wanted = {TopicPartition(t, p): (start, held[(t, p)]) for (t, p), start in starts.items()}
    checker.assign(list(wanted))
    for tp, (start, _) in wanted.items():
        checker.seek(tp, start)
    done: set[Any] = set()
    deadline = time.monotonic() + READ_SECONDS
    try:
        while len(done) < len(wanted) and time.monotonic() < deadline:
            found: list[Published] = []
            for tp, records in checker.poll(timeout_ms=200).items():
                for record in records:
                    read = parse(record.value)
                    if read is not None:
                        found.append(((tp.topic, tp.partition), record.offset, read))
                    if record.offset >= wanted[tp][1] - 1:
                        done.add(tp)
                        checker.pause(tp)
            if found:
                yield found
    finally:
        checker.assign([])


def _event(value: bytes | None) -> Named | None:
    try:
        return named(json.loads(value or b""))
    except (ValueError, TypeError, KeyError, AttributeError):
        return None
