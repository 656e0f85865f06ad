"""A database outage is 503 problem+json with Retry-After, never 500.

Real faults: the test database's backends are terminated (pg_terminate_backend) while commands
and reads run, and the server an API talks to goes away (a TCP proxy in front of it stops:
connections cut, new ones refused). Each runs on a
database of its own, so the session's projections never see the faults.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from httpx import Response

from api.main import create_app
from domain.application import ServiceCore
from domain.pii import PersonalData
from servicecore.container import Container, build, eventsourcing_env
from servicecore.keystore import PostgresKeyStore
from servicecore.pool import open_pool, share_pool
from tests.conftest import settings_for
from tests.databases import scratch_database
from tests.integration.tcp_proxy import TcpProxy, proxied

Auth = Callable[..., dict[str, str]]
VIN = "LSVAU218XN2183294"


def opening(store_id: str, n: int) -> dict[str, Any]:
    return {"store_id": store_id, "customer": {"name": f"客户{n}", "phone": "13611112222"},
            "vehicle": {"vin": VIN}, "mileage": 30_000 + n, "complaints": ["noise"]}


def assert_unavailable(response: Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert int(response.headers["Retry-After"]) > 0
    body = response.json()
    assert body["type"].endswith("/unavailable") and body["status"] == 503


@pytest.fixture(scope="module")
def own_database(server_url: str) -> Iterator[str]:
    with scratch_database(server_url, "sc_outage") as url:
        yield url


@pytest.fixture(scope="module")
def system(own_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Container]:
    built = build(settings_for(own_database, tmp_path_factory.mktemp("outage")))
    yield built
    built.close()


def terminate_backends(server_url: str, database_url: str) -> int:
    dbname = psycopg.conninfo.conninfo_to_dict(database_url)["dbname"]
    with psycopg.connect(server_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()", (dbname,)).fetchall()
    return len(rows)


def test_terminated_backends_are_503_while_commands_run(system: Container, server_url: str,
                                                        own_database: str,
                                                        auth: Auth) -> None:
    advisor = auth("advisor", "adv-li", ["S01"])
    statuses: list[int] = []
    unavailable: list[Response] = []
    stop = threading.Event()

    with TestClient(create_app(system.api_context())) as client:
        assert client.post("/work-orders", json=opening("S01", 0),
                           headers=advisor).status_code == 201

        def front_desk(worker: int) -> None:
            n = 0
            while not stop.is_set():
                n += 1
                if n % 2:
                    response = client.post("/work-orders", json=opening("S01", n),
                                           headers=advisor)
                else:
                    response = client.get("/work-orders?limit=5", headers=advisor)
                statuses.append(response.status_code)
                if response.status_code == 503:
                    unavailable.append(response)

        desks = [threading.Thread(target=front_desk, args=(i,)) for i in range(3)]
        for desk in desks:
            desk.start()
        try:
            # The administrator terminates every backend of the database, again and again,
            # until requests in flight have met it.
            for _ in range(200):
                terminate_backends(server_url, own_database)
                if len(unavailable) >= 3:
                    break
                threading.Event().wait(0.05)
        finally:
            stop.set()
            for desk in desks:
                desk.join(timeout=60)

        assert unavailable, f"no request met the fault: {sorted(set(statuses))}"
        assert set(statuses) <= {200, 201, 503}, sorted(set(statuses))
        for response in unavailable:
            assert_unavailable(response)

        # The database is back: the pool drops the dead connections and serves again.
        for n in range(5):
            response = client.post("/work-orders", json=opening("S01", 1000 + n),
                                   headers=advisor)
            if response.status_code == 201:
                break
            assert_unavailable(response)
        assert response.status_code == 201, response.text


@pytest.fixture
def cut_off(own_database: str, system: Container, tmp_path: Path
            ) -> Iterator[tuple[TestClient, TcpProxy]]:
    """The API of a system that reaches its PostgreSQL through a proxy the test can stop."""
    proxy, url = proxied(own_database)
    # One pool, as build() makes it; short waits for a connection (1 s, not the default 5 s).
    settings = settings_for(url, tmp_path, create_tables=False, pool_size=2,
                            pool_timeout_seconds=1)
    pool = open_pool(url, settings)
    app = ServiceCore(env=eventsourcing_env(url, settings),
                      personal_data=PersonalData(PostgresKeyStore(pool)))
    share_pool(app, pool)
    behind_proxy = Container(settings, url, app, pool, system.views)
    try:
        with TestClient(create_app(behind_proxy.api_context())) as client:
            yield client, proxy
    finally:
        proxy.stop()
        behind_proxy.close()  # its pool, its app and its positions listener


def test_a_database_that_is_not_running_is_503(cut_off: tuple[TestClient, TcpProxy],
                                               auth: Auth) -> None:
    client, proxy = cut_off
    manager = auth("manager", "mgr-wu", ["S01"])
    opened = client.post("/work-orders", json=opening("S01", 1), headers=manager)
    assert opened.status_code == 201, opened.text
    wo = opened.json()["id"]

    # The server goes away: open connections are cut, new ones refused.
    proxy.stop()

    # A command that needs the key store, one that goes straight to the event store (its reads
    # try twice, each waiting up to the pool's timeout, a second here) and a read from a
    # read model; the first meets a cut connection, the others find no server at all.
    assert_unavailable(client.post("/work-orders", json=opening("S01", 2), headers=manager))
    assert_unavailable(client.post(f"/work-orders/{wo}/jobs", json={"complaint": "brakes squeal"},
                                   headers=manager))
    assert_unavailable(client.get("/work-orders", headers=manager))
    assert_unavailable(client.post("/work-orders", json=opening("S01", 3), headers=manager))
