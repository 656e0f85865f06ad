"""Reading the log for projections: the five columns a batch needs, decoded only where asked.

`EventReader.read` selects notification id, stream id, version, topic and state on the
caller's connection (in the batch's own transaction); `decode` turns one row into the domain
event exactly as eventsourcing's mapper does (topic, JSON state with the application's
transcodings, upcasting, the event object), but parses the JSON with orjson and converts the
transcoded values (`{"_type_": ..., "_data_": ...}`) in one walk afterwards. A view that names
the event classes it handles (`ReadModel.handles`) gets only those decoded; the others are
skipped by topic without being parsed at all. A view that reads a few fields of many events
(`ReadModel.stored_events`) gets their JSON as stored, to parse when it folds them
(`EventReader.stored`).

An event newer than this code (a `class_version` above its class's, a topic no class here
answers to: written by a newer process during a rolling upgrade) raises `NewerEvent`: the view
stops just before it (a poison event) rather than fold it without what it does not know.

When the mapper ciphers or compresses the state, or the recorder is not PostgreSQL's, the
library's own reading and decoding are used.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Any, NamedTuple, cast
from uuid import UUID

import orjson
import psycopg
from eventsourcing.persistence import (
    JSONTranscoder,
    Notification,
    Transcoding,
    find_id_convertor,
)
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.utils import resolve_topic
from psycopg.sql import SQL, Identifier

from domain.application import ServiceCore
from domain.unreadable_events import NewerEvent, event_class
from projections.base import StoredEvent, stored_event

Wanted = tuple[type, ...] | None


class Row(NamedTuple):
    id: int
    originator_id: UUID
    originator_version: int
    topic: str
    state: bytes


class _Kind(NamedTuple):
    cls: type
    convert_id: Callable[[Any], Any]
    class_version: int


class EventReader:
    def __init__(self, app: ServiceCore) -> None:
        self.app = app
        recorder = app.recorder
        mapper = app.mapper
        transcoder = mapper.transcoder
        self.sql: psycopg.sql.Composed | None = None
        if isinstance(recorder, PostgresApplicationRecorder):
            self.sql = SQL(
                "SELECT notification_id, originator_id, originator_version, topic, state "
                "FROM {}.{} WHERE notification_id >= %s ORDER BY notification_id LIMIT %s"
            ).format(Identifier(recorder.datastore.schema),
                     Identifier(recorder.events_table_name))
        self.fast = (mapper.cipher is None and mapper.compressor is None
                     and type(transcoder) is JSONTranscoder)
        self.transcodings: dict[str, Transcoding] = (
            transcoder.names if isinstance(transcoder, JSONTranscoder) else {})
        self._kinds: dict[str, _Kind] = {}
        self._wanted: dict[tuple[str, Wanted], bool] = {}

    def read(self, conn: psycopg.Connection[Any], start: int, limit: int) -> list[Row]:
        """Up to `limit` stored events from notification id `start` on, in order."""
        if self.sql is None:
            return [Row(n.id, cast(UUID, n.originator_id), n.originator_version, n.topic, n.state)
                    for n in self.app.recorder.select_notifications(start=start, limit=limit)]
        with conn.cursor(binary=True) as cur:  # bytea and uuid as they are, not as text
            cur.execute(self.sql, (start, limit), prepare=True)
            return [Row(*row) for row in cur.fetchall()]

    def wanted(self, topic: str, handles: Wanted) -> bool:
        """Does a view that handles `handles` (None: everything) need events of `topic`?
        Yes for a topic this code has no class for: decoding it stops the view (NewerEvent)."""
        key = (topic, handles)
        found = self._wanted.get(key)
        if found is None:
            try:
                cls = resolve_topic(topic)
            except Exception:  # noqa: BLE001 - a class added by newer code
                found = True
            else:
                found = handles is None or issubclass(cls, handles)
            self._wanted[key] = found
        return found

    def _kind(self, row: Row) -> _Kind:
        kind = self._kinds.get(row.topic)
        if kind is None:
            cls = event_class(row.topic, row.originator_id, row.originator_version)
            kind = self._kinds[row.topic] = _Kind(
                cls, find_id_convertor(cls, cast(Hashable, type(row.originator_id))),
                getattr(cls, "class_version", 1))
        return kind

    def stored(self, row: Row) -> StoredEvent:
        """The row as a `StoredEvent` (its JSON not even parsed). A state the fast path cannot
        take (ciphered, compressed, of a class with versions to upcast) is decoded and encoded
        again, as the mapper would store it now."""
        kind = self._kind(row)
        state = bytes(row.state)
        if self.fast and kind.class_version == 1 and b'"class_version"' not in state:
            # the mapper writes no class_version then (newer code may have: decoded, refused)
            return StoredEvent(kind.cls, row.originator_id, row.originator_version, state)
        return stored_event(self.decode(row), self.app.mapper.transcoder)

    def decode(self, row: Row) -> Any:
        if not self.fast:
            return self.app.mapper.to_domain_event(Notification(
                id=row.id, originator_id=row.originator_id,
                originator_version=row.originator_version, topic=row.topic,
                state=bytes(row.state)))
        kind = self._kind(row)
        data = bytes(row.state)
        try:
            state = orjson.loads(data)
        except orjson.JSONDecodeError:  # what orjson refuses (NaN, Infinity): the library
            state = self.app.mapper.transcoder.decode(data)
        else:
            # Every transcoded value is a dict with the key "_type_", which appears in the JSON
            # as the bytes "_type_" (inside a string its quotes would be escaped): the walk
            # stops once that many are converted, so plain parts after them are not visited.
            left = data.count(b'"_type_"')
            if left:
                state, _ = self._values(state, left)
        state["originator_id"] = kind.convert_id(row.originator_id)
        state["originator_version"] = row.originator_version
        version = state.pop("class_version", 1)
        if version > kind.class_version:
            raise NewerEvent(row.originator_id, row.originator_version, row.topic, version,
                             kind.class_version)
        while version < kind.class_version:
            getattr(kind.cls, f"upcast_v{version}_v{version + 1}")(state)
            version += 1
        event: Any = object.__new__(kind.cls)
        object.__setattr__(event, "__dict__", state)
        return event

    def _values(self, value: Any, left: int) -> tuple[Any, int]:
        """Transcoded values back to objects, innermost first (as json's object_hook does).

        `left` bounds how many "_type_" keys may still be ahead (one in a plain dict counts
        too): at 0 the rest is left as it is; at 1 a transcoded value's data holds none.
        """
        if type(value) is dict:
            if len(value) == 2 and "_type_" in value and "_data_" in value:
                return self._transcoded(value, left)
            items: Any = value.items()
        elif type(value) is list:
            items = enumerate(value)
        else:
            return value, left
        for key, item in items:
            kind = type(item)
            if kind is dict:
                if len(item) == 2 and "_type_" in item and "_data_" in item:
                    value[key], left = self._transcoded(item, left)
                else:
                    value[key], left = self._values(item, left)
            elif kind is list:
                value[key], left = self._values(item, left)
            else:
                continue
            if not left:
                return value, 0
        if type(value) is dict and "_type_" in value:
            left -= 1
        return value, left

    def _transcoded(self, value: dict[str, Any], left: int) -> tuple[Any, int]:
        data = value["_data_"]
        if left > 1 and (type(data) is dict or type(data) is list):
            data, left = self._values(data, left)
        return self.transcodings[value["_type_"]].decode(data), left - 1


def decode_batch(reader: EventReader, rows: Sequence[Row], handles: Wanted,
                 stored: bool = False) -> list[tuple[int, Any]]:
    """(notification id, event) for the rows a view handles, in log order: domain events, or
    `StoredEvent`s where `stored`."""
    wanted = reader.wanted
    decode = reader.stored if stored else reader.decode
    return [(row.id, decode(row)) for row in rows if wanted(row.topic, handles)]
