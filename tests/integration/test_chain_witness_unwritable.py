"""A witness file the chain-witness timer cannot write is a failure everyone can see, and the
anchors recorded meanwhile reach the file once it can be written again.

Before, the error was logged and swallowed: the loop stayed `running`, /health answered 200,
and each anchor recorded while the file could not be written was missing from it for good.
"""

from __future__ import annotations

import threading
from pathlib import Path

import psycopg
import pytest

from projections import chain_witness
from servicecore.container import Container
from tests.integration.kafka_support import wait_until
from tests.integration.support import open_order
from tests.scratch_systems import module_container
from workers.chain_witness import PeriodicWitness
from workers.supervisor import Supervisor

container = module_container("witness_unwritable")


def test_an_unwritable_witness_file_fails_the_loop_until_its_anchors_are_written(
        container: Container, tmp_path: Path) -> None:
    path = tmp_path / "witness" / "chain-anchors.jsonl"
    path.mkdir(parents=True)  # a folder where the file should be: it cannot be written
    timer = PeriodicWitness(container.pool, path, 0.001, check_seconds=0.05)
    supervisor = Supervisor(container.database_url, first_backoff=0.05, max_backoff=0.2)
    try:
        supervisor.start("chain-witness", timer.run)
        open_order(container.work_orders, "SW1")  # the log moved: an anchor is due

        # The anchor is recorded in the database, the file refuses it: the loop says so.
        def failing() -> bool:
            state = supervisor.states()["chain-witness"]
            return state["state"] == "restarting" and "IsADirectoryError" in str(
                state["last_error"])

        wait_until(failing, 30, "the chain-witness loop to report the witness file's error")
        assert any(problem.startswith("loop chain-witness is restarting after IsADirectoryError")
                   for problem in supervisor.problems())
        recorded = list(timer.unwritten)
        assert recorded, "the anchor recorded meanwhile is kept to be written"

        # The file can be written again: what was recorded meanwhile is in it.
        path.rmdir()
        wait_until(lambda: path.exists() and not timer.unwritten, 30,
                   "the anchors recorded meanwhile to be written to the witness file")
        witnessed = {f"{a.notification_id}:{a.hash}" for a in chain_witness.read(path)}
        assert {r["anchor"] for r in recorded} <= witnessed
        wait_until(lambda: supervisor.states()["chain-witness"]["state"] == "running", 30,
                   "the loop to run again")
    finally:
        supervisor.stop(timeout=10)


def test_anchors_recorded_but_never_written_reach_the_file_after_a_restart(
        container: Container, tmp_path: Path) -> None:
    """The process ended while its file could not be written: the anchors it kept to write
    were in its memory only. The timer of the next start writes them first."""
    path = tmp_path / "witness" / "chain-anchors.jsonl"
    before = PeriodicWitness(container.pool, path, 0.001)
    open_order(container.work_orders, "SW2")
    [first] = [before.once()]
    assert first is not None and path.exists()
    kept = path.rename(tmp_path / "kept.jsonl")  # the share is gone: a folder stands there
    path.mkdir()
    open_order(container.work_orders, "SW2")
    with pytest.raises(IsADirectoryError):
        before.once()
    [recorded] = before.unwritten  # and the process ends here
    path.rmdir()
    kept.rename(path)  # the share is back

    after = PeriodicWitness(container.pool, path, 1e9)  # no anchor of its own is due
    stop = threading.Event()
    stop.set()
    after.run(stop, container.database_url)

    assert [f"{a.notification_id}:{a.hash}" for a in chain_witness.read(path)] == [
        first["anchor"], recorded["anchor"]]
    after.run(stop, container.database_url)  # a start with nothing left: nothing written twice
    assert len(chain_witness.read(path)) == 2
    assert chain_witness.read_checked(path).broken is None


def _unwritable(path: Path, tmp_path: Path) -> Path:
    """The share is gone (a folder stands where the file was): the file kept aside."""
    kept = path.rename(tmp_path / "kept.jsonl")
    path.mkdir()
    return kept


def _back(path: Path, kept: Path) -> None:
    path.rmdir()
    kept.rename(path)


def _lines(path: Path) -> list[str]:
    return [f"{a.notification_id}:{a.hash}" for a in chain_witness.read(path)]


def test_a_manual_anchor_whose_write_failed_is_written_by_the_next_anchor_in_order(
        container: Container, tmp_path: Path) -> None:
    path = tmp_path / "witness" / "chain-anchors.jsonl"
    with container.pool.connection() as conn:
        open_order(container.work_orders, "SW3")
        first = chain_witness.witness(conn, path, "before", by="aud-1")
        kept = _unwritable(path, tmp_path)
        open_order(container.work_orders, "SW3")
        failed = chain_witness.witness(conn, path, "while the share is gone", by="aud-1")
        assert "anchor_id" in failed  # recorded in the database, not in the file
        _back(path, kept)
        assert _lines(path) == [first["anchor"]]
        open_order(container.work_orders, "SW3")
        # the next manual anchor writes the one its file lacks first, then its own
        after = chain_witness.witness(conn, path, "after", by="aud-2")
    assert _lines(path) == [first["anchor"], failed["anchor"], after["anchor"]]
    checked = chain_witness.read_checked(path)
    assert checked.broken is None and checked.unlinked == []


def test_the_timer_writes_a_manual_anchor_whose_write_failed_before_its_own(
        container: Container, tmp_path: Path) -> None:
    path = tmp_path / "witness" / "chain-anchors.jsonl"
    timer = PeriodicWitness(container.pool, path, 0.001)
    open_order(container.work_orders, "SW4")
    first = timer.once()
    assert first is not None
    kept = _unwritable(path, tmp_path)
    open_order(container.work_orders, "SW4")
    with container.pool.connection() as conn:
        day_end = chain_witness.witness_once(conn, path, "day-end SW4 2026-12-06 cash-1",
                                             "cash-1", 0)  # never retried
        open_order(container.work_orders, "SW4")
        manual = chain_witness.witness(conn, path, "manual", by="aud-1")
    _back(path, kept)

    # A start's recovery writes both, in the order recorded, and nothing twice.
    stop = threading.Event()
    stop.set()
    PeriodicWitness(container.pool, path, 1e9).run(stop, container.database_url)
    assert _lines(path) == [first["anchor"], day_end["anchor"], manual["anchor"]]
    PeriodicWitness(container.pool, path, 1e9).run(stop, container.database_url)
    assert len(_lines(path)) == 3

    # One that fails while the timer runs is written before the timer's next anchor.
    kept = _unwritable(path, tmp_path)
    open_order(container.work_orders, "SW4")
    with container.pool.connection() as conn:
        lost = chain_witness.witness(conn, path, "manual again", by="aud-1")
    _back(path, kept)
    open_order(container.work_orders, "SW4")
    taken = timer.once()
    assert taken is not None
    assert _lines(path)[3:] == [lost["anchor"], taken["anchor"]]
    assert chain_witness.read_checked(path).broken is None


def test_an_anchor_is_written_even_when_the_anchors_its_file_lacks_cannot_be_looked_for(
        container: Container, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "witness" / "chain-anchors.jsonl"

    def gone(*args: object) -> None:
        raise psycopg.OperationalError("server closed the connection unexpectedly")

    with container.pool.connection() as conn:
        open_order(container.work_orders, "SW5")
        first = chain_witness.witness(conn, path, "first", by="aud-1")
        monkeypatch.setattr(chain_witness, "lacking", gone)
        open_order(container.work_orders, "SW5")
        second = chain_witness.witness(conn, path, "second", by="aud-1")
    assert _lines(path) == [first["anchor"], second["anchor"]]
