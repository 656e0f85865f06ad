"""A stored event the code cannot read: a topic no class answers to (renamed or removed), a
state that is not the JSON it was, one its upcaster or its aggregate cannot take.

Events are never changed, so such a record stays; what an auditor needs is which one it is.
`UnreadableEvent` names it — stream id, version (its place in the stream), topic — and the
kind of error met, never anything of its state (it may hold personal data). The application's
mapper raises it for every event it cannot decode (`NamingMapper`), and the replays raise it
for an event whose aggregate or fold cannot apply it (`applying`), and the reads that take an
event's fields as stored (`reading`) for one that lacks a field they read.

During a rolling upgrade an older process runs beside a newer one that already stores new
event versions and new event classes. `NewerEvent` is the stored event this code is older
than: a `class_version` above its class's here, or a topic no class here answers to (classes
are never removed: DESIGN, rules of the event store). Read as this code knows it, such an event
would lose what it does not know, so every reader refuses it instead: a command answers 503
(retryable) and stores nothing, a view or the analytics loader stops just before it.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from contextlib import contextmanager
from typing import Any, cast
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import (
    Mapper,
    MapperDeserialisationError,
    StoredEvent,
    find_id_convertor,
)
from eventsourcing.utils import get_topic, resolve_topic

UPGRADE = "this process runs older code than the event's writer: upgrade it"


class UnreadableEvent(Exception):
    """The stored event `version` of stream `stream_id` (`topic`) cannot be decoded, or
    cannot be applied; `error` is the class name of what was raised."""

    def __init__(self, stream_id: Any, version: int, topic: str, error: BaseException, *,
                 applied: bool = False) -> None:
        self.stream_id, self.topic = stream_id, topic
        self.version: int | None = version  # None: a NewerEvent read without its place
        self.error = type(error).__name__
        self.stage = "applied" if applied else "decoded"
        super().__init__(f"event {version} of stream {stream_id} ({topic}) cannot be "
                         f"{self.stage}: {self.error}")


class NewerEvent(UnreadableEvent):
    """The stored event `version` of stream `stream_id` (`topic`) was written by newer code:
    its `class_version` (`stored`) is above `known`, its class's here, or no class here
    answers to its topic (`known` None)."""

    def __init__(self, stream_id: Any, version: int | None, topic: str,
                 stored: int | None = None, known: int | None = None) -> None:
        self.stream_id, self.version, self.topic = stream_id, version, topic
        self.stored, self.known = stored, known
        self.error, self.stage = type(self).__name__, "decoded"
        what = (f"class_version {stored}, this code reads up to {known}" if known is not None
                else "a class this code does not have")
        event = f"event {version} of stream" if version is not None else "an event of stream"
        Exception.__init__(self, f"{event} {stream_id} ({topic}) is newer than this code "
                           f"({what}): {UPGRADE}")


def event_class(topic: str, stream_id: Any = None, version: int = 0) -> type:
    """The class of the events of `topic`; NewerEvent when this code has none."""
    try:
        return resolve_topic(topic)  # type: ignore[no-any-return]
    except Exception as error:
        raise NewerEvent(stream_id, version, topic) from error


def not_newer(cls: type, state: dict[str, Any], topic: str, stream_id: Any = None,
              version: int = 0) -> None:
    """Refuses a decoded `state` whose `class_version` is above `cls`'s (NewerEvent)."""
    stored = state.get("class_version", 1)
    known = getattr(cls, "class_version", 1)
    if type(stored) is int and stored > known:
        raise NewerEvent(stream_id, version, topic, stored, known)


def applying(event: Any, error: BaseException) -> UnreadableEvent:
    """`error`, raised applying `event` (a domain event), as the UnreadableEvent naming it
    (an UnreadableEvent already, as it is)."""
    if isinstance(error, UnreadableEvent):
        return error
    return UnreadableEvent(getattr(event, "originator_id", None),
                           getattr(event, "originator_version", 0),
                           get_topic(type(event)), error, applied=True)


class NamingMapper(Mapper[UUID]):
    """eventsourcing's mapper; a stored event it cannot decode is an `UnreadableEvent`."""

    def to_domain_event(self, stored_event: StoredEvent) -> DomainEventProtocol[UUID]:
        """As eventsourcing's mapper decodes it, but a stored event newer than this code (its
        class unknown here, its `class_version` above its class's) is a NewerEvent."""
        topic = stored_event.topic
        stream_id, version = stored_event.originator_id, stored_event.originator_version
        cls = event_class(topic, stream_id, version)
        try:
            state = self.decode_state(stored_event.state)
        except Exception as error:
            failed = MapperDeserialisationError(f"state of event {version} of stream "
                                                f"{stream_id} ({topic}): {error}")
            raise UnreadableEvent(stream_id, version, topic, failed) from error
        not_newer(cls, state, topic, stream_id, version)
        try:
            state["originator_id"] = find_id_convertor(
                cls, cast(Hashable, type(stream_id)))(stream_id)
            state["originator_version"] = version
            from_version = state.pop("class_version", 1)
            while from_version < getattr(cls, "class_version", 1):
                getattr(cls, f"upcast_v{from_version}_v{from_version + 1}")(state)
                from_version += 1
        except Exception as error:
            raise UnreadableEvent(stream_id, version, topic, error) from error
        event: DomainEventProtocol[UUID] = object.__new__(cls)
        object.__setattr__(event, "__dict__", state)
        return event

    def decode_state(self, stored: bytes) -> dict[str, Any]:
        """The stored state as the mapper decodes it (deciphered, decompressed, transcoded)."""
        if self.cipher:
            stored = self.cipher.decrypt(stored)
        if self.compressor:
            stored = self.compressor.decompress(stored)
        state: dict[str, Any] = self.transcoder.decode(stored)
        return state


def mutated(event: Any, aggregate: Any) -> Any:
    """`event.mutate(aggregate)`; an event the aggregate cannot apply raised as the
    UnreadableEvent naming it."""
    try:
        return event.mutate(aggregate)
    except Exception as error:
        raise applying(event, error) from error


@contextmanager
def reading(event: Any) -> Iterator[Any]:
    """Reads of `event`'s fields as stored, not through an aggregate (a package's dates,
    punches, lots, amounts): a field it lacks (an older shape, a hand-edited row), or one
    not of its type, raised as the UnreadableEvent naming it. Keep the block to that one
    event's reads: whatever it raises is charged to the event."""
    try:
        yield event
    except Exception as error:
        raise applying(event, error) from error
