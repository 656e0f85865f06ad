"""The Kafka relay whose lock connection is ended while it has a backlog to send.

The relay holds its advisory lock on its LISTEN connection. While it is busy it never waits for
a notification there, so without a look at that connection it would not notice that the lock
went with it, and a second relay could take the lock and send beside it.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from servicecore.container import Container, build
from tests.conftest import settings_for
from tests.databases import scratch_database
from tests.integration.kafka_support import Broker, wait_until
from tests.integration.support import head
from tests.integration.test_projection_faults import holder, terminate
from tests.integration.test_relay import broker, relay_for, service_visit  # noqa: F401
from workers.relay import KafkaRelay
from workers.supervisor import Supervisor


@pytest.fixture
def system(server_url: str, tmp_path: Path) -> Iterator[Container]:
    with scratch_database(server_url, "sc_relay_lock") as url:
        container = build(settings_for(url, tmp_path, pool_size=3))
        yield container
        container.close()


def slowed(relay: KafkaRelay, seconds: float) -> None:
    """Each read of the log takes `seconds` more: the backlog keeps the relay busy a while."""
    plain = relay.pump

    def pump() -> int:
        time.sleep(seconds)
        return plain()

    relay.pump = pump  # type: ignore[method-assign]


def test_a_busy_relay_whose_lock_connection_ends_takes_its_lock_again(
        system: Container, broker: Broker) -> None:  # noqa: F811
    for _ in range(6):
        service_visit(system, "RL" + uuid.uuid4().hex[:4].upper())
    last = head(system.app)
    relay = relay_for(system, broker, select_limit=1)
    slowed(relay, 0.05)  # ~60 events to send one by one: some 3 s busy
    key = "relay:" + relay.config.position_name
    supervisor = Supervisor(system.database_url, first_backoff=0.2, max_backoff=0.5)
    supervisor.start("kafka-relay", relay.run)
    try:
        wait_until(lambda: relay.active and holder(system.database_url, key) is not None, 20,
                   "the relay to take its lock")
        pid = holder(system.database_url, key)
        assert pid is not None
        terminate(system.database_url, pid)
        wait_until(lambda: holder(system.database_url, key) not in (None, pid), 10,
                   "the relay to take its lock again")
        assert relay.stored < last  # still busy with its backlog: it noticed while sending
        wait_until(lambda: relay.stored >= last, 30, "the relay to send everything")
        assert supervisor.states()["kafka-relay"]["restarts"] >= 1
    finally:
        supervisor.stop()
