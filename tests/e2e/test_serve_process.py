"""`servicecore serve` as a process: a clean stop on SIGTERM / SIGINT, slow clients cut off.

Each test starts the real command line on a scratch database and a free port.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.conftest import JWT_SECRET
from tests.databases import scratch_database
from tests.integration.kafka_support import free_port, wait_until


class Serve:
    def __init__(self, process: subprocess.Popen[bytes], port: int, log: Path) -> None:
        self.process = process
        self.port = port
        self.log = log

    def get(self, path: str) -> httpx.Response:
        return httpx.get(f"http://127.0.0.1:{self.port}{path}", timeout=5)

    def ready(self) -> bool:
        try:
            return self.get("/health/ready").status_code == 200
        except httpx.HTTPError:
            return False

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@contextmanager
def serving(server_url: str, tmp: Path, **settings: str) -> Iterator[Serve]:
    """`servicecore serve` on a scratch database, ready (its loops running) when yielded."""
    with scratch_database(server_url, "sc_serve") as url:
        port = free_port()
        env = {**os.environ, "DATABASE_URL": url, "SERVICECORE_PORT": str(port),
               "SERVICECORE_DATA_DIR": str(tmp), "SERVICECORE_JWT_SECRET": JWT_SECRET,
               "SERVICECORE_POOL_SIZE": "3", **settings}
        log = tmp / "serve.log"
        process = subprocess.Popen([sys.executable, "-m", "servicecore.cli", "serve"], env=env,
                                   stdout=log.open("wb"), stderr=subprocess.STDOUT)
        server = Serve(process, port, log)
        try:
            wait_until(lambda: server.ready() or process.poll() is not None, 90,
                       "serve to become ready", 0.2)
            assert process.poll() is None, server.output()[-3000:]
            yield server
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(10)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_serve_stops_its_loops_closes_and_exits_0_on_a_signal(
        server_url: str, tmp_path: Path, sig: signal.Signals) -> None:
    with serving(server_url, tmp_path) as server:
        # A client that never finishes its request head must not hold the stop up.
        stuck = socket.create_connection(("127.0.0.1", server.port))
        stuck.sendall(b"GET /health HTTP/1.1\r\nHost: x")
        try:
            server.process.send_signal(sig)
            code = server.process.wait(timeout=60)
        finally:
            stuck.close()
        output = server.output()
        assert code == 0, output[-3000:]
        # every read model's projection (one loop for all of them), their log watch, the
        # analytics loader, the chain witness's timer, the online booking retention's and the
        # invoice-number backfill (idle once done, stopped with the rest)
        assert "projection log watch listening" in output
        grouped = re.search(r"projections (\w+(?:, \w+)*) active as one group", output)
        assert grouped is not None, output[-3000:]
        assert len(grouped.group(1).split(", ")) >= 6
        loops = 6
        assert f"container closed: {loops} in-process loops stopped" in output, output[-3000:]
        assert "servicecore stopped cleanly" in output
        assert "Traceback" not in output, output[-3000:]


def test_a_request_head_that_does_not_complete_in_time_is_closed(
        server_url: str, tmp_path: Path) -> None:
    with serving(server_url, tmp_path, SERVICECORE_HEADER_TIMEOUT_SECONDS="1") as server:
        # A request line that stops half-way: the server closes the connection.
        partial = socket.create_connection(("127.0.0.1", server.port))
        partial.settimeout(20)
        partial.sendall(b"GET /health/live HT")
        assert partial.recv(1024) == b""  # closed (a timeout here raises instead)
        partial.close()

        # A head that trickles in, a byte every 0.2 s, is cut off all the same.
        trickle = socket.create_connection(("127.0.0.1", server.port))
        started = time.monotonic()
        closed = False
        for byte in b"GET /health/live HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200:
            try:
                trickle.sendall(bytes([byte]))
                time.sleep(0.2)
            except OSError:
                closed = True
                break
            if time.monotonic() - started > 20:
                break
        if not closed:
            trickle.settimeout(5)
            try:
                closed = trickle.recv(1024) == b""
            except ConnectionResetError:
                closed = True
        trickle.close()
        assert closed, "a trickling request head held its connection for 20 s"

        # After an answer, a keep-alive connection waits for the next head as long, no longer:
        # requests 0.4 s apart keep it open past the first second, a partial head then not.
        kept = socket.create_connection(("127.0.0.1", server.port))
        kept.settimeout(20)
        for _ in range(4):
            kept.sendall(b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n")
            answer = kept.recv(4096)
            while not answer.endswith(b"}"):
                answer += kept.recv(4096)
            assert answer.startswith(b"HTTP/1.1 200")
            time.sleep(0.4)
        kept.sendall(b"GET /hea")
        assert kept.recv(1024) == b""
        kept.close()

        # Complete requests are served as before.
        assert server.get("/health/live").status_code == 200
        assert "sent no complete request head within 1 s" in server.output()


def test_serve_logs_json_lines_with_the_request_context_and_no_link_token(
        server_url: str, tmp_path: Path) -> None:
    from api.auth import mint_token

    with serving(server_url, tmp_path) as server:
        token = mint_token(JWT_SECRET, "mgr-json", "manager", ["S01"])
        listed = httpx.get(f"http://127.0.0.1:{server.port}/work-orders", timeout=5, headers={
            "Authorization": f"Bearer {token}", "X-Correlation-ID": "serve-json-1"})
        assert listed.status_code == 200
        link = "Z" * 70
        assert server.get(f"/progress/{link}").status_code == 404
        metrics = server.get("/metrics")
        assert "servicecore_http_request_duration_seconds_bucket" in metrics.text
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=60) == 0
    output = server.output()
    assert link not in output
    lines = [line for line in output.splitlines() if line.strip()]
    # stdout's banner is text; every log line (stderr) is one JSON object
    logged = [json.loads(line) for line in lines if not line.startswith("servicecore on ")]
    assert {"uvicorn.error", "servicecore.access", "servicecore"} <= {e["logger"] for e in logged}
    assert {e["service"] for e in logged} == {"api"}
    [access] = [e for e in logged if e.get("path") == "/work-orders"]
    assert (access["correlation_id"], access["user"], access["store"], access["status"]) == \
        ("serve-json-1", "mgr-json", "S01", 200)
    [page] = [e for e in logged if e.get("route") == "/progress/{token}"]
    assert page["path"] == "/progress/[redacted]" and page["status"] == 404


def test_several_workers_serve_one_port_and_stop_cleanly(server_url: str,
                                                         tmp_path: Path) -> None:
    with serving(server_url, tmp_path, SERVICECORE_WORKERS="2") as server:
        # Two worker processes answer on the one port (the parent runs the loops).
        workers = _children(server.process.pid)
        assert len(workers) >= 2, server.output()[-3000:]
        token = _token()
        for _ in range(20):
            answer = httpx.get(f"http://127.0.0.1:{server.port}/work-orders",
                               headers={"Authorization": f"Bearer {token}"}, timeout=10)
            assert answer.status_code == 200, answer.text
        missing = httpx.get(f"http://127.0.0.1:{server.port}/work-orders/"
                            "00000000-0000-0000-0000-000000000000",
                            headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert missing.status_code == 404
        assert missing.headers["content-type"].startswith("application/problem+json")
        # Whichever worker answers /metrics counts the requests of both (multiprocess mode).
        for _ in range(4):
            metrics = server.get("/metrics").text
            counted = sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
                          if line.startswith("servicecore_http_requests_total{")
                          and 'route="/work-orders"' in line and 'method="GET"' in line)
            assert counted == 20, metrics[-2000:]
        # SIGTERM stops the workers, then the parent's loops; exit 0.
        server.process.send_signal(signal.SIGTERM)
        code = server.process.wait(timeout=60)
        output = server.output()
        assert code == 0, output[-3000:]
        assert "HTTP worker processes stopped" in output, output[-3000:]
        assert "servicecore stopped cleanly" in output
        # The workers (and multiprocessing's helper) end with the parent; an orphan notices
        # its parent's exit a moment later, so allow it a few seconds to go.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not all(
                not Path(f"/proc/{pid}").exists() or _zombie(pid) for pid in workers):
            time.sleep(0.1)
        assert all(not Path(f"/proc/{pid}").exists() or _zombie(pid) for pid in workers)


def _token() -> str:
    from api.auth import mint_token

    return mint_token(JWT_SECRET, "mgr-w", "manager", ["*"])


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid and "python" in stat:
                found.append(int(entry.name))
    return found


def _zombie(pid: int) -> bool:
    try:
        return (Path(f"/proc/{pid}") / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True
