"""A single-stream read model fed from Kafka instead of the event log: the work-order board.

The relay publishes every work-order event on the work-orders topic, keyed by work-order id, so
all of one work order's events are on one partition, in stream order. Single-stream read models
therefore scale out over partitions: consumers in one consumer group share the partitions, each
maintains the rows of the streams on its partitions.

Exactly-once effect without Kafka's committed offsets (`enable_auto_commit=False`, nothing is
committed to the broker): each poll batch is applied in ONE PostgreSQL transaction that also
upserts, for every partition in the batch, the next offset and the event (stream id, version)
of the last record applied (`kafka_offsets`). On assignment (a `ConsumerRebalanceListener`) the
consumer seeks to the stored offsets (or to the beginning). Rows and offsets commit together,
so a restart or a partition moving to another member resumes exactly after the last applied
batch.

A batch that fails for its records (not the database) is applied again apart: each partition
in a transaction of its own, and a partition that still fails record by record, so everything
before the record that fails alone is applied and its partition stops there (`PoisonRecord`,
reported as the loop's trouble, retried with backoff); the other partitions go on.

A broker that came back with another log (restarted empty, a re-created topic) starts its
offsets again at 0: before it seeks, the member asks the broker whether the record before each
stored offset is still the event stored with it, and reads a partition whose log was replaced
from its beginning (`workers.kafka_resume`; logged, `replaced` in the metrics).

Each wait on PostgreSQL (a batch, the stored offsets) is bounded by
SERVICECORE_DB_WAIT_DEADLINE_SECONDS (`deadline_seconds`, servicecore/deadline.py): a connection
that stopped forwarding is cut, the batch fails as with a lost database (its partitions back at
their stored offsets), the pool opens new connections and the loop goes on after its backoff.

A broker that is gone does not make `poll()` fail: it returns empty batches for ever. While the
consumer has no connected group coordinator nothing is applied (records polled meanwhile are
put back); after `unreachable_seconds` of that the loop reports trouble (`/health` 503), which
clears at the first poll with the coordinator back. Then the assigned partitions are checked as
on an assignment. A member handed other partitions than it assigned itself as the group's
leader (tansu: none, for a member that joins again after its topic was made) starts a new
consumer (`workers.kafka_resume.LeadingAssignor`; `reassigned` in the metrics). A join that
completed after the poll gave up on it is taken at the next poll (`take_lost_join`; kafka-python
would otherwise keep the old assignment for good; `lost_joins`).

Repeats are harmless anyway: a row keeps the stream version it reflects; an event with
version <= stored is a repeat (the relay re-sends after a failure, an offset was reset, a
partition moved while a batch was in flight) and is skipped; version > stored + 1 is an early
arrival whose predecessors are being re-sent, skipped with a log (it comes again after them,
see `workers.relay_consumer`).

A record whose event the log does not hold at its notification id (the database restored
from a backup behind the topic: a lost event, or another one under its id and version) is
never applied: the batch looks its events up in the log, and such a record stops its partition
as a `PoisonRecord` (`workers.relay_restored`).

The board's table and the transaction of a poll batch: `workers.kafka_board`; the coordinator
watch, the lag and the metrics: `workers.kafka_health`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from domain.message_size import MAX_MESSAGE_BYTES
from servicecore.deadline import pooled_waits
from workers.health import RateMeter, Trouble
from workers.kafka_board import BoardRows
from workers.kafka_health import KafkaHealth, KafkaProjectionStats
from workers.kafka_resume import (
    LeadingAssignor,
    Stored,
    inspect,
    take_lost_join,
)
from workers.lock_waits import lock_holders, waited
from workers.relay_broker import fetch_options
from workers.supervisor import database_away, describe

log = logging.getLogger(__name__)

DEFAULT_GROUP = "servicecore-kafka-projection"
BOARD_TABLE = "kafka_work_order_board"
OFFSETS_TABLE = "kafka_offsets"


@dataclass(frozen=True)
class KafkaProjectionConfig:
    bootstrap_servers: str
    topic: str  # the relay's work-orders topic, e.g. "servicecore.work-orders"
    group_id: str = DEFAULT_GROUP
    board_table: str = BOARD_TABLE
    offsets_table: str = OFFSETS_TABLE
    session_timeout_ms: int = 10_000
    heartbeat_interval_ms: int = 3_000
    max_poll_records: int = 500
    poll_timeout_ms: int = 500
    max_backoff_seconds: float = 30.0
    client_id: str = "servicecore-kafka-projection"
    unreachable_seconds: float = 20.0  # without a group coordinator this long: trouble
    resume_check_seconds: float = 3.0  # longest wait for the record before a stored offset
    metadata_max_age_ms: int = 5_000  # a topic re-created by the relay is found this soon
    max_message_bytes: int = MAX_MESSAGE_BYTES  # the relay's largest message: fetched whole
    # a wait on PostgreSQL longer than this has its connection cut (servicecore/deadline.py)
    deadline_seconds: float = 0.0


class PoisonRecord(Exception):
    """A record the board cannot apply (not JSON, not an event of the board's shape): its
    partition applied every record before it and stops there; the other partitions go on."""

    def __init__(self, topic: str, partition: int, offset: int, error: BaseException) -> None:
        self.topic, self.partition, self.offset, self.error = topic, partition, offset, error
        super().__init__(f"{topic}[{partition}] stops at offset {offset}: "
                         f"{type(error).__name__}: {error}")


class KafkaProjection(BoardRows, KafkaHealth):
    def __init__(self, pool: ConnectionPool, config: KafkaProjectionConfig, *,
                 consumer_factory: Callable[..., Any] | None = None) -> None:
        self.pool = pool
        self.config = config
        self.stats = KafkaProjectionStats()
        self.meter = RateMeter()
        self.assigned: set[tuple[str, int]] = set()  # (topic, partition) held now
        self.ever_assigned: set[tuple[str, int]] = set()
        self.active = False
        self.lag = 0
        self.trouble = Trouble("kafka projection cannot apply")  # its loop retries, never fails
        self._consumer_factory = consumer_factory
        self._consumer: Any = None
        self._tables_ready = False
        self._lost_at: float | None = None  # monotonic: since when no coordinator is connected
        self._lost_since: float | None = None  # the same as time.time(), for /health
        self._unchecked = False  # the coordinator was lost since the partitions were checked
        self._check_failed: BaseException | None = None  # in the rebalance listener
        self._assignor = LeadingAssignor()
        # since when (monotonic) it has had records to apply and applied none (None: it has
        # none, or it applies them): `stalled_seconds`, workers/kafka_health.py
        self.behind_since: float | None = None

    # -- Kafka ------------------------------------------------------------------------------

    def _new_consumer(self) -> Any:
        c = self.config
        options: dict[str, Any] = {
            "bootstrap_servers": c.bootstrap_servers, "client_id": c.client_id,
            "group_id": c.group_id, "enable_auto_commit": False,
            "auto_offset_reset": "earliest", "session_timeout_ms": c.session_timeout_ms,
            "heartbeat_interval_ms": c.heartbeat_interval_ms,
            "max_poll_records": c.max_poll_records, "request_timeout_ms": 30_000,
            "reconnect_backoff_max_ms": 2_000, "metadata_max_age_ms": c.metadata_max_age_ms,
            # the relay creates its topics with its partition count, never the broker's default
            "allow_auto_create_topics": False,
            "partition_assignment_strategy": (self._assignor,),
        }
        return self._make_consumer(options)

    def _new_checker(self) -> Any:
        """A consumer without a group that only reads what is at given offsets."""
        c = self.config
        return self._make_consumer({
            "bootstrap_servers": c.bootstrap_servers, "client_id": f"{c.client_id}-check",
            "group_id": None, "enable_auto_commit": False, "auto_offset_reset": "none",
            "allow_auto_create_topics": False, "request_timeout_ms": 10_000,
            "fetch_max_wait_ms": 100, "reconnect_backoff_max_ms": 1_000})

    def _make_consumer(self, options: dict[str, Any]) -> Any:
        options = {**options, **fetch_options(self.config.max_message_bytes)}
        if self._consumer_factory is not None:
            return self._consumer_factory(**options)
        from kafka import KafkaConsumer

        return KafkaConsumer(**options)

    def connect(self) -> None:
        from kafka import ConsumerRebalanceListener

        projection = self

        class Listener(ConsumerRebalanceListener):  # type: ignore[misc]
            def on_partitions_revoked(self, revoked: Any) -> None:
                # every batch is committed (with its offsets) before the next poll: nothing to do
                projection._assignor.forget()
                for tp in revoked:
                    projection.assigned.discard((tp.topic, tp.partition))

            def on_partitions_assigned(self, assigned: Any) -> None:
                projection.stats.rebalances += 1
                differs = projection._assignor.differs(projection._consumer, assigned)
                if differs is not None:
                    projection.stats.reassigned += 1
                    projection._check_failed = differs  # poll_once raises it: a new consumer
                    return
                try:
                    projection.seek_stored(assigned)
                except Exception as exc:  # noqa: BLE001 - kafka-python would only log it
                    projection._check_failed = exc  # poll_once raises it: a new consumer

        self.ensure_tables()
        self._assignor.forget()
        self._consumer = self._new_consumer()
        self._consumer.subscribe(topics=[self.config.topic], listener=Listener())

    def seek_stored(self, partitions: Iterable[Any], check: bool = True) -> None:
        """Position each partition at its stored next offset, or at the beginning: when
        nothing is stored, or (`check`) the broker's log is not the one the offset was stored
        for."""
        tps = list(partitions)
        stored = self.stored((tp.topic, tp.partition) for tp in tps)
        by_tp = {tp: stored[(tp.topic, tp.partition)] for tp in tps
                 if (tp.topic, tp.partition) in stored}
        decisions = self._inspect(by_tp) if by_tp and check else {}
        fresh = []
        for tp in tps:
            key = (tp.topic, tp.partition)
            self.assigned.add(key)
            self.ever_assigned.add(key)
            decision = decisions.get(tp)
            if decision is not None and decision.replaced:
                self.stats.replaced += 1
                log.warning("kafka projection %s: the broker's log of %s[%d] is not the one "
                            "its stored offset %d belongs to (%s); reading it again from the "
                            "beginning", self.config.group_id, tp.topic, tp.partition,
                            by_tp[tp].next_offset, decision.reason)
                fresh.append(tp)
            elif tp in by_tp:
                self._consumer.seek(tp, by_tp[tp].next_offset)
            else:
                fresh.append(tp)
        if fresh:
            self._consumer.seek_to_beginning(*fresh)
        if check:
            self._unchecked = False
        log.info("kafka projection %s: assigned %s (stored offsets %s)", self.config.group_id,
                 sorted(f"{t}/{p}" for t, p in self.assigned),
                 {f"{t}/{p}": s.next_offset for (t, p), s in sorted(stored.items())})

    def _inspect(self, stored: dict[Any, Stored]) -> dict[Any, Any]:
        checker = self._new_checker()
        try:
            return inspect(checker, stored, self.config.resume_check_seconds)
        finally:
            try:
                checker.close()
            except Exception:
                log.debug("closing the checking consumer failed", exc_info=True)

    def close(self) -> None:
        consumer, self._consumer = self._consumer, None
        self.assigned.clear()
        self._unchecked = False  # a new consumer checks its partitions when they are assigned
        self._check_failed = None
        if consumer is not None:
            try:
                consumer.close(autocommit=False)
            except Exception:
                log.debug("closing the consumer failed", exc_info=True)

    def poll_once(self, timeout_ms: int | None = None) -> int:
        """Poll one batch and apply it; returns the number of records polled."""
        if self._consumer is None:
            self.connect()
        consumer = self._consumer
        batches = consumer.poll(timeout_ms=self.config.poll_timeout_ms
                                if timeout_ms is None else timeout_ms)
        if take_lost_join(consumer):
            self.stats.lost_joins += 1
        if self._check_failed is not None:
            # the new partitions have no position: a new consumer, checked on its assignment
            failed = self._check_failed
            self.close()
            raise failed
        if not self._coordinator_seen(consumer):
            # the group may be moving these partitions elsewhere, the broker may come back
            # with another log: nothing is applied; what was polled is read again later
            for tp, records in batches.items():
                if records:
                    consumer.seek(tp, min(int(r.offset) for r in records))
            return 0
        if self._unchecked:
            # back after the coordinator was lost, without a new assignment: check the logs
            self._unchecked = False
            held = consumer.assignment()
            if held:
                self.seek_stored(held)
                return 0
        batch = {(tp.topic, tp.partition): records for tp, records in batches.items()
                 if records}
        if batch:
            self._has_work()
            try:
                self.apply(batch)
            except Exception as error:  # noqa: BLE001 - raised below, or applied apart
                cause: Exception | None = error
                if not database_away(error):
                    try:
                        cause = self._apply_apart(batch)
                    except Exception as again:  # noqa: BLE001 - raised below, after the seek
                        cause = again
                if cause is not None:
                    # a transaction rolled back but the consumer moved on: back to what is
                    # stored, or (the database unreachable) a new consumer that seeks on its
                    # assignment
                    try:
                        self.seek_stored([tp for tp in batches
                                          if (tp.topic, tp.partition) in batch], check=False)
                    except Exception:  # noqa: BLE001 - any failure: a fresh consumer instead
                        self.close()
                    raise cause from None
            self.behind_since = None  # applied: a stall is counted again from here
        self._update_lag()
        if self.lag > 0:
            self._has_work()  # more to apply than this batch: still counted from its poll
        else:
            self.behind_since = None
        return sum(len(r) for r in batch.values())

    def _apply_apart(self, batch: dict[tuple[str, int], list[Any]]) -> PoisonRecord | None:
        """After a batch failed for its records: each partition in a transaction of its own,
        and one that fails record by record up to the one that fails alone, so the records
        before it and the other partitions are applied (each with its offset: exactly once).
        Returns that record's `PoisonRecord` (the first, if several partitions hold one)."""
        poison: PoisonRecord | None = None
        for (topic, partition), records in batch.items():
            try:
                self.apply({(topic, partition): records})
                continue
            except Exception as error:  # record by record below
                if database_away(error):
                    raise
                log.debug("kafka projection: %s[%d] fails; record by record", topic, partition)
            for record in sorted(records, key=lambda r: int(r.offset)):
                try:
                    self.apply({(topic, partition): [record]})
                except Exception as error:  # this partition stops here
                    if database_away(error):
                        raise
                    found = PoisonRecord(topic, partition, int(record.offset), error)
                    log.error("kafka projection %s: %s", self.config.group_id, found)
                    poison = poison or found
                    break
        return poison

    def run(self, stop: threading.Event, conninfo: str = "") -> None:
        """Until `stop`: poll and apply; on any failure back off and start a new consumer."""
        self.active = True
        try:
            with pooled_waits(self.config.deadline_seconds, "kafka board projection"):
                self._run(stop, conninfo)
        finally:
            self.active = False
            self.close()

    def _run(self, stop: threading.Event, conninfo: str = "") -> None:
        backoff = 0.5
        while not stop.is_set():
            try:
                self.poll_once()
                backoff = 0.5
                unreachable = self.unreachable()
                if unreachable is None:
                    self.trouble.clear()
                else:
                    self.trouble.failed(unreachable, since=self._lost_since)
            except (psycopg.Error, PoisonRecord) as exc:
                # its consumer is kept: the partitions are back at their stored offsets
                self.trouble.failed(exc)
                self.stats.failures += 1
                holders = lock_holders(conninfo, (self.config.board_table,)) \
                    if waited(exc) else None
                if isinstance(exc, PoisonRecord):
                    log.warning("kafka projection: %s; retrying", exc)
                elif holders is not None:  # not the database lost: a session holds the board
                    log.warning("kafka projection waits on a lock another session holds: %s "
                                "(%s); retrying", holders, describe(exc))
                else:
                    log.exception("kafka projection: database error; retrying")
                stop.wait(backoff)
                backoff = min(backoff * 2, self.config.max_backoff_seconds)
            except Exception as exc:  # noqa: BLE001 - broker trouble: a new consumer later
                self.trouble.failed(exc)
                self.stats.failures += 1
                log.warning("kafka projection: %s: %s; reconnecting in %.1f s",
                            type(exc).__name__, exc, backoff)
                self.close()
                stop.wait(backoff)
                backoff = min(backoff * 2, self.config.max_backoff_seconds)
