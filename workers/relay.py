"""Kafka relay: every stored event, in notification order, as an integration event on Kafka.

Position: the row `kafka-relay` in `projection_positions` holds the highest notification id up
to which every event has been acknowledged by the broker (acks=all), contiguously over the ids
the store actually returned (gaps and unpublished internal streams count as acknowledged).
Sends are pipelined; acknowledgements move the position from the oldest pending send onwards
(`workers.relay_sends`).

On any failure the relay drops its producer, backs off and re-sends everything after the
stored position: at least once, in per-stream order (consumers skip stream versions they have
applied: `workers.relay_consumer.StreamVersions`). A broker restart is noticed in seconds, not
at the delivery timeout: a connection dropped under a request fails its sends at once, a send to
a topic the broker no longer knows fails before it is queued, sends stuck for `stall_seconds`
make the relay ask whether the broker answers and still holds what it acknowledged, and the
backoff ends as soon as an unreachable broker answers again; a producer whose network thread
ended under its sends is found at the next look at them (`ProducerDied`, counted). The position
never stays past an event the broker lost: on every connection, when stuck and every
`verify_seconds` while idle, each partition's end offset is compared with what was
acknowledged (`workers.relay_offsets`).

The producer is idempotent (acks=all, one request in flight); a broker that refuses idempotent
producers (tansu 0.6) is detected, and with `idempotence="auto"` the relay goes on without.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from domain.application import ServiceCore
from domain.integration_events import IntegrationMapper
from domain.unreadable_events import NewerEvent
from servicecore.deadline import Heartbeat, pooled_waits, watch
from workers import relay_broker as broker
from workers import relay_metrics as metrics
from workers import relay_offsets as offsets
from workers import relay_restored
from workers.advisory_locks import lock_kept, take_lock
from workers.anchor_relay import AnchorPublisher
from workers.health import RateMeter, Sample, Trouble
from workers.projection_runner import CHANNEL
from workers.relay_broker import POSITION_NAME, RelayConfig
from workers.relay_metrics import RelayStats
from workers.relay_offsets import AckedOffsets, Lost
from workers.relay_restored import LogBehindTopics
from workers.relay_sends import (
    BrokerLostRecords,
    MessageTooLarge,
    Oversized,
    Pending,
    ProducerDied,
    RelaySends,
    SendFailed,
)

__all__ = ["POSITION_NAME", "BrokerLostRecords", "KafkaRelay", "LogBehindTopics",
           "MessageTooLarge", "ProducerDied", "RelayConfig", "RelayStats", "SendFailed"]
log = logging.getLogger(__name__)


HEAD_SECONDS = 1.0
ANCHOR_SECONDS = 1.0  # while busy with a backlog, chain anchors are sent at most this often
ANCHOR_BUDGET = 0.2  # seconds of anchors sent at a time while following the log
LOCK_CONNECTION = "kafka relay lock connection"  # in the deadline's and heartbeat's messages


class KafkaRelay(RelaySends):
    def __init__(self, app: ServiceCore, pool: ConnectionPool, config: RelayConfig, *,
                 producer_factory: Callable[..., Any] | None = None) -> None:
        self.app = app
        self.pool = pool
        self.config = config
        self.mapper = IntegrationMapper(app.mapper, config.topic_prefix)
        self.anchors = AnchorPublisher(pool, config)  # the chain's anchors, on their topic
        self._anchors_at = 0.0
        self.stats = RelayStats()
        self.meter = RateMeter()
        self.idempotent = config.idempotence != "off"
        self.idempotence_refused = False
        self.active = False
        self._heartbeat: Heartbeat | None = None  # on the lock connection, while it runs
        self.stored = 0  # last stored position
        self.acked = AckedOffsets()
        self._producer_factory = producer_factory
        self._producer: Any = None
        self._checker: Any = None  # a group-less consumer that asks for end offsets
        self._generation = 0  # of the producer; errbacks of dropped producers are ignored
        self._cursor = 0  # last notification id handed to the producer (or skipped)
        self._pending: deque[Pending] = deque()
        self._failed = threading.Event()
        self._error: BaseException | None = None
        self._progress_at = 0.0  # when the oldest pending send was made or the last ack came
        self._checked_at = 0.0  # when the broker was last asked what it holds
        self.oversized: Oversized | None = None  # the stored event over the limit it stopped at
        self._loaded = False
        self.trouble = Trouble("kafka relay cannot deliver")  # its loop retries, never fails
        self._stuck_at = 0  # the stored position when the trouble began
        # the log's head as the loop last saw it (events it read, a read at most every
        # HEAD_SECONDS): /health and /metrics answer from it, never waiting for the database
        self.head = 0
        self._head_read_at = float("-inf")

    # -- position ---------------------------------------------------------------------------

    def position(self) -> int:
        with self.pool.connection() as conn:
            return offsets.load_position(conn, self.config.position_name)

    def _load(self) -> None:
        """The stored position; on the first start also the end offsets the broker
        acknowledged (afterwards this process knows better: where ids sit, what is unsaved)."""
        if not self._loaded:
            with self.pool.connection() as conn:
                offsets.ensure_acked_table(conn)
                stored = offsets.load_acked(conn, self.config.position_name)
                self.mapper.new_ids_since = offsets.new_ids_since(conn)
            topics = set(self.mapper.topics())
            if others := sorted({t for t, _ in stored} - topics):
                # written under another topic prefix or a route since changed: never checked,
                # the broker need not have them (asking would fail forever: TopicGone)
                log.warning("kafka relay: acknowledged offsets on topics it does not write "
                            "(%s) are not checked", ", ".join(others))
            self.acked.load({tp: end for tp, end in stored.items() if tp[0] in topics})
            self._loaded = True
        self.stored = self.position()
        self.anchors.load()

    def _store(self, position: int, lost: Iterable[Lost] = ()) -> None:
        """The position and the acknowledged end offsets (`offsets.store`)."""
        offsets.store(self.pool, self.config.position_name, self.acked, position, lost)
        self.stored = position

    # -- broker -----------------------------------------------------------------------------

    def ensure_topics(self) -> None:
        broker.ensure_topics(self.config, [*self.mapper.topics(), self.anchors.topic])

    def _new_producer(self) -> Any:
        options = broker.producer_options(self.config, self.idempotent)
        if self._producer_factory is not None:
            producer = self._producer_factory(**options)
        else:
            from kafka import KafkaProducer

            producer = KafkaProducer(**options)
        broker.fail_fast_on_dropped_connections(producer)
        broker.abort_drained_batches_on_close(producer)
        return producer

    def connect(self) -> None:
        """Topics, a producer, and the check that the broker still holds what it acknowledged
        before anything is sent."""
        self.ensure_topics()
        self._generation += 1
        try:
            self._producer = self._new_producer()
            for topic in [*self.mapper.topics(), self.anchors.topic]:  # bounded waits
                self._producer.partitions_for(topic)
            self._checker = broker.new_checker(self.config)
            lost = self.lost_records()
            if lost:
                self._rewind(lost)
            self.refuse_if_restored()
            self.anchors.refuse_if_restored(self._producer, self._checker)
            self.anchors.check(self._producer, self._checker)
        except BaseException:
            self.close()
            raise

    def lost_records(self) -> list[Lost]:
        """The partitions whose end offset on the broker is below what it acknowledged (on a
        connection: after `connect`)."""
        if self._producer is None or self._checker is None:
            raise RuntimeError("the relay is not connected to the broker")
        self._checked_at = time.monotonic()
        if not self.acked.ends:
            return []
        return self.acked.lost(broker.held_offsets(self._producer, self._checker, self.acked.ends))

    def refuse_if_restored(self) -> None:
        """Raise `LogBehindTopics` when the topics hold, past the acknowledged end offsets the
        database holds, an event the log does not (`workers.relay_restored`)."""
        with self.pool.connection() as conn:
            stored = offsets.load_acked(conn, self.config.position_name)
        topics = set(self.mapper.topics())
        acked = {tp: end for tp, end in stored.items() if tp[0] in topics}
        if acked:
            held = broker.held_offsets(self._producer, self._checker, acked)
            relay_restored.check(self.pool, self._checker, acked, held, self.config.topic_prefix)

    def _rewind(self, lost: list[Lost]) -> None:
        back_to = min(self.stored, max(0, self.acked.first_lost_id(lost) - 1))
        for item in lost:
            topic, partition = item.partition
            log.warning("kafka relay: the broker no longer holds records it acknowledged on "
                        "%s[%d]: its end offset is %d, an acknowledged batch starts at %d",
                        topic, partition, item.held_end, item.acked_end - 1)
        log.warning("kafka relay: re-sending from notification id %d (position was %d)",
                    back_to + 1, self.stored)
        self._store(back_to, lost)
        self._cursor = back_to
        self.stats.rewinds += 1

    def close(self, timeout: float = 2.0) -> None:
        """Drop the producer at once (what it still holds fails, to be sent again from the
        position) and the checking consumer."""
        producer, self._producer = self._producer, None
        checker, self._checker = self._checker, None
        self._generation += 1
        if producer is not None:
            broker.close_producer(producer, timeout)
        if checker is not None:
            try:
                checker.close()
            except Exception:
                log.debug("closing the checking consumer failed", exc_info=True)

    # -- the loop ---------------------------------------------------------------------------

    def restart_from_stored(self) -> None:
        """Forget what is in flight; the next pump re-sends everything after the position."""
        self.close()
        self._pending.clear()
        self._failed.clear()
        self._error = None
        self._load()
        self._cursor = self.stored

    def publish_anchors(self, budget: float | None = None) -> int:
        """The chain anchors recorded since the last ones the broker acknowledged, on their
        topic (workers/anchor_relay.py), all of them or as many as `budget` seconds send;
        how many."""
        if self._producer is None:
            self.connect()
        self._anchors_at = time.monotonic()
        return self.anchors.publish(self._producer, budget)

    def see_head(self) -> None:
        """Read the log's head, at most every `HEAD_SECONDS` (for `behind` while busy with a
        backlog, or while the broker is away)."""
        now = time.monotonic()
        if now - self._head_read_at >= HEAD_SECONDS:
            self._head_read_at = now
            self.head = max(self.head, self.app.recorder.max_notification_id() or 0)

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
                position = self.drain()
                self.publish_anchors()
                return position
            except Exception:
                if not self._refused_idempotence():
                    raise

    def run(self, stop: threading.Event, conninfo: str) -> None:
        """Until `stop`: standby while another relay holds the lock, then follow the log."""
        seconds = self.config.deadline_seconds
        with psycopg.connect(conninfo, autocommit=True) as lock_conn:
            self._heartbeat = Heartbeat(lock_conn, seconds, LOCK_CONNECTION)
            if not take_lock(lock_conn, "relay:" + self.config.position_name, stop, seconds,
                             LOCK_CONNECTION):
                return
            self.active = True
            log.info("kafka relay active (%s)", self.config.bootstrap_servers)
            try:
                with pooled_waits(seconds, "kafka relay"):
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
                lock_kept(listen_conn)  # busy, it would not notice the lock gone otherwise
                if self._heartbeat is not None:  # one that stopped forwarding is cut
                    self._heartbeat.beat()
                self.see_head()
                if self.pump():
                    if self.advance() > self._stuck_at:
                        self.trouble.clear()
                    if time.monotonic() - self._anchors_at >= ANCHOR_SECONDS:
                        self.publish_anchors(ANCHOR_BUDGET)
                else:
                    self.drain()
                    idle_check = time.monotonic() - self._checked_at >= self.config.verify_seconds
                    if idle_check and self.lost_records():  # the broker lost records: start again
                        raise BrokerLostRecords("the broker lost acknowledged records")
                    if idle_check:
                        self.anchors.check(self._producer, self._checker)
                    self.publish_anchors(ANCHOR_BUDGET)
                    self.trouble.clear()  # all it sent is acknowledged
                    if not self.anchors.more:  # else back to the log, then more anchors
                        for _ in listen_conn.notifies(timeout=0.5, stop_after=1):
                            pass
                backoff = 0.5
            except psycopg.Error as exc:
                self._troubled(exc)
                if not _alive(listen_conn, self.config.deadline_seconds):
                    raise  # its advisory lock went with it: the supervisor starts `run` again
                log.exception("kafka relay: database error; retrying")
                self.restart_from_stored_quietly()
                stop.wait(backoff)
                backoff = min(backoff * 2, self.config.max_backoff_seconds)
            except NewerEvent as exc:  # stays before it until this process is upgraded
                self._troubled(exc)
                log.error("kafka relay stands at position %d, before an event it cannot "
                          "publish: %s", self.stored, exc)
                self.restart_from_stored_quietly()
                stop.wait(backoff)
                backoff = min(backoff * 2, self.config.max_backoff_seconds)
            except Exception as exc:  # noqa: BLE001 - any broker trouble: back off, re-send
                self.stats.failures += 1
                self.stats.retries += 1
                if self._refused_idempotence():
                    continue
                self._troubled(exc)
                log.warning("kafka relay: %s: %s; re-sending from %d in %.1f s",
                            type(exc).__name__, exc, self.stored, backoff)
                self.restart_from_stored_quietly()
                broker.wait_for_broker(stop, backoff, self.config.bootstrap_servers)
                backoff = min(backoff * 2, self.config.max_backoff_seconds)

    def _troubled(self, exc: BaseException) -> None:
        if self.trouble.since is None:
            self._stuck_at = self.stored
        self.trouble.failed(exc)

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
        if not self.idempotent or not broker.producer_id_refused(self._producer):
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
        self.close()

    # -- metrics ----------------------------------------------------------------------------

    def samples(self) -> Iterable[Sample]:
        """From what the loop keeps (`head` as it last saw it): no read of the database."""
        head = max(self.head, self.stored)
        return [*metrics.samples(self.stats, self.meter, stored=self.stored, head=head,
                                 idempotent=self.idempotent, active=self.active),
                *metrics.size_samples(self.config.max_message_bytes, self.oversized),
                *self.anchors.samples()]

    def details(self) -> dict[str, Any]:
        """For /health, as `samples`: a database that is away shows in the trouble."""
        head = max(self.head, self.stored)
        return {**metrics.details(self.stats, stored=self.stored, head=head,
                                  idempotent=self.idempotent, active=self.active),
                "anchors_position": self.anchors.stored,
                "max_message_bytes": self.config.max_message_bytes,
                "message_too_large": None if self.oversized is None else self.oversized.as_dict(),
                **self.trouble.as_dict()}


def _alive(conn: psycopg.Connection[Any], seconds: float) -> bool:
    """Whether the connection that holds the relay's advisory lock still answers (within
    `seconds`, when given)."""
    if conn.closed or conn.broken:
        return False
    try:
        with watch(conn, seconds, LOCK_CONNECTION):
            conn.execute("SELECT 1")
    except psycopg.Error:
        return False
    return True
