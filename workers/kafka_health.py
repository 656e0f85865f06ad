"""The Kafka board projection's health: its group coordinator, its lag, its metrics.

`KafkaHealth` is a base of `KafkaProjection` (workers/kafka_projection.py): it notes whether the
consumer has a connected group coordinator (trouble once it has been gone longer than
`unreachable_seconds`), the records behind the high watermark, and what `/metrics` and
`/health` show of the projection.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from workers.health import RateMeter, Sample, Trouble
from workers.kafka_resume import coordinator_reachable

if TYPE_CHECKING:
    from workers.kafka_projection import KafkaProjectionConfig


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
    lost_joins: int = 0  # a join completed after the poll gave up on it: taken at the next poll


class KafkaHealth:
    """What `KafkaProjection` keeps (set by its `__init__`) that its health is read from."""

    config: KafkaProjectionConfig
    stats: KafkaProjectionStats
    meter: RateMeter
    assigned: set[tuple[str, int]]
    active: bool
    lag: int
    trouble: Trouble
    behind_since: float | None
    _consumer: Any
    _lost_at: float | None
    _lost_since: float | None
    _unchecked: bool

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

    def _has_work(self) -> None:
        """Records to apply were polled, or are behind the high watermark: a stall is counted
        from now unless it already is."""
        if self.behind_since is None:
            self.behind_since = time.monotonic()

    def stalled_seconds(self) -> float:
        """How long it has had records to apply (polled, or lag > 0) without applying any: a
        batch waiting on a lock on the board's table, a batch failing again and again (0: it
        has none, or it applies them). Read without waiting for the database or the broker."""
        since = self.behind_since
        return time.monotonic() - since if since is not None and self.active else 0.0

    def stalls(self, seconds: float) -> list[str]:
        """For /health: the board, when it has applied nothing for `seconds` or more with
        records to apply; 0: not checked."""
        stalled = self.stalled_seconds()
        if not seconds or stalled < seconds:
            return []
        return [(f"kafka projection {self.config.group_id} has applied nothing for "
                 f"{stalled:.0f} s with records to apply (lag {self.lag} when last read) "
                 f"(more than {seconds:g} s)")]

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
            Sample("servicecore_kafka_projection_lost_joins_total", float(s.lost_joins), w,
                   kind="counter", help="group joins that completed after the poll gave up on "
                   "them, whose assignment was then taken at the next poll"),
            Sample("servicecore_kafka_projection_coordinator_reachable",
                   0.0 if self._lost_at is not None else 1.0, w,
                   help="0 while the consumer has no connected group coordinator"),
            Sample("servicecore_kafka_projection_active", 1.0 if self.active else 0.0, w),
            Sample("servicecore_kafka_projection_stalled_seconds", self.stalled_seconds(), w,
                   help="how long the board has had records to apply without applying any"),
        ]

    def details(self) -> dict[str, Any]:
        return {"active": self.active, "group": self.config.group_id,
                "topic": self.config.topic,
                "partitions": sorted(p for _, p in self.assigned), "lag": self.lag,
                "stalled_seconds": round(self.stalled_seconds(), 1),
                "applied": self.stats.applied, "repeats": self.stats.repeats,
                "early": self.stats.early, "replaced": self.stats.replaced,
                "reassigned": self.stats.reassigned, "lost_joins": self.stats.lost_joins,
                "coordinator_lost_since": None if self._lost_since is None else time.strftime(
                    "%Y-%m-%dT%H:%M:%S%z", time.localtime(self._lost_since)),
                "at": time.time(),
                **self.trouble.as_dict()}
