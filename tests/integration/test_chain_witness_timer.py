"""The chain's head witnessed between day-end closes: by time and by volume, once however many
processes run the timer, and appended whole to a witness file several processes share.
"""

from __future__ import annotations

import fcntl
import json
import multiprocessing
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from projections import chain_witness
from projections.hash_chain import ANCHORS_TABLE, HASHES_TABLE, anchor
from servicecore.container import Container, build
from tests.conftest import settings_for
from tests.databases import scratch_database
from tests.integration.support import open_order
from workers.chain_witness import PeriodicWitness


@pytest.fixture
def scratch(server_url: str, tmp_path: Path) -> Iterator[tuple[Container, str]]:
    with scratch_database(server_url, "sc_witness_timer") as url:
        system = build(settings_for(url, tmp_path))
        try:
            yield system, url
        finally:
            system.close()


def _head(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(f"SELECT max(notification_id) FROM {HASHES_TABLE}").fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def _anchors(url: str) -> list[tuple[int, str]]:
    with psycopg.connect(url) as conn:
        return [(int(n), str(note)) for n, note in conn.execute(
            f"SELECT notification_id, note FROM {ANCHORS_TABLE} ORDER BY anchor_id")]


def test_the_head_is_witnessed_when_the_log_moved(
        scratch: tuple[Container, str], tmp_path: Path) -> None:
    system, url = scratch
    path = tmp_path / "timer.jsonl"
    timer = PeriodicWitness(system.pool, path, 0.001)  # due at every check the log moved
    assert timer.once() is None  # an empty log
    open_order(system.work_orders, "S01")
    first = timer.once()
    assert first is not None and first["note"] == "periodic"
    time.sleep(0.01)
    assert timer.once() is None  # the log did not move: the head is witnessed already
    open_order(system.work_orders, "S01")
    with psycopg.connect(url, autocommit=True) as conn:  # a day-end close anchored it
        chain_witness.witness(conn, path, "day-end S01 2026-12-04 csh-1")
    assert timer.once() is None
    open_order(system.work_orders, "S01")
    time.sleep(0.01)
    second = timer.once()
    assert second is not None and second["notification_id"] > first["notification_id"]
    assert [f"{a.notification_id}:{a.hash}" for a in chain_witness.read(path)][::2] == [
        first["anchor"], second["anchor"]]


def test_an_anchor_is_due_an_interval_after_the_last_one_or_at_a_volume_of_events(
        scratch: tuple[Container, str], tmp_path: Path) -> None:
    system, url = scratch
    path = tmp_path / "timer.jsonl"
    open_order(system.work_orders, "S01")
    with psycopg.connect(url, autocommit=True) as conn:  # the day-end close
        closed = chain_witness.witness(conn, path, "day-end S01 2026-12-04 csh-1")
    # Within the hour and under 40 events since that anchor: nothing is due, though the log
    # moved (another process's timer waking now does not anchor again).
    hourly = PeriodicWitness(system.pool, path, 3600, events=40)
    while _head(url) - closed["notification_id"] < 40:
        assert hourly.once() is None
        open_order(system.work_orders, "S01")
    # 40 events on: the volume trigger anchors the head at once.
    by_volume = hourly.once()
    assert by_volume is not None and by_volume["note"] == "volume"
    assert by_volume["notification_id"] == _head(url)
    assert hourly.once() is None
    # Without the volume trigger, an interval after the last anchor.
    open_order(system.work_orders, "S01")
    timed = PeriodicWitness(system.pool, path, 1.5)
    assert timed.once() is None
    time.sleep(1.6)
    later = timed.once()
    assert later is not None and later["note"] == "periodic"
    assert [n for n, _ in _anchors(url)] == [closed["notification_id"],
                                            by_volume["notification_id"],
                                            later["notification_id"]]
    assert len(chain_witness.read(path)) == 3


def test_processes_that_each_run_the_timer_take_one_anchor_between_them(
        scratch: tuple[Container, str], tmp_path: Path) -> None:
    system, url = scratch
    path = tmp_path / "shared.jsonl"
    pools = [ConnectionPool(url, min_size=1, max_size=1, kwargs={"autocommit": True},
                            open=True) for _ in range(4)]
    try:
        timers = [PeriodicWitness(pool, path, 0.001) for pool in pools]
        for _ in range(8):
            open_order(system.work_orders, "S01")
            time.sleep(0.01)
            start = threading.Barrier(len(timers))
            taken: list[dict[str, Any] | None] = []

            def wake(timer: PeriodicWitness, start: threading.Barrier = start,
                     taken: list[dict[str, Any] | None] = taken) -> None:
                start.wait()
                taken.append(timer.once())

            threads = [threading.Thread(target=wake, args=(t,)) for t in timers]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=30)
            # the four timers woke together: one of them anchored the head
            assert len([t for t in taken if t is not None]) == 1
    finally:
        for pool in pools:
            pool.close()
    assert len(_anchors(url)) == 8
    assert len(chain_witness.read(path)) == 8


def _append_many(path: str, writer: int, lines: int) -> None:
    for number in range(lines):
        chain_witness.append(Path(path), {
            "anchor": f"{number + 1}:{'ab' * 32}", "notification_id": number + 1,
            "hash": "ab" * 32, "anchored_by": f"writer-{writer}",
            "note": f"{writer}-{number} " + "x" * (200 + 7919 * number % 6000)})


def test_concurrent_writers_of_one_witness_file_leave_whole_lines(tmp_path: Path) -> None:
    path = tmp_path / "shared" / "witness.jsonl"
    spawn = multiprocessing.get_context("spawn")
    writers = [spawn.Process(target=_append_many, args=(str(path), w, 150)) for w in range(4)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(timeout=120)
        assert writer.exitcode == 0
    lines = path.read_text(encoding="utf-8").splitlines()
    notes = {json.loads(line)["note"].split(" ")[0] for line in lines}
    assert len(lines) == 600 and notes == {f"{w}-{n}" for w in range(4) for n in range(150)}
    assert len(chain_witness.read(path)) == 600


def test_an_append_waits_for_a_copier_that_holds_the_file_locked(tmp_path: Path) -> None:
    path = tmp_path / "witness.jsonl"
    record = {"anchor": f"7:{'cd' * 32}", "notification_id": 7, "hash": "cd" * 32,
              "note": "periodic"}
    chain_witness.append(path, record)
    with path.open("rb") as copier:
        # a copy to the auditors' share, taken under the lock: it sees whole lines only
        fcntl.flock(copier.fileno(), fcntl.LOCK_SH)
        writer = threading.Thread(target=chain_witness.append, args=(path, record))
        writer.start()
        writer.join(timeout=0.5)
        assert writer.is_alive() and len(path.read_bytes().splitlines()) == 1
        fcntl.flock(copier.fileno(), fcntl.LOCK_UN)
    writer.join(timeout=10)
    assert not writer.is_alive() and len(chain_witness.read(path)) == 2


def test_an_anchor_waits_for_one_recorded_before_it_to_commit(
        scratch: tuple[Container, str]) -> None:
    # The Kafka relay follows the anchors table by id: an id drawn first must not become
    # visible after a later one, or the relay would pass over it.
    system, url = scratch
    open_order(system.work_orders, "S01")
    with psycopg.connect(url) as slow:  # a transaction still open after its anchor
        slow.execute("SELECT 1")  # begun: the anchor is recorded inside it
        first = anchor(slow, "first")
        later: list[dict[str, Any]] = []
        with psycopg.connect(url, autocommit=True) as other:
            writer = threading.Thread(target=lambda: later.append(anchor(other, "second")))
            writer.start()
            writer.join(timeout=1.0)
            assert writer.is_alive() and _anchors(url) == []
            slow.commit()
            writer.join(timeout=10)
    assert later and later[0]["anchor_id"] > first["anchor_id"]
    assert [note for _, note in _anchors(url)] == ["first", "second"]
