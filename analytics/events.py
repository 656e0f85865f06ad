"""Events for the analytics loader, read in sets and decoded only as far as a handler looks.

The loader needs a few fields of each event, not domain objects: one query fetches a batch of
the topics it has handlers for (plain tuples, bytea in binary), `orjson.loads` turns each state
into dicts, and an attribute is converted (decimals, instants, UUIDs, the audit) only when a
handler reads it. Events of other topics are never fetched: the position still moves past them.
An event stored with an older `class_version` than its class's (it needs an upcaster) goes
through the application's mapper instead, so it reads the same; one stored with its class's
version reads as stored (the mapper would only drop the number). One newer than this code (a
`class_version` above its class's, or a topic no class here answers to, handled or not: a newer
process wrote it during a rolling upgrade) raises `NewerEvent`: the loader stops just before it
instead of folding it without what it does not know, or moving past an event the newer code
may fold.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import fields
from datetime import datetime
from decimal import Decimal
from operator import itemgetter
from typing import Any, NamedTuple
from uuid import UUID

import orjson
from eventsourcing.utils import resolve_topic
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Identifier

from domain.application import ServiceCore
from domain.common import Audit
from domain.unreadable_events import NewerEvent


def _uuid(hex_: str) -> str:
    return str(UUID(hex=hex_))


_new = object.__new__


def _audit(data: dict[str, Any]) -> Audit:
    """The stored audit as an `Audit`, its fields set directly (a frozen dataclass's __init__
    sets each through object.__setattr__: three times the cost, once per event)."""
    if data.keys() != _AUDIT_FIELDS:  # another shape: the dataclass says what it thinks
        return Audit(**{**data, "at": datetime.fromisoformat(data["at"])})
    audit = _new(Audit)
    vars(audit).update(data, at=datetime.fromisoformat(data["at"]))
    return audit


_AUDIT_FIELDS = {f.name for f in fields(Audit)}


DECODERS: dict[str, Callable[[Any], Any]] = {
    "decimal_str": Decimal, "datetime_iso": datetime.fromisoformat, "uuid_hex": _uuid,
    "audit": _audit,
}


def plain(value: Any) -> Any:
    """A stored value with the transcoder's `{"_type_", "_data_"}` wrappers turned into values
    (UUIDs as their text); an unknown wrapper raises rather than loading something wrong."""
    kind = type(value)
    if kind is dict:
        if "_type_" in value and len(value) == 2 and "_data_" in value:
            return DECODERS[value["_type_"]](value["_data_"])
        return {k: v if type(v) in _SCALARS else plain(v) for k, v in value.items()}
    if kind is list:
        return [v if type(v) in _SCALARS else plain(v) for v in value]
    return value


_SCALARS = frozenset((str, int, bool, float, type(None)))  # stored as they are


def json_ready(value: Any) -> Any:
    """A stored or decoded value as `json.dumps(plain(value), default=str)` writes it, made
    ready for `json.dumps` alone: a stored decimal is its stored text (the transcoder wrote
    `str(Decimal)`, which reads back to the same text), any other value JSON has no type for
    is its `str`."""
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is dict:
        if "_type_" in value and len(value) == 2 and "_data_" in value:
            if value["_type_"] == "decimal_str":
                return value["_data_"]
            return json_ready(plain(value))
        return {k: v if type(v) in _SCALARS else json_ready(v) for k, v in value.items()}
    if kind is list or kind is tuple:
        return [v if type(v) in _SCALARS else json_ready(v) for v in value]
    return str(value)


_PYTHON, _SET_BASED, _SHARED = "python", "set_based", "shared"  # how an event is folded
_NAMES: dict[str, tuple[str, str]] = {}  # topic: qualified name and aggregate
_ABSENT = object()  # no such key
_VERSIONS: dict[str, int | None] = {}  # topic: its class's class_version (None: no class)


def class_version(topic: str) -> int | None:
    """The `class_version` of the topic's event class as this code has it (1 without one;
    None when no class answers to the topic: only the mapper can say what it reads)."""
    if topic not in _VERSIONS:
        try:
            _VERSIONS[topic] = getattr(resolve_topic(topic), "class_version", 1)
        except Exception:  # noqa: BLE001 - a topic this code does not know
            _VERSIONS[topic] = None
    return _VERSIONS[topic]


def as_stored(version: int | None, state: dict[str, Any], topic: str = "?",
              stream: Any = None) -> bool:
    """Whether a decoded state reads as the mapper would read it, once its `class_version`
    (if any) is dropped: stored with its class's `version` (the mapper upcasts older ones;
    a later one is a `NewerEvent` of `topic` and `stream`), or with none (read as stored, as
    before classes had versions). Drops the number."""
    stored = state.get("class_version", _ABSENT)
    if stored is _ABSENT:
        return True
    if version is None or stored < version:  # the mapper would upcast it (or refuse it)
        return False
    if stored > version:
        raise NewerEvent(stream, None, topic, stored, version)
    del state["class_version"]
    return True


class Event:
    """One stored event: its position, stream, topic and lazily decoded attributes."""

    __slots__ = ("_cache", "_state", "aggregate", "notification_id", "originator_id",
                 "qualname", "topic")

    def __init__(self, notification_id: int, originator_id: str, topic: str,
                 state: dict[str, Any]) -> None:
        self.notification_id = notification_id
        self.originator_id = originator_id
        self.topic = topic
        names = _NAMES.get(topic)
        if names is None:  # e.g. WorkOrder.Opened, WorkOrder
            qualname = topic.partition(":")[2]
            names = _NAMES[topic] = (qualname, qualname.partition(".")[0])
        self.qualname, self.aggregate = names
        self._state = state
        self._cache: dict[str, Any] | None = None  # made at the first converted read

    def stored(self, name: str) -> Any:
        """The attribute as stored (wrappers of decimals, instants, … not converted)."""
        try:
            return self._state[name]
        except KeyError:
            raise AttributeError(name) from None

    def __getattr__(self, name: str) -> Any:
        # `get`, not a KeyError caught: most reads are a first read, or of a scalar (not cached)
        cache = self._cache
        if cache is not None:
            value = cache.get(name, _ABSENT)
            if value is not _ABSENT:
                return value
        raw = self._state.get(name, _ABSENT)
        if raw is _ABSENT:
            raise AttributeError(name)
        if type(raw) in _SCALARS:
            return raw
        value = plain(raw)
        if cache is None:
            self._cache = {name: value}
        else:
            cache[name] = value
        return value


class Batch(NamedTuple):
    """One range of the log: decoded events, the stored states of the set-based ones, the
    position reached and how many events of the log the range held."""

    events: list[Event]
    raw: list[tuple[int, str, str, bytes]]  # notification id, stream, Class.Event, state
    reached: int
    covered: int
    joined: bytes = b""  # the states of `raw` joined, in its order (their Arrow text column)


class EventSource:
    """Reads batches of the events whose `Class.Event` names the loader handles.

    Events named in `set_based` are handed back as stored (their JSON is read by DuckDB) when
    every one of them in the batch is plain JSON the mapper would read as it is (no cipher,
    no compressor, no `class_version`); otherwise all of them are decoded like the others.
    """

    def __init__(self, app: ServiceCore, names: Sequence[str],
                 set_based: Collection[str] = (), shared: Collection[str] = ()) -> None:
        self.app = app
        self.names = list(names)
        self.set_based = frozenset(set_based)
        self.shared = frozenset(shared)  # handed back both ways when set_based ones are
        self.roles: dict[str, tuple[str, str]] = {}  # topic: Class.Event and its role, from
        # set_based and shared as they are when the topic is first read
        self.versions: dict[str, int | None] = {}  # Class.Event: its class_version, of the
        # topics above (None: topics of differing versions share the name)
        recorder: Any = app.recorder
        self.recorder = recorder
        self.until: int | None = None  # reads stop there (a verification's load), not at the head
        self.statement: Any = None
        if hasattr(recorder, "datastore"):  # PostgreSQL: one range of the log, the state of
            # events without a handler stays on the server
            self.statement = SQL(
                "SELECT notification_id, originator_id::text, topic, "
                "CASE WHEN split_part(topic, ':', 2) = ANY(%s) THEN state END "
                "FROM {schema}.{table} WHERE notification_id > %s AND notification_id <= %s"
            ).format(schema=Identifier(recorder.datastore.schema),
                     table=Identifier(recorder.events_table_name))

    def head(self) -> int:
        head = int(self.recorder.max_notification_id() or 0)
        return head if self.until is None else min(head, self.until)

    def read(self, after: int, limit: int) -> Batch:
        """The handled events among the next `limit` positions of the log after `after` (up to
        its head as it was before the read; ranges holding no event at all, a gap of ids, are
        passed over), the position reached, and how many events of the log that range held."""
        head = self.head()
        rows: list[tuple[Any, ...]] = []
        reached = after
        while reached < head and not rows:
            start, reached = reached, min(head, reached + limit)
            rows = self._rows(start, reached)
        rows.sort(key=itemgetter(0))
        decoded: list[tuple[Any, ...]] = []  # decoded in Python
        stored: list[tuple[Any, ...]] = []  # set-based (only)
        raw: list[tuple[int, str, str, bytes]] = []  # set-based and shared
        roles, role_of = self.roles, self._role
        for row in rows:  # one pass: six took ~5 ms more a batch of 25,000 positions
            if row[3] is None:
                if class_version(row[2]) is None:  # a class added by newer code
                    raise NewerEvent(row[1], None, row[2])
                continue
            role = roles.get(row[2]) or role_of(row[2])
            if role[1] == _PYTHON:
                decoded.append(row)
                continue
            raw.append((row[0], row[1], role[0], row[3]))
            (decoded if role[1] == _SHARED else stored).append(row)
        if raw:  # the set-based ones are decoded too unless all of them read as stored
            joined = b"".join([r[3] for r in raw])
            if self._as_stored(raw, joined):
                return Batch(self._decoded(decoded), raw, reached, len(rows), joined)
            decoded = sorted(decoded + stored, key=itemgetter(0))
        return Batch(self._decoded(decoded), [], reached, len(rows))

    def _role(self, topic: str) -> tuple[str, str]:
        """A topic's `Class.Event` and whether it is folded in Python, set-based or both."""
        qualname = topic.partition(":")[2]
        role = (_PYTHON if not self.set_based or qualname not in self.set_based | self.shared
                else _SHARED if qualname in self.shared else _SET_BASED)
        self.roles[topic] = (qualname, role)
        version = class_version(topic)
        if self.versions.setdefault(qualname, version) != version:
            self.versions[qualname] = None
        return self.roles[topic]

    def _decoded(self, rows: list[tuple[Any, ...]]) -> list[Event]:
        mapper = self.app.mapper
        if mapper.cipher is not None or mapper.compressor is not None:
            return [self.decode(*row) for row in rows]
        loads, events = orjson.loads, []
        for n, stream, topic, state in rows:  # decode() inlined: one call less per event
            decoded = loads(state)
            events.append(Event(n, stream, topic, decoded)
                          if "class_version" not in decoded
                          or as_stored(class_version(topic), decoded, topic, stream)
                          else self.decode(n, stream, topic, state))
        return events

    def _as_stored(self, raw: list[tuple[int, str, str, bytes]],
                   joined: bytes | None = None) -> bool:
        """Whether these states read as they are stored (no mapper step between): those
        with a `class_version` must have their class's (DuckDB reads past the number).
        `joined`: their states joined, when the caller has them."""
        mapper = self.app.mapper
        if mapper.cipher is not None or mapper.compressor is not None:
            return False
        # searches over the states joined (each is a JSON object: a match cannot straddle
        # two), not one per state: none has a number, or every number is the last key of its
        # state (followed by the next state's "{": an inner object's "}" never is) and at
        # the highest version of the kinds read so, and no state of a kind below it ends with
        # that number (newer code wrote it); else each state with one is decoded
        if joined is None:
            joined = b"".join([r[3] for r in raw])
        numbers = joined.count(b'"class_version"')
        if not numbers:
            return True
        versions = self.versions
        found = [versions[q] for q in self.set_based | self.shared if q in versions]
        highest = max((v for v in found if v is not None), default=1)
        tail = b',"class_version":%d}' % highest
        if None not in found and highest > 1 and numbers == joined.endswith(
                tail) + joined.count(tail + b"{") and not any(
                versions[r[2]] != highest and r[3].endswith(tail) for r in raw):
            return True
        return all(as_stored(versions[qualname], orjson.loads(state), qualname, stream)
                   for _, stream, qualname, state in raw if b'"class_version"' in state)

    def _rows(self, after: int, reached: int) -> list[tuple[Any, ...]]:
        if self.statement is None:  # another recorder (in memory, SQLite): its own reads
            handled = set(self.names)
            return [(n.id, str(n.originator_id), n.topic,
                     n.state if n.topic.partition(":")[2] in handled else None)
                    for n in self.recorder.select_notifications(
                        start=after + 1, limit=reached - after, stop=reached)]
        with self.recorder.datastore.get_connection() as conn, \
                conn.cursor(binary=True, row_factory=tuple_row) as cursor:
            cursor.execute(self.statement, [self.names, after, reached])
            found: list[tuple[Any, ...]] = cursor.fetchall()
            return found

    def decode(self, notification_id: int, originator_id: str, topic: str,
               state: bytes) -> Event:
        mapper = self.app.mapper
        if mapper.cipher is None and mapper.compressor is None:
            decoded = orjson.loads(state)
            if as_stored(class_version(topic), decoded, topic, originator_id):
                return Event(notification_id, originator_id, topic, decoded)
        from eventsourcing.persistence import StoredEvent

        domain_event = mapper.to_domain_event(StoredEvent(
            originator_id=UUID(originator_id), originator_version=0, topic=topic,
            state=bytes(state)))
        return Event(notification_id, originator_id, topic, dict(vars(domain_event)))
