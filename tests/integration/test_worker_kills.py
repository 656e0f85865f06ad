"""`servicecore worker …` processes killed (-9) in the middle of their work: nothing they had
half done is kept, and the process started again goes on from its stored position to the
same tables a load from event 0 gives (nothing skipped, nothing applied twice).

The analytics loader is killed as its first batch is being loaded (its one DuckDB transaction
left uncommitted); the projections once their position has moved but is short of the head
(inside or between batches: either way the outcome must be the same); the relay once it has
handed messages to its producer (some acknowledged, some in flight: every event reaches its
topic, repeats skipped by stream version). A worker whose DuckDB file cannot be opened exits
saying so instead of serving /health without its loader.
"""

from __future__ import annotations

import json
import signal
import subprocess
import uuid
from pathlib import Path

from analytics.verify import files_to_verify, verify_files
from servicecore.container import Container
from tests.integration.kafka_support import Broker, free_port, wait_until
from tests.integration.test_relay import (  # noqa: F401 (fixtures)
    broker,
    every_event_on_its_topic,
    metrics_now,
    open_orders,
    relay_db,
    sample,
    start_worker,
    stored_position,
    system,
    worker_env,
)
from workers.view_verify import verify_view


def _killed_behind(worker: subprocess.Popen[bytes], port: int, labels: dict[str, str]
                   ) -> float:
    """SIGKILL the worker once its position has moved: where it was."""
    seen: list[float] = []

    def moved() -> bool:
        try:
            found = sample(metrics_now(port), "servicecore_worker_position", **labels)
        except OSError:
            return False
        if found:
            seen.append(found)
        return bool(found)

    wait_until(moved, 120, "the worker to load its first batch")
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=30)
    return seen[-1]


def test_worker_analytics_killed_mid_load_goes_on_to_the_tables_a_full_load_gives(
        system: Container, broker: Broker, tmp_path: Path) -> None:  # noqa: F811
    port = free_port()
    env = worker_env(system, broker, tmp_path, port, "k.")
    env["SERVICECORE_ANALYTICS_PUBLISH_SECONDS"] = "1"
    log = tmp_path / "analytics.log"
    info = tmp_path / "analytics" / "servicecore-snapshot.json"
    open_orders(system, "KW1", 400)
    head = system.app.recorder.max_notification_id() or 0

    worker = start_worker("analytics", env, log)
    try:
        # killed as its first batch (every event: fewer than a batch) is being loaded
        wait_until(lambda: "following the log from position" in log.read_text(), 120,
                   "the loader to start its first batch")
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)
        worker = start_worker("analytics", env, log)
        wait_until(lambda: info.exists() and json.loads(info.read_text())["position"] >= head,
                   180, "the restarted worker's snapshot at the head")
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=45) == 0, log.read_text()[-3000:]
    finally:
        if worker.poll() is None:
            worker.kill()
    checked = verify_files(system.app, files_to_verify(tmp_path / "analytics" /
                                                       "servicecore.duckdb"),
                           zone=system.settings.store_timezone)
    assert checked.ok, checked.as_dict()


def test_worker_projections_killed_mid_catch_up_goes_on_to_the_rows_a_rebuild_gives(
        system: Container, broker: Broker, tmp_path: Path) -> None:  # noqa: F811
    port = free_port()
    env = worker_env(system, broker, tmp_path, port, "k.")
    env["SERVICECORE_PROJECTION_BATCH_SIZE"] = "20"
    log = tmp_path / "projections.log"
    open_orders(system, "KW2", 200)  # a backlog, applied 20 events a batch
    head = system.app.recorder.max_notification_id() or 0

    worker = start_worker("projections", env, log)
    try:
        at = _killed_behind(worker, port, {"worker": "projections", "projection": "work_orders"})
        assert at < head  # mid catch-up
        worker = start_worker("projections", env, log)
        wait_until(lambda: sample(metrics_now(port), "servicecore_worker_events_behind",
                                  worker="projections", projection="work_orders") == 0, 180,
                   "the work-orders view to catch up after the kill")
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=45) == 0, log.read_text()[-3000:]
    finally:
        if worker.poll() is None:
            worker.kill()
    [view] = [v for v in system.views if v.name == "work_orders"]
    checked = verify_view(system.app, system.pool, view)
    assert checked.position >= head and checked.ok, checked


def test_worker_analytics_whose_duckdb_file_cannot_be_opened_exits_saying_so(
        system: Container, broker: Broker, tmp_path: Path) -> None:  # noqa: F811
    port = free_port()
    env = worker_env(system, broker, tmp_path, port, "k.")
    (tmp_path / "analytics" / "servicecore.duckdb").mkdir(parents=True)  # a folder stands there
    log = tmp_path / "analytics.log"
    worker = start_worker("analytics", env, log)
    try:
        assert worker.wait(timeout=120) == 1  # not a worker serving /health with no loader
    finally:
        if worker.poll() is None:
            worker.kill()
    [failed] = [json.loads(line) for line in log.read_text().splitlines()
                if '"level":"ERROR"' in line]
    assert failed["message"] == "servicecore worker failed"
    assert "servicecore.duckdb" in failed["exc"]


def test_worker_relay_killed_mid_backlog_resends_from_its_position_and_loses_nothing(
        system: Container, broker: Broker, tmp_path: Path) -> None:  # noqa: F811
    prefix = f"k{uuid.uuid4().hex[:6]}."
    port = free_port()
    env = worker_env(system, broker, tmp_path, port, prefix)
    log = tmp_path / "relay.log"
    open_orders(system, "KW3", 300)
    head = system.app.recorder.max_notification_id() or 0
    worker = start_worker("relay", env, log)
    try:
        # killed once it has handed messages to its producer (acknowledged or not yet)
        wait_until(lambda: (sample(metrics_now(port), "servicecore_relay_sent_total") or 0) > 0,
                   120, "the relay's first sends")
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)
        worker = start_worker("relay", env, log)
        wait_until(lambda: stored_position(system) >= head, 180, "the restarted relay")
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=45) == 0, log.read_text()[-3000:]
    finally:
        if worker.poll() is None:
            worker.kill()
    # every event on its topic, in stream order; repeats are skipped by stream version
    every_event_on_its_topic(system, broker, prefix, head, 90, "every event across the kill")
