"""`/health` and Prometheus `/metrics` for a worker process.

A worker registers probes: each returns the rows of its gauges and counters when scraped. They
reach Prometheus through prometheus_client (a collector over the probes, with the client's
process metrics beside them), in the text format or OpenMetrics as the scraper asks. The server
runs in a daemon thread and only reads what the worker loops keep up to date.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

import prometheus_client
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from workers.supervisor import describe

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class Sample:
    name: str
    value: float
    labels: tuple[tuple[str, str], ...] = ()
    kind: str = "gauge"  # gauge | counter
    help: str = ""


class RateMeter:
    """Events per second over the last `window` seconds (thread-safe)."""

    def __init__(self, window: float = 10.0) -> None:
        self.window = window
        self.total = 0
        self._marks: deque[tuple[float, int]] = deque()
        self._lock = threading.Lock()

    def mark(self, count: int) -> None:
        if count <= 0:
            return
        with self._lock:
            self.total += count
            self._marks.append((time.monotonic(), count))

    def rate(self) -> float:
        now = time.monotonic()
        with self._lock:
            while self._marks and self._marks[0][0] < now - self.window:
                self._marks.popleft()
            return sum(c for _, c in self._marks) / self.window


Probe = Callable[[], Iterable[Sample]]


@dataclass
class Trouble:
    """What keeps failing in a loop that retries inside itself (the Kafka relay backs off and
    re-sends; its supervisor sees it running): the failure since when, for /health."""

    what: str
    since: float | None = None  # time.time() of the first failure in a row; None: no trouble
    last_error: str | None = None  # the latest failure, kept once the trouble is over

    def failed(self, exc: BaseException, since: float | None = None) -> None:
        """`since`: when the failure began, if before now (time.time())."""
        self.last_error = describe(exc)
        if self.since is None:
            self.since = time.time() if since is None else since

    def clear(self) -> None:
        self.since = None

    def problems(self) -> list[str]:
        if self.since is None:
            return []
        return [f"{self.what} since {_instant(self.since)}: {self.last_error}"]

    def as_dict(self) -> dict[str, Any]:
        return {"failing_since": None if self.since is None else _instant(self.since),
                "last_error": self.last_error}


def _instant(at: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(at))


class Watched(Protocol):
    """What the health server reads from a supervisor (workers/supervisor.py)."""

    def healthy(self) -> bool: ...
    def problems(self) -> list[str]: ...
    def ended(self) -> list[str]: ...
    def states(self) -> dict[str, dict[str, Any]]: ...


@dataclass
class WorkerHealth:
    """What one worker process reports: its kind, its loops' states and probes."""

    worker: str
    probes: list[Probe] = field(default_factory=list)
    alive: Callable[[], bool] = lambda: True
    details: Callable[[], dict[str, Any]] = dict
    problems: Callable[[], list[str]] = list
    loops: Callable[[], dict[str, dict[str, Any]]] = dict
    broken: Callable[[], list[str]] = list
    troubles: Callable[[], list[str]] = list  # of loops that retry inside (Trouble.problems)

    def watch(self, supervisor: Watched) -> None:
        """Report the supervised loops: a loop that is not running makes /health 503."""
        self.alive = supervisor.healthy
        self.problems = supervisor.problems
        self.loops = supervisor.states
        self.broken = supervisor.ended

    def samples(self) -> list[Sample]:
        rows = [Sample("servicecore_worker_up", 1.0 if self.alive() else 0.0,
                       (("worker", self.worker),), help="1 while the worker's loops run")]
        for probe in self.probes:
            try:
                rows.extend(probe())
            except Exception:
                log.exception("metrics probe failed")
                rows.append(Sample("servicecore_worker_probe_errors", 1.0,
                                   (("worker", self.worker),)))
        return rows

    def registry(self) -> CollectorRegistry:
        """The probes' samples and the process's own metrics (CPU, memory, open files, GC)."""
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_ProbeCollector(self))
        prometheus_client.ProcessCollector(registry=registry)
        prometheus_client.PlatformCollector(registry=registry)
        prometheus_client.GCCollector(registry=registry)
        return registry

    def exposition(self, accept: str | None = None) -> tuple[bytes, str]:
        """/metrics in the format the scraper asks for (Prometheus text 0.0.4 by default)."""
        encoder, content_type = choose_encoder(accept or "")
        return encoder(self.registry()), content_type

    def health(self) -> tuple[int, dict[str, Any]]:
        """/health and /health/ready: 503 while a loop is not running (restarting, ended)."""
        problems = [*self.problems(), *self.troubles()] or (
            [] if self.alive() else ["a loop is not running"])
        body: dict[str, Any] = {"status": "failing" if problems else "ok", "worker": self.worker,
                                "reasons": problems, "loops": self.loops()}
        try:
            body.update(self.details())
        except Exception as exc:  # noqa: BLE001 - reported, not raised
            body.update(status="degraded", error=f"{type(exc).__name__}: {exc}")
        return (503 if problems else 200), body

    def live(self) -> tuple[int, dict[str, Any]]:
        """/health/live: 503 only when a loop ended for good (the process needs a restart)."""
        broken = self.broken()
        body = {"status": "broken" if broken else "ok", "worker": self.worker,
                "reasons": [f"loop {name} has ended" for name in broken]}
        return (503 if broken else 200), body


class _ProbeCollector(Collector):
    """The probes' samples as metric families, read at each scrape."""

    def __init__(self, health: WorkerHealth) -> None:
        self.health = health

    def collect(self) -> Iterable[Metric]:
        families: dict[str, Metric] = {}
        for s in self.health.samples():
            counter = s.kind == "counter"
            name = s.name.removesuffix("_total") if counter else s.name
            family = families.get(name)
            if family is None:
                family = families[name] = Metric(name, s.help, "counter" if counter else "gauge")
            family.add_sample(f"{name}_total" if counter else name, dict(s.labels), s.value)
        return families.values()


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            text, content_type = self.server.health.exposition(self.headers.get("Accept"))
            self._send(200, content_type, text)
        elif path in ("/health", "/health/ready", "/health/live"):
            health = self.server.health
            status, body = health.live() if path == "/health/live" else health.health()
            self._send(status, "application/json", json.dumps(body, default=str).encode())
        else:
            self._send(404, "text/plain", b"not found\n")

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("metrics: " + format, *args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], health: WorkerHealth) -> None:
        self.health = health
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Through the log, not socketserver's dashes on stderr: a worker's log stays JSON lines.
        A client that hung up before its answer was written is not the worker's fault."""
        error = sys.exc_info()[1]
        peer = client_address[0] if isinstance(client_address, tuple) else client_address
        if isinstance(error, ConnectionError):
            log.debug("worker %s: %s hung up before its answer (%s)", self.health.worker, peer,
                      error)
            return
        log.error("worker %s: a request from %s failed", self.health.worker, peer,
                  exc_info=error)


def serve(health: WorkerHealth, host: str, port: int) -> ThreadingHTTPServer:
    """Start serving in a daemon thread; `.shutdown()` stops it. Port 0 picks a free port."""
    server = _Server((host, port), health)
    thread = threading.Thread(target=server.serve_forever, name="worker-metrics", daemon=True)
    thread.start()
    log.info("worker %s: /health and /metrics on http://%s:%d", health.worker, host,
             server.server_address[1])
    return server
