"""A statement the database gives up on (a lock or statement timeout) is 503, never 500.

The database's administrator may set `lock_timeout` or `statement_timeout` for the
application's role (here: in the URL's options, on a database of its own); another session
then holds what a request waits for — the event store's append lock (a long save, an
operator's `pg_advisory_lock`), a view's table (`LOCK TABLE` in a migration). The server
answers the statement with an ERROR and rolls its transaction back: the request is answered
503 problem+json with Retry-After at once, nothing of the command is stored (not one of the
streams it touches: the work order, its number's counter, the customer, the car), and the
retry with the same Idempotency-Key is applied once.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from servicecore.container import Container, build
from servicecore.schema import APPEND_LOCK
from tests.conftest import settings_for
from tests.databases import scratch_database
from tests.integration.support import head
from tests.integration.test_database_outage import Auth, assert_unavailable, opening

LIMITS = {"lock_timeout": "-c lock_timeout=200", "statement_timeout": "-c statement_timeout=600"}


@pytest.fixture(scope="module", params=sorted(LIMITS))
def busy(request: pytest.FixtureRequest, server_url: str,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Container, str]]:
    """(The system, the database's URL) of a system whose connections carry one limit."""
    with scratch_database(server_url, "sc_busy") as url:
        limited = f"{url} options='{LIMITS[request.param]}'"
        system = build(settings_for(limited, tmp_path_factory.mktemp("busy")))
        try:
            yield system, url
        finally:
            system.close()


def assert_refused_not_undecided(response: Any) -> None:
    assert_unavailable(response)
    body = response.json()
    assert "command_id" not in body, body  # decided: not stored, nothing to look up
    assert "nothing of it was stored" in body["detail"]


def test_a_save_that_meets_a_timeout_is_503_stores_nothing_and_its_retry_lands_once(
        busy: tuple[Container, str], auth: Auth) -> None:
    system, url = busy
    advisor = {**auth("advisor", "adv-busy", ["S01"]), "Idempotency-Key": "open-busy-1"}
    with TestClient(create_app(system.api_context())) as client:
        first = client.post("/work-orders", json=opening("S01", 1), headers=auth(
            "advisor", "adv-busy", ["S01"]))
        assert first.status_code == 201, first.text
        before = head(system.app)
        with psycopg.connect(url, autocommit=True) as operator:
            operator.execute(f"SELECT pg_advisory_lock({APPEND_LOCK})")
            refused = client.post("/work-orders", json=opening("S01", 2), headers=advisor)
            assert_refused_not_undecided(refused)
            operator.execute(f"SELECT pg_advisory_unlock({APPEND_LOCK})")
            # not one of the command's streams was stored, nor its number taken
            assert head(system.app) == before

        retried = client.post("/work-orders", json=opening("S01", 2), headers=advisor)
        assert retried.status_code == 201, retried.text
        again = client.post("/work-orders", json=opening("S01", 2), headers=advisor)
        assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
        assert again.json() == retried.json()
        number = retried.json()["number"]
        assert number.endswith("000002"), number  # gap-free: the refused save took none
        keyed = [event for event in client.get(
            f"/work-orders/{retried.json()['id']}/history", headers=auth("manager")).json()[
            "items"] if event["actor"]["idempotency_key"] == "open-busy-1"]
        assert [event["event"] for event in keyed] == ["WorkOrder.Opened"]


def test_a_read_of_a_view_held_locked_is_503_and_served_once_free(
        busy: tuple[Container, str], auth: Auth) -> None:
    system, url = busy
    advisor = auth("advisor", "adv-busy", ["S01"])
    with TestClient(create_app(system.api_context())) as client:
        assert client.get("/work-orders", headers=advisor).status_code == 200
        with psycopg.connect(url) as migration, migration.transaction():
            migration.execute("LOCK TABLE wo_view IN ACCESS EXCLUSIVE MODE")
            assert_refused_not_undecided(client.get("/work-orders", headers=advisor))
        assert client.get("/work-orders", headers=advisor).status_code == 200
