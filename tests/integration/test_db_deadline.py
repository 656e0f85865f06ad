"""Projection loops whose connections to PostgreSQL stay open but stop forwarding (a stuck
pooler, NAT or middlebox: `TcpProxy.freeze()`), in the middle of a batch.

Without a deadline the loop waits for good for the answer to its batch while it says
`running`. With SERVICECORE_DB_WAIT_DEADLINE_SECONDS (servicecore/deadline.py) the batch's
connection is cut, the loop fails and starts again on new connections (forwarded as usual),
the server ends the frozen sessions (freeing the position rows and the advisory locks), and
the view catches up to the head with every event applied once.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import uuid4

import duckdb
import psycopg
import pytest
from psycopg_pool import ConnectionPool

from analytics.loader import AnalyticsLoader
from domain.application import ServiceCore
from domain.pii import PersonalData
from servicecore.container import Container, eventsourcing_env
from servicecore.deadline import WATCHDOG
from servicecore.keystore import PostgresKeyStore
from servicecore.pool import open_pool, share_pool
from tests.conftest import settings_for
from tests.integration.kafka_support import wait_until
from tests.integration.support import head, open_order
from tests.integration.tcp_proxy import TcpProxy, proxied
from tests.integration.test_projection_group import (
    Ledger,
    _fresh,
    _position,
    _receipts,
    _rows,
    _view,
)
from workers.projection_group import ProjectionGroup
from workers.projection_runner import ProjectionRunner
from workers.supervisor import Supervisor

DEADLINE = 2.0  # seconds; the default is 120
GENEROUS = 60.0  # how long the test waits for what should take a few deadlines


class FreezingLedger(Ledger):
    """The test's ledger, which freezes the proxy its batch goes through once `freeze` is set:
    the batch's position rows are locked, its writes never answered."""

    def __init__(self, name: str, proxy: TcpProxy) -> None:
        super().__init__(name)
        self.proxy = proxy
        self.freeze = threading.Event()
        self.frozen = threading.Event()

    def apply(self, conn: psycopg.Connection[Any], events: Sequence[tuple[int, Any]],
              suffix: str = "") -> None:
        if self.freeze.is_set() and not self.frozen.is_set():
            assert self.proxy.freeze() > 0
            self.frozen.set()
        super().apply(conn, events, suffix)


@dataclass
class BehindProxy:
    """An application and a pool that reach the test database through a freezable proxy."""

    url: str
    proxy: TcpProxy
    app: ServiceCore
    pool: ConnectionPool


@pytest.fixture
def behind_proxy(container: Container, tmp_path: Path) -> Iterator[BehindProxy]:
    with behind(container.database_url, tmp_path) as proxied:
        yield proxied


@contextmanager
def behind(database_url: str, tmp_path: Path) -> Iterator[BehindProxy]:
    """An application and a pool on `database_url`, through a freezable proxy."""
    proxy, url = proxied(database_url)
    settings = settings_for(url, tmp_path, create_tables=False, pool_size=4,
                            db_wait_deadline_seconds=DEADLINE)
    pool = open_pool(url, settings)
    app = ServiceCore(env=eventsourcing_env(url, settings),
                      personal_data=PersonalData(PostgresKeyStore(pool)))
    share_pool(app, pool)
    try:
        yield BehindProxy(url, proxy, app, pool)
    finally:
        proxy.stop()
        pool.close()


def _ledger_ids(container: Container, suffix: str) -> list[int]:
    with container.pool.connection() as conn:
        return [int(r[0]) for r in conn.execute(f"SELECT id FROM group_ledger{suffix} ORDER BY id")]


def _event_ids(container: Container, after: int, until: int) -> list[int]:
    with container.pool.connection() as conn:
        return [int(r[0]) for r in conn.execute(
            "SELECT notification_id FROM servicecore_events WHERE notification_id > %s "
            "AND notification_id <= %s ORDER BY notification_id", (after, until))]


def _frozen_then_caught_up(container: Container, store_id: str, behind: BehindProxy,
                           ledger: FreezingLedger, loop: Any, up: Any, names: list[str],
                           suffix: str, start: int) -> dict[str, Any]:
    """Runs `loop` supervised, freezes the proxy in its batch, waits for it to catch up."""
    supervisor = Supervisor(behind.url, first_backoff=0.2, max_backoff=0.5)
    supervisor.start("projections", loop, up)
    try:
        _receipts(container, store_id, 2)
        first = head(container.app)
        wait_until(lambda: all(_position(container, n) == first for n in names), GENEROUS,
                   "the views to follow the log through the proxy")

        # The proxy stops forwarding in the middle of the next batch.
        ledger.freeze.set()
        _receipts(container, store_id, 3)
        wait_until(ledger.frozen.is_set, GENEROUS, "a batch to run into the frozen proxy")
        wait_until(lambda: supervisor.states()["projections"]["restarts"] >= 1, GENEROUS,
                   "the loop to give up on the frozen connection and start again")
        state = supervisor.states()["projections"]

        # Started again on new connections, the views catch up, and go on following.
        _receipts(container, store_id, 2)
        last = head(container.app)
        wait_until(lambda: all(_position(container, n) == last for n in names), GENEROUS,
                   "the views to catch up to the head after the restart")
    finally:
        supervisor.stop(timeout=10)
    assert _ledger_ids(container, suffix) == _event_ids(container, start, last)
    return state


def test_a_group_whose_connections_stop_forwarding_mid_batch_starts_again_and_catches_up(
        container: Container, store_id: str, behind_proxy: BehindProxy) -> None:
    start = head(container.app)
    suffix = "_dg" + uuid4().hex[:4]
    stock, ledger = _view(container, "stock"), FreezingLedger("zz_ledger", behind_proxy.proxy)
    for suffix_ in (suffix, suffix + "r"):
        _fresh(container, stock, suffix_, start)
    _fresh(container, ledger, suffix, start)
    runners = [ProjectionRunner(behind_proxy.app, behind_proxy.pool, view, suffix=suffix,
                                deadline_seconds=DEADLINE) for view in (stock, ledger)]
    group = ProjectionGroup(behind_proxy.app, behind_proxy.pool, runners,
                            deadline_seconds=DEADLINE)

    state = _frozen_then_caught_up(container, store_id, behind_proxy, ledger, group.run,
                                   group.is_connected, [r.position_name for r in runners],
                                   suffix, start)

    assert "no answer from PostgreSQL within 2 s" in state["last_error"]
    # Every event once: the ledger's primary key refuses a second, its ids are the log's;
    # the stock view's rows are those of a runner that never met a fault.
    ProjectionRunner(container.app, container.pool, stock, suffix=suffix + "r").catch_up()
    assert _rows(container, stock, suffix) == _rows(container, stock, suffix + "r")


def test_a_runner_whose_connections_stop_forwarding_mid_batch_starts_again_and_catches_up(
        container: Container, store_id: str, behind_proxy: BehindProxy) -> None:
    start = head(container.app)
    suffix = "_dr" + uuid4().hex[:4]
    ledger = FreezingLedger("zz_ledger", behind_proxy.proxy)
    _fresh(container, ledger, suffix, start)
    runner = ProjectionRunner(behind_proxy.app, behind_proxy.pool, ledger, suffix=suffix,
                              deadline_seconds=DEADLINE)

    state = _frozen_then_caught_up(container, store_id, behind_proxy, ledger, runner.run,
                                   runner.is_connected, [runner.position_name], suffix, start)

    assert "no answer from PostgreSQL within 2 s" in state["last_error"]


def test_the_analytics_loader_on_connections_that_stop_forwarding_starts_again_and_catches_up(
        container: Container, behind_proxy: BehindProxy, tmp_path: Path) -> None:
    store_id = "DL" + uuid4().hex[:6].upper()
    settings = settings_for(behind_proxy.url, tmp_path, create_tables=False,
                            db_wait_deadline_seconds=DEADLINE)
    loader = AnalyticsLoader(behind_proxy.app, tmp_path / "analytics.duckdb")
    loop = Container(settings, behind_proxy.url, behind_proxy.app, behind_proxy.pool,
                     container.views).analytics_loop(loader)
    supervisor = Supervisor(behind_proxy.url, first_backoff=0.2, max_backoff=0.5)
    cuts = WATCHDOG.cuts
    supervisor.start("analytics", loop)
    try:
        open_order(container.work_orders, store_id)
        wait_until(lambda: _loaded(loader) == head(container.app), GENEROUS,
                   "the loader to follow the log through the proxy")

        # The pool's connections stop forwarding while the loader follows the log: its next
        # read of the log waits on one of them until it is cut (the recorder's retry, or the
        # supervisor's restart, goes on with a new one).
        assert behind_proxy.proxy.freeze() > 0
        for _ in range(3):
            open_order(container.work_orders, store_id)
        wait_until(lambda: WATCHDOG.cuts > cuts, GENEROUS, "a frozen connection to be cut")
        last = head(container.app)
        wait_until(lambda: _loaded(loader) >= last, GENEROUS,
                   "the loader to catch up on new connections")
    finally:
        supervisor.stop(timeout=10)
        loader.close()
    found = loader_orders(tmp_path / "analytics.duckdb", store_id)
    assert found == 4  # each order loaded once


def _loaded(loader: AnalyticsLoader) -> int:
    """The loader's position, read on a cursor of its own: the loader's DuckDB connection
    refuses a second caller at once."""
    cursor = loader.conn.cursor()
    try:
        found = cursor.execute("SELECT position FROM analytics_position").fetchone()
    finally:
        cursor.close()
    return int(found[0]) if found else 0


def loader_orders(path: Path, store_id: str) -> int:
    with duckdb.connect(str(path), read_only=True) as conn:
        row = conn.execute("SELECT count(*) FROM fact_work_orders WHERE store_id = ?",
                           [store_id]).fetchone()
    assert row is not None
    return int(row[0])
