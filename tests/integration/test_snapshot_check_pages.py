"""`audit verify`'s snapshot check reads a page at a time: a stream that lives for years holds
hundreds of snapshots, each a whole state (a fleet customer's every loyalty lot), and a group's
log holds a snapshotted stream for every long-lived customer, technician, counter and stock
item. The check reads the next snapshots of a stream and the next stream ids as the replay
reaches them, never all of them at once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from domain.application import SNAPSHOT_EVERY
from domain.common import Audit
from domain.counter import DocumentCounter
from projections import snapshot_check
from servicecore.container import Container, build, migrate
from servicecore.roles import DatabaseUrls
from servicecore.schema import SNAPSHOTS_TABLE
from tests.conftest import settings_for
from tests.databases import app_role_url, scratch_database

AUDIT = Audit("mgr-1", "manager", "S01", datetime.now(UTC), "snapshot-pages")
PAGE = 2  # snapshots (and stream ids) per read in these tests


class _Cursor:
    def __init__(self, cursor: Any, sql: str, reads: list[tuple[str, int]]) -> None:
        self.cursor, self.sql, self.reads = cursor, sql, reads

    def fetchall(self) -> list[Any]:
        rows = self.cursor.fetchall()
        self.reads.append((self.sql, len(rows)))
        return rows  # type: ignore[no-any-return]

    def fetchone(self) -> Any:
        row = self.cursor.fetchone()
        self.reads.append((self.sql, 0 if row is None else 1))
        return row


class _Counted:
    """The real connection, noting how many rows each read of it returned."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn
        self.reads: list[tuple[str, int]] = []

    def execute(self, sql: str, params: Any = None) -> _Cursor:
        return _Cursor(self.conn.execute(sql, params), sql, self.reads)


def _counter(system: Container, series: str, snapshots: int) -> None:
    counter = DocumentCounter(series=series, store_id="S01", year=2026, audit=AUDIT)
    system.app.save(counter)
    while counter.version < SNAPSHOT_EVERY * snapshots + 1:
        counter.take(AUDIT, "WO")
        system.app.save(counter)


@pytest.fixture
def long_lived(server_url: str, tmp_path: Path) -> Iterator[str]:
    """Two counters, one snapshotted five times, the other once."""
    with scratch_database(server_url, "sc_snap_pages") as owner_url:
        url = app_role_url(owner_url)
        migrate(DatabaseUrls(owner=owner_url, app=url), settings_for(url, tmp_path / "migrate"))
        system = build(settings_for(url, tmp_path))
        try:
            _counter(system, "work-order", 5)
            _counter(system, "settlement", 1)
            yield url
        finally:
            system.close()


def test_the_check_reads_a_page_of_snapshots_and_streams_at_a_time(
        long_lived: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(snapshot_check, "SNAPSHOT_FETCH", PAGE, raising=False)
    monkeypatch.setattr(snapshot_check, "STREAMS_FETCH", PAGE - 1, raising=False)
    system = build(settings_for(long_lived, tmp_path / "check"))
    try:
        with psycopg.connect(long_lived, autocommit=True) as conn:
            [(stored,)] = conn.execute(f"SELECT count(*) FROM {SNAPSHOTS_TABLE}").fetchall()
            counted = _Counted(conn)
            found = snapshot_check.check_snapshots(counted, system.app.mapper)  # type: ignore[arg-type]
    finally:
        system.close()
    assert stored == 6
    assert found.ok and found.checked == 6 and found.streams == 2
    snapshot_reads = [n for sql, n in counted.reads if SNAPSHOTS_TABLE in sql
                      and "state" in sql]
    stream_reads = [n for sql, n in counted.reads if "DISTINCT originator_id" in sql]
    # the five snapshots of the first stream came in pages of at most two, and the stream
    # ids one at a time: no read holds what the next one brings
    assert max(snapshot_reads) == PAGE and sum(snapshot_reads) == 6
    assert max(stream_reads) == PAGE - 1 and sum(stream_reads) == 2
