"""Fault drill: the database server is killed (-9) and started again under a running relay.

The relay's advisory lock lives on its LISTEN connection, which dies with the server: the
relay must take the lock again (or stand by), never go on relaying without it beside a second
relay that took it meanwhile.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from servicecore.container import Container, build
from tests.conftest import settings_for
from tests.integration.kafka_support import Broker, wait_until
from tests.integration.test_database_restart import EmbeddedServer, embedded  # noqa: F401
from tests.integration.test_relay import CUSTOMER, VEHICLE, broker, req  # noqa: F401
from workers.relay import KafkaRelay, RelayConfig
from workers.supervisor import Supervisor


@pytest.fixture
def system(embedded: EmbeddedServer, tmp_path: Path) -> Iterator[Container]:  # noqa: F811
    built = build(settings_for(embedded.url, tmp_path / "var", pool_size=3))
    yield built
    built.close()


def open_order(system: Container) -> None:
    system.work_orders.open(req("RR1"), store_id="RR1", customer=dict(CUSTOMER),
                            vehicle=dict(VEHICLE), mileage=1_000, complaints=["noise"])


def test_after_a_database_restart_one_relay_holds_the_lock_and_relays(
        system: Container, broker: Broker, embedded: EmbeddedServer) -> None:  # noqa: F811
    config = RelayConfig(broker.bootstrap, topic_prefix=f"r{uuid.uuid4().hex[:6]}.",
                         partitions=1, linger_ms=5, delivery_timeout_ms=5000,
                         max_backoff_seconds=1.0)
    first = KafkaRelay(system.app, system.pool, config)
    second = KafkaRelay(system.app, system.pool, config)
    supervisors = [Supervisor(embedded.url, first_backoff=0.2, max_backoff=1.0)
                   for _ in range(2)]
    open_order(system)
    supervisors[0].start("kafka-relay", first.run)
    try:
        head = system.app.recorder.max_notification_id() or 0
        wait_until(lambda: first.stored >= head and first.active, 60, "the relay to follow")

        # The server dies and comes back; a second relay process starts meanwhile.
        embedded.kill()
        embedded.start()
        supervisors[1].start("kafka-relay", second.run)

        # Commands go on; the events reach the broker.
        wait_until(lambda: (open_order(system), True)[1] if _reachable(system) else False,
                   60, "a command after the restart", 0.2)
        head = system.app.recorder.max_notification_id() or 0
        wait_until(lambda: max(first.stored, second.stored) >= head, 60,
                   "a relay to publish the new event")
        # At every moment from here on, at most one of them relays.
        for _ in range(20):
            assert not (first.active and second.active), "two relays follow the log at once"
            threading.Event().wait(0.1)
    finally:
        for supervisor in supervisors:
            supervisor.stop(timeout=20)


def _reachable(system: Container) -> bool:
    try:
        with system.pool.connection(timeout=1) as conn:
            conn.execute("SELECT 1")
        return True
    except Exception:  # noqa: BLE001 - not yet
        return False
