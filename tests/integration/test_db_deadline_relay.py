"""The Kafka relay whose connections to PostgreSQL stop forwarding (`TcpProxy.freeze()`) while
it follows the log: its next read of the log, on a pooled connection, is cut after
SERVICECORE_DB_WAIT_DEADLINE_SECONDS, and so is its lock connection's next heartbeat; it starts
again on new connections, takes its lock again once the server ended the frozen session, and
sends what came meanwhile."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from servicecore.container import Container, build
from servicecore.deadline import WATCHDOG
from tests.conftest import settings_for
from tests.databases import scratch_database
from tests.integration.kafka_support import Broker, wait_until
from tests.integration.support import head
from tests.integration.test_db_deadline import DEADLINE, GENEROUS, behind
from tests.integration.test_relay import broker, service_visit  # noqa: F401
from workers.relay import KafkaRelay
from workers.relay_broker import RelayConfig
from workers.supervisor import Supervisor


@pytest.fixture
def system(server_url: str, tmp_path: Path) -> Iterator[Container]:
    with scratch_database(server_url, "sc_relay_deadline") as url:
        container = build(settings_for(url, tmp_path, pool_size=3))
        yield container
        container.close()


def test_a_relay_whose_connections_stop_forwarding_starts_again_and_sends_what_came(
        system: Container, broker: Broker, tmp_path: Path) -> None:  # noqa: F811
    with behind(system.database_url, tmp_path) as proxied:
        tag = uuid.uuid4().hex[:8]
        relay = KafkaRelay(proxied.app, proxied.pool, RelayConfig(
            broker.bootstrap, topic_prefix=f"t{tag}.", partitions=3, linger_ms=5,
            position_name=f"relay-{tag}", delivery_timeout_ms=5000, max_backoff_seconds=1.0,
            deadline_seconds=DEADLINE))
        supervisor = Supervisor(proxied.url, first_backoff=0.2, max_backoff=0.5)
        supervisor.start("kafka-relay", relay.run)
        cuts = WATCHDOG.cuts
        try:
            service_visit(system, "RD" + uuid.uuid4().hex[:4].upper())
            first = head(system.app)
            wait_until(lambda: relay.stored >= first, GENEROUS, "the relay to send the log")

            assert proxied.proxy.freeze() > 0
            service_visit(system, "RD" + uuid.uuid4().hex[:4].upper())
            last = head(system.app)
            wait_until(lambda: WATCHDOG.cuts > cuts, GENEROUS, "a frozen connection to be cut")
            wait_until(lambda: relay.stored >= last, GENEROUS,
                       "the relay to send what came while its connections were frozen")
        finally:
            supervisor.stop(timeout=10)
        assert relay.stored == last
