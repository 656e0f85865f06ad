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

A broker that came back with another log (restarted empty, a re-created topic) starts its
offsets again at 0: before it seeks, the member asks the broker whether the record before each
stored offset is still the event stored with it, and reads a partition whose log was replaced
from its beginning (`workers.kafka_resume`; logged, `replaced` in the metrics).

A broker that is gone does not make `poll()` fail: it returns empty batches for ever. While the
consumer has no connected group coordinator nothing is applied (records polled meanwhile are
put back); after `unreachable_seconds` of that the loop reports trouble (`/health` 503), which
clears at the first poll with the coordinator back. Then the assigned partitions are checked as
on an assignment. A member handed other partitions than it assigned itself as the group's
leader (tansu: none, for a member that joins again after its topic was made) starts a new
consumer (`workers.kafka_resume.LeadingAssignor`; `reassigned` in the metrics).

Repeats are harmless anyway: a row keeps the stream version it reflects; an event with
version <= stored is a repeat (the relay re-sends after a failure, an offset was reset, a
partition moved while a batch was in flight) and is skipped; version > stored + 1 is an early
arrival whose predecessors are being re-sent, skipped with a log (it comes again after them,
see `workers.relay_consumer`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from workers import kafka_resume as resume
from workers.health import RateMeter, Sample, Trouble
from workers.kafka_resume import LeadingAssignor, Stored, coordinator_reachable, identity, inspect
from workers.relay_consumer import decode

log = logging.getLogger(__name__)

DEFAULT_GROUP = "servicecore-kafka-projection"
BOARD_TABLE = "kafka_work_order_board"
OFFSETS_TABLE = "kafka_offsets"

# integration event type -> the board status it leaves (other types only move the version)
STATUS: dict[str, str] = {
    "work_order.opened": "opened",
    "work_order.checked_in": "checked_in",
    "work_order.job_dispatched": "in_progress",
    "work_order.back_in_progress": "in_progress",
    "work_order.ready_for_settlement": "ready_for_settlement",
    "work_order.settlement_reversed": "ready_for_settlement",
    "work_order.settled": "settled",
    "work_order.delivered": "delivered",
    "work_order.closed": "closed",
    "work_order.cancelled": "cancelled",
}


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


class CoordinatorUnreachable(Exception):
    """The consumer has had no connected group coordinator for longer than allowed."""


@dataclass
class KafkaProjectionStats:
    applied: int = 0  # events applied to a row
    repeats: int = 0  # stream version already applied: skipped
    early: int = 0  # a gap before it: skipped (the relay re-sends in order)
    batches: int = 0
    rebalances: int = 0
    failures: int = 0
    replaced: int = 0  # partitions whose log was replaced: read again from the beginning
    reassigned: int = 0  # handed other partitions than the leader assigned: a new consumer


@dataclass
class _Row:
    number: str | None
    store_id: str | None
    status: str | None
    version: int
    updated_at: Any
    applications: int
    dirty: bool = False


class KafkaProjection:
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

    # -- PostgreSQL -------------------------------------------------------------------------

    def ensure_tables(self) -> None:
        if self._tables_ready:
            return
        c = self.config
        with self.pool.connection() as conn, conn.transaction():
            # members starting together would race on CREATE TABLE IF NOT EXISTS
            conn.execute("SELECT pg_advisory_xact_lock(hashtext('servicecore-kafka-projection'))")
            conn.execute(f"""CREATE TABLE IF NOT EXISTS {c.board_table} (
                work_order_id uuid PRIMARY KEY, number text, store_id text, status text,
                stream_version int NOT NULL, updated_at timestamptz,
                applications int NOT NULL DEFAULT 0)""")
            resume.ensure_offsets_table(conn, c.offsets_table)
        self._tables_ready = True

    def stored(self, partitions: Iterable[tuple[str, int]]) -> dict[tuple[str, int], Stored]:
        """Each partition's stored next offset and the event of the record before it."""
        wanted = list(partitions)
        if not wanted:
            return {}
        with self.pool.connection() as conn:
            found = resume.load_stored(conn, self.config.offsets_table, self.config.group_id,
                                       {t for t, _ in wanted})
        return {tp: found[tp] for tp in wanted if tp in found}

    def apply(self, batch: Mapping[tuple[str, int], list[Any]]) -> int:
        """One transaction: the rows of every event in `batch` (per partition, in offset order)
        and the next offset of each partition. Returns the number of events applied."""
        events: list[dict[str, Any]] = []
        next_offsets: dict[tuple[str, int], Stored] = {}
        for tp, records in batch.items():
            if not records:
                continue
            for record in records:
                events.append(decode(record.value))
            last = max(records, key=lambda r: int(r.offset))
            next_offsets[tp] = Stored(int(last.offset) + 1, identity(last.value))
        if not next_offsets:
            return 0
        c = self.config
        applied = repeats = early = 0
        with self.pool.connection() as conn, conn.transaction():
            ids = sorted({str(e["stream_id"]) for e in events})
            rows: dict[str, _Row] = {}
            for wo_id, number, store_id, status, version, updated_at, applications in conn.execute(
                    f"""SELECT work_order_id::text, number, store_id, status, stream_version,
                               updated_at, applications
                        FROM {c.board_table} WHERE work_order_id = ANY(%s::uuid[])
                        ORDER BY work_order_id FOR UPDATE""", (ids,)).fetchall():
                rows[wo_id] = _Row(number, store_id, status, int(version), updated_at,
                                   int(applications))
            for event in events:
                stream_id, version = str(event["stream_id"]), int(event["stream_version"])
                row = rows.get(stream_id)
                last = row.version if row is not None else 0
                if version <= last:
                    repeats += 1
                    continue
                if version > last + 1:
                    early += 1
                    log.info("kafka projection: %s version %d arrived before %d; skipped (the "
                             "relay sends it again after its predecessors)",
                             stream_id, version, last + 1)
                    continue
                if row is None:
                    row = rows[stream_id] = _Row(None, None, None, 0, None, 0)
                self._evolve(row, event)
                row.version, row.applications, row.dirty = version, row.applications + 1, True
                applied += 1
            dirty = [(k, r) for k, r in rows.items() if r.dirty]
            if dirty:
                with conn.cursor() as cur:
                    cur.executemany(
                        f"""INSERT INTO {c.board_table} (work_order_id, number, store_id, status,
                                stream_version, updated_at, applications)
                            VALUES (%s, %s, %s, %s, %s, %s, %s)
                            ON CONFLICT (work_order_id) DO UPDATE SET number = EXCLUDED.number,
                                store_id = EXCLUDED.store_id, status = EXCLUDED.status,
                                stream_version = EXCLUDED.stream_version,
                                updated_at = EXCLUDED.updated_at,
                                applications = EXCLUDED.applications""",
                        [(k, r.number, r.store_id, r.status, r.version, r.updated_at,
                          r.applications) for k, r in dirty])
            resume.save_stored(conn, c.offsets_table, c.group_id, next_offsets)
        self.stats.applied += applied
        self.stats.repeats += repeats
        self.stats.early += early
        self.stats.batches += 1
        self.meter.mark(len(events))
        return applied

    @staticmethod
    def _evolve(row: _Row, event: Mapping[str, Any]) -> None:
        payload = event.get("payload") or {}
        if event.get("type") == "work_order.opened":
            actor = event.get("actor") or {}
            row.number = payload.get("number", row.number)
            row.store_id = actor.get("store_id", row.store_id)
        status = STATUS.get(str(event.get("type")))
        if status is not None:
            row.status = status
        row.updated_at = event.get("occurred_at") or event.get("recorded_at") or row.updated_at

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
            try:
                self.apply(batch)
            except Exception:
                # the transaction rolled back but the consumer moved on: back to what is stored,
                # or (the database unreachable) a new consumer that seeks on its assignment
                try:
                    self.seek_stored([tp for tp in batches
                                      if (tp.topic, tp.partition) in batch], check=False)
                except Exception:  # noqa: BLE001 - any failure: a fresh consumer instead
                    self.close()
                raise
        self._update_lag()
        return sum(len(r) for r in batch.values())

    def _coordinator_seen(self, consumer: Any) -> bool:
        """Note whether the consumer has a connected group coordinator now, and since when it
        has not."""
        if coordinator_reachable(consumer, self.config.bootstrap_servers):
            self._lost_at = self._lost_since = None
            return True
        if self._lost_at is None:
            self._lost_at, self._lost_since = time.monotonic(), time.time()
        self._unchecked = True
        return False

    def unreachable(self) -> CoordinatorUnreachable | None:
        """The trouble to report once the coordinator has been gone longer than allowed."""
        if self._lost_at is None:
            return None
        gone = time.monotonic() - self._lost_at
        if gone < self.config.unreachable_seconds:
            return None
        return CoordinatorUnreachable(
            f"no group coordinator reachable for {gone:.0f} s (brokers "
            f"{self.config.bootstrap_servers}); nothing is applied")

    def _update_lag(self) -> None:
        consumer, lag = self._consumer, 0
        try:
            for tp in consumer.assignment():
                high = consumer.highwater(tp)
                if high is not None:
                    lag += max(0, int(high) - int(consumer.position(tp, timeout_ms=0) or 0))
        except Exception:  # noqa: BLE001 - a metric only
            return
        self.lag = lag

    def run(self, stop: threading.Event, conninfo: str = "") -> None:
        """Until `stop`: poll and apply; on any failure back off and start a new consumer."""
        backoff = 0.5
        self.active = True
        try:
            while not stop.is_set():
                try:
                    self.poll_once()
                    backoff = 0.5
                    unreachable = self.unreachable()
                    if unreachable is None:
                        self.trouble.clear()
                    else:
                        self.trouble.failed(unreachable, since=self._lost_since)
                except psycopg.Error as exc:
                    self.trouble.failed(exc)
                    self.stats.failures += 1
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
        finally:
            self.active = False
            self.close()

    # -- metrics ----------------------------------------------------------------------------

    def samples(self) -> Iterable[Sample]:
        w = (("worker", "kafka-projection"),)
        s = self.stats
        return [
            Sample("servicecore_worker_events_per_second", self.meter.rate(), w,
                   help="records consumed per second (10 s window)"),
            Sample("servicecore_worker_events_processed_total", float(self.meter.total), w,
                   kind="counter"),
            Sample("servicecore_kafka_projection_lag", float(self.lag), w,
                   help="records behind the high watermark over the assigned partitions"),
            Sample("servicecore_kafka_projection_partitions", float(len(self.assigned)), w),
            Sample("servicecore_kafka_projection_applied_total", float(s.applied), w,
                   kind="counter"),
            Sample("servicecore_kafka_projection_repeats_total", float(s.repeats), w,
                   kind="counter", help="stream versions already applied, skipped"),
            Sample("servicecore_kafka_projection_early_total", float(s.early), w,
                   kind="counter", help="stream versions after a gap, skipped"),
            Sample("servicecore_kafka_projection_rebalances_total", float(s.rebalances), w,
                   kind="counter"),
            Sample("servicecore_kafka_projection_failures_total", float(s.failures), w,
                   kind="counter"),
            Sample("servicecore_kafka_projection_replaced_total", float(s.replaced), w,
                   kind="counter", help="partitions whose log on the broker was not the one "
                   "their stored offset belongs to, read again from the beginning"),
            Sample("servicecore_kafka_projection_reassigned_total", float(s.reassigned), w,
                   kind="counter", help="assignments the broker handed out otherwise than "
                   "this member made them as the group's leader: a new consumer joined"),
            Sample("servicecore_kafka_projection_coordinator_reachable",
                   0.0 if self._lost_at is not None else 1.0, w,
                   help="0 while the consumer has no connected group coordinator"),
            Sample("servicecore_kafka_projection_active", 1.0 if self.active else 0.0, w),
        ]

    def details(self) -> dict[str, Any]:
        return {"active": self.active, "group": self.config.group_id,
                "topic": self.config.topic,
                "partitions": sorted(p for _, p in self.assigned), "lag": self.lag,
                "applied": self.stats.applied, "repeats": self.stats.repeats,
                "early": self.stats.early, "replaced": self.stats.replaced,
                "reassigned": self.stats.reassigned,
                "coordinator_lost_since": None if self._lost_since is None else time.strftime(
                    "%Y-%m-%dT%H:%M:%S%z", time.localtime(self._lost_since)),
                "at": time.time(),
                **self.trouble.as_dict()}
