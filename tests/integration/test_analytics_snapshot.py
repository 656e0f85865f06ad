"""The published snapshot: two files take turns, brought up to date in place with the changed
rows only, and a file a reader still holds is never written (it gets a whole copy instead)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import duckdb
import psycopg

from analytics.loader import AnalyticsLoader
from analytics.publish import snapshot_path, turns
from analytics.reader import snapshot
from analytics.schema import TABLES
from servicecore.container import Container, build
from tests.conftest import settings_for
from tests.databases import scratch_database
from tests.integration.analytics_support import visit
from tests.scratch_systems import module_container

# Each loader here reads the log from event 0: a log of the module's own, not the session's.
container = module_container("sc_snapshot")

READER = """
import sys, duckdb
conn = duckdb.connect(sys.argv[1], read_only=True)
count = lambda: conn.execute("SELECT count(*) FROM fact_work_orders").fetchone()[0]
print(count(), flush=True)
sys.stdin.readline()
print(count(), flush=True)
"""


def tables(conn: duckdb.DuckDBPyConnection) -> dict[str, list[Any]]:
    return {t.name: conn.execute(f"SELECT * FROM {t.name} ORDER BY ALL").fetchall()
            for t in TABLES}


def work_orders(conn: duckdb.DuckDBPyConnection, store: str) -> int:
    found = conn.execute("SELECT count(*) FROM fact_work_orders WHERE store_id = ?",
                         [store]).fetchone()
    assert found is not None
    return int(found[0])


def test_later_publications_bring_the_other_file_up_to_date_in_place(
        container: Container, tmp_path: Path) -> None:
    store = "PB" + uuid.uuid4().hex[:6].upper()
    loader = AnalyticsLoader(container.app, tmp_path / "analytics" / "servicecore.duckdb")
    loader.publisher.prefer = "in place"  # on a file this small a copy is cheaper
    try:
        ways = []
        for step in range(4):
            visit(container, store, f"2025-04-{10 + step:02d}", step)
            loader.catch_up()
            assert loader.publish(force=True)
            ways.append(loader.publisher.last_way)
            with snapshot(loader.path) as (conn, info):
                assert info["position"] == loader.position()
                assert tables(conn) == tables(loader.conn)  # every row of every table
                assert work_orders(conn, store) == step + 1
        # a process's first publication into each file copies it whole (its tables may be
        # older than a column); after that only what changed is written
        assert ways == ["copy", "copy", "in place", "in place"]
        stable = snapshot_path(loader.path)
        assert os.stat(stable).st_ino == os.stat(stable.with_name(info["file"])).st_ino
        assert sorted(p.name for p in stable.parent.glob("servicecore-snapshot*")) == [
            "servicecore-snapshot-a.duckdb", "servicecore-snapshot-b.duckdb",
            "servicecore-snapshot.duckdb", "servicecore-snapshot.json"]  # no WAL, no leftovers
    finally:
        loader.close()


def test_a_file_still_held_by_a_reader_is_never_written(container: Container,
                                                        tmp_path: Path) -> None:
    store = "PR" + uuid.uuid4().hex[:6].upper()
    loader = AnalyticsLoader(container.app, tmp_path / "analytics" / "servicecore.duckdb")
    loader.publisher.prefer = "in place"
    try:
        for step in range(2):  # a, then b
            visit(container, store, f"2025-04-{10 + step:02d}", step)
            loader.catch_up()
            loader.publish(force=True)
        a, _b = turns(loader.path)
        # A reader in another process opened `a` two publications ago and still reads it.
        reader = subprocess.Popen([sys.executable, "-c", READER, str(a)], text=True,
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert reader.stdout is not None and reader.stdin is not None
        before = int(reader.stdout.readline())
        visit(container, store, "2025-04-12", 2)
        loader.catch_up()
        loader.publish(force=True)  # a's turn: its lock is held, so a new file takes its name
        assert loader.publisher.last_way == "copy"
        reader.stdin.write("\n")
        reader.stdin.flush()
        assert int(reader.stdout.readline()) == before  # what it opened, whole
        assert reader.wait(timeout=30) == 0
        with snapshot(loader.path) as (conn, info):
            assert info["file"] == a.name and work_orders(conn, store) == 3

            # A reader in this process holds `a` too: DuckDB's lock does not tell, it says so.
            visit(container, store, "2025-04-13", 3)
            loader.catch_up()
            loader.publish(force=True)  # into b, in place
            assert loader.publisher.last_way == "in place"
            visit(container, store, "2025-04-14", 4)
            loader.catch_up()
            loader.publish(force=True)  # a's turn again
            assert loader.publisher.last_way == "copy"
            assert work_orders(conn, store) == 3
        with snapshot(loader.path) as (conn, _info):
            assert work_orders(conn, store) == 5
            assert tables(conn) == tables(loader.conn)
    finally:
        loader.close()


def test_each_publication_takes_the_way_that_was_cheaper(container: Container,
                                                         tmp_path: Path) -> None:
    store = "PW" + uuid.uuid4().hex[:6].upper()
    loader = AnalyticsLoader(container.app, tmp_path / "analytics" / "servicecore.duckdb")
    publisher = loader.publisher
    publisher.retry_every = 4
    # what each way took the last time it was timed, as seen before publications 4 to 9
    slow_in_place, slow_copy = {"copy": 1.0, "in place": 2.0}, {"copy": 2.0, "in place": 1.0}
    timings = [None, None, None, slow_in_place, slow_in_place, slow_in_place, slow_copy,
               slow_copy, slow_copy]
    try:
        ways = []
        for step, seconds in enumerate(timings):
            if seconds is not None:
                publisher.seconds = dict(seconds)
            visit(container, store, f"2025-05-{10 + step:02d}", step)
            loader.catch_up()
            loader.publish(force=True)
            ways.append(publisher.last_way)
            with snapshot(loader.path) as (conn, _info):
                assert tables(conn) == tables(loader.conn)
        # the first copy of each file; in place once to time it; then the cheaper way, and
        # the other one on every 4th publication to time it again
        assert ways == ["copy", "copy", "in place", "in place", "copy", "copy", "in place",
                        "copy", "in place"]
    finally:
        loader.close()


def test_a_gap_of_ids_longer_than_a_batch_is_passed_over(server_url: str,
                                                         tmp_path: Path) -> None:
    # Ids a rolled-back save took are never used: a range of the log can hold no event at all.
    with scratch_database(server_url, "sc_gap") as url:
        system = build(settings_for(url, tmp_path / "var"))
        try:
            visit(system, "GAP", "2025-04-10", 0)
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("SELECT setval('servicecore_events_notification_id_seq', "
                             "nextval('servicecore_events_notification_id_seq') + 50)")
            visit(system, "GAP", "2025-04-11", 1)
            head = system.app.recorder.max_notification_id()
            loader = AnalyticsLoader(system.app, tmp_path / "gap.duckdb", batch_size=7)
            try:
                events = loader.catch_up()
                assert loader.position() == head
                assert events < head  # the ids of the gap are no events
                assert work_orders(loader.conn, "GAP") == 2
            finally:
                loader.close()
        finally:
            system.close()
