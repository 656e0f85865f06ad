"""`servicecore serve` with several HTTP worker processes reports the loops it runs itself.

Above one worker (`SERVICECORE_WORKERS`) the projections, the analytics loader and the
chain-witness timer run in the parent process, which answers no HTTP; the workers answer
`/health` and must say when one of those loops is failing, as one process does.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from servicecore import loop_states
from tests.conftest import JWT_SECRET
from tests.integration.kafka_support import free_port, wait_until
from tests.integration.support import open_order
from tests.scratch_systems import scratch_system


def _reasons(port: int, path: str = "/health/ready") -> list[str]:
    try:
        answer = httpx.get(f"http://127.0.0.1:{port}{path}", timeout=5)
    except httpx.HTTPError:
        return ["not answering"]
    return list(answer.json().get("reasons", [])) if answer.status_code == 503 else []


def test_a_failing_loop_of_the_parent_shows_on_the_workers_health(
        server_url: str, tmp_path: Path) -> None:
    with scratch_system(server_url, "sc_serve_loops", tmp_path / "system") as (system, url):
        witness = tmp_path / "witness"
        witness.mkdir()  # a folder where the witness file should be: it cannot be written
        port = free_port()
        env = {**os.environ, "DATABASE_URL": url, "SERVICECORE_PORT": str(port),
               "SERVICECORE_DATA_DIR": str(tmp_path / "serve"),
               "SERVICECORE_JWT_SECRET": JWT_SECRET, "SERVICECORE_POOL_SIZE": "3",
               "SERVICECORE_WORKERS": "2", "SERVICECORE_WITNESS_PATH": str(witness),
               "SERVICECORE_WITNESS_SECONDS": "1"}
        log = tmp_path / "serve.log"
        process = subprocess.Popen([sys.executable, "-m", "servicecore.cli", "serve"], env=env,
                                   stdout=log.open("wb"), stderr=subprocess.STDOUT)
        try:
            wait_until(lambda: not _reasons(port) or process.poll() is not None, 90,
                       "serve to answer /health/ready 200")
            assert process.poll() is None, log.read_text(errors="replace")[-3000:]

            # The log moves: the parent's chain-witness timer records an anchor it cannot
            # write, and fails until it can.
            open_order(system.work_orders, "SL1")

            def reported() -> bool:
                return any(reason.startswith("loop chain-witness is restarting after "
                                             "IsADirectoryError") for reason in _reasons(port))

            wait_until(reported, 60, "a worker's /health/ready to name the failing loop")
            body = httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).json()
            loop = body["loops"]["chain-witness"]
            assert loop["state"] in ("restarting", "running") and loop["restarts"] >= 1
            assert "IsADirectoryError" in loop["last_error"]

            # The file can be written again: every worker answers 200 once more.
            witness.rmdir()
            wait_until(lambda: not _reasons(port), 60, "/health/ready to answer 200 again")
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=60) == 0, log.read_text(errors="replace")[-3000:]
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)


def test_the_shared_states_say_when_they_are_no_longer_written(tmp_path: Path) -> None:
    states = {"analytics": {"state": "restarting", "restarts": 2, "last_error": "X: y"}}
    with loop_states.shared(lambda: states, dict) as path:
        assert os.environ[loop_states.ENV] == str(path)
        wait_until(path.exists, 10, "the states to be written")
        assert loop_states.read(path) == (states, {})
        stale = tmp_path / "loops.json"  # as the file is once its writer stopped
        stale.write_text(path.read_text())
        old = stale.stat().st_mtime - loop_states.STALE_SECONDS - 5
        os.utime(stale, (old, old))
        loops, _ = loop_states.read(stale)
        assert loops["analytics"] == states["analytics"]
        assert loops[loop_states.WRITER]["state"] == "ended"
    assert loop_states.ENV not in os.environ
    assert loop_states.read(path)[0][loop_states.WRITER]["state"] == "ended"  # removed
