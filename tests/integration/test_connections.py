"""One pool per process: what a built Container holds in PostgreSQL while idle.

Counted in pg_stat_activity on a database of its own, so nothing else connects to it. The
figures are the ones README "Scaled out" states for an idle API process.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg.conninfo import conninfo_to_dict

from api.main import create_app
from servicecore.container import Container, build
from servicecore.pool import CONNECT_TIMEOUT, TCP_KEEPALIVES, EventStorePool, with_keepalives
from tests.conftest import settings_for
from tests.databases import scratch_database
from tests.integration.support import open_order
from tests.integration.tcp_proxy import proxied

Auth = Callable[..., dict[str, str]]
# An idle built Container holds at most 2 connections, both in its one pool: the minimum
# (SERVICECORE_POOL_MIN_SIZE, 1) and, until it has been unused for SERVICECORE_POOL_MAX_IDLE_
# SECONDS, one more (the most one thread holds at once: a projection batch's connection and a
# key-store lookup inside it). /health adds the health check's own connection.
IDLE_CONTAINER = 2
POOL_MIN = 1
HEALTH = 1


@pytest.fixture
def own_system(server_url: str, tmp_path: Path) -> Iterator[tuple[Container, str]]:
    with scratch_database(server_url, "sc_pool") as url:
        system = build(settings_for(url, tmp_path, pool_size=4, pool_timeout_seconds=1,
                                    pool_max_idle_seconds=1))
        try:
            yield system, url
        finally:
            system.close()


def backends(server_url: str, database_url: str) -> int:
    """Connections to the database, the counting one excepted: client backends only (an
    autovacuum worker analysing the new database's tables is listed under its name too)."""
    dbname = conninfo_to_dict(database_url)["dbname"]
    with psycopg.connect(server_url, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s "
                           "AND backend_type = 'client backend' AND pid <> pg_backend_pid()",
                           (dbname,)).fetchone()
    assert row is not None
    return int(row[0])


def test_the_event_store_and_the_read_side_draw_from_one_pool(
        own_system: tuple[Container, str]) -> None:
    system, _ = own_system
    lent = system.app.recorder.datastore.pool  # type: ignore[attr-defined]
    assert isinstance(lent, EventStorePool)
    assert lent.shared is system.pool


def test_an_idle_container_holds_the_pools_minimum(
        own_system: tuple[Container, str], server_url: str, store_id: str) -> None:
    system, url = own_system
    # Work that touches every user of the pool: a save with a customer key (key store, event
    # store), the projections catching up (positions, read models, the log), a load.
    opened = open_order(system.work_orders, store_id)
    for runner in system.make_runners():
        runner.catch_up()
    assert system.app.repository.get(opened["id"]) is not None

    # Counted by the pool itself: a connection closed just before (the build's migration)
    # (the build's schema check and migration) stays in pg_stat_activity until its backend has
    # exited, which on a loaded machine
    # outlasts the work above. That nothing is held outside the pool is shown below, once
    # the count has settled at the pool's minimum.
    assert system.pool.get_stats()["pool_size"] <= IDLE_CONTAINER

    # The pool closes an unused connection above its minimum every pool_max_idle_seconds
    # (1 s here).
    deadline = time.monotonic() + 30
    while backends(server_url, url) > POOL_MIN and time.monotonic() < deadline:
        time.sleep(0.2)
    assert backends(server_url, url) == POOL_MIN

    # /health/ready asks the database on a connection of its own (never behind the pool).
    status, body = asyncio.run(system.health_check.report())
    assert status == 200, body
    assert backends(server_url, url) == POOL_MIN + HEALTH


def test_a_read_waits_for_a_pooled_connection_at_most_the_pool_timeout(
        own_system: tuple[Container, str], auth: Auth, store_id: str) -> None:
    system, _ = own_system
    manager = auth("manager", stores=[store_id])
    with TestClient(create_app(system.api_context())) as client:
        assert client.get("/work-orders", headers=manager).status_code == 200
        # Every pooled connection is taken: reads and commands are refused with 503 after
        # SERVICECORE_POOL_TIMEOUT_SECONDS, they do not hang.
        held = [system.pool.getconn() for _ in range(system.pool.max_size)]
        try:
            for response in (client.get("/work-orders", headers=manager),
                             client.post("/work-orders", headers=manager, json={
                                 "store_id": store_id, "customer": {"name": "王五",
                                                                    "phone": "13611112222"},
                                 "vehicle": {"vin": "LSVAU218XN2183294"}, "mileage": 1000,
                                 "complaints": ["noise"]})):
                assert response.status_code == 503, response.text
                assert response.headers["content-type"] == "application/problem+json"
        finally:
            for conn in held:
                system.pool.putconn(conn)
        assert client.get("/work-orders", headers=manager).status_code == 200



def test_a_command_on_a_stored_visit_waits_for_the_pool_once_not_twice(
        own_system: tuple[Container, str], auth: Auth, store_id: str) -> None:
    """With every pooled connection taken, a command that loads a stored work order is 503
    after one pool timeout: the load's retry (for the dead connections a restart leaves) does
    not wait for the busy pool a second time."""
    system, _ = own_system
    manager = auth("manager", stores=[store_id])
    opened = open_order(system.work_orders, store_id)
    with TestClient(create_app(system.api_context())) as client:
        held = [system.pool.getconn() for _ in range(system.pool.max_size)]
        try:
            before = system.pool.get_stats().get("requests_errors", 0)
            response = client.post(f"/work-orders/{opened['id']}/jobs", headers=manager,
                                    json={"complaint": "rattle from the rear axle"})
            timeouts = system.pool.get_stats().get("requests_errors", 0) - before
        finally:
            for conn in held:
                system.pool.putconn(conn)
        assert response.status_code == 503, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert timeouts == 1
        again = client.post(f"/work-orders/{opened['id']}/jobs", headers=manager,
                            json={"complaint": "rattle from the rear axle"})
        assert again.status_code == 200, again.text

def test_every_connection_probes_a_server_that_falls_silent(
        own_system: tuple[Container, str]) -> None:
    """A server that vanishes without closing its connections is noticed in about a minute
    (TCP keepalives, tcp_user_timeout), not after the kernel's two hours: on the pooled
    connections and on the health check's own."""
    system, _ = own_system
    asyncio.run(system.health_check.report())
    health = system.health_check._conn  # the connection it keeps
    assert health is not None
    # The health check gives up on an unanswered statement sooner (its own 2 s).
    with system.pool.connection() as pooled:
        for conn, user_timeout in ((pooled, 60_000), (health, 2_000)):
            expected = {**TCP_KEEPALIVES, "tcp_user_timeout": str(user_timeout)}
            params = conn.info.get_parameters()
            assert {k: params.get(k) for k in TCP_KEEPALIVES} == expected
            if conn.info.host.startswith("/"):
                continue  # a Unix socket (the embedded server): no TCP to probe
            sock = socket.socket(fileno=os.dup(conn.fileno()))
            try:
                assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
                assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 30
                assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL) == 10
                assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT) == 3
                assert (sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT)
                        == user_timeout)
            finally:
                sock.close()


def test_a_database_url_keeps_its_own_probe_settings() -> None:
    url = "postgresql://app@db.example:5432/sc?keepalives_idle=5&connect_timeout=3"
    assert with_keepalives(url) == url
    added = conninfo_to_dict(with_keepalives("postgresql://app:pw@db.example:5432/sc"))
    assert added == {"user": "app", "password": "pw", "host": "db.example", "port": "5432",
                     "dbname": "sc", **TCP_KEEPALIVES, **CONNECT_TIMEOUT}
    own_timeout = conninfo_to_dict(with_keepalives("postgresql://app@db.example/sc?keepalives=0"))
    assert own_timeout["keepalives"] == "0" and own_timeout["connect_timeout"] == "10"


def test_a_connection_accepted_but_never_answered_fails_instead_of_holding_its_thread(
        server_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A middlebox that accepts connections and forwards nothing: opening one fails after
    the connect timeout (here 2 s) instead of waiting for good; the same URL connects once it
    forwards again."""
    monkeypatch.setitem(CONNECT_TIMEOUT, "connect_timeout", "2")
    proxy, through = proxied(server_url)
    url = with_keepalives(through)
    outcome: list[BaseException | None] = []

    def connect() -> None:
        try:
            psycopg.connect(url).close()
            outcome.append(None)
        except psycopg.OperationalError as error:
            outcome.append(error)

    try:
        proxy.freeze(new_too=True)
        opener = threading.Thread(target=connect, daemon=True)
        opener.start()
        opener.join(60)  # a bound for a hung test, not a measurement
        assert not opener.is_alive(), "the connection attempt still waits on the middlebox"
        assert isinstance(outcome[0], psycopg.OperationalError), outcome
        proxy.thaw()
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        proxy.thaw()
        proxy.stop()
