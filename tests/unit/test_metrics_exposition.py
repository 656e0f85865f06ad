"""Worker and API metrics as Prometheus reads them (prometheus_client's own parser)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from workers.health import RateMeter, Sample, WorkerHealth, serve
from workers.relay_metrics import RelayStats, samples


def test_worker_probes_become_typed_families_with_the_process_metrics_beside_them() -> None:
    def broken() -> Iterable[Sample]:
        raise RuntimeError("probe down")

    stats = RelayStats(sent=7, acked=5)
    health = WorkerHealth("relay", [
        lambda: samples(stats, RateMeter(), stored=40, head=42, idempotent=True, active=True),
        broken])
    body, content_type = health.exposition()
    assert content_type == "text/plain; version=0.0.4; charset=utf-8"
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}

    acked = families["servicecore_relay_acked"]
    assert acked.type == "counter"
    assert [(s.name, s.value) for s in acked.samples] == [("servicecore_relay_acked_total", 5)]
    behind = families["servicecore_worker_events_behind"]
    assert behind.type == "gauge"
    assert [(s.labels, s.value) for s in behind.samples] == [({"worker": "relay"}, 2)]
    assert families["servicecore_worker_up"].samples[0].value == 1
    # a probe that fails is counted, not a failed scrape
    assert families["servicecore_worker_probe_errors"].samples[0].value == 1
    assert "process_cpu_seconds" in families or "python_gc_objects_collected" in families


def test_worker_metrics_speak_openmetrics_when_asked() -> None:
    body, content_type = WorkerHealth("analytics").exposition("application/openmetrics-text")
    assert content_type.startswith("application/openmetrics-text")
    assert body.decode().rstrip().endswith("# EOF")


SCRIPT = """
from api.metrics import ApiMetrics
first, second = ApiMetrics(), ApiMetrics()   # as two processes' apps would
first.observe("GET", "/work-orders", 200, 0.02)
second.observe("GET", "/work-orders", 200, 0.3)
second.in_flight.inc()
print(first.exposition(None)[0].decode())
"""


def test_api_metrics_add_up_across_processes_in_multiprocess_mode(tmp_path: Path) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    text = subprocess.run([sys.executable, "-c", SCRIPT], env=env, check=True,
                          capture_output=True, text=True,
                          cwd=Path(__file__).parents[2]).stdout
    families = {f.name: f for f in text_string_to_metric_families(text)}
    requests = families["servicecore_http_requests"].samples
    assert [(s.labels["route"], s.value) for s in requests] == [("/work-orders", 2)]
    buckets = {s.labels["le"]: s.value
               for s in families["servicecore_http_request_duration_seconds"].samples
               if s.name.endswith("_bucket")}
    assert (buckets["0.025"], buckets["0.5"], buckets["+Inf"]) == (1, 2, 2)
    assert families["servicecore_http_requests_in_flight"].samples[0].value == 1
    assert any(tmp_path.glob("*.db"))


def _fails() -> dict[str, dict[str, object]]:
    raise RuntimeError("the loops could not be read")


def test_a_failing_or_abandoned_request_is_logged_not_written_to_stderr(
        capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> None:
    """socketserver writes a failed request's traceback between dashes on stderr, which would
    break a worker's JSON log; the worker's server logs it instead."""
    import http.client
    import socket

    server = serve(WorkerHealth("projections", loops=_fails), "127.0.0.1", 0)
    port = server.server_address[1]
    try:
        with caplog.at_level("DEBUG", logger="workers.health"):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/health")
            with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
                conn.getresponse()
            conn.close()
            # A client that sends its request and hangs up at once.
            with socket.create_connection(("127.0.0.1", port)) as raw:
                raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                raw.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            # The server goes on answering.
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/health/live")
            assert conn.getresponse().status == 200
            conn.close()
    finally:
        server.shutdown()
        server.server_close()
    failed = [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(failed) == 1 and failed[0].exc_info is not None
    assert "the loops could not be read" in str(failed[0].exc_info[1])
    assert "----" not in capfd.readouterr().err
