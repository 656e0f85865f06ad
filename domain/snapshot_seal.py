"""Snapshots sealed by the application, so that a forged one is never loaded.

A cold load starts from a stream's latest snapshot, and the application's role may insert
snapshots: a row written behind the application's back (a counter's `last` lowered, an item's
lots changed) would change what commands decide while the events and their chain stay as they
were. Each snapshot the application stores is therefore sealed: its stored bytes are
`MARK ‖ tag ‖ state`, where the tag is HMAC-SHA256, under a key the database does not hold,
over the stream id, version, topic and state. At load a snapshot whose tag does not check out
(or that has none: a forged row, or one stored before seals) is refused: the stream replays
from its events instead, and the refusal is logged and counted. So is a snapshot taken by newer
code than the process loading it (during a rolling upgrade): its events still read.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections import Counter
from collections.abc import Iterator
from typing import Any
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import EventStore, Mapper, StoredEvent
from eventsourcing.utils import resolve_topic

from domain.integrity import message

log = logging.getLogger(__name__)
MARK = b"\x00seal1"  # a state never starts with a NUL byte (JSON, or eventsourcing's compressed)
TAG_BYTES = 32
KEY_LABEL = b"servicecore snapshot seal"
UNSEALED, SEAL_DIFFERS = "unsealed", "seal differs"
NEWER = "taken by newer code"


class SnapshotRefused(Exception):
    """A stored snapshot the application did not seal, or whose seal does not match."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def seal_key(server_secret: str) -> bytes:
    """The key for this purpose only, derived from the server's secret (never stored)."""
    return hmac.new(server_secret.encode(), KEY_LABEL, hashlib.sha256).digest()


def _tag(key: bytes, stored: StoredEvent, state: bytes) -> bytes:
    return hmac.new(key, message(0, UUID(str(stored.originator_id)),
                                 stored.originator_version, stored.topic, state),
                    hashlib.sha256).digest()


def sealed(key: bytes, stored: StoredEvent) -> StoredEvent:
    return StoredEvent(stored.originator_id, stored.originator_version, stored.topic,
                       MARK + _tag(key, stored, stored.state) + stored.state)


def opened(key: bytes, stored: StoredEvent) -> StoredEvent:
    """The snapshot as it was before sealing; SnapshotRefused when it does not check out."""
    state = bytes(stored.state)
    if not state.startswith(MARK):
        raise SnapshotRefused(UNSEALED)
    tag, inner = state[len(MARK):len(MARK) + TAG_BYTES], state[len(MARK) + TAG_BYTES:]
    if not hmac.compare_digest(tag, _tag(key, stored, inner)):
        raise SnapshotRefused(SEAL_DIFFERS)
    return StoredEvent(stored.originator_id, stored.originator_version, stored.topic, inner)


def unwrapped(stored: StoredEvent) -> StoredEvent:
    """The snapshot's own bytes, seal or not, unchecked: what `audit verify` compares with the
    replay of its events (which needs no key)."""
    state = bytes(stored.state)
    if state.startswith(MARK):
        state = state[len(MARK) + TAG_BYTES:]
    return StoredEvent(stored.originator_id, stored.originator_version, stored.topic, state)


class SealingMapper(Mapper[UUID]):
    """The application's mapper, sealing what it stores and opening what it loads."""

    def __init__(self, inner: Mapper[UUID], key: bytes) -> None:
        super().__init__(inner.transcoder, compressor=inner.compressor, cipher=inner.cipher)
        self._key = key

    def to_stored_event(self, domain_event: DomainEventProtocol[Any]) -> StoredEvent:
        return sealed(self._key, super().to_stored_event(domain_event))

    def to_domain_event(self, stored_event: StoredEvent) -> DomainEventProtocol[Any]:
        snapshot = super().to_domain_event(opened(self._key, stored_event))
        if newer_snapshot(snapshot):
            raise SnapshotRefused(NEWER)
        return snapshot


def newer_snapshot(snapshot: Any) -> bool:
    """Whether a snapshot was taken by newer code than this (its aggregate's `class_version`
    above the class's here, or a class this code does not have): read by this code it would
    lose what it does not know, so the stream replays from its events instead."""
    try:
        cls = resolve_topic(snapshot.topic)
    except Exception:  # noqa: BLE001 - a class added since
        return True
    stored = snapshot.state.get("class_version", 1)
    return type(stored) is int and stored > getattr(cls, "class_version", 1)


class SealedSnapshots(EventStore[UUID]):
    """The snapshot store: sealed on the way in; a snapshot refused on the way out is passed
    over (the load replays the events instead), logged and counted in `refused`."""

    def __init__(self, mapper: Mapper[UUID], recorder: Any, key: bytes) -> None:
        super().__init__(SealingMapper(mapper, key), recorder)
        self.refused: Counter[str] = Counter()

    def decoded(self, stored: StoredEvent) -> DomainEventProtocol[Any] | None:
        """The snapshot, or None (logged, counted) when it is refused."""
        try:
            return self.mapper.to_domain_event(stored)
        except SnapshotRefused as refusal:
            self.refused[refusal.reason] += 1
            log.warning("snapshot of stream %s at version %d refused (%s): the stream replays "
                        "from its events", stored.originator_id, stored.originator_version,
                        refusal.reason)
            return None

    def get(self, originator_id: UUID, *, gt: int | None = None, lte: int | None = None,
            desc: bool = False, limit: int | None = None,
            ) -> Iterator[DomainEventProtocol[UUID]]:
        for stored in self.recorder.select_events(originator_id=originator_id, gt=gt, lte=lte,
                                                  desc=desc, limit=limit):
            snapshot = self.decoded(stored)
            if snapshot is not None:
                yield snapshot
