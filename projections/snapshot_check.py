"""Snapshots checked against the events they stand for.

A snapshot is a cache: a cold load starts from the latest one and applies only the events after
it, so a snapshot row that does not equal the replay of its stream's events up to its version
changes what every command decides on that stream (a counter's next number, what a stock item
holds, a cashier's day) while the events, and so the hash chain, stay as they were. The
application's role may insert snapshots; `audit verify` therefore replays each snapshotted
stream and names the first snapshot that differs, or that stands for an event its stream does
not have. A snapshot's seal (domain/snapshot_seal.py) is set aside unchecked: the replay is the
proof, and it needs no key.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.domain import Snapshot
from eventsourcing.persistence import Mapper, StoredEvent

from domain.aggregate_loads import replay
from domain.snapshot_seal import unwrapped
from domain.stamps import KEPT_LATER

# The event store's tables (servicecore/schema.py).
EVENTS_TABLE = "servicecore_events"
SNAPSHOTS_TABLE = "servicecore_snapshots"
FETCH = 1_000  # events of one stream per read
SNAPSHOT_FETCH = 10  # snapshots of one stream per read (each a whole state)
STREAMS_FETCH = 1_000  # snapshotted stream ids per read


@dataclass(frozen=True)
class SnapshotBreak:
    stream_id: UUID
    version: int
    reason: str  # "snapshot differs from its events", "snapshot without its event"


@dataclass(frozen=True)
class SnapshotCheck:
    checked: int
    broken: SnapshotBreak | None
    streams: int = 0  # snapshotted streams replayed
    last_stream: UUID | None = None  # the last of them (a page's next one comes after it)

    @property
    def ok(self) -> bool:
        return self.broken is None

    def as_dict(self) -> dict[str, Any]:
        return {"snapshots_checked": self.checked, "snapshot_break": None if self.broken is None
                else {"stream_id": str(self.broken.stream_id), "version": self.broken.version,
                      "reason": self.broken.reason}}


def _events(conn: psycopg.Connection[Any], stream_id: UUID, last: int) -> Iterator[StoredEvent]:
    after = 0
    while after < last:
        rows = conn.execute(
            f"SELECT originator_version, topic, state FROM {EVENTS_TABLE} "
            "WHERE originator_id = %s AND originator_version > %s AND originator_version <= %s "
            "ORDER BY originator_version LIMIT %s", (stream_id, after, last, FETCH)).fetchall()
        if not rows:
            return
        for version, topic, state in rows:
            yield StoredEvent(stream_id, int(version), topic, bytes(state))
        after = int(rows[-1][0])


def _state(mapper: Mapper[UUID], snapshot: Snapshot) -> tuple[str, Any]:
    """What a snapshot says, as the store would give it back (decoded from its stored bytes)."""
    decoded = mapper.to_domain_event(mapper.to_stored_event(snapshot))
    assert isinstance(decoded, Snapshot)
    return decoded.topic, decoded.state


def _as_kept(replayed: dict[str, Any], stored: dict[str, Any]) -> dict[str, Any]:
    """The replay's state without what a snapshot taken before the aggregate kept it (or from
    an aggregate loaded from such a snapshot) lacks: its events' stamps and an item's
    reservation times (domain/stamps.py); the rest is compared as it is."""
    missing = [key for key in KEPT_LATER if key in replayed and key not in stored]
    if not missing:
        return replayed
    return {key: value for key, value in replayed.items() if key not in missing}


def _snapshots(conn: psycopg.Connection[Any], mapper: Mapper[UUID], stream_id: UUID
               ) -> Iterator[Any]:
    """The stream's snapshots in version order, decoded one at a time as the replay reaches
    them: a stream that lives for years has hundreds, each a whole state (a busy customer's
    every loyalty lot), and only the next one is needed."""
    after = 0
    while True:
        rows = conn.execute(
            f"SELECT originator_version, topic, state FROM {SNAPSHOTS_TABLE} "
            "WHERE originator_id = %s AND originator_version > %s "
            "ORDER BY originator_version LIMIT %s", (stream_id, after, SNAPSHOT_FETCH)
        ).fetchall()
        if not rows:
            return
        for version, topic, state in rows:
            yield mapper.to_domain_event(unwrapped(StoredEvent(
                stream_id, int(version), topic, bytes(state))))
        after = int(rows[-1][0])


def _check_stream(conn: psycopg.Connection[Any], mapper: Mapper[UUID], stream_id: UUID
                  ) -> tuple[int, SnapshotBreak | None]:
    row = conn.execute(f"SELECT max(originator_version) FROM {SNAPSHOTS_TABLE} "
                       "WHERE originator_id = %s", (stream_id,)).fetchone()
    if row is None or row[0] is None:
        return 0, None
    stored = _snapshots(conn, mapper, stream_id)
    snapshot = next(stored, None)
    unmatched: int | None = None  # the first snapshot no event of the stream stands for
    checked = 0
    aggregate: Any = None
    for event in map(mapper.to_domain_event, _events(conn, stream_id, int(row[0]))):
        aggregate = replay(aggregate, [event])
        while snapshot is not None and snapshot.originator_version < event.originator_version:
            unmatched = snapshot.originator_version if unmatched is None else unmatched
            snapshot = next(stored, None)
        if snapshot is None or snapshot.originator_version != event.originator_version:
            continue
        checked += 1
        assert isinstance(snapshot, Snapshot)
        topic, state = _state(mapper, Snapshot.take(aggregate))
        if (topic, _as_kept(state, snapshot.state)) != (snapshot.topic, snapshot.state):
            return checked, SnapshotBreak(stream_id, event.originator_version,
                                          "snapshot differs from its events")
        snapshot = next(stored, None)
    if snapshot is not None and unmatched is None:
        unmatched = snapshot.originator_version
    if unmatched is not None:
        return checked, SnapshotBreak(stream_id, unmatched, "snapshot without its event")
    return checked, None


def snapshotted_streams(conn: psycopg.Connection[Any], after: UUID | None = None,
                        limit: int | None = None) -> list[UUID]:
    """The snapshotted streams in id order, after `after`, at most `limit` of them."""
    return [row[0] for row in conn.execute(
        f"SELECT DISTINCT originator_id FROM {SNAPSHOTS_TABLE} "
        "WHERE %(after)s::uuid IS NULL OR originator_id > %(after)s::uuid "
        "ORDER BY 1 LIMIT %(limit)s", {"after": after, "limit": limit}).fetchall()]


def _streams(conn: psycopg.Connection[Any], after: UUID | None, limit: int | None
             ) -> Iterator[UUID]:
    """`snapshotted_streams`, read STREAMS_FETCH at a time (the whole check reaches every
    customer, technician, counter and stock item that lived long enough)."""
    left = limit
    while left is None or left > 0:
        size = STREAMS_FETCH if left is None else min(left, STREAMS_FETCH)
        page = snapshotted_streams(conn, after, size)
        yield from page
        if len(page) < size:
            return
        after, left = page[-1], None if left is None else left - size


def check_snapshots(conn: psycopg.Connection[Any], mapper: Mapper[UUID],
                    after: UUID | None = None, limit: int | None = None) -> SnapshotCheck:
    """Replay the snapshotted streams (in id order; after `after`, at most `limit` of them)
    and compare each of their snapshots; the first that differs is named by stream and
    version."""
    checked = streams = 0
    stream_id: UUID | None = None
    for stream_id in _streams(conn, after, limit):
        count, broken = _check_stream(conn, mapper, stream_id)
        checked, streams = checked + count, streams + 1
        if broken is not None:
            return SnapshotCheck(checked, broken, streams, stream_id)
    return SnapshotCheck(checked, None, streams, stream_id)
