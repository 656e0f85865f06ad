"""The analytics loader against a DuckDB file it cannot write for a while.

A commit whose automatic checkpoint cannot grow the file (the disk full; here a file-size limit
on the process) is durable, but DuckDB then refuses every statement of that database instance
("invalidated") until it is opened again. The loader must open it again when its supervisor
starts it after the failure, and go on from the position the durable commit left: nothing
skipped, nothing loaded twice.
"""

from __future__ import annotations

import asyncio
import os
import resource
import signal
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pytest

from analytics.loader import AnalyticsLoader
from api.health_check import HealthCheck
from servicecore.container import Container
from tests.integration.kafka_support import wait_until
from tests.integration.support import head, open_order
from tests.integration.test_analytics_stall import held
from tests.scratch_systems import module_container
from workers.health import WorkerHealth
from workers.process import analytics_probe, analytics_troubles
from workers.supervisor import Supervisor

# A log of the module's own: the DuckDB file then holds only these orders, so whether the
# checkpoint must grow it does not depend on what earlier tests of the suite wrote.
container = module_container("sc_afaults")


@contextmanager
def no_growth(path: Path) -> Iterator[None]:
    """Files this process writes may not grow past `path`'s size (as on a full disk)."""
    old_limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (os.path.getsize(path), old_limit[1]))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, old_limit)
        signal.signal(signal.SIGXFSZ, old_handler)


def orders_loaded(loader: AnalyticsLoader, store_id: str) -> int:
    """Read under the loader's lock, as its own readers do: its DuckDB connection refuses a
    second caller at once (`ResourceInUseException`), so a read beside a running loader
    could otherwise fail the loader's batch instead."""
    with loader.lock:
        found = loader.conn.execute("SELECT count(*) FROM fact_work_orders WHERE store_id = ?",
                                    [store_id]).fetchone()
    assert found is not None
    return int(found[0])


def position_of(loader: AnalyticsLoader) -> int:
    with loader.lock:
        return loader.position()


def test_a_file_invalidated_by_a_failed_checkpoint_is_opened_again_and_loading_goes_on(
        container: Container, tmp_path: Path) -> None:
    store_id = "AF" + uuid.uuid4().hex[:6].upper()
    loader = AnalyticsLoader(container.app, tmp_path / "analytics.duckdb")
    supervisor = Supervisor("unused", first_backoff=0.1, max_backoff=0.2)
    try:
        open_order(container.work_orders, store_id)
        loader.catch_up()
        loader.conn.execute("SET checkpoint_threshold = '1kB'")  # every commit checkpoints
        loader.conn.execute("CHECKPOINT")
        for _ in range(3):
            open_order(container.work_orders, store_id)

        # The batch commits, its checkpoint cannot write: the instance is invalidated.
        with no_growth(loader.path), pytest.raises(duckdb.FatalException):
            loader.run_batch()
        with pytest.raises(duckdb.FatalException):
            loader.position()

        # Supervised as `serve` and `worker analytics` run it: started again, it loads on.
        supervisor.start("analytics", lambda stop, _conninfo: loader.run(stop))
        wait_until(lambda: _reached(loader, head(container.app)), 30,
                   "the loader to reach the head again")
        assert orders_loaded(loader, store_id) == 4  # the durable batch once, none skipped
        state = supervisor.states()["analytics"]
        assert state["state"] == "running", state
    finally:
        supervisor.stop(timeout=10)
        loader.close()


def _reached(loader: AnalyticsLoader, position: int) -> bool:
    try:
        return position_of(loader) >= position
    except duckdb.Error:
        return False


def test_a_loader_failing_on_a_full_disk_is_not_ready_when_started_again_until_a_round_goes_well(
        container: Container, tmp_path: Path) -> None:
    """Found in a probe (`worker analytics` whose files may not grow): its loop fails at each
    run's first commit, and /health answered 200 for a moment after each start, the loop
    `running` again. Now it stays 503 from the first failure until a run has loaded and
    published a whole round; the published snapshot stays whole at its last position."""
    store_id = "AN" + uuid.uuid4().hex[:6].upper()
    loader = AnalyticsLoader(container.app, tmp_path / "analytics.duckdb")
    # as `servicecore worker analytics` builds its health (servicecore/cli.py)
    health = WorkerHealth("analytics", [analytics_probe(container.app, loader)],
                          troubles=lambda: analytics_troubles(container.app, loader, 60.0))
    supervisor = Supervisor("unused", first_backoff=2.0, max_backoff=2.0)
    health.watch(supervisor)
    try:
        open_order(container.work_orders, store_id)
        supervisor.start("analytics", lambda stop, _conninfo: loader.run(stop))
        wait_until(lambda: health.health()[0] == 200 and loader.published_position > 0, 60,
                   "the loader to load, publish and be ready")
        published = loader.published_position
        with loader.lock:  # between two of its rounds
            loader.conn.execute("SET checkpoint_threshold = '1kB'")  # every commit checkpoints
            loader.conn.execute("CHECKPOINT")
        with no_growth(loader.path):
            open_order(container.work_orders, store_id)
            wait_until(lambda: supervisor.states()["analytics"]["state"] == "restarting", 30,
                       "the loader's batch to fail on the file that may not grow")
        assert "Could not write file" in str(supervisor.states()["analytics"]["last_error"])

        # Started again (the loader's lock held, so its run waits before its first round):
        # its loop says `running`, /health still says it fails.
        with held(loader):
            wait_until(lambda: supervisor.states()["analytics"]["state"] == "running", 30,
                       "the loader to be started again")
            status, body = health.health()
            assert status == 503, body
            assert any(r.startswith("analytics loader failing since ") for r in body["reasons"])
            # `serve`'s /health, where the loader runs in the process, says the same
            check = HealthCheck(container.database_url, [], analytics=loader.progress)
            status, body = asyncio.run(check.report())
            check.close()
            assert status == 503, body
            assert any(r.startswith("analytics loader failing since ") for r in body["reasons"])
            with duckdb.connect(str(loader.snapshot_path), read_only=True) as snapshot:
                found = snapshot.execute("SELECT position FROM analytics_position").fetchone()
            assert found == (published,)  # whole, at its last publication

        # A round goes well: ready again.
        wait_until(lambda: health.health()[0] == 200, 60, "/health to answer 200 again")
        assert _reached(loader, head(container.app))
    finally:
        supervisor.stop(timeout=10)
        loader.close()
