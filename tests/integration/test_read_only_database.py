"""A server that takes no writes for now: the address reached a standby in a failover, or an
operator set `default_transaction_read_only` (here: `ALTER DATABASE … SET`, on a database of
its own, and the pool drained so its sessions are opened under it).

PostgreSQL refuses each write with SQLSTATE 25006, which psycopg raises as an InternalError,
not as a lost connection: a command was answered 500, and a projection's batch was taken
for a poison event (the view stopped on an innocent event). Now a command is 503 with
Retry-After and nothing stored, a batch is the database away (tried again, never narrowed),
and the pool is drained on the refusal: sessions keep the setting they started with, so
without it the pool would answer read-only until its connections aged out, long after the
server took writes again.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg.conninfo import conninfo_to_dict

from api.main import create_app
from projections.base import ReadModel
from servicecore.container import Container, build
from tests.conftest import settings_for
from tests.databases import scratch_database
from tests.integration.support import head
from tests.integration.test_database_outage import Auth, assert_unavailable, opening
from tests.integration.test_poison_events import _ids, _log
from tests.integration.test_projection_group import _fresh, _receipts
from workers.projection_runner import ProjectionRunner
from workers.supervisor import database_away

TRIES = 4  # a refusal drains the pool; sessions opened while it was still read-only go too


@pytest.fixture(scope="module")
def standby(server_url: str, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[tuple[Container, str]]:
    with scratch_database(server_url, "sc_read_only") as url:
        system = build(settings_for(url, tmp_path_factory.mktemp("read_only")))
        try:
            yield system, url
        finally:
            system.close()


def read_only(system: Container, url: str, on: bool) -> None:
    """Writes refused (or taken again) for sessions opened from now on."""
    name = conninfo_to_dict(url)["dbname"]
    setting = "SET default_transaction_read_only = on" if on else \
        "RESET default_transaction_read_only"
    with psycopg.connect(url, autocommit=True,
                         options="-c default_transaction_read_only=off") as operator:
        operator.execute(f'ALTER DATABASE "{name}" {setting}')
    if on:
        system.pool.drain()  # the failover: every session opened again, now read-only


def until_taken(send: Any) -> tuple[Any, list[Any]]:
    """`send()` until it is not 503 (at most TRIES): its answer and the 503s before it."""
    refused = []
    for _ in range(TRIES):
        answer = send()
        if answer.status_code != 503:
            return answer, refused
        refused.append(answer)
    return answer, refused


class Noted(ReadModel):
    def __init__(self) -> None:
        self.name, self.tables, self.indexes = "zz_read_only", {"noted": "id bigint PRIMARY KEY"}, ()

    def apply(self, conn: psycopg.Connection[Any], events: Sequence[tuple[int, Any]],
              suffix: str = "") -> None:
        with conn.cursor() as cur:
            cur.executemany(f"INSERT INTO noted{suffix} (id) VALUES (%s)",
                            [(nid,) for nid, _ in events])


def test_a_command_refused_as_read_only_is_503_stores_nothing_and_lands_once_after(
        standby: tuple[Container, str], auth: Auth) -> None:
    system, url = standby
    advisor = {**auth("advisor", "adv-ro", ["S01"]), "Idempotency-Key": "open-read-only"}
    with TestClient(create_app(system.api_context())) as client:
        read_only(system, url, True)
        try:
            before = head(system.app)
            refused = client.post("/work-orders", json=opening("S01", 1), headers=advisor)
            assert_unavailable(refused)
            assert "read-only" in refused.json()["detail"]
            assert "command_id" not in refused.json()  # decided: nothing to look up
            assert head(system.app) == before
        finally:
            read_only(system, url, False)
        opened, refusals = until_taken(
            lambda: client.post("/work-orders", json=opening("S01", 1), headers=advisor))
        assert opened.status_code == 201, [r.text for r in refusals] + [opened.text]
        # the refusals drained the pool: the sessions opened while writes were refused went
        assert len(refusals) < TRIES - 1
        again = client.post("/work-orders", json=opening("S01", 1), headers=advisor)
        assert again.headers["Idempotent-Replayed"] == "true" and again.json() == opened.json()


def test_a_batch_refused_as_read_only_is_the_database_away_not_a_poison_event(
        standby: tuple[Container, str]) -> None:
    system, url = standby
    start = head(system.app)
    _receipts(system, "S01", 2)
    view = Noted()
    _fresh(system, view, "", start)
    runner = ProjectionRunner(system.app, system.pool, view)
    read_only(system, url, True)
    try:
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction) as raised:
            runner.run_batch()
        assert database_away(raised.value)
        assert runner.poison is None  # not narrowed to an event, nothing named
    finally:
        read_only(system, url, False)
    for _ in range(TRIES):  # the sessions opened while writes were refused are drained
        try:
            runner.catch_up()
            break
        except psycopg.errors.ReadOnlySqlTransaction:
            continue
    # every event once
    assert _ids(system, "noted") == [nid for nid, _ in _log(system, start, head(system.app))]
