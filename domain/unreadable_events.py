"""A stored event the code cannot read: a topic no class answers to (renamed or removed), a
state that is not the JSON it was, one its upcaster or its aggregate cannot take.

Events are never changed, so such a record stays; what an auditor needs is which one it is.
`UnreadableEvent` names it — stream id, version (its place in the stream), topic — and the
kind of error met, never anything of its state (it may hold personal data). The application's
mapper raises it for every event it cannot decode (`NamingMapper`), and the replays raise it
for an event whose aggregate or fold cannot apply it (`applying`), and the reads that take an
event's fields as stored (`reading`) for one that lacks a field they read.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import Mapper, StoredEvent
from eventsourcing.utils import get_topic


class UnreadableEvent(Exception):
    """The stored event `version` of stream `stream_id` (`topic`) cannot be decoded, or
    cannot be applied; `error` is the class name of what was raised."""

    def __init__(self, stream_id: Any, version: int, topic: str, error: BaseException, *,
                 applied: bool = False) -> None:
        self.stream_id, self.version, self.topic = stream_id, version, topic
        self.error = type(error).__name__
        self.stage = "applied" if applied else "decoded"
        super().__init__(f"event {version} of stream {stream_id} ({topic}) cannot be "
                         f"{self.stage}: {self.error}")


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
        try:
            return super().to_domain_event(stored_event)
        except Exception as error:
            raise UnreadableEvent(stored_event.originator_id, stored_event.originator_version,
                                  stored_event.topic, error) from error


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
