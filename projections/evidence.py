"""Reading streams straight from the event store with each event's place in the global log.

The audit exports (warranty claim, repair records, 三包 monitor) are built from events alone and
say which events they were built from: stream id, stream version, notification id, type and
hash-chain link, so a reviewer can check every one of them against the log and its chain.

A package as it stood at a moment (`?as_of=`) is read inside `replaying_until(at)`: every
stream `read_streams` answers then stops at its first event stamped after `at` (the business
time of its audit stamp), as every `as_of` replay (projections/audit.py `events_until`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from itertools import takewhile
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic

from domain.application import ServiceCore
from domain.integrity import GENESIS
from domain.unreadable_events import mutated, reading

CHUNK = 500  # streams per query
HASHES_TABLE = "servicecore_event_hashes"  # the hash chain's links (servicecore/schema.py)
_UNTIL: ContextVar[datetime | None] = ContextVar("replaying_until", default=None)


@dataclass(frozen=True)
class Recorded:
    """One stored event, decoded, with where it sits in its stream and in the global log."""

    notification_id: int
    stream_id: UUID
    version: int
    event: Any

    @property
    def type(self) -> str:
        return type(self.event).__qualname__

    @property
    def at(self) -> Any:
        with reading(self.event) as event:
            return event.audit.at


@contextmanager
def one_snapshot(conn: psycopg.Connection[Any]) -> Iterator[psycopg.Connection[Any]]:
    """Read-only and REPEATABLE READ: every stream of a package read at one point of the log."""
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield conn


@contextmanager
def replaying_until(at: datetime | None) -> Iterator[None]:
    """Within it, `read_streams` answers each stream up to its first event stamped after `at`
    (None: every event)."""
    token = _UNTIL.set(at)
    try:
        yield
    finally:
        _UNTIL.reset(token)


def events_table(app: ServiceCore) -> str:
    return str(getattr(app.recorder, "events_table_name", f"{app.name}_events"))


def topics(*classes: type) -> list[str]:
    return [get_topic(cls) for cls in classes]


def read_streams(app: ServiceCore, conn: psycopg.Connection[Any], stream_ids: Iterable[UUID],
                 only: Sequence[str] | None = None) -> dict[UUID, list[Recorded]]:
    """Every event of the streams (or only those of the `only` topics), in stream order.

    One query per CHUNK streams; a stream with no events is absent from the answer. Inside
    `replaying_until(at)` each stream stops at its first event stamped after `at`.
    """
    ids = list(dict.fromkeys(stream_ids))
    found: dict[UUID, list[Recorded]] = {}
    where = " AND topic = ANY(%s)" if only else ""
    sql = (f"SELECT notification_id, originator_id, originator_version, topic, state "
           f"FROM {events_table(app)} WHERE originator_id = ANY(%s){where} "
           f"ORDER BY originator_id, originator_version")
    for start in range(0, len(ids), CHUNK):
        params: list[Any] = [ids[start:start + CHUNK]]
        if only:
            params.append(list(only))
        for notification_id, stream_id, version, topic, state in conn.execute(sql, params):
            event = app.mapper.to_domain_event(StoredEvent(
                originator_id=stream_id, originator_version=version, topic=topic,
                state=bytes(state)))
            found.setdefault(stream_id, []).append(
                Recorded(int(notification_id), stream_id, int(version), event))
    until = _UNTIL.get()
    if until is None:
        return found
    cut = {stream_id: list(takewhile(lambda r: r.at <= until, events))
           for stream_id, events in found.items()}
    return {stream_id: events for stream_id, events in cut.items() if events}


def fill_evidence(conn: psycopg.Connection[Any], used: Iterable[Recorded]) -> list[dict[str, Any]]:
    """The evidence list of a package: each event it was built from, once, in log order.

    This is the one place that says how an event is cited: its place in its stream and in the
    log, and its link in the hash chain with the link before it (hex), so that a reviewer can
    recompute the link from the stored event (`domain.integrity.link`) and follow the chain to
    an anchor kept outside.
    """
    unique = {r.notification_id: r for r in used}
    links = {row[0]: (row[1], row[2]) for row in conn.execute(
        f"""SELECT h.notification_id, encode(h.hash, 'hex'), encode(coalesce((
                SELECT p.hash FROM {HASHES_TABLE} p WHERE p.notification_id < h.notification_id
                ORDER BY p.notification_id DESC LIMIT 1), %s), 'hex')
            FROM {HASHES_TABLE} h WHERE h.notification_id = ANY(%s)""",
        (GENESIS, list(unique)))} if unique else {}
    cited = []
    for n, r in sorted(unique.items()):
        link, previous = links.get(n, (None, None))
        cited.append({"stream_id": str(r.stream_id), "stream_version": r.version,
                      "notification_id": n, "event_type": r.type, "hash": link,
                      "previous_hash": previous})
    return cited


def fold(recorded: Iterable[Recorded]) -> Any | None:
    """The aggregate the events make (None for no events): state from the events alone; an
    event it cannot apply is raised as the UnreadableEvent naming it."""
    aggregate = None
    for r in recorded:
        aggregate = mutated(r.event, aggregate)
    return aggregate


def stamp(r: Recorded) -> dict[str, Any]:
    """Who recorded the event, as what, and when (the business time of its audit stamp)."""
    with reading(r.event) as event:
        audit = event.audit
        return {"by": audit.user_id, "role": audit.role, "at": audit.at.isoformat()}


_TIMESTAMP = re.compile(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?)([+-]\d{2}:\d{2})")


def in_utc(text: str) -> str:
    """A whole timestamp with an offset as the API answers it, in UTC with `Z`
    (api/timestamps.py); any other text (a day, a time of day, free text, no real moment) as
    it is."""
    found = _TIMESTAMP.fullmatch(text)
    if found is None:
        return text
    moment, offset = found.group(1, 2)
    if offset in ("+00:00", "-00:00"):
        return moment + "Z"
    try:
        at = datetime.fromisoformat(moment + offset).astimezone(UTC)
    except (ValueError, OverflowError):
        return text
    return at.replace(tzinfo=None).isoformat() + "Z"


def plain(value: Any) -> Any:
    """JSON-ready: Decimal and UUID as strings (no float rounding), times in ISO 8601."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, Decimal | UUID):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value
