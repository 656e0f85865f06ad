"""A command whose COMMIT reached the server but whose answer never came back, over HTTP.

The API reaches PostgreSQL through a proxy that drops the save's connection right after
forwarding the statement (an autocommit INSERT: the commit) and before the server's reply.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
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
from tests.integration.faults import FaultyProxy, faulty_proxy, local_port
from tests.integration.kafka_support import wait_until
from tests.integration.support import CUSTOMER, VEHICLE

Auth = Callable[..., dict[str, str]]


def opening(store_id: str) -> dict[str, Any]:
    return {"store_id": store_id, "customer": CUSTOMER, "vehicle": VEHICLE, "mileage": 42_000,
            "complaints": ["brake noise at low speed"]}


@pytest.fixture
def proxy(database_url: str) -> Iterator[FaultyProxy]:
    with faulty_proxy(database_url) as running:
        yield running


@pytest.fixture
def behind(proxy: FaultyProxy, container: Container, tmp_path: Path) -> Iterator[Container]:
    """A second API process whose every connection goes through the proxy."""
    settings = settings_for(proxy.url, tmp_path, create_tables=False, pool_size=3)
    pool = open_pool(proxy.url, settings)
    app = ServiceCore(env=eventsourcing_env(proxy.url, settings),
                      personal_data=PersonalData(PostgresKeyStore(pool)))
    share_pool(app, pool)
    system = Container(settings, proxy.url, app, pool, container.views)
    yield system
    system.close()


def arm(app: ServiceCore, proxy: FaultyProxy, *, then_away: bool = False) -> None:
    """Cut the next append's connection once its statement is sent (its reply is lost)."""
    recorder = app.recorder
    assert isinstance(recorder, EventRecorder)
    plain = recorder._append

    def append(conn: psycopg.Connection, params: dict,  # type: ignore[type-arg]
               **kwargs: str) -> Any:
        recorder._append = plain  # type: ignore[method-assign]
        proxy.cut("reply", local_port(conn))
        if then_away:
            proxy.refuse_new()
        return plain(conn, params, **kwargs)

    recorder._append = append  # type: ignore[method-assign]


def lost_and_retried(behind: Container, proxy: FaultyProxy, client: TestClient, path: str,
                     body: dict[str, Any], headers: dict[str, str]
                     ) -> tuple[httpx.Response, httpx.Response, httpx.Response]:
    """POST `body` to `path` on `behind` with its commit answer lost (`arm`, one cut), again
    there with the same headers (the same Idempotency-Key), and once more on `client` (another
    process): (first, again, elsewhere)."""
    with TestClient(create_app(behind.api_context())) as api:
        arm(behind.app, proxy)
        first = api.post(path, json=body, headers=headers)
        assert proxy.cuts == 1
        again = api.post(path, json=body, headers=headers)
    elsewhere = client.post(path, json=body, headers=headers)
    return first, again, elsewhere


def assert_replayed(first: httpx.Response, *retries: httpx.Response) -> None:
    """The first answer is a success and each retry is that answer again, marked replayed (its
    notification id aside: it names where the reader's wait ends, not the command)."""
    assert first.status_code in (200, 201), first.text
    for retry in retries:
        assert retry.status_code == first.status_code, retry.text
        assert retry.headers["Idempotent-Replayed"] == "true"
        assert {k: v for k, v in retry.json().items() if k != "notification_id"} == \
            {k: v for k, v in first.json().items() if k != "notification_id"}


def orders_of(database_url: str, store_id: str) -> int:
    """Work orders of the store in the log (a store of its own per test)."""
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM servicecore_events WHERE topic LIKE '%%WorkOrder.Opened' "
            "AND convert_from(state, 'UTF8') LIKE %s", (f'%"store_id":"{store_id}"%',)
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_a_lost_commit_answer_is_the_stored_answer_and_its_retry_replays_it(
        behind: Container, proxy: FaultyProxy, client: TestClient, database_url: str,
        store_id: str, auth: Auth) -> None:
    advisor = auth("advisor", "adv-ack", [store_id], **{"Idempotency-Key": "visit-1"})
    with TestClient(create_app(behind.api_context())) as api:
        arm(behind.app, proxy)
        first = api.post("/work-orders", json=opening(store_id), headers=advisor)
        assert proxy.cuts == 1
        assert first.status_code == 201, first.text
        # The retry, on the same process and on another one, gets the first answer again.
        again = api.post("/work-orders", json=opening(store_id), headers=advisor)
        elsewhere = client.post("/work-orders", json=opening(store_id), headers=advisor)
        # The pool gave up the broken connection: the next command succeeds at once.
        next_one = api.post("/work-orders", json=opening(store_id),
                            headers=auth("advisor", "adv-ack", [store_id]))
    assert again.status_code == elsewhere.status_code == 201, (again.text, elsewhere.text)
    assert again.headers["Idempotent-Replayed"] == elsewhere.headers["Idempotent-Replayed"] \
        == "true"
    for retry in (again, elsewhere):
        assert {k: retry.json()[k] for k in ("id", "number", "version")} == \
            {k: first.json()[k] for k in ("id", "number", "version")}
    assert next_one.status_code == 201, next_one.text
    assert next_one.json()["number"].endswith("-000002")
    assert orders_of(database_url, store_id) == 2


def test_an_undecided_commit_is_503_and_the_retry_with_its_key_replays_once(
        behind: Container, proxy: FaultyProxy, client: TestClient, database_url: str,
        store_id: str, auth: Auth) -> None:
    recorder = behind.app.recorder
    assert isinstance(recorder, EventRecorder)
    recorder.resolve_seconds = 1.0
    advisor = auth("advisor", "adv-unk", [store_id], **{"Idempotency-Key": "visit-2"})
    with TestClient(create_app(behind.api_context())) as api:
        # A connection is open in the pool first (the key store's), then the answer to the
        # save is lost and the database stays out of reach.
        arm(behind.app, proxy, then_away=True)
        first = api.post("/work-orders", json=opening(store_id), headers=advisor)
    assert first.status_code == 503, first.text
    assert first.headers["content-type"] == "application/problem+json"
    problem = first.json()
    assert problem["type"].endswith("/unavailable") and problem.get("command_id"), problem
    # Another API process that reaches the database: the command was stored, once.
    looked_up = client.get(f"/commands/{problem['command_id']}", headers=advisor)
    assert looked_up.status_code == 200, looked_up.text
    retry = client.post("/work-orders", json=opening(store_id), headers=advisor)
    assert retry.status_code == 201, retry.text
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.json()["number"].endswith("-000001")
    # The database is reachable again from the first process: its retry replays too, and
    # its next command is numbered after the stored one.
    proxy.readmit()
    with TestClient(create_app(behind.api_context())) as api:
        again = api.post("/work-orders", json=opening(store_id), headers=advisor)
        next_one = api.post("/work-orders", json=opening(store_id),
                            headers=auth("advisor", "adv-unk", [store_id]))
    assert again.status_code == 201, again.text
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == retry.json()["id"]
    assert next_one.status_code == 201, next_one.text
    assert next_one.json()["number"].endswith("-000002")
    assert orders_of(database_url, store_id) == 2


def key_exists(database_url: str, customer_id: str) -> bool:
    with psycopg.connect(database_url) as conn:
        return conn.execute("SELECT 1 FROM customer_keys WHERE customer_id = %s",
                            (customer_id,)).fetchone() is not None


def test_an_erasure_cut_off_before_its_key_is_deleted_still_shreds_the_key(
        behind: Container, proxy: FaultyProxy, client: TestClient, database_url: str,
        store_id: str, auth: Auth) -> None:
    manager = auth("manager", "mgr-erase", [store_id])
    opened = client.post("/work-orders", json=opening(store_id), headers=manager)
    assert opened.status_code == 201, opened.text
    customer_id = opened.json()["customer_id"]
    assert key_exists(database_url, customer_id)
    # An API process whose connections go through the proxy.
    pool, recorder = behind.pool, behind.app.recorder
    assert isinstance(recorder, EventRecorder)
    plain = recorder._append

    lend = pool.connection

    @contextmanager
    def connection(*args: Any, **kwargs: Any) -> Iterator[psycopg.Connection[Any]]:
        pool.connection = lend  # type: ignore[method-assign]
        with lend(*args, **kwargs) as conn:
            proxy.cut("request", local_port(conn))
            yield conn

    def append(conn: psycopg.Connection, params: dict,  # type: ignore[type-arg]
               **kwargs: str) -> Any:
        # The erasure's event is stored; the network then swallows the next statement sent
        # on a pooled connection (the key's DELETE) and drops that connection.
        recorder._append = plain  # type: ignore[method-assign]
        stored = plain(conn, params, **kwargs)
        pool.connection = connection  # type: ignore[method-assign]
        return stored

    with TestClient(create_app(behind.api_context())) as api:
        recorder._append = append  # type: ignore[method-assign]
        first = api.post(f"/customers/{customer_id}/erasure",
                         json={"reason": "customer asked (PIPL)"}, headers=manager)
    assert proxy.cuts == 1
    assert first.status_code == 503, first.text
    # The event is stored; the work-order view, applying it, shreds the key all the same.
    wait_until(lambda: not key_exists(database_url, customer_id), 30, "the key to be deleted")
    retry = client.post(f"/customers/{customer_id}/erasure",
                        json={"reason": "customer asked (PIPL)"}, headers=manager)
    assert retry.status_code == 409, retry.text
