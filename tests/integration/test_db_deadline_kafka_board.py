"""The Kafka board projection whose connection to PostgreSQL stays open but stops forwarding (a
stuck pooler, NAT or middlebox: `TcpProxy.freeze()`) in the middle of a batch.

Without a deadline its loop waits for good for the batch's answer while it says `running`. With
SERVICECORE_DB_WAIT_DEADLINE_SECONDS (`deadline_seconds`, servicecore/deadline.py) the batch's
connection is cut, the batch fails as with a lost database (its partitions back at their stored
offsets), the pool opens new connections, and the board reaches the head with every event
applied once.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from psycopg_pool import ConnectionPool

from servicecore.container import Container
from servicecore.pool import open_pool
from tests.conftest import settings_for
from tests.integration.kafka_support import Broker, wait_until
from tests.integration.tcp_proxy import TcpProxy, proxied
from tests.integration.test_kafka_projection import (  # noqa: F401 - the module's fixtures
    applications,
    board,
    broker,
    expected_board,
    history,
    kp_db,
    names,
    publish,
    relay,
    system,
)
from workers.kafka_projection import KafkaProjection, KafkaProjectionConfig
from workers.relay import KafkaRelay

DEADLINE = 2.0  # seconds; the default is 120
GENEROUS = 60.0  # how long the test waits for what should take a few deadlines


class FreezingBoard(KafkaProjection):
    """The board, which freezes the proxy its batch goes through once `freeze` is set."""

    def __init__(self, pool: ConnectionPool, config: KafkaProjectionConfig,
                 proxy: TcpProxy) -> None:
        super().__init__(pool, config)
        self.proxy = proxy
        self.freeze = threading.Event()
        self.frozen = threading.Event()
        self.errors: list[BaseException] = []

    def apply(self, batch: Mapping[tuple[str, int], list[Any]]) -> int:
        if self.freeze.is_set() and not self.frozen.is_set():
            assert self.proxy.freeze() > 0
            self.frozen.set()
        try:
            return super().apply(batch)
        except Exception as error:
            self.errors.append(error)
            raise


@pytest.fixture
def proxied_pool(system: Container,  # noqa: F811
                 tmp_path: Path) -> Iterator[tuple[ConnectionPool, TcpProxy]]:
    """The process's pool as the worker opens it, reaching the database through a proxy."""
    proxy, url = proxied(system.database_url)
    pool = open_pool(url, settings_for(url, tmp_path, create_tables=False, pool_size=3,
                                       db_wait_deadline_seconds=DEADLINE))
    try:
        yield pool, proxy
    finally:
        proxy.stop()
        pool.close()


def test_a_board_batch_on_a_frozen_connection_fails_and_the_board_reaches_the_head(
        system: Container, relay: KafkaRelay, broker: Broker,  # noqa: F811
        proxied_pool: tuple[ConnectionPool, TcpProxy]) -> None:
    pool, proxy = proxied_pool
    group, table = names("frozen")
    projection = FreezingBoard(pool, KafkaProjectionConfig(
        broker.bootstrap, relay.config.topic_prefix + "work-orders", group_id=group,
        board_table=table, session_timeout_ms=6000, heartbeat_interval_ms=2000,
        poll_timeout_ms=200, max_poll_records=50, max_backoff_seconds=1.0,
        client_id="kp-frozen", deadline_seconds=DEADLINE), proxy)
    stop = threading.Event()
    thread = threading.Thread(target=projection.run, args=(stop, ""), daemon=True)
    thread.start()
    try:
        history(system, "KFZ1", 4)
        publish(system, relay)
        wait_until(lambda: board(system, table) == expected_board(system), GENEROUS,
                   "the board to follow the topic through the proxy")

        # The proxy stops forwarding in the middle of the next batch.
        projection.freeze.set()
        history(system, "KFZ2", 4)
        publish(system, relay)
        wait_until(projection.frozen.is_set, GENEROUS, "a batch to run into the frozen proxy")
        wait_until(lambda: projection.stats.failures >= 1, GENEROUS,
                   "the batch to fail on the frozen connection")
        assert any("no answer from PostgreSQL" in str(e) for e in projection.errors)

        # New connections are forwarded: the board reaches the head, each event applied once.
        wait_until(lambda: board(system, table) == expected_board(system), GENEROUS,
                   "the board to reach the head after the frozen batch")
        assert all(a == v for a, v in applications(system, table).values())
    finally:
        proxy.thaw()
        stop.set()
        thread.join(timeout=30)
    assert not thread.is_alive()
