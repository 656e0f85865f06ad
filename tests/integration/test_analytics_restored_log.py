"""The database restored from a backup under a DuckDB file loaded further: the loader finds that
the event at its position is not the one it loaded (or that its position is past the log's
head), says so, and loads the tables again from event 0. Before, it kept the facts of the
events the restore took away and passed over the new events given their notification ids."""

from __future__ import annotations

import logging
import os
import signal
import threading
import uuid
from pathlib import Path

import duckdb
import pytest

from analytics.loader import AnalyticsLoader
from analytics.publish import snapshot_path
from tests.integration.kafka_support import free_port, wait_until
from tests.integration.restore_support import restorable
from tests.integration.support import head, open_order
from tests.integration.test_relay import start_worker


def orders_by_store(conn: duckdb.DuckDBPyConnection, *stores: str) -> list[int]:
    """Read beside a running loader under its lock only (its connection refuses a second
    caller, failing the loader's batch)."""
    return [int(conn.execute("SELECT count(*) FROM fact_work_orders WHERE store_id = ?",
                             [store]).fetchone()[0])  # type: ignore[index]
            for store in stores]


def loaded(loader: AnalyticsLoader, *stores: str) -> list[int]:
    with loader.lock:
        return orders_by_store(loader.conn, *stores)


def run_until(loader: AnalyticsLoader, done: object) -> None:
    """The loader's loop (as its worker runs it) until `done()` holds under its lock."""
    stop = threading.Event()
    failures: list[BaseException] = []

    def loop() -> None:
        try:
            loader.run(stop)
        except BaseException as error:  # noqa: BLE001 - reported below
            failures.append(error)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        wait_until(lambda: bool(failures) or done(), 30,  # type: ignore[operator]
                   "the loader to load the restored log")
    finally:
        stop.set()
        thread.join(30)
    assert not failures, failures


@pytest.mark.parametrize("new_orders", [1, 4])
def test_a_restored_log_behind_the_loaded_position_is_loaded_again_not_passed_over(
        server_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture,
        new_orders: int) -> None:
    """1 new order: the restored log's head stays below the loaded position; 4: it passes it,
    so the position alone would not tell (the events at it are others)."""
    kept, lost, new = ("K" + uuid.uuid4().hex[:5].upper(), "L" + uuid.uuid4().hex[:5].upper(),
                       "N" + uuid.uuid4().hex[:5].upper())
    path = tmp_path / "analytics.duckdb"
    with restorable(server_url, "sc_restore_an", tmp_path) as db:
        system = db.start()
        for _ in range(2):
            open_order(system.work_orders, kept)
        db.take_backup()  # last night's dump

        # the day's work, loaded into DuckDB and published
        system = db.start()
        for _ in range(2):
            open_order(system.work_orders, lost)
        loaded_to = head(system.app)
        loader = AnalyticsLoader(system.app, path)
        loader.catch_up()
        loader.publish(force=True)
        assert orders_by_store(loader.conn, kept, lost, new) == [2, 2, 0]
        loader.close()

        # the disk fails; the database is restored from the dump and serves again
        db.restore()
        system = db.start()
        assert head(system.app) < loaded_to
        for _ in range(new_orders):
            open_order(system.work_orders, new)
        loader = AnalyticsLoader(system.app, path)
        try:
            with caplog.at_level(logging.WARNING, logger="analytics.loader"):
                run_until(loader, lambda: loaded(loader, new) == [new_orders])
            assert orders_by_store(loader.conn, kept, lost, new) == [2, 0, new_orders]
            assert loader.position() == head(system.app)
            said = [r.getMessage() for r in caplog.records if "restored" in r.getMessage()]
            assert said and f"position {loaded_to}" in said[0], said
            # readers in other processes get the tables as loaded again
            with duckdb.connect(str(snapshot_path(path)), read_only=True) as snap:
                assert orders_by_store(snap, kept, lost, new) == [2, 0, new_orders]
        finally:
            loader.close()


def test_a_worker_that_ran_on_across_the_restore_publishes_the_restored_log(
        server_url: str, tmp_path: Path) -> None:
    """`worker analytics` keeps running while the database is restored under it (its
    connections cut): it finds the log restored behind its tables, loads them again and
    publishes a snapshot of the log as it now is."""
    kept, lost, new = ("K" + uuid.uuid4().hex[:5].upper(), "L" + uuid.uuid4().hex[:5].upper(),
                       "N" + uuid.uuid4().hex[:5].upper())
    port = free_port()
    info = tmp_path / "analytics" / "servicecore-snapshot.json"
    with restorable(server_url, "sc_restore_aw", tmp_path) as db:
        env = {**os.environ, "DATABASE_URL": db.app_url, "SERVICECORE_DATA_DIR": str(tmp_path),
               "SERVICECORE_WORKER_METRICS_PORT": str(port), "SERVICECORE_CREATE_TABLES": "false",
               "SERVICECORE_JWT_SECRET": "x" * 40, "SERVICECORE_POOL_SIZE": "3",
               "SERVICECORE_ANALYTICS_PUBLISH_SECONDS": "1"}
        open_order(db.start().work_orders, kept)
        db.take_backup()
        system = db.start()
        open_order(system.work_orders, lost)

        def published(*counts: int) -> bool:
            if not info.exists():
                return False
            with duckdb.connect(str(info.with_suffix(".duckdb")), read_only=True) as snap:
                return orders_by_store(snap, kept, lost, new) == list(counts)

        log = tmp_path / "analytics.log"
        worker = start_worker("analytics", env, log)
        try:
            wait_until(lambda: published(1, 1, 0), 90, "a snapshot of the day's work")
            db.restore()
            system = db.start()
            for _ in range(3):
                open_order(system.work_orders, new)
            wait_until(lambda: published(1, 0, 3), 90, "a snapshot of the restored log")
            assert "restored from a backup" in log.read_text()
            worker.send_signal(signal.SIGTERM)
            assert worker.wait(timeout=45) == 0, log.read_text()[-3000:]
        finally:
            if worker.poll() is None:
                worker.kill()
