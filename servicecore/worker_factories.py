"""The workers a `Container` makes from Settings: the projection runners and the loops that run
them, the chain witness, the online booking retention's timer, the Kafka relay and the
Kafka-fed work-order board."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from psycopg_pool import ConnectionPool

from domain.application import ServiceCore
from projections.base import ReadModel
from servicecore.settings import Settings
from workers.chain_witness import PeriodicWitness
from workers.projection_group import ProjectionGroup
from workers.projection_runner import ProjectionRunner
from workers.supervisor import Idle, Loop

if TYPE_CHECKING:  # imported where used: a process that only rebuilds a view starts faster
    from workers.kafka_projection import KafkaProjection
    from workers.relay import KafkaRelay


def _runner_loop(runner: ProjectionRunner) -> tuple[str, Loop, Callable[[], bool]]:
    return f"projection-{runner.view.name}", runner.run, runner.is_connected


class WorkerFactories:
    """The workers of `Container` (mixed into it, which gives `settings`, `app`, `pool` and
    `views`)."""

    settings: Settings
    app: ServiceCore
    pool: ConnectionPool
    views: list[ReadModel]

    def make_runners(self) -> list[ProjectionRunner]:
        return [ProjectionRunner(
            self.app, self.pool, view, batch_size=self.settings.projection_batch_size,
            idle_advance_seconds=self.settings.projection_idle_advance_seconds,
            deadline_seconds=self.settings.db_wait_deadline_seconds,
            lock_timeout_seconds=self.settings.projection_lock_wait_seconds)
                for view in self.views]

    def make_relay(self) -> KafkaRelay:
        """The Kafka relay (needs KAFKA_BOOTSTRAP_SERVERS)."""
        from workers.relay import KafkaRelay, RelayConfig

        s = self.settings
        if not s.kafka_bootstrap_servers:
            raise RuntimeError("KAFKA_BOOTSTRAP_SERVERS is not set: the relay has nowhere to send")
        return KafkaRelay(self.app, self.pool, RelayConfig(
            bootstrap_servers=s.kafka_bootstrap_servers, topic_prefix=s.kafka_topic_prefix,
            partitions=s.kafka_partitions, replication_factor=s.kafka_replication_factor,
            idempotence=s.kafka_idempotence, linger_ms=s.kafka_linger_ms,
            batch_bytes=s.kafka_batch_bytes, select_limit=s.relay_batch_size,
            delivery_timeout_ms=s.kafka_delivery_timeout_ms,
            max_message_bytes=s.kafka_max_message_bytes,
            max_backoff_seconds=s.relay_max_backoff_seconds,
            deadline_seconds=s.db_wait_deadline_seconds))

    def make_kafka_projection(self, group_id: str | None = None) -> KafkaProjection:
        """The work-order board fed from the relay's work-orders topic (a consumer group)."""
        from domain.integration_events import ROUTES
        from workers.kafka_projection import KafkaProjection, KafkaProjectionConfig

        s = self.settings
        if not s.kafka_bootstrap_servers:
            raise RuntimeError("KAFKA_BOOTSTRAP_SERVERS is not set: nothing to consume")
        group = group_id or s.kafka_projection_group
        return KafkaProjection(self.pool, KafkaProjectionConfig(
            bootstrap_servers=s.kafka_bootstrap_servers,
            topic=s.kafka_topic_prefix + ROUTES["WorkOrder"].topic, group_id=group,
            max_backoff_seconds=s.relay_max_backoff_seconds,
            unreachable_seconds=s.kafka_projection_unreachable_seconds,
            max_message_bytes=s.kafka_max_message_bytes, deadline_seconds=s.db_wait_deadline_seconds))

    def seed_kafka_board(self) -> dict[str, int]:
        """The Kafka board filled from the event store, as the relay maps the events
        (`projections seed-kafka-board`; workers/kafka_board.py, `seed`)."""
        from domain.integration_events import IntegrationMapper

        mapper = IntegrationMapper(self.app.mapper, self.settings.kafka_topic_prefix)
        return self.make_kafka_projection().seed(self.app, mapper)

    def witness_loops(self) -> list[tuple[str, Loop]]:
        """The chain head witnessed on a timer and by volume (none when both
        SERVICECORE_WITNESS_SECONDS and SERVICECORE_WITNESS_EVENTS are 0)."""
        s = self.settings
        if not s.witness_seconds and not s.witness_events:
            return []
        return [("chain-witness", PeriodicWitness(
            self.pool, s.witness_file, s.witness_seconds, s.witness_events,
            deadline_seconds=s.db_wait_deadline_seconds).run)]

    def booking_retention_loops(self) -> list[tuple[str, Loop]]:
        """The online booking retention on a timer (none when
        SERVICECORE_ONLINE_BOOKING_SWEEP_SECONDS is 0)."""
        from servicecore.booking_retention import retention_timer
        from workers.booking_retention import NAME

        timer = retention_timer(self)
        return [] if timer is None else [(NAME, timer.run)]

    def projection_loops(self, runners: list[ProjectionRunner],
                         supervise: Callable[[str, Loop, Callable[[], bool]], None]
                         ) -> list[tuple[str, Loop, Callable[[], bool], Idle | None]]:
        """The loops that run `runners`: one for the group (`projection_group`), or one each
        (name, loop, `up` and `idle` probes). `supervise` starts the loop of a view that failed
        in the group and leaves it."""
        if self.settings.projection_group and runners:
            group = ProjectionGroup(
                self.app, self.pool, runners, batch_size=self.settings.projection_batch_size,
                on_alone=lambda r: supervise(*_runner_loop(r)),
                deadline_seconds=self.settings.db_wait_deadline_seconds,
                lock_timeout_seconds=self.settings.projection_lock_wait_seconds,
                rejoin_seconds=self.settings.projection_rejoin_seconds)
            return [("projections", group.run, group.is_connected, group.idle)]
        return [(*_runner_loop(r), None) for r in runners]
