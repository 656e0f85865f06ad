"""Kafka relay: every stored event, in notification order, as an integration event on Kafka.

Position: the row `kafka-relay` in `projection_positions` holds the highest notification id up
to which every event has been acknowledged by the broker (acks=all), contiguously over the ids
the store actually returned — ids that do not exist (gaps) and internal streams, which are not
published, count as acknowledged. Sends are pipelined (linger, batches); acknowledgements move
the position from the oldest pending send onwards.

On any failed send the relay drops its producer, waits (exponential backoff) and starts again
from the stored position: events after it may reach the topics twice, never out of the
per-stream order a consumer needs, and never not at all. Consumers skip stream versions they
have already applied (see `workers.relay_consumer.StreamVersions`).

The producer is idempotent (`enable_idempotence=True`, acks=all, one request in flight). A
broker that refuses idempotent producers (InitProducerId fails: e.g. tansu 0.6 with memory
storage) is detected; with `idempotence="auto"` the relay logs it once and goes on without
(one request in flight keeps the order; the re-send path above still never loses an event).
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from domain.application import ServiceCore
from workers.health import RateMeter, Sample
from workers.integration_events import IntegrationMapper
from workers.projection_runner import CHANNEL

log = logging.getLogger(__name__)
POSITION_NAME = "kafka-relay"


class SendFailed(Exception):
    """A send was not acknowledged: start again from the stored position."""


@dataclass(frozen=True)
class RelayConfig:
    bootstrap_servers: str
    topic_prefix: str = "servicecore."
    partitions: int = 6
    replication_factor: int = 1
    idempotence: str = "auto"  # auto | on | off
    linger_ms: int = 20
    batch_bytes: int = 512 * 1024
    select_limit: int = 1000
    max_unacked: int = 20_000
    delivery_timeout_ms: int = 30_000
    max_backoff_seconds: float = 30.0
    compression_type: str | None = None
    position_name: str = POSITION_NAME


@dataclass
class RelayStats:
    sent: int = 0  # messages handed to the producer (re-sends included)
    acked: int = 0  # messages the broker acknowledged
    retries: int = 0  # restarts from the stored position after a failure
    failures: int = 0  # failed sends / connection attempts
    skipped: int = 0  # internal events, not published
    unknown: int = 0  # events published with an empty payload (no mapping)


@dataclass
class _Pending:
    notification_id: int
    future: Any  # kafka FutureRecordMetadata, or None for an unpublished event


class KafkaRelay:
    def __init__(self, app: ServiceCore, pool: ConnectionPool, config: RelayConfig, *,
                 producer_factory: Callable[..., Any] | None = None) -> None:
        self.app = app
        self.pool = pool
        self.config = config
        self.mapper = IntegrationMapper(app.mapper, config.topic_prefix)
        self.stats = RelayStats()
        self.meter = RateMeter()
        self.idempotent = config.idempotence != "off"
        self.idempotence_refused = False
        self.active = False
        self.stored = 0  # last stored position
        self._producer_factory = producer_factory
        self._producer: Any = None
        self._cursor = 0  # last notification id handed to the producer (or skipped)
        self._pending: deque[_Pending] = deque()
        self._failed = threading.Event()
        self._error: BaseException | None = None

    # -- position ---------------------------------------------------------------------------

    def position(self) -> int:
        with self.pool.connection() as conn:
            row = conn.execute("SELECT position FROM projection_positions WHERE name = %s",
                               (self.config.position_name,)).fetchone()
        return int(row[0]) if row else 0

    def _store(self, position: int) -> None:
        with self.pool.connection() as conn:
            conn.execute(
                """INSERT INTO projection_positions (name, position) VALUES (%s, %s)
                   ON CONFLICT (name) DO UPDATE SET position = EXCLUDED.position,
                       updated_at = now()""",
                (self.config.position_name, position))
        self.stored = position

    # -- broker -----------------------------------------------------------------------------

    def ensure_topics(self) -> None:
        from kafka.admin import KafkaAdminClient, NewTopic
        from kafka.errors import TopicAlreadyExistsError

        admin = KafkaAdminClient(bootstrap_servers=self.config.bootstrap_servers,
                                 client_id="servicecore-relay-admin", request_timeout_ms=10_000)
        try:
            for topic in self.mapper.topics():
                try:
                    admin.create_topics([NewTopic(topic, self.config.partitions,
                                                  self.config.replication_factor)])
                except TopicAlreadyExistsError:
                    pass
        finally:
            admin.close()

    def _new_producer(self) -> Any:
        """acks=all, one request in flight (per-partition order). Idempotent: kafka-python
        retries inside the producer (the broker drops duplicates). Not idempotent: no retries
        inside the producer; the relay's own restart from its stored position is the retry,
        so a broker that lost acknowledged records (a restart) gets them again."""
        c = self.config
        options: dict[str, Any] = {
            "bootstrap_servers": c.bootstrap_servers, "client_id": "servicecore-relay",
            "acks": "all", "enable_idempotence": self.idempotent,
            "max_in_flight_requests_per_connection": 1, "linger_ms": c.linger_ms,
            "batch_size": c.batch_bytes,
            "compression_type": c.compression_type, "delivery_timeout_ms": c.delivery_timeout_ms,
            "request_timeout_ms": max(1000, min(30_000, c.delivery_timeout_ms - c.linger_ms - 1)),
            "max_block_ms": 10_000, "reconnect_backoff_max_ms": 2_000,
        }
        if not self.idempotent:
            options["retries"] = 0
        if self._producer_factory is not None:
            return self._producer_factory(**options)
        from kafka import KafkaProducer

        return KafkaProducer(**options)

    def connect(self) -> None:
        self.ensure_topics()
        self._producer = self._new_producer()

    def close(self, timeout: float = 0.0) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            try:
                producer.close(timeout=timeout)
            except Exception:
                log.debug("closing the producer failed", exc_info=True)

    def _on_error(self, exc: BaseException) -> None:
        self._error = exc
        self._failed.set()

    # -- the loop ---------------------------------------------------------------------------

    def restart_from_stored(self) -> None:
        """Forget what is in flight; the next pump re-sends everything after the position."""
        self.close()
        self._pending.clear()
        self._failed.clear()
        self._error = None
        self.stored = self.position()
        self._cursor = self.stored

    def pump(self) -> int:
        """Select and send the next events; returns how many were selected."""
        if self._producer is None:
            self.connect()
        if len(self._pending) >= self.config.max_unacked:
            self.drain()
        notifications = self.app.recorder.select_notifications(
            start=self._cursor + 1, limit=self.config.select_limit, inclusive_of_start=True)
        producer = self._producer
        for n in notifications:
            message = self.mapper.to_message(n.id, n)
            if message is None:
                self._pending.append(_Pending(n.id, None))
                self.stats.skipped += 1
                continue
            if not message.known:
                self.stats.unknown += 1
            future = producer.send(message.topic, key=message.key, value=message.value,
                                   headers=message.headers)
            future.add_errback(self._on_error)
            self._pending.append(_Pending(n.id, future))
            self.stats.sent += 1
        if notifications:
            self._cursor = notifications[-1].id
        return len(notifications)

    def advance(self) -> int:
        """Move the stored position over the acknowledged head of the pending sends."""
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
                acked += 1
            position = head.notification_id
            self._pending.popleft()
        self.stats.acked += acked
        if position > self.stored:
            self.meter.mark(position - self.stored)
            self._store(position)
        return position

    def drain(self, timeout: float | None = None) -> int:
        """Wait for every send in flight to be acknowledged (or fail); store the position."""
        if self._producer is not None and self._pending:
            self._producer.flush(timeout=timeout or self.config.delivery_timeout_ms / 1000 + 5)
        return self.advance()

    def catch_up(self, until: int | None = None) -> int:
        """Relay to the head (or `until`) and wait for the acks; returns the stored position.

        Raises on the first failure (the caller decides to retry); used by tests and bench.
        """
        if self._producer is None:
            self.restart_from_stored()
        while True:
            try:
                while self.pump():
                    self.advance()
                    if until is not None and self._cursor >= until:
                        break
                return self.drain()
            except Exception:
                if not self._refused_idempotence():
                    raise

    def run(self, stop: threading.Event, conninfo: str) -> None:
        """Until `stop`: standby while another relay holds the lock, then follow the log."""
        with psycopg.connect(conninfo, autocommit=True) as lock_conn:
            while not stop.is_set():
                got = lock_conn.execute("SELECT pg_try_advisory_lock(hashtext(%s))",
                                        ("relay:" + self.config.position_name,)).fetchone()
                if got and got[0]:
                    break
                stop.wait(1.0)
            else:
                return
            self.active = True
            log.info("kafka relay active (%s)", self.config.bootstrap_servers)
            try:
                self._follow(stop, lock_conn)
            finally:
                self.active = False
                self._shutdown()

    def _follow(self, stop: threading.Event, listen_conn: psycopg.Connection[Any]) -> None:
        listen_conn.execute(f"LISTEN {CHANNEL}")
        self.restart_from_stored()
        backoff = 0.5
        while not stop.is_set():
            try:
                if self.pump():
                    self.advance()
                else:
                    self.drain()
                    for _ in listen_conn.notifies(timeout=0.5, stop_after=1):
                        pass
                backoff = 0.5
            except psycopg.Error:
                log.exception("kafka relay: database error; retrying")
                self.restart_from_stored_quietly()
                stop.wait(backoff)
                backoff = min(backoff * 2, self.config.max_backoff_seconds)
            except Exception as exc:  # noqa: BLE001 - any broker trouble: back off, re-send
                self.stats.failures += 1
                self.stats.retries += 1
                if self._refused_idempotence():
                    continue
                log.warning("kafka relay: %s: %s; re-sending from %d in %.1f s",
                            type(exc).__name__, exc, self.stored, backoff)
                self.restart_from_stored_quietly()
                stop.wait(backoff)
                backoff = min(backoff * 2, self.config.max_backoff_seconds)

    def restart_from_stored_quietly(self) -> None:
        try:
            self.restart_from_stored()
        except psycopg.Error:
            log.warning("kafka relay: database unavailable while restarting", exc_info=True)
            self.close()
            self._pending.clear()
            self._failed.clear()
            self._cursor = self.stored

    def _refused_idempotence(self) -> bool:
        """Did the broker refuse an idempotent producer? With "auto", go on without."""
        manager = getattr(self._producer, "_transaction_manager", None)
        if not self.idempotent or manager is None:
            return False
        try:
            refused = bool(manager.has_fatal_error()) and not manager.has_producer_id()
        except Exception:  # noqa: BLE001 - a private API of kafka-python; assume not
            return False
        if not refused:
            return False
        self.idempotence_refused = True
        if self.config.idempotence == "auto":
            log.warning("kafka relay: the broker refused an idempotent producer (InitProducerId "
                        "failed); continuing without idempotence: acks=all, one request in "
                        "flight, consumers skip repeated stream versions")
            self.idempotent = False
            self.restart_from_stored_quietly()
            return True
        log.error("kafka relay: the broker refused an idempotent producer and "
                  "SERVICECORE_KAFKA_IDEMPOTENCE=on; retrying")
        return False

    def _shutdown(self) -> None:
        """On stop: wait briefly for the acks in flight, store the position, close."""
        try:
            if self._producer is not None:
                self.drain(timeout=5.0)
        except Exception:  # noqa: BLE001 - the position simply stays where it is
            log.info("kafka relay: stopped with unacknowledged sends; they will be re-sent")
        self.close(timeout=2.0)

    # -- metrics ----------------------------------------------------------------------------

    def samples(self) -> Iterable[Sample]:
        head = self.app.recorder.max_notification_id() or 0
        w = (("worker", "relay"),)
        s = self.stats
        return [
            Sample("servicecore_worker_events_behind", float(max(0, head - self.stored)), w,
                   help="head notification id minus the worker's stored position"),
            Sample("servicecore_worker_position", float(self.stored), w),
            Sample("servicecore_worker_events_per_second", self.meter.rate(), w,
                   help="events the position moved over, per second (10 s window)"),
            Sample("servicecore_worker_events_processed_total", float(self.meter.total), w,
                   kind="counter"),
            Sample("servicecore_relay_sent_total", float(s.sent), kind="counter",
                   help="messages handed to the producer, re-sends included"),
            Sample("servicecore_relay_acked_total", float(s.acked), kind="counter",
                   help="messages acknowledged by the broker"),
            Sample("servicecore_relay_retries_total", float(s.retries), kind="counter",
                   help="restarts from the stored position after a failure"),
            Sample("servicecore_relay_failures_total", float(s.failures), kind="counter",
                   help="failed sends or broker connections"),
            Sample("servicecore_relay_skipped_total", float(s.skipped), kind="counter",
                   help="internal events not published"),
            Sample("servicecore_relay_unmapped_total", float(s.unknown), kind="counter",
                   help="events without a mapping, published with an empty payload"),
            Sample("servicecore_relay_idempotent", 1.0 if self.idempotent else 0.0),
            Sample("servicecore_relay_active", 1.0 if self.active else 0.0),
        ]

    def details(self) -> dict[str, Any]:
        head = self.app.recorder.max_notification_id() or 0
        return {"active": self.active, "position": self.stored, "head": head,
                "behind": max(0, head - self.stored), "idempotent": self.idempotent,
                "sent": self.stats.sent, "acked": self.stats.acked,
                "retries": self.stats.retries, "failures": self.stats.failures}

