"""The analytics loader fetches the next range of the log in a thread while it loads a batch.

Exactly once still holds: an error of the fetch ahead or of the batch being written stops the
load with nothing of that batch kept and the position where it was, and loading again (the
same loader, or a new one on the same file after a restart) gives the tables of a load that
never failed.
"""

from __future__ import annotations

import gc
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pytest

from analytics.events import EventSource, Fetched
from analytics.loader import AnalyticsLoader
from analytics.schema import TABLES
from analytics.set_based import SetBased
from servicecore.container import Container
from tests.integration.test_analytics import table_rows, visit

READ_AHEAD = "analytics-read-ahead"


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
    loader = AnalyticsLoader(container.app, path)
    try:
        loader.catch_up()
        return tables(loader.conn)
    finally:
        loader.close()


def fetches(monkeypatch: pytest.MonkeyPatch, fail: Callable[[str, int], bool]
          ) -> list[tuple[str, int]]:
    """Every fetch of a range (the thread that fetched it, after which position); those for
    which `fail(thread name, after)` is true raise `Failure`."""
    done: list[tuple[str, int]] = []
    fetch = EventSource.fetch

    def checked(self: EventSource, after: int, limit: int) -> Fetched:
        name = threading.current_thread().name
        done.append((name, after))
        if fail(name, after):
            raise Failure(f"fetching after {after}")
        return fetch(self, after, limit)

    monkeypatch.setattr(EventSource, "fetch", checked)
    return done


def test_an_error_of_the_fetch_ahead_stops_the_load_before_its_batch(
        container: Container, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    size = history(container, "RA")
    failing = True
    done = fetches(monkeypatch, lambda thread, after: failing and thread.startswith(READ_AHEAD))
    loader = AnalyticsLoader(container.app, tmp_path / "a.duckdb", batch_size=size)
    try:
        assert loader.run_batch() > 0  # the first range is fetched by the loading thread
        first, after_first = loader.position(), tables(loader.conn)
        with pytest.raises(Failure):  # the second was fetched ahead, and failed
            loader.run_batch()
        assert [thread.startswith(READ_AHEAD) for thread, _ in done] == [False, True]
        assert done[1][1] == first
        assert loader.position() == first
        assert tables(loader.conn) == after_first
        failing = False
        loader.catch_up()  # the same loader goes on from its position
        assert loader.position() == container.app.recorder.max_notification_id()
        loaded = tables(loader.conn)
    finally:
        loader.close()
    assert gc.isenabled()
    assert sum(thread.startswith(READ_AHEAD) for thread, _ in done) >= 3
    assert loaded == reference(container, tmp_path / "reference.duckdb")


def test_an_error_writing_a_batch_keeps_nothing_of_it_and_a_restart_resumes(
        container: Container, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    size = history(container, "RW")
    done = fetches(monkeypatch, lambda thread, after: False)
    after_write = SetBased.after_write
    calls = 0

    def failing(self: SetBased) -> None:  # the batch's rows are written when it fails
        nonlocal calls
        calls += 1
        after_write(self)
        if calls == 2:
            raise Failure("writing the second batch")

    monkeypatch.setattr(SetBased, "after_write", failing)
    path = tmp_path / "a.duckdb"
    loader = AnalyticsLoader(container.app, path, batch_size=size)
    try:
        assert loader.run_batch() > 0
        first, after_first = loader.position(), tables(loader.conn)
        with pytest.raises(Failure):
            loader.run_batch()
        # the third range was being fetched ahead: it is dropped, the position did not move
        assert [after for _, after in done][:2] == [0, first]
        assert done[2][0].startswith(READ_AHEAD) and done[2][1] > first
        assert not loader._ahead.pending
        assert loader.position() == first
        assert tables(loader.conn) == after_first
    finally:
        loader.close()
    assert gc.isenabled()
    monkeypatch.setattr(SetBased, "after_write", after_write)
    restarted = AnalyticsLoader(container.app, path, batch_size=size)
    try:
        assert restarted.position() == first
        restarted.catch_up()
        assert restarted.position() == container.app.recorder.max_notification_id()
        loaded = tables(restarted.conn)
    finally:
        restarted.close()
    assert loaded == reference(container, tmp_path / "reference.duckdb")


def test_rows_fetched_ahead_for_another_position_are_not_used(
        container: Container, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """If the position is not where the rows fetched ahead start (here: moved back by hand),
    the range is fetched again from the position."""
    size = history(container, "RP")
    done = fetches(monkeypatch, lambda thread, after: False)
    loader = AnalyticsLoader(container.app, tmp_path / "a.duckdb", batch_size=size)
    try:
        loader.run_batch()
        first = loader.position()
        loader.run_batch()
        second = loader.position()
        assert loader._ahead.pending
        loader.conn.execute("UPDATE analytics_position SET position = ?", [first])
        loader.run_batch()
        assert [after for _, after in done][:4] == [0, first, second, first]
        assert done[3][0] == threading.current_thread().name
        assert loader.position() == second
    finally:
        loader.close()
