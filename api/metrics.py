"""Prometheus metrics of the API, with the standard client library (`GET /metrics`).

Requests are counted and timed by method, route template (`/work-orders/{work_order_id}`,
never the path itself: no ids, no progress-link tokens) and status; a gauge shows the requests
in flight. Each app has its own registry, so two apps in one process (tests) do not mix.

At each scrape `/metrics` also asks the health check (bounded, as `/health` does) and shows
readiness, the log's head, each projection's lag, the Kafka relay's lag and stall (where it has a
position or is configured) and each in-process loop's state and restarts,
so lag can be alerted on in the embedded default as in the scaled-out workers' metrics.

Several API processes on one host behind one scrape address (uvicorn `--workers`, gunicorn)
need prometheus_client's multiprocess mode: set `PROMETHEUS_MULTIPROC_DIR` to an empty folder
before the processes start, and `/metrics` adds up every process's files. `servicecore serve`
runs one process; scaled out, each replica is scraped on its own address.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

# Fast reads answer in milliseconds; `?wait_for=` reads and large exports take seconds.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"  # a path no route serves: one label value, not one per path

# no `_created` series beside every counter
prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


class HealthCollector(Collector):
    """The last health report (api/health_check.py) as gauges, refreshed before each scrape."""

    def __init__(self) -> None:
        self.report: dict[str, Any] | None = None

    def collect(self) -> Iterable[Metric]:
        report = self.report
        if report is None:
            return []
        families: list[Metric] = [GaugeMetricFamily(
            "servicecore_ready", "1 while /health/ready answers 200",
            value=0.0 if report["status"] == "unavailable" else 1.0)]
        if report["head_notification_id"] is not None:
            families.append(GaugeMetricFamily(
                "servicecore_log_head_notification_id", "the event log's last notification id",
                value=float(report["head_notification_id"])))
        lag = GaugeMetricFamily("servicecore_projection_lag_events",
                                "the log's head minus the projection's stored position",
                                labels=["projection"])
        stalled = GaugeMetricFamily(
            "servicecore_projection_stalled_seconds",
            "how long the projection has had events to apply without moving its position",
            labels=["projection"])
        for name, projection in report["projections"].items():
            lag.add_metric([name], float(projection["lag"]))
            stalled.add_metric([name], float(projection.get("stalled_seconds", 0.0)))
        if report.get("analytics"):
            families.append(GaugeMetricFamily(
                "servicecore_analytics_stalled_seconds",
                "how long the in-process analytics loader has had events to load without "
                "loading any", value=float(report["analytics"]["stalled_seconds"])))
        if report.get("relay"):
            families += [GaugeMetricFamily(
                "servicecore_relay_lag_events", "the log's head minus the Kafka relay's stored "
                "position", value=float(report["relay"]["lag"])), GaugeMetricFamily(
                "servicecore_relay_stalled_seconds", "how long the Kafka relay has had events "
                "to publish without moving its position",
                value=float(report["relay"]["stalled_seconds"]))]
        running = GaugeMetricFamily("servicecore_loop_running",
                                    "1 while the in-process loop runs", labels=["loop"])
        restarts = CounterMetricFamily("servicecore_loop_restarts",
                                       "times the in-process loop was started again",
                                       labels=["loop"])
        for name, loop in report["loops"].items():
            running.add_metric([name], 1.0 if loop["state"] in ("running", "idle") else 0.0)
            restarts.add_metric([name], float(loop.get("restarts", 0)))
        return [*families, lag, stalled, running, restarts]


class RefusedSnapshots(Collector):
    """Snapshots this process's loads passed over because their seal did not check out
    (domain/snapshot_seal.py), by reason: `unsealed` (a row stored before seals, or forged
    without one) or `seal differs` (forged, or sealed under another key)."""

    def __init__(self, refused: Mapping[str, int]) -> None:
        self.refused = refused

    def collect(self) -> Iterable[Metric]:
        family = CounterMetricFamily(
            "servicecore_snapshots_refused", "snapshots passed over at load (the stream was "
            "replayed from its events) because their seal did not check out", labels=["reason"])
        for reason in ("unsealed", "seal differs"):
            family.add_metric([reason], float(self.refused.get(reason, 0)))
        return [family]


class ApiMetrics:
    def __init__(self, refused_snapshots: Mapping[str, int] | None = None) -> None:
        self.health = HealthCollector()
        self._children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
        self.registry = CollectorRegistry()
        self.registry.register(self.health)
        self.refused = RefusedSnapshots({} if refused_snapshots is None else refused_snapshots)
        self.registry.register(self.refused)
        labels = ("method", "route", "status")
        self.requests = Counter(
            "servicecore_http_requests_total", "HTTP requests answered", labels,
            registry=self.registry)
        self.latency = Histogram(
            "servicecore_http_request_duration_seconds",
            "time from the request's arrival to the end of its answer", labels,
            buckets=BUCKETS, registry=self.registry)
        self.in_flight = Gauge(
            "servicecore_http_requests_in_flight", "requests being handled now",
            multiprocess_mode="livesum", registry=self.registry)
        if multiprocess_dir() is None:
            prometheus_client.ProcessCollector(registry=self.registry)
            prometheus_client.PlatformCollector(registry=self.registry)
            prometheus_client.GCCollector(registry=self.registry)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            children = self._labelled(*key)
        children[0].inc()
        children[1].observe(seconds)

    def _labelled(self, method: str, route: str, status: int) -> tuple[Counter, Histogram]:
        """The counter's and the histogram's series of one method, route and status, kept:
        `labels()` costs a lock and a few lookups on every request. Bounded: routes are
        templates, methods and statuses few."""
        labels = (method if method in METHODS else "OTHER", route, str(status))
        children = (self.requests.labels(*labels), self.latency.labels(*labels))
        if len(self._children) < 10_000:
            self._children[(method, route, status)] = children
        return children

    def exposition(self, accept: str | None) -> tuple[bytes, str]:
        """The metrics in the format the scraper asks for (Prometheus text by default)."""
        registry = self.registry
        if multiprocess_dir() is not None:
            registry = CollectorRegistry()
            MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            registry.register(self.health)
            registry.register(self.refused)
        try:
            encoder, content_type = choose_encoder(accept or "")
        except (TypeError, ValueError):  # a version it cannot compare ("abc", "1.x"): a 500
            encoder, content_type = choose_encoder("")
        return encoder(registry), content_type
