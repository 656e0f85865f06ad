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
from tests.integration.support import head, together
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


def assert_refused_not_undecided(response: Any, *, save: bool) -> None:
    assert_unavailable(response)
    body = response.json()
    assert "command_id" not in body, body  # decided: not stored, nothing to look up
    assert ("nothing of the command was stored" in body["detail"]) is save, body


def test_saves_that_meet_a_timeout_are_503_store_nothing_and_their_retries_land_once(
        busy: tuple[Container, str], auth: Auth) -> None:
    system, url = busy
    user = ("advisor", "adv-busy", ["S01"])
    keyed = [{**auth(*user), "Idempotency-Key": f"open-busy-{n}"} for n in range(3)]
    with TestClient(create_app(system.api_context())) as client:
        first = client.post("/work-orders", json=opening("S01", 0), headers=auth(*user))
        assert first.status_code == 201, first.text
        before = head(system.app)
        with psycopg.connect(url, autocommit=True) as operator:
            operator.execute(f"SELECT pg_advisory_lock({APPEND_LOCK})")
            # three at once: the first sent, the others queued behind it (group commit)
            refused = together(3, lambda n: client.post(
                "/work-orders", json=opening("S01", n + 1), headers=keyed[n]))
            operator.execute(f"SELECT pg_advisory_unlock({APPEND_LOCK})")
        for response in refused:
            assert not isinstance(response, Exception), response
            assert_refused_not_undecided(response, save=True)
        # not one of the commands' streams was stored, nor a number taken
        assert head(system.app) == before

        retried = [client.post("/work-orders", json=opening("S01", n + 1), headers=keyed[n])
                   for n in range(3)]
        assert [r.status_code for r in retried] == [201] * 3, [r.text for r in retried]
        again = client.post("/work-orders", json=opening("S01", 1), headers=keyed[0])
        assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
        assert again.json() == retried[0].json()
        # gap-free: the refused saves took no number
        assert sorted(r.json()["number"][-6:] for r in retried) == ["000002", "000003", "000004"]
        history = client.get(f"/work-orders/{retried[0].json()['id']}/history",
                             headers=auth("manager")).json()["items"]
        assert [e["event"] for e in history
                if e["actor"]["idempotency_key"] == "open-busy-0"] == ["WorkOrder.Opened"]


def test_a_read_of_a_view_held_locked_is_503_and_served_once_free(
        busy: tuple[Container, str], auth: Auth) -> None:
    system, url = busy
    advisor = auth("advisor", "adv-busy", ["S01"])
    with TestClient(create_app(system.api_context())) as client:
        assert client.get("/work-orders", headers=advisor).status_code == 200
        with psycopg.connect(url) as migration, migration.transaction():
            migration.execute("LOCK TABLE wo_view IN ACCESS EXCLUSIVE MODE")
            assert_refused_not_undecided(client.get("/work-orders", headers=advisor), save=False)
        assert client.get("/work-orders", headers=advisor).status_code == 200


def test_a_read_after_the_save_that_meets_a_timeout_claims_nothing_and_the_retry_replays(
        busy: tuple[Container, str], auth: Auth) -> None:
    """The opening is stored, then the car's open campaigns (read after the save for the
    answer) meet the lock: the 503 must not say nothing was stored, and the retry with the
    key answers the stored opening, not a second one."""
    system, url = busy
    advisor = {**auth("advisor", "adv-busy", ["S01"]), "Idempotency-Key": "open-campaigns-1"}
    with TestClient(create_app(system.api_context())) as client:
        with psycopg.connect(url) as migration, migration.transaction():
            migration.execute("LOCK TABLE campaigns IN ACCESS EXCLUSIVE MODE")
            before = head(system.app)
            lost = client.post("/work-orders", json=opening("S01", 9), headers=advisor)
            assert_refused_not_undecided(lost, save=False)
            assert head(system.app) > before  # the command itself was stored
        retried = client.post("/work-orders", json=opening("S01", 9), headers=advisor)
        assert retried.status_code == 201 and retried.headers["Idempotent-Replayed"] == "true"
        assert head(system.app) == retried.json()["notification_id"]
