"""A worker process: its loops in threads, /health and /metrics, a clean stop on SIGTERM."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from analytics.loader import AnalyticsLoader
from analytics.progress import stall_reason
from domain.application import ServiceCore
from workers.health import Sample, WorkerHealth, serve
from workers.projection_runner import ProjectionRunner
from workers.supervisor import Idle, Loop, Supervisor

log = logging.getLogger(__name__)

class LoopDeaths:
    """`serve`'s watch on its in-process loops: once one has ended for good (`ended()` names
    it: it returned on its own, or its thread was ended by what is no Exception), supervision
    cannot bring it back and the process would serve with that projection or loader dead
    for as long as it runs (Docker does not restart a container that is merely unhealthy).
    The watch logs ERROR naming the loop and sends the process SIGTERM: it stops as on a
    signal, and `fired` tells it to exit with a failure status, so its restart policy starts
    it again."""

    def __init__(self, ended: Callable[[], list[str]], what: str, every: float = 1.0) -> None:
        self.ended = ended
        self.what = what
        self.every = every
        self.fired = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="loop-deaths", daemon=True)

    def start(self) -> LoopDeaths:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._done.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5.0)

    def _watch(self) -> None:
        while not self._done.wait(self.every):
            try:
                gone = self.ended()
            except Exception:  # the watch goes on: it is what would notice
                log.exception("%s: the loops' states could not be read", self.what)
                continue
            if gone:
                log.error("%s: loop %s has ended and is not started again; stopping, to exit "
                          "with status 1 so that the process is started again", self.what,
                          ", ".join(sorted(gone)))
                self.fired.set()
                os.kill(os.getpid(), signal.SIGTERM)
                return


class CounterRate:
    """Per-second rate of a growing counter between scrapes (at least `min_interval` apart)."""

    def __init__(self, min_interval: float = 1.0) -> None:
        self.min_interval = min_interval
        self._last: tuple[float, int] | None = None
        self._rate = 0.0

    def __call__(self, value: int) -> float:
        now = time.monotonic()
        if self._last is None:
            self._last = (now, value)
        elif now - self._last[0] >= self.min_interval:
            self._rate = (value - self._last[1]) / (now - self._last[0])
            self._last = (now, value)
        return self._rate


def analytics_probe(app: ServiceCore, loader: AnalyticsLoader) -> Callable[[], Iterable[Sample]]:
    rate = CounterRate()

    def samples() -> Iterable[Sample]:
        head = app.recorder.max_notification_id() or 0
        labels = (("worker", "analytics"),)
        position = loader.loaded_position  # in memory: a batch holds the loader's lock
        age = time.monotonic() - loader.published_at if loader.published_at else -1.0
        return [
            Sample("servicecore_worker_events_behind", float(max(0, head - position)), labels,
                   help="head notification id minus the worker's stored position"),
            Sample("servicecore_worker_position", float(position), labels),
            Sample("servicecore_worker_events_per_second", rate(loader.processed), labels),
            Sample("servicecore_worker_events_processed_total", float(loader.processed), labels,
                   kind="counter"),
            Sample("servicecore_analytics_snapshot_position", float(loader.published_position),
                   labels, help="event position the published DuckDB snapshot reflects"),
            Sample("servicecore_analytics_snapshot_age_seconds", age, labels),
            Sample("servicecore_analytics_stalled_seconds", loader.stalled_seconds(head), labels,
                   help="how long the analytics loader has had events to load without "
                        "loading any"),
        ]

    return samples


def analytics_troubles(app: ServiceCore, loader: AnalyticsLoader,
                       seconds: float) -> list[str]:
    """The `worker analytics` process's troubles beside its loop's state: the event the loader
    stopped at, or its runs failing until one goes well, or its stall (`analytics_stalls`)."""
    if loader.poison:
        return [str(loader.poison)]
    failing = loader.failing_reason()
    return ([failing] if failing else []) + analytics_stalls(app, loader, seconds)


def analytics_stalls(app: ServiceCore, loader: AnalyticsLoader, seconds: float) -> list[str]:
    """The loader, when it has loaded nothing for `seconds` or more while the log held events
    beyond its position (for /health; a poison event, a loop restarting are reported as
    such); 0: not checked. The log's head is read only once it has been quiet that long."""
    if not seconds or loader.quiet_seconds() < seconds:
        return []
    try:
        head = app.recorder.max_notification_id() or 0
    except Exception as exc:  # noqa: BLE001 - the loader stands still all the same: say so
        return [(f"analytics loader has loaded nothing for {loader.quiet_seconds():.0f} s at "
                 f"position {loader.loaded_position}; the log's head could not be read "
                 f"({type(exc).__name__}) (more than {seconds:g} s)")]
    stalled = loader.stalled_seconds(head)
    if stalled < seconds:
        return []
    return [stall_reason(loader.loaded_position, head, stalled, seconds)]


def analytics_details(loader: AnalyticsLoader) -> dict[str, Any]:
    """The `worker analytics` process's details: its files, the event it stopped at (or None)."""
    return {"duckdb": str(loader.path), "snapshot": str(loader.snapshot_path),
            "stopped_at": loader.poison.stop() if loader.poison else None}


def projection_probe(app: ServiceCore,
                     runners: list[ProjectionRunner]) -> Callable[[], Iterable[Sample]]:
    rates = {r.position_name: CounterRate() for r in runners}

    def samples() -> Iterable[Sample]:
        head = app.recorder.max_notification_id() or 0
        rows: list[Sample] = []
        for r in runners:
            labels = (("worker", "projections"), ("projection", r.position_name))
            position = r.position()
            rows += [
                Sample("servicecore_worker_events_behind", float(max(0, head - position)), labels,
                       help="head notification id minus the worker's stored position"),
                Sample("servicecore_worker_position", float(position), labels),
                Sample("servicecore_worker_events_per_second",
                       rates[r.position_name](r.processed), labels),
                Sample("servicecore_worker_events_processed_total", float(r.processed), labels,
                       kind="counter"),
                Sample("servicecore_projection_active", 1.0 if r.active else 0.0, labels),
                Sample("servicecore_projection_stalled_seconds", r.stalled_seconds(), labels,
                       help="how long the projection has held its lock without completing a "
                            "batch"),
                Sample("servicecore_projection_rejoins_total", float(r.rejoins), labels,
                       kind="counter", help="times the view went back to its projection group "
                                            "after it had left it"),
            ]
        return rows

    return samples


@dataclass
class WorkerProcess:
    name: str
    loops: list[tuple[str, Loop]]
    health: WorkerHealth
    conninfo: str
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 0  # 0: no /health, /metrics server
    join_seconds: float = 20.0
    supervisor: Supervisor | None = None
    idles: dict[str, Idle] = field(default_factory=dict)  # by loop: its `idle` probe

    @property
    def restarts(self) -> int:
        return self.supervisor.restarts if self.supervisor else 0

    def run(self) -> int:
        """Until SIGTERM / SIGINT: the loops, supervised; then stop them and wait for them.
        Returns 0, or 1 when it ended because a loop had ended for good (returned on its own,
        or its thread ended by what is no Exception): supervision cannot bring that loop
        back, only a new process can, so it stops the others and exits with a failure status
        (a restart policy that restarts only failures, or Docker's `unless-stopped`, which
        does not restart a container that is merely unhealthy, starts it again)."""
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        supervisor = self.supervisor = Supervisor(self.conninfo, stop)
        self.health.watch(supervisor)
        server = serve(self.health, self.metrics_host, self.metrics_port) \
            if self.metrics_port else None
        for name, loop in self.loops:
            supervisor.start(name, loop, idle=self.idles.get(name))
        log.info("%s worker running: %s", self.name, ", ".join(n for n, _ in self.loops))
        ended = False
        while not stop.wait(1.0):
            if gone := supervisor.ended():
                log.error("%s worker: loop %s has ended and is not started again; stopping the "
                          "other loops and exiting with status 1, so that the worker is "
                          "started again", self.name, ", ".join(sorted(gone)))
                ended = True
                break
            if supervisor.all_finished():
                log.error("%s worker: every loop has ended; exiting with status 1", self.name)
                ended = True
                break
        supervisor.stop(timeout=self.join_seconds)
        if server is not None:
            server.shutdown()
            server.server_close()
        log.info("%s worker stopped", self.name)
        return 1 if ended else 0
