"""An analytics loader that stands still with events to load shows on /health.

Its batch can block while its loop stays `running`: here something holds the loader's lock (as
a reader of its DuckDB connection does, which refuses a second caller) and does not let go.
Both `serve`'s /health (the loader in-process) and `worker analytics`'s must then answer 503
naming the loader, its position and the log's head, once SERVICECORE_READY_MAX_STALL_SECONDS
has passed, and 200 again once it loads.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from analytics.loader import AnalyticsLoader
from servicecore.container import Container
from tests.integration.kafka_support import wait_until
from tests.integration.support import open_order
from tests.scratch_systems import module_container
from workers.health import WorkerHealth
from workers.process import analytics_probe, analytics_troubles
from workers.supervisor import Supervisor

container = module_container("sc_astall")
STALL_SECONDS = 1.0


@contextmanager
def held(loader: AnalyticsLoader) -> Iterator[None]:
    """The loader's lock, taken by another thread and held until the block ends: the
    loader's next batch waits for it."""
    taken, release = threading.Event(), threading.Event()

    def hold() -> None:
        with loader.lock:
            taken.set()
            release.wait()

    thread = threading.Thread(target=hold, name="holds-the-loader", daemon=True)
    thread.start()
    assert taken.wait(10)
    try:
        yield
    finally:
        release.set()
        thread.join(10)


def loaded(loader: AnalyticsLoader) -> int:
    with loader.lock:
        return loader.position()


def analytics_reasons(body: dict[str, Any]) -> list[str]:
    return [r for r in body.get("reasons", []) if r.startswith("analytics loader ")]


def test_a_stalled_in_process_loader_makes_serves_health_503_naming_it(
        container: Container) -> None:
    system = container
    system.settings = system.settings.model_copy(
        update={"ready_max_stall_seconds": STALL_SECONDS})
    store_id = "AS" + uuid.uuid4().hex[:6].upper()
    system.start_projections()
    loader = system.start_analytics()

    def report() -> tuple[int, dict[str, Any]]:
        return asyncio.run(system.health_check.report())

    first = open_order(system.work_orders, store_id)["notification_id"]
    wait_until(lambda: loaded(loader) >= first, 60, "the loader to load the first order")
    wait_until(lambda: report()[0] == 200, 60, "/health to answer 200")

    with held(loader):
        second = open_order(system.work_orders, store_id)["notification_id"]
        wait_until(lambda: bool(analytics_reasons(report()[1])), 60,
                   "/health to name the stalled analytics loader")
        status, body = report()
        reason = analytics_reasons(body)[0]
        assert status == 503 and body["status"] == "unavailable", body
        assert "has loaded nothing for" in reason, reason
        assert f"at position {body['analytics']['position']} " in reason, reason
        assert f"head at {body['head_notification_id']} " in reason, reason
        assert body["analytics"]["position"] < second <= body["head_notification_id"]
        assert body["analytics"]["stalled_seconds"] >= STALL_SECONDS
        assert body["loops"]["analytics"]["state"] == "running", body["loops"]
        assert len(analytics_reasons(body)) == 1, body["reasons"]

    # The lock is let go: the loader loads the order, /health answers 200 again.
    wait_until(lambda: loaded(loader) >= second, 60, "the loader to load the second order")
    wait_until(lambda: report()[0] == 200, 60, "/health to answer 200 again")
    assert report()[1]["analytics"]["stalled_seconds"] == 0.0


def test_a_stalled_loader_makes_the_analytics_workers_health_503_naming_it(
        container: Container, tmp_path: Path) -> None:
    system = container
    store_id = "AW" + uuid.uuid4().hex[:6].upper()
    loader = AnalyticsLoader(system.app, tmp_path / "analytics.duckdb")
    # as `servicecore worker analytics` builds its health (servicecore/cli.py)
    health = WorkerHealth("analytics", [analytics_probe(system.app, loader)],
                          troubles=lambda: analytics_troubles(system.app, loader, STALL_SECONDS))
    supervisor = Supervisor("unused", first_backoff=0.1, max_backoff=0.2)
    health.watch(supervisor)

    def stalled_metric() -> float:
        return next(s.value for s in health.samples()
                    if s.name == "servicecore_analytics_stalled_seconds")

    try:
        supervisor.start("analytics", system.analytics_loop(loader))
        first = open_order(system.work_orders, store_id)["notification_id"]
        wait_until(lambda: loaded(loader) >= first, 60, "the loader to load the first order")
        wait_until(lambda: health.health()[0] == 200, 60, "/health to answer 200")

        with held(loader):
            second = open_order(system.work_orders, store_id)["notification_id"]
            wait_until(lambda: bool(analytics_reasons(health.health()[1])), 60,
                       "the worker's /health to name the stalled loader")
            status, body = health.health()
            reasons = analytics_reasons(body)
            assert status == 503 and body["status"] == "failing", body
            assert len(reasons) == 1, reasons
            assert "has loaded nothing for" in reasons[0], reasons
            assert f"at position {loader.loaded_position} " in reasons[0], reasons
            assert loader.loaded_position < second
            assert body["loops"]["analytics"]["state"] == "running", body["loops"]
            assert stalled_metric() >= STALL_SECONDS  # the probe does not wait for the lock

        wait_until(lambda: loaded(loader) >= second, 60, "the loader to load the second order")
        wait_until(lambda: health.health()[0] == 200, 60, "/health to answer 200 again")
        assert stalled_metric() == 0.0
    finally:
        supervisor.stop(timeout=10)
        loader.close()
