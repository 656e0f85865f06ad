"""A process whose loop has ended for good exits with a failure status.

A loop whose thread is ended by what is no Exception (`SystemExit` from a library a handler
calls, a cancellation) is not started again: only a new process brings it back. Found in a
probe: a real `servicecore worker projections` whose work-order view ended its group's thread
so was logged CRITICAL and answered 503 on `/health/live`, but ran on with every view dead
(the log watch and the chain witness still running) until it was stopped by hand, and then
exited 0; `serve` did the same with its in-process projections. Docker does not restart a
container that is merely unhealthy (docker-compose.yml: `restart: unless-stopped`), so the
views stood still for good. Now each stops its other loops, logs ERROR naming the loop and
exits with status 1, so its restart policy starts it again.

The fault is made in the real process: its work-order view's handler ends the thread that
applies it (`sys.exit`, as a library may) at the first event it is given.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from servicecore.container import Container
from tests.conftest import JWT_SECRET
from tests.integration.kafka_support import free_port, wait_until
from tests.integration.support import open_order
from tests.scratch_systems import module_container

container = module_container("deaths")

LAUNCH = """
import sys
from projections.work_orders import WorkOrdersView

applied = WorkOrdersView.apply

def apply(self, conn, events, suffix=""):
    if events:
        sys.exit(7)  # a library ending the thread that applies the view
    applied(self, conn, events, suffix)

WorkOrdersView.apply = apply
from servicecore.cli import main
sys.exit(main(sys.argv[1:]))
"""


def run_until_it_exits(system: Container, tmp_path: Path, *command: str,
                       **settings: str) -> tuple[int, str]:
    """`servicecore <command>` with the fault above on the system's database; an order opened
    once it follows the log; its exit status and log once it exits (-1: still running after
    90 s, then stopped)."""
    port = free_port()
    env = {**os.environ, "DATABASE_URL": system.database_url,
           "SERVICECORE_CREATE_TABLES": "false", "SERVICECORE_DATA_DIR": str(tmp_path),
           "SERVICECORE_JWT_SECRET": JWT_SECRET, "SERVICECORE_POOL_SIZE": "3",
           "SERVICECORE_PORT": str(port), "SERVICECORE_WORKER_METRICS_PORT": str(port),
           "SERVICECORE_LOG_FORMAT": "text", **settings}
    log = tmp_path / "process.log"
    process = subprocess.Popen([sys.executable, "-c", LAUNCH, *command], env=env,
                               stdout=log.open("wb"), stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: "active as one group" in log.read_text(errors="replace")
                   or " active from position " in log.read_text(errors="replace")
                   or process.poll() is not None, 90, "the process to follow the log", 0.2)
        assert process.poll() is None, log.read_text(errors="replace")[-3000:]
        open_order(system.work_orders, "ST" + uuid.uuid4().hex[:6].upper())
        try:
            status = process.wait(timeout=90)
        except subprocess.TimeoutExpired:
            status = None
        return (-1 if status is None else status), log.read_text(errors="replace")
    finally:
        if process.poll() is None:  # SIGTERM first: serve's HTTP worker processes stop with it
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


def test_a_projections_worker_one_of_whose_loops_ended_exits_with_status_1(
        container: Container, tmp_path: Path) -> None:
    status, output = run_until_it_exits(container, tmp_path, "worker", "projections")
    # The loop died loudly, as before; and the process no longer runs on without it.
    assert "died (SystemExit: 7); it is not started again" in output, output[-3000:]
    assert status == 1, output[-3000:]
    ended = [line for line in output.splitlines()
             if "has ended and is not started again" in line and "ERROR" in line]
    assert ended, output[-3000:]


@pytest.mark.parametrize("workers", ["1", "2"])
def test_serve_one_of_whose_in_process_loops_ended_exits_with_status_1(
        container: Container, tmp_path: Path, workers: str) -> None:
    """With several HTTP worker processes too (docker-compose.yml runs 2): the loops run in
    the parent, which stops its workers as on SIGTERM."""
    status, output = run_until_it_exits(container, tmp_path, "serve",
                                        SERVICECORE_WORKERS=workers)
    assert "died (SystemExit: 7); it is not started again" in output, output[-3000:]
    assert status == 1, output[-3000:]
    assert any("has ended and is not started again" in line and "ERROR" in line
               for line in output.splitlines()), output[-3000:]
    # It stopped as on a signal: its other loops stopped, its container closed.
    assert "container closed" in output, output[-3000:]
