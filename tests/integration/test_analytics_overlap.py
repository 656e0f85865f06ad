"""The analytics loader's catch-up reads the next range of the log while DuckDB finishes a batch.

Exactly once still holds: an error finishing a batch (its set-based statements, the position,
the commit) keeps nothing of it, leaves the position where it was and drops what was read
ahead; an error reading ahead stops the load after the batch being finished is committed; and
loading again (the same loader, or a new one on the same file after a restart) gives the tables
of a load that never failed.
"""

from __future__ import annotations

import gc
import uuid
from pathlib import Path
from typing import Any

import duckdb
import pytest

from analytics.events import Batch, EventSource
from analytics.loader import AnalyticsLoader
from analytics.schema import TABLES
from analytics.set_based import SetBased
from servicecore.container import Container
from tests.integration.test_analytics import table_rows, visit


class Failure(Exception):
    """The error the test injects."""


def tables(conn: duckdb.DuckDBPyConnection) -> dict[str, list[tuple[Any, ...]]]:
    return {t.name: table_rows(conn, t.name) for t in TABLES}


def history(container: Container, prefix: str) -> int:
    """A few visits of a store of the test's own; a batch size giving at least four batches
    over the whole log (the database is shared with other tests)."""
    store = prefix + uuid.uuid4().hex[:6].upper()
    for n in range(3):
        visit(container, store, "2025-05-12", n)
    head = container.app.recorder.max_notification_id() or 0
    return max(7, head // 5)


def reference(container: Container, path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """The tables loaded batch by batch, nothing read ahead."""
    loader = AnalyticsLoader(container.app, path)
    try:
        while loader.run_batch():
            pass
        return tables(loader.conn)
    finally:
        loader.close()


def reads(monkeypatch: pytest.MonkeyPatch, failing: int = 0) -> list[int]:
    """The position after which each range was read; read number `failing` (1, 2, …) raises."""
    done: list[int] = []
    read = EventSource.read

    def checked(self: EventSource, after: int, limit: int) -> Batch:
        done.append(after)
        if len(done) == failing:
            raise Failure(f"reading after {after}")
        return read(self, after, limit)

    monkeypatch.setattr(EventSource, "read", checked)
    return done


def test_an_error_finishing_a_batch_keeps_nothing_of_it_and_a_restart_resumes(
        container: Container, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    size = history(container, "OF")
    path = tmp_path / "a.duckdb"
    first = AnalyticsLoader(container.app, tmp_path / "first.duckdb", batch_size=size)
    try:
        first.run_batch()
        after_first, position = tables(first.conn), first.position()
    finally:
        first.close()
    done = reads(monkeypatch)
    after_write = SetBased.after_write
    calls = 0

    def failing(self: SetBased) -> None:  # the batch's rows are written when it fails
        nonlocal calls
        calls += 1
        after_write(self)
        if calls == 2:
            raise Failure("finishing the second batch")

    monkeypatch.setattr(SetBased, "after_write", failing)
    loader = AnalyticsLoader(container.app, path, batch_size=size)
    try:
        with pytest.raises(Failure):
            loader.catch_up()
        # the third range was read while the second batch was being finished: it is dropped
        assert done == [0, position, done[2]] and done[2] > position
        assert loader.position() == position
        assert tables(loader.conn) == after_first
    finally:
        loader.close()
    assert gc.isenabled()
    monkeypatch.setattr(SetBased, "after_write", after_write)
    restarted = AnalyticsLoader(container.app, path, batch_size=size)
    try:
        assert restarted.position() == position
        restarted.catch_up()
        assert restarted.position() == container.app.recorder.max_notification_id()
        loaded = tables(restarted.conn)
    finally:
        restarted.close()
    assert loaded == reference(container, tmp_path / "reference.duckdb")


def test_an_error_reading_ahead_stops_the_load_after_the_batch_it_ran_beside(
        container: Container, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    size = history(container, "OR")
    done = reads(monkeypatch, failing=3)
    loader = AnalyticsLoader(container.app, tmp_path / "a.duckdb", batch_size=size)
    try:
        with pytest.raises(Failure):
            loader.catch_up()
        # the second batch was being finished while the third range failed: it is committed
        assert loader.position() == done[2] > done[1] > 0
        loader.catch_up()  # the same loader goes on from its position
        assert loader.position() == container.app.recorder.max_notification_id()
        loaded = tables(loader.conn)
    finally:
        loader.close()
    assert gc.isenabled()
    assert len(done) >= 6
    assert loaded == reference(container, tmp_path / "reference.duckdb")
