"""API requests whose connections to PostgreSQL stay open but stop forwarding (a stuck pooler,
NAT or middlebox: `TcpProxy.freeze()`).

Without a deadline such a request waits for good and holds its pool slot; after as many of them
as the pool has connections the API answers nothing but 503s. With
SERVICECORE_REQUEST_DB_DEADLINE_SECONDS (api/db_deadline.py) the request's connection is cut,
the request is answered 503 problem+json (retryable, Retry-After; a save whose outcome cannot be
decided names its command id), the pool opens new connections, and the next request is served.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from domain.application import ServiceCore
from domain.pii import PersonalData
from servicecore.container import Container, eventsourcing_env
from servicecore.event_store import EventRecorder
from servicecore.keystore import PostgresKeyStore
from servicecore.pool import open_pool, share_pool
from tests.conftest import settings_for
from tests.integration.kafka_support import wait_until
from tests.integration.tcp_proxy import TcpProxy, proxied
from tests.integration.test_lost_acknowledgements import opening, orders_of

Auth = Callable[..., dict[str, str]]
DEADLINE = 1.5  # seconds; the default is 30
GENEROUS = 60.0  # how long the test waits for what should take a few deadlines


@pytest.fixture
def behind(container: Container, tmp_path: Path) -> Iterator[tuple[Container, TcpProxy]]:
    """A second API process whose every connection goes through a freezable proxy."""
    proxy, url = proxied(container.database_url)
    settings = settings_for(url, tmp_path, create_tables=False, pool_size=3,
                            request_db_deadline_seconds=DEADLINE)
    pool = open_pool(url, settings)
    app = ServiceCore(env=eventsourcing_env(url, settings),
                      personal_data=PersonalData(PostgresKeyStore(pool)))
    share_pool(app, pool)
    system = Container(settings, url, app, pool, container.views)
    try:
        yield system, proxy
    finally:
        proxy.stop()
        system.close()


def answered(call: Callable[[], httpx.Response], proxy: TcpProxy) -> httpx.Response:
    """`call()`'s response, which must come within GENEROUS seconds (not hang; if it does,
    the proxy forwards again, so the test fails instead of hanging too)."""
    result: list[httpx.Response] = []
    thread = threading.Thread(target=lambda: result.append(call()), daemon=True)
    thread.start()
    thread.join(GENEROUS)
    if not result:
        proxy.thaw()
        thread.join(GENEROUS)
        pytest.fail(f"no answer within {GENEROUS:g} s: the request hangs on its connection")
    return result[0]


def opened(api: TestClient, proxy: TcpProxy, store_id: str,
           headers: dict[str, str]) -> httpx.Response:
    """The answer to opening a work order in `store_id` (within GENEROUS seconds)."""
    return answered(lambda: api.post("/work-orders", json=opening(store_id), headers=headers),
                    proxy)


def assert_unavailable(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["Retry-After"].isdigit()
    problem: dict[str, Any] = response.json()
    assert problem["type"].endswith("/unavailable"), problem
    return problem


def test_a_read_on_a_frozen_connection_is_503_and_the_next_is_served(
        behind: tuple[Container, TcpProxy], client: TestClient, store_id: str, auth: Auth,
        caplog: pytest.LogCaptureFixture) -> None:
    system, proxy = behind
    advisor = auth("advisor", "adv-frozen", [store_id])
    opened = client.post("/work-orders", json=opening(store_id), headers=advisor)
    assert opened.status_code == 201, opened.text
    one = f"/work-orders/{opened.json()['id']}"
    listed = "/work-orders?status=opened"
    wait_until(lambda: client.get(one, headers=advisor).status_code == 200, GENEROUS,
               "the work order to reach its read model")
    with TestClient(create_app(system.api_context())) as api, caplog.at_level(logging.WARNING):
        # Both pools have connections through the proxy, then it stops forwarding on them.
        assert api.get(listed, headers=advisor).status_code == 200
        assert api.get(one, headers=advisor).status_code == 200
        assert proxy.freeze() > 0
        # A list (a sync route, on the process's pool in a worker thread) and one work order
        # (the asyncio read pool): each cut after the deadline and answered 503.
        assert_unavailable(answered(lambda: api.get(listed, headers=advisor), proxy))
        assert "an API request: no answer from PostgreSQL" in caplog.text
        assert_unavailable(answered(lambda: api.get(one, headers=advisor), proxy))
        assert "an API read: no answer from PostgreSQL" in caplog.text
        # The pools dropped the frozen connections: the next requests are served at once,
        # more of them than either pool has connections.
        for _ in range(4):
            assert answered(lambda: api.get(listed, headers=advisor), proxy).status_code == 200
            got = answered(lambda: api.get(one, headers=advisor), proxy)
            assert got.status_code == 200, got.text
            assert got.json()["id"] == opened.json()["id"]


def freeze_at_the_append(app: ServiceCore, proxy: TcpProxy, *, new_too: bool) -> list[int]:
    """The proxy stops forwarding just before the next save's statement is sent. Returns a
    list that then holds the backend pid of the save's connection."""
    recorder = app.recorder
    assert isinstance(recorder, EventRecorder)
    plain = recorder._append
    backends: list[int] = []

    def append(conn: psycopg.Connection, params: dict,  # type: ignore[type-arg]
               **kwargs: str) -> Any:
        recorder._append = plain  # type: ignore[method-assign]
        backends.append(conn.info.backend_pid)
        proxy.freeze(new_too=new_too)
        return plain(conn, params, **kwargs)

    recorder._append = append  # type: ignore[method-assign]
    return backends


def test_a_save_frozen_in_flight_is_decided_and_stored_once(
        behind: tuple[Container, TcpProxy], database_url: str, store_id: str,
        auth: Auth) -> None:
    system, proxy = behind
    advisor = auth("advisor", "adv-frozen", [store_id], **{"Idempotency-Key": "frozen-1"})
    with TestClient(create_app(system.api_context())) as api:
        freeze_at_the_append(system.app, proxy, new_too=False)
        # The statement never reaches the server; new connections do: the deadline cuts the
        # save's, the recorder ends the old backend, finds nothing stored and sends it again.
        first = opened(api, proxy, store_id, advisor)
        assert first.status_code == 201, first.text
        proxy.thaw()  # what the proxy held reaches a backend that is gone
        other = auth("advisor", "adv-frozen", [store_id])
        next_one = opened(api, proxy, store_id, other)
    assert next_one.status_code == 201, next_one.text
    assert next_one.json()["number"].endswith("-000002")
    assert orders_of(database_url, store_id) == 2


def undecided_at_the_deadline(system: Container, proxy: TcpProxy, api: TestClient,
                              store_id: str, advisor: dict[str, str]) -> tuple[str, int]:
    """A save frozen in flight, new connections too, answered 503 naming its command id
    while the proxy is still frozen: the command id, and the backend the save was sent to.

    Outside a request the recorder would wait `resolve_seconds` for the database; here that
    is longer than `answered` waits, which thaws the proxy and fails the test: the request's
    commit check may only take what is left of the request's deadline (one look at least)."""
    recorder = system.app.recorder
    assert isinstance(recorder, EventRecorder)
    recorder.resolve_seconds = 600.0
    backends = freeze_at_the_append(system.app, proxy, new_too=True)
    problem = assert_unavailable(opened(api, proxy, store_id, advisor))
    assert problem.get("command_id"), problem
    assert f"GET /commands/{problem['command_id']}" in problem["detail"]
    return str(problem["command_id"]), backends[0]


def backend_gone(database_url: str, backend: int) -> None:
    """Wait until the backend a frozen statement was sent to has run what it was sent and
    ended (its client is gone: the stream ends after the statement)."""
    with psycopg.connect(database_url, autocommit=True) as admin:
        wait_until(lambda: admin.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s",
                                         (backend,)).fetchone() is None, GENEROUS,
                   "the old backend to run what it was sent and end")


def test_an_undecided_save_is_503_naming_its_command_and_is_stored_once(
        behind: tuple[Container, TcpProxy], client: TestClient, database_url: str,
        store_id: str, auth: Auth) -> None:
    system, proxy = behind
    advisor = auth("advisor", "adv-frozen", [store_id], **{"Idempotency-Key": "frozen-2"})
    with TestClient(create_app(system.api_context())) as api:
        # The middlebox stops forwarding everything, new connections too: whether the save
        # committed cannot be told within the request's deadline.
        command_id, backend = undecided_at_the_deadline(system, proxy, api, store_id, advisor)
        # The middlebox forwards again: the statement it held is stored, once (nobody asked
        # for the command meanwhile: a lookup would have voided it, test_final_lookup.py).
        proxy.thaw()
        backend_gone(database_url, backend)
        stored = client.get(f"/commands/{command_id}", headers=advisor)
        assert stored.status_code == 200, stored.text
        again = opened(api, proxy, store_id, advisor)
        assert again.status_code == 201, again.text
        assert again.headers["Idempotent-Replayed"] == "true"
        other = auth("advisor", "adv-frozen", [store_id])
        next_one = opened(api, proxy, store_id, other)
    assert next_one.status_code == 201, next_one.text
    assert next_one.json()["number"].endswith("-000002")
    assert orders_of(database_url, store_id) == 2


def test_an_undecided_save_that_never_landed_is_404_and_a_retry_stores_it_once(
        behind: tuple[Container, TcpProxy], client: TestClient, database_url: str,
        store_id: str, auth: Auth) -> None:
    system, proxy = behind
    advisor = auth("advisor", "adv-frozen", [store_id], **{"Idempotency-Key": "frozen-3"})
    with TestClient(create_app(system.api_context())) as api:
        command_id, backend = undecided_at_the_deadline(system, proxy, api, store_id, advisor)
        # The backend the statement was sent to is ended (as the commit check does once it
        # reaches the database) before the middlebox forwards again: it never arrives.
        with psycopg.connect(database_url, autocommit=True) as admin:
            assert admin.execute("SELECT pg_terminate_backend(%s, 5000)",
                                 (backend,)).fetchone() == (True,)
        proxy.thaw()
        missing = client.get(f"/commands/{command_id}", headers=advisor)
        assert missing.status_code == 404, missing.text
        # The retry with the same key finds nothing stored and stores the command, once.
        again = opened(api, proxy, store_id, advisor)
        assert again.status_code == 201, again.text
        assert "Idempotent-Replayed" not in again.headers
        replayed = opened(api, proxy, store_id, advisor)
        assert replayed.headers["Idempotent-Replayed"] == "true"
        assert replayed.json()["id"] == again.json()["id"]
    assert again.json()["number"].endswith("-000001")
    assert orders_of(database_url, store_id) == 1


def test_health_on_a_frozen_connection_reconnects(
        behind: tuple[Container, TcpProxy]) -> None:
    system, proxy = behind

    def database() -> str:
        return str(api.get("/health").json()["database"])

    with TestClient(create_app(system.api_context())) as api:
        assert database() == "reachable"
        assert proxy.freeze() > 0
        assert database().startswith("no answer")
        # The check's connection is cut after the deadline; the next check opens a new one.
        wait_until(lambda: database() == "reachable", GENEROUS,
                   "/health to reach the database again")
