"""The analytic snapshot when publishing it fails midway: the file brought up to date in place
cannot grow (a full disk; here a file-size limit on the process), a whole copy cannot be
written, the loader's folder refuses new files. Readers keep the snapshot published last, the
loader's own tables are untouched, and once the disk has room again the next publication is
whole: every row of every table, nothing twice."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from analytics.loader import AnalyticsLoader
from analytics.publish import info_path, turns
from analytics.reader import snapshot
from servicecore.container import Container
from tests.integration.analytics_support import visit
from tests.integration.test_analytics_faults import no_growth
from tests.integration.test_analytics_snapshot import tables, work_orders
from tests.scratch_systems import module_container

container = module_container("sc_publish_faults")


def _published(loader: AnalyticsLoader, store: str, expected: int) -> None:
    with snapshot(loader.path) as (conn, info):
        assert info["position"] == loader.position()
        assert tables(conn) == tables(loader.conn)
        assert work_orders(conn, store) == expected


@pytest.mark.parametrize("way", ["in place", "copy"])
def test_a_publication_that_cannot_grow_its_file_fails_and_the_next_one_is_whole(
        container: Container, tmp_path: Path, way: str) -> None:
    store = "PF" + uuid.uuid4().hex[:6].upper()
    loader = AnalyticsLoader(container.app, tmp_path / "analytics" / "servicecore.duckdb")
    loader.publisher.prefer = way
    try:
        for step in range(2):  # both files written once: the next is brought up to date
            visit(container, store, f"2025-05-{10 + step:02d}", step)
            loader.catch_up()
            assert loader.publish(force=True)
        _published(loader, store, 2)
        for step in range(2, 8):
            visit(container, store, f"2025-05-{10 + step:02d}", step)
        loader.catch_up()
        # in place: the file readers are not sent to cannot grow; a copy: no file can be
        # written past a few hundred bytes
        limit = turns(loader.path)[0] if way == "in place" else info_path(loader.path)
        with no_growth(limit), pytest.raises(Exception):  # noqa: B017 (whatever DuckDB says)
            loader.publish(force=True)
        # readers keep the snapshot published last
        with snapshot(loader.path) as (conn, _info):
            assert work_orders(conn, store) == 2
        # the loader goes on, and the next publication is whole
        loader.reopen_if_invalidated()
        visit(container, store, "2025-05-30", 9)
        loader.catch_up()
        assert loader.publish(force=True)
        _published(loader, store, 9)
        assert loader.publish(force=True)  # and the one after it, into the other file
        _published(loader, store, 9)
    finally:
        loader.close()


@pytest.mark.parametrize("blocked", ["copy", "link", "info"])
def test_a_publication_whose_file_cannot_be_made_fails_and_the_next_one_is_whole(
        container: Container, tmp_path: Path, blocked: str) -> None:
    store = "PD" + uuid.uuid4().hex[:6].upper()
    loader = AnalyticsLoader(container.app, tmp_path / "analytics" / "servicecore.duckdb")
    loader.publisher.prefer = "copy"
    try:
        visit(container, store, "2025-06-10", 0)
        loader.catch_up()
        assert loader.publish(force=True)
        visit(container, store, "2025-06-11", 1)
        loader.catch_up()
        target = turns(loader.path)[1]
        # a folder stands where the publication writes a file of its own
        where = {"copy": target.with_suffix(".tmp"), "link": target.with_suffix(".link.tmp"),
                 "info": info_path(loader.path).with_suffix(".json.tmp")}[blocked]
        where.mkdir()
        (where / "x").write_text("")  # not empty: no unlink or replace removes it
        with pytest.raises(OSError):
            loader.publish(force=True)
        with snapshot(loader.path) as (conn, info):
            assert work_orders(conn, store) == 1 and info["position"] < loader.position()
        (where / "x").unlink()
        where.rmdir()
        assert loader.publish(force=True)
        _published(loader, store, 2)
        assert not list(loader.path.parent.glob("*.tmp"))
    finally:
        loader.close()
