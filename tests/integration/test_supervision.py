"""Supervised loops: a loop that raises is started again and reported until it runs again.

In-process (the API's /health*) and in a worker process (its own /health server).
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psycopg
from fastapi.testclient import TestClient

from api.main import create_app
from projections.base import ReadModel
from servicecore.container import build
from tests.conftest import settings_for
from tests.integration.kafka_support import wait_until
from tests.integration.support import head, open_order
from workers.health import WorkerHealth, serve
from workers.supervisor import Supervisor


class Poisoned(ReadModel):
    """A read model whose batches fail while `poisoned` is set (a bug, a bad event)."""

    tables: dict[str, str] = {}  # noqa: RUF012

    def __init__(self, name: str) -> None:
        self.name = name
        self.poisoned = threading.Event()
        self.poisoned.set()
        self.applied = 0

    def apply(self, conn: psycopg.Connection[Any], events: Sequence[tuple[int, Any]],
              suffix: str = "") -> None:
        if self.poisoned.is_set():
            raise RuntimeError("cannot apply this event")
        self.applied += len(events)


def test_a_projection_loop_that_raises_is_restarted_and_reported(
        database_url: str, tmp_path: Path, store_id: str) -> None:
    system = build(settings_for(database_url, tmp_path, pool_size=3))
    view = Poisoned(f"poisoned_{uuid.uuid4().hex[:8]}")
    system.views = [view]
    loop = "projections" if system.settings.projection_group else f"projection-{view.name}"
    try:
        open_order(system.work_orders, store_id)  # at least one event to fail on
        system.start_projections()
        with TestClient(create_app(system.api_context())) as client:
            # The batch fails: the loop is restarted (backoff) and readiness says why.
            def reported() -> bool:
                answer = client.get("/health/ready")
                return answer.status_code == 503 and any(
                    r.startswith(f"loop {loop} is restarting after RuntimeError: cannot apply")
                    for r in answer.json()["reasons"])

            wait_until(reported, 30, "/health/ready to report the failing loop")
            body = client.get("/health").json()
            assert body["status"] == "unavailable"
            assert body["loops"][loop]["restarts"] >= 1
            assert "cannot apply this event" in body["loops"][loop]["last_error"]
            assert body["projections"][view.name]["position"] == 0
            # Failing and restarting is not a dead process: live stays 200.
            assert client.get("/health/live").status_code == 200

            # Fixed (here: the poison goes away): the next start catches up, ready again.
            view.poisoned.clear()
            wait_until(lambda: client.get("/health/ready").status_code == 200, 30,
                       "/health/ready to answer 200 after the loop recovered")
            wait_until(lambda: client.get("/health").json()["projections"][view.name][
                "position"] == head(system.app), 30, "the projection to reach the head")
            body = client.get("/health").json()
            assert body["loops"][loop]["state"] == "running"
            assert body["loops"][loop]["restarts"] >= 1
            assert view.applied > 0
    finally:
        system.close()


def get(port: int, path: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_a_worker_reports_a_failing_loop_as_503_and_a_loop_that_ended_as_not_live() -> None:
    failing = threading.Event()
    failing.set()
    finish = threading.Event()

    def flaky(stop: threading.Event, conninfo: str) -> None:
        if failing.is_set():
            raise ValueError("broker said no")
        stop.wait()

    def one_shot(stop: threading.Event, conninfo: str) -> None:
        finish.wait()  # returns on its own: ends for good

    supervisor = Supervisor("unused", first_backoff=0.2, max_backoff=0.5)
    health = WorkerHealth("test")
    health.watch(supervisor)
    server = serve(health, "127.0.0.1", 0)
    port = server.server_address[1]
    try:
        supervisor.start("flaky", flaky)
        supervisor.start("one-shot", one_shot)

        # A loop that keeps failing: 503 with the reason; still live.
        wait_until(lambda: get(port, "/health")[0] == 503, 10, "/health to answer 503")
        status, body = get(port, "/health/ready")
        assert status == 503 and body["status"] == "failing"
        assert any(r.startswith("loop flaky is restarting after ValueError: broker said no")
                   for r in body["reasons"])
        assert body["loops"]["flaky"]["restarts"] >= 1
        assert get(port, "/health/live")[0] == 200

        # It runs again: 200.
        failing.clear()
        wait_until(lambda: get(port, "/health")[0] == 200, 10, "/health to answer 200")
        assert get(port, "/health")[1]["loops"]["flaky"]["state"] == "running"

        # A loop that returns on its own is not started again: not ready, not live.
        finish.set()
        wait_until(lambda: get(port, "/health/live")[0] == 503, 10, "/health/live to say 503")
        status, body = get(port, "/health/live")
        assert body["reasons"] == ["loop one-shot has ended"]
        assert get(port, "/health")[0] == 503
    finally:
        assert supervisor.stop(timeout=5) == []
        server.shutdown()
        server.server_close()
    assert supervisor.states()["flaky"]["state"] == "stopped"


def test_a_loop_killed_by_a_base_exception_is_reported_ended_not_running(
        caplog: Any) -> None:
    """SystemExit (a library calling sys.exit) or a cancellation is no Exception: the loop's
    thread ends with it, and /health must say so instead of showing it running."""
    import asyncio

    supervisor = Supervisor("unused", first_backoff=0.2, max_backoff=0.5)
    health = WorkerHealth("test")
    health.watch(supervisor)
    server = serve(health, "127.0.0.1", 0)
    port = server.server_address[1]

    def exits(stop: threading.Event, conninfo: str) -> None:
        raise SystemExit(3)

    def cancelled(stop: threading.Event, conninfo: str) -> None:
        raise asyncio.CancelledError

    try:
        supervisor.start("exits", exits)
        supervisor.start("cancelled", cancelled)
        wait_until(lambda: get(port, "/health/live")[0] == 503, 10, "/health/live to say 503")
        status, body = get(port, "/health/live")
        assert status == 503
        assert sorted(body["reasons"]) == ["loop cancelled has ended", "loop exits has ended"]
        states = supervisor.states()
        assert states["exits"]["state"] == states["cancelled"]["state"] == "ended"
        assert states["exits"]["last_error"] == "SystemExit: 3"
        assert states["cancelled"]["last_error"].startswith("CancelledError")
        assert any(r.levelname == "CRITICAL" and "exits died" in r.getMessage()
                   for r in caplog.records)
    finally:
        assert supervisor.stop(timeout=5) == []
        server.shutdown()


class Stuck(ReadModel):
    """A read model whose batch never returns while `stuck` is set (a lock it waits for, a
    handler in an endless loop): its loop is running, its position does not move."""

    tables: dict[str, str] = {}  # noqa: RUF012

    def __init__(self, name: str) -> None:
        self.name = name
        self.stuck = threading.Event()
        self.stuck.set()

    def apply(self, conn: psycopg.Connection[Any], events: Sequence[tuple[int, Any]],
              suffix: str = "") -> None:
        while self.stuck.is_set():
            time.sleep(0.05)


def test_a_projection_stuck_with_events_to_apply_is_reported_unready(
        database_url: str, tmp_path: Path, store_id: str) -> None:
    # Lag of 1 allowed: the stuck view starts at 0 in a database other tests may have filled,
    # so it is behind too; the stall is reported beside the lag, not hidden by it.
    system = build(settings_for(database_url, tmp_path, pool_size=3,
                                ready_max_stall_seconds=1.0, ready_max_lag=1))
    view = Stuck(f"stuck_{uuid.uuid4().hex[:8]}")
    system.views = [view]
    try:
        open_order(system.work_orders, store_id)  # events to apply
        system.start_projections()
        with TestClient(create_app(system.api_context())) as client:
            def reported() -> bool:
                answer = client.get("/health/ready")
                return answer.status_code == 503 and any(
                    r.startswith(f"projection {view.name} has applied nothing for ")
                    for r in answer.json()["reasons"])

            wait_until(reported, 30, "/health/ready to report the stuck projection")
            body = client.get("/health").json()
            assert all(loop["state"] == "running" for loop in body["loops"].values())
            assert body["projections"][view.name]["stalled_seconds"] >= 1.0
            metrics = client.get("/metrics").text
            assert f'servicecore_projection_stalled_seconds{{projection="{view.name}"}}' \
                in metrics

            view.stuck.clear()  # it moves again: ready
            wait_until(lambda: client.get("/health/ready").status_code == 200, 30,
                       "/health/ready to answer 200 once the projection moved")
            assert client.get("/health").json()["projections"][view.name][
                "stalled_seconds"] == 0
    finally:
        view.stuck.clear()
        system.close()


def test_a_loop_failing_again_and_again_says_since_when() -> None:
    """/health names the loop, why and since when: the first failure of the row, not only the
    latest (a loop failing every 10 s for an hour looks the same as one that failed once)."""
    failing = threading.Event()
    failing.set()

    def flaky(stop: threading.Event, conninfo: str) -> None:
        if failing.is_set():
            raise ValueError("cannot decode the event")
        stop.wait()

    supervisor = Supervisor("unused", first_backoff=0.2, max_backoff=0.3, healthy_after=0.5)
    supervisor.start("flaky", flaky)
    try:
        first = restarting(supervisor, "flaky")["failing_since"]
        assert first is not None
        time.sleep(2.1)  # failures go on in the seconds after
        state = restarting(supervisor, "flaky")
        assert state["restarts"] >= 3
        assert state["failing_since"] == first < state["last_failure_at"]
        reason = f"loop flaky is restarting after ValueError: cannot decode the event " \
            f"(failing since {first})"
        wait_until(lambda: supervisor.problems() == [reason], 5, "the reason with its since")

        # It runs again: no longer failing.
        failing.clear()
        wait_until(lambda: supervisor.states()["flaky"]["state"] == "running", 5, "a recovery")
        assert supervisor.states()["flaky"]["failing_since"] is None
    finally:
        assert supervisor.stop(timeout=5) == []


def restarting(supervisor: Supervisor, name: str) -> dict[str, Any]:
    """The loop's state once seen restarting (not at the instant of a start, when it runs)."""
    deadline = time.monotonic() + 5
    while (state := supervisor.states()[name])["state"] != "restarting":
        assert time.monotonic() < deadline, state
        time.sleep(0.01)
    return state
