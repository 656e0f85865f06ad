"""The Kafka relay's sends and their acknowledgements (workers/relay.py's `KafkaRelay` mixes in
`RelaySends`): events selected after the cursor and sent, pipelined, each remembered in order
as pending; acknowledgements taken from the oldest pending send onwards move the stored position
and the acknowledged end offsets; sends stuck for `stall_seconds` make the relay ask whether the
broker answers and still holds what it acknowledged.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NoReturn

from domain.application import ServiceCore
from domain.integration_events import IntegrationMapper, Message
from domain.message_size import message_bytes
from domain.unreadable_events import NewerEvent
from workers import relay_broker as broker
from workers.health import RateMeter
from workers.relay_broker import RelayConfig
from workers.relay_metrics import RelayStats
from workers.relay_offsets import AckedOffsets, Lost


class SendFailed(Exception):
    """A send was not acknowledged: start again from the stored position."""


class BrokerLostRecords(SendFailed):
    """The broker no longer holds records it acknowledged: go back and send them again."""


class MessageTooLarge(SendFailed):
    """A stored event whose message is over the relay's limit (stored before the limit was
    checked on save, or with a higher limit): the relay publishes everything before it and
    stops there, never skipping it, until the limit is raised."""


class ProducerDied(SendFailed):
    """The producer's network thread ended under sends the relay waits for: nothing would
    resolve them (nor expire them at the delivery timeout). Drop it and start again from the
    stored position."""


@dataclass(frozen=True)
class Oversized:
    """The event the relay stopped at, for /health and /metrics."""

    notification_id: int
    stream_id: str
    type: str
    size: int
    limit: int

    def as_dict(self) -> dict[str, Any]:
        return {"notification_id": self.notification_id, "stream_id": self.stream_id,
                "type": self.type, "size": self.size, "limit": self.limit}


@dataclass
class Pending:
    """A send in flight, in notification order."""

    notification_id: int
    future: Any  # kafka FutureRecordMetadata, or None for an unpublished event


class RelaySends:
    """Sending and acknowledging (state set in `KafkaRelay.__init__`, which also connects,
    stores the position and asks the broker what it holds)."""

    app: ServiceCore
    config: RelayConfig
    mapper: IntegrationMapper
    stats: RelayStats
    meter: RateMeter
    acked: AckedOffsets
    stored: int
    head: int
    _producer: Any
    _generation: int
    _cursor: int
    _pending: deque[Pending]
    _failed: threading.Event
    _error: BaseException | None
    _progress_at: float
    _checked_at: float
    oversized: Oversized | None

    def connect(self) -> None:
        raise NotImplementedError

    def lost_records(self) -> list[Lost]:
        raise NotImplementedError

    def _store(self, position: int, lost: Iterable[Lost] = ()) -> None:
        raise NotImplementedError

    def pump(self) -> int:
        """Select and send the next events; returns how many were selected."""
        if self._producer is None:
            self.connect()
        if len(self._pending) >= self.config.max_unacked:
            self.drain()
        notifications = self.app.recorder.select_notifications(
            start=self._cursor + 1, limit=self.config.select_limit, inclusive_of_start=True)
        if notifications and not self._pending:
            self._progress_at = time.monotonic()
        producer, generation = self._producer, self._generation
        for n in notifications:
            try:
                message = self.mapper.to_message(n.id, n)
            except NewerEvent:  # never published half-read: the sends before it stored
                self.drain()
                raise
            if message is None:
                self._pending.append(Pending(n.id, None))
                self.stats.skipped += 1
                continue
            if message_bytes(message) > self.config.max_message_bytes:
                self._too_large(n.id, message)
            if not message.known:
                self.stats.unknown += 1
            broker.known_partitions(producer, message.topic)  # a broker that dropped it: fail now
            future = producer.send(message.topic, key=message.key, value=message.value,
                                   headers=message.headers)
            future.add_errback(self._on_error, generation)
            self._pending.append(Pending(n.id, future))
            self.stats.sent += 1
        if notifications:
            self._cursor = notifications[-1].id
            self.head = max(self.head, self._cursor)
        return len(notifications)

    def _too_large(self, notification_id: int, message: Message) -> NoReturn:
        """Stop at a message over the limit, never skipping it: the sends before it are
        acknowledged and the position stored, then MessageTooLarge (the loop backs off and
        comes back to it), which /health and /metrics name."""
        limit = self.config.max_message_bytes
        self.oversized = Oversized(notification_id, message.key.decode(), message.type,
                                   message_bytes(message), limit)
        self.drain()
        raise MessageTooLarge(
            f"notification {notification_id} ({message.type} of stream "
            f"{self.oversized.stream_id}) is a message of {self.oversized.size} bytes, more "
            f"than SERVICECORE_KAFKA_MAX_MESSAGE_BYTES ({limit}): nothing after it is "
            "published until the limit (and the broker's) is raised")

    def advance(self) -> int:
        """Move the stored position over the acknowledged head of the pending sends."""
        if self._producer is not None and not broker.sender_alive(self._producer):
            self.stats.producer_deaths += 1
            raise ProducerDied(f"the producer's network thread ended with {len(self._pending)} "
                               "send(s) unacknowledged")
        if self._failed.is_set():
            raise SendFailed(f"send failed: {self._error!r}")
        position = self.stored
        acked = 0
        while self._pending:
            head = self._pending[0]
            if head.future is not None:
                if not head.future.is_done:
                    break
                if head.future.failed():
                    raise SendFailed(f"send failed: {head.future.exception!r}")
                meta = head.future.value
                where = (meta.topic, meta.partition)
                if not self.acked.record(where, meta.offset, head.notification_id,
                                         broker.batch_offset(head.future, meta.offset)):
                    raise BrokerLostRecords(
                        f"{meta.topic}[{meta.partition}] acknowledged offset {meta.offset}, "
                        f"below a batch acknowledged before (at {self.acked.ends[where] - 1})")
                acked += 1
            position = head.notification_id
            self._pending.popleft()
        self.stats.acked += acked
        if self.oversized is not None and position >= self.oversized.notification_id:
            self.oversized = None  # published after all (a higher limit)
        if position > self.stored:
            self._progress_at = time.monotonic()
            self.meter.mark(position - self.stored)
            self._store(position)
        self._watch()
        return position

    def drain(self, timeout: float | None = None) -> int:
        """Wait for every send in flight to be acknowledged (a failure or a stall raises at
        once, not at the end of the wait); store the position."""
        limit = timeout if timeout is not None else self.config.delivery_timeout_ms / 1000 + 5
        deadline = time.monotonic() + limit
        while True:
            position = self.advance()
            if not self._pending:
                return position
            if time.monotonic() >= deadline:
                raise SendFailed(f"{len(self._pending)} send(s) not acknowledged in {limit:.0f} s")
            self._failed.wait(0.02)

    def _watch(self) -> None:
        """Sends without progress for `stall_seconds`: a dropped connection (the broker does
        not answer) or a broker that lost records fails them now, not at the delivery
        timeout; a broker that is only slow is left alone."""
        now = time.monotonic()
        stall = self.config.stall_seconds
        if (not self._pending or self._producer is None or now - self._progress_at < stall
                or now - self._checked_at < stall):
            return
        self._checked_at = now
        if not broker.broker_answers(self.config.bootstrap_servers):
            raise SendFailed(f"the broker does not answer ({len(self._pending)} send(s) "
                             f"waiting {now - self._progress_at:.1f} s)")
        lost = self.lost_records()
        if lost:
            raise BrokerLostRecords(f"{len(lost)} partition(s) lost acknowledged records")

    def _on_error(self, generation: int, exc: BaseException) -> None:
        if generation == self._generation:
            self._error = exc
            self._failed.set()
