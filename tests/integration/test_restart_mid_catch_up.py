"""Fault drill: the database server is killed (-9) while every projection is catching up on a
backlog and while commands are in flight; then it is started again.

Every projection must resume by itself and end with exactly the rows a rebuild from event 0
gives (nothing skipped, nothing applied twice), and every command that was answered 201, or
that got a 503 and was retried with its Idempotency-Key, must be in the log exactly once.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from servicecore.container import Container, build
from servicecore.demo import load_demo
from servicecore.schema import APPEND_LOCK
from tests.conftest import settings_for
from tests.integration.kafka_support import wait_until
from tests.integration.support import CUSTOMER, VEHICLE, Auth
from tests.integration.test_database_restart import EmbeddedServer, embedded  # noqa: F401
from workers.projection_rebuild import rebuild


def opening(n: int) -> dict[str, Any]:
    return {"store_id": "RM1", "customer": CUSTOMER, "vehicle": VEHICLE, "mileage": 40_000 + n,
            "complaints": ["brake noise at low speed"]}


def table_rows(conn: psycopg.Connection[Any], table: str) -> list[str]:
    """Every row of `table` as text, sorted (what two builds of a view are compared by)."""
    return sorted(str(row) for row in conn.execute(f"SELECT * FROM {table}"))


def positions(system: Container) -> dict[str, int]:
    with system.pool.connection() as conn:
        return {name: position for name, position in conn.execute(
            "SELECT name, position FROM projection_positions")}


@pytest.fixture
def system(embedded: EmbeddedServer, tmp_path: Path) -> Iterator[Container]:  # noqa: F811
    built = build(settings_for(embedded.url, tmp_path / "var", pool_size=6,
                               projection_batch_size=25))
    yield built
    built.close()


def test_a_restart_mid_catch_up_and_mid_command_loses_nothing_and_doubles_nothing(
        system: Container, embedded: EmbeddedServer, auth: Auth) -> None:  # noqa: F811
    # A backlog: a month of visits at one store, settled and followed up, before any
    # projection runs.
    load_demo(system.work_orders, system.inventory, visits=24, stores=("RM1",),
              settlements=system.settlements, aftercare=system.aftercare)
    backlog = system.app.recorder.max_notification_id() or 0
    assert backlog > 600
    advisor = auth("advisor", "adv-rm", ["RM1"])
    answers: dict[str, int] = {}  # Idempotency-Key -> last status
    stop = threading.Event()

    with TestClient(create_app(system.api_context())) as client:
        def front_desk(desk: int) -> None:
            n = 0
            while not stop.is_set():
                n += 1
                key = f"desk{desk}-{n}"
                answer = client.post("/work-orders", json=opening(n),
                                     headers={**advisor, "Idempotency-Key": key})
                answers[key] = answer.status_code

        system.start_projections()
        desks = [threading.Thread(target=front_desk, args=(d,)) for d in range(2)]
        for desk in desks:
            desk.start()
        try:
            # One more command is surely in flight: its statement waits for the append lock,
            # which another session holds.
            holder = psycopg.connect(embedded.url, autocommit=True)
            holder.execute(f"SELECT pg_advisory_lock({APPEND_LOCK})")
            desks.append(threading.Thread(target=lambda: answers.update(
                {"in-flight": client.post("/work-orders", json=opening(0), headers={
                    **advisor, "Idempotency-Key": "in-flight"}).status_code})))
            desks[-1].start()
            wait_until(lambda: holder.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            ).fetchone() == (1,), 30, "the command to wait for the append lock", 0.01)
            # Kill the server once the projections are part way through the backlog.
            wait_until(lambda: any(0 < p < backlog for p in positions(system).values()), 30,
                       "the projections to be part way through the backlog", 0.01)
            embedded.kill()
            holder.close()
            status = client.get("/health")
            assert status.status_code == 503 and status.json()["status"] == "unavailable"
            embedded.start()
        finally:
            stop.set()
            for desk in desks:
                desk.join(60)

        # Every command that got no 201 is retried with its key until it is answered.
        assert set(answers.values()) <= {201, 503}, answers
        for key, status in answers.items():
            if status != 201:
                def stored(key: str = key) -> bool:
                    again = client.post("/work-orders", json=opening(0),
                                        headers={**advisor, "Idempotency-Key": key})
                    return again.status_code == 201
                wait_until(stored, 60, f"the command {key} to be answered", 0.2)

        wait_until(lambda: client.get("/health/ready").status_code == 200, 60,
                   "/health/ready to answer 200 again", 0.2)
        head = system.app.recorder.max_notification_id() or 0
        wait_until(lambda: all(positions(system).get(v.name, 0) >= head for v in system.views),
                   60, "every projection to reach the head of the log", 0.1)
        loops = client.get("/health").json()["loops"]
        assert all(s["state"] == "running" for s in loops.values()), loops

    # Each key's command is in the log exactly once (the idempotency record and its order).
    with system.pool.connection() as conn:
        keys = [row[0] for row in conn.execute(
            "SELECT substring(convert_from(state, 'UTF8') from '\"idempotency_key\":\"([^\"]*)\"') "
            "FROM servicecore_events WHERE topic LIKE '%%WorkOrder.Opened' "
            "AND convert_from(state, 'UTF8') LIKE '%%\"store_id\":\"RM1\"%%'")]
    assert "in-flight" in answers
    assert sorted(k for k in keys if k is not None) == sorted(answers)

    # Every view equals its rebuild from event 0, table by table.
    live: dict[str, list[str]] = {}
    with system.pool.connection() as conn:
        for view in system.views:
            for table in view.tables:
                live[table] = table_rows(conn, table)
    for view in system.views:
        rebuild(system.app, system.pool, view)
    with system.pool.connection() as conn:
        for view in system.views:
            for table in view.tables:
                rebuilt = table_rows(conn, table)
                assert live[table] == rebuilt, (table, len(live[table]), len(rebuilt))
