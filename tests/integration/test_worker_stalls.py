"""A worker process never stalls or gives up silently.

A projection whose batch waits on a lock another session holds (a `LOCK TABLE` left open by a
maintenance script, a long transaction) stays `running` in its supervisor until its lock
timeout, then starts again, alone, with backoff: the `worker projections` process's own
/health must say which view stands still all along. A worker whose
loops have all ended exits with a failure status, so a restart policy that restarts only
failures (systemd `on-failure`, a job runner) starts it again.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import psycopg

from servicecore.container import Container
from tests.integration.kafka_support import free_port, wait_until
from tests.integration.support import open_order
from tests.scratch_systems import module_container
from workers.health import WorkerHealth
from workers.process import WorkerProcess

container = module_container("stalls")


def get(port: int, path: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())
    except OSError:  # not serving yet
        return 0, {}


def position(system: Container, name: str) -> int:
    with system.pool.connection() as conn:
        row = conn.execute("SELECT position FROM projection_positions WHERE name = %s",
                           (name,)).fetchone()
    return int(row[0]) if row else 0


def stall_reasons(port: int, view: str) -> list[str]:
    status, body = get(port, "/health")
    return [r for r in body.get("reasons", []) if r.startswith(f"projection {view} ")] \
        if status == 503 else []


def test_a_view_blocked_on_a_lock_shows_on_the_projections_workers_health(
        container: Container, tmp_path: Path) -> None:
    system = container
    store_id = "ST" + uuid.uuid4().hex[:6].upper()
    port = free_port()
    env = {**os.environ, "DATABASE_URL": system.database_url,
           "SERVICECORE_WORKER_METRICS_PORT": str(port), "SERVICECORE_CREATE_TABLES": "false",
           "SERVICECORE_DATA_DIR": str(tmp_path), "SERVICECORE_JWT_SECRET": "x" * 40,
           "SERVICECORE_POOL_SIZE": "4", "SERVICECORE_READY_MAX_STALL_SECONDS": "1"}
    log = tmp_path / "projections.log"
    worker = subprocess.Popen([sys.executable, "-m", "servicecore.cli", "worker", "projections"],
                              env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT)
    locker = psycopg.connect(system.database_url)
    try:
        # The worker follows the log: its views reach the head, /health answers 200.
        first = open_order(system.work_orders, store_id)["notification_id"]
        wait_until(lambda: position(system, "work_orders") >= first, 120,
                   "the work-order view to apply the first order")
        wait_until(lambda: get(port, "/health")[0] == 200, 60, "/health to answer 200")

        # A session takes the work-order view's table and keeps it; a new order comes in.
        locker.execute("LOCK TABLE wo_view IN ACCESS EXCLUSIVE MODE")
        second = open_order(system.work_orders, store_id)["notification_id"]

        # Its batch waits on the lock, its loop stays `running`: /health says which view
        # stands still, and for how long, instead of 200.
        wait_until(lambda: bool(stall_reasons(port, "work_orders")), 60,
                   "the worker's /health to name the stalled work-order view")
        reason = stall_reasons(port, "work_orders")[0]
        assert "has applied nothing for" in reason, reason
        assert position(system, "work_orders") < second
        status, body = get(port, "/health")
        assert status == 503 and body["status"] == "failing"
        # Its loop runs, or (once its batch gave up on the lock and it left the group) its own
        # loop starts again, saying so.
        assert all(loop["state"] in ("running", "idle") or name == "projection-work_orders"
                   and "lock timeout" in loop["last_error"]
                   for name, loop in body["loops"].items()), body["loops"]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
            metrics = answer.read().decode()
        stalled = [line for line in metrics.splitlines()
                   if line.startswith("servicecore_projection_stalled_seconds{")
                   and 'projection="work_orders"' in line]
        assert stalled and float(stalled[0].rsplit(" ", 1)[1]) >= 1.0, stalled

        # The lock is let go: the view applies the order, /health answers 200 again.
        locker.rollback()
        wait_until(lambda: position(system, "work_orders") >= second, 60,
                   "the work-order view to apply the order once the lock is gone")
        wait_until(lambda: get(port, "/health")[0] == 200, 30, "/health to answer 200 again")
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=45) == 0, log.read_text()[-3000:]
    finally:
        locker.close()
        if worker.poll() is None:
            worker.kill()
            worker.wait(timeout=10)


def test_a_worker_whose_every_loop_ended_exits_with_a_failure_status(
        container: Container) -> None:
    ran = threading.Event()

    def ends(stop: threading.Event, conninfo: str) -> None:
        ran.set()  # returns on its own: supervision cannot bring it back

    def dies(stop: threading.Event, conninfo: str) -> None:
        raise SystemExit(3)  # a library ending its thread: not started again

    process = WorkerProcess("projections", [("ends", ends), ("dies", dies)],
                            WorkerHealth("projections"), container.database_url)
    previous = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    try:
        status = process.run()
    finally:
        signal.signal(signal.SIGTERM, previous[0])
        signal.signal(signal.SIGINT, previous[1])
    assert ran.is_set()
    assert process.supervisor is not None
    assert sorted(process.supervisor.ended()) == ["dies", "ends"]
    assert status != 0
