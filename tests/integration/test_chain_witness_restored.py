"""The chain-witness timer, and the other witnesses (a day-end close, `audit anchor`), across a
restore of the database from a backup taken before the file's last anchor: nothing of the
restored log is appended after the lost anchors (two histories in one file, and anchor ids
the lost ones had); the loop fails saying what happened, until the file is moved aside and a
new one starts with the next anchor."""

from __future__ import annotations

import uuid
from pathlib import Path

import psycopg
import pytest

from projections import chain_witness
from projections.chain_restored import LogBehindWitness, log_behind_witness
from projections.hash_chain import ANCHORS_TABLE
from tests.integration.kafka_support import wait_until
from tests.integration.restore_support import restorable
from tests.integration.support import open_order
from workers.chain_witness import PeriodicWitness
from workers.supervisor import Supervisor


def _anchors(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(f"SELECT count(*) FROM {ANCHORS_TABLE}").fetchone()
    return int(row[0]) if row else 0


@pytest.mark.parametrize("new_orders", [0, 4])
def test_a_witness_file_ahead_of_the_restored_log_gets_no_anchor_of_it(
        server_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture,
        new_orders: int) -> None:
    store = "R" + uuid.uuid4().hex[:5].upper()
    witness = tmp_path / "witness" / "chain-anchors.jsonl"
    with restorable(server_url, "sc_restore_witness", tmp_path) as db:
        system = db.start()
        open_order(system.work_orders, store)
        assert PeriodicWitness(system.pool, witness, 0.001).once() is not None
        db.take_backup()
        system = db.start()
        for _ in range(2):
            open_order(system.work_orders, store)
        noon = PeriodicWitness(system.pool, witness, 0.001).once()
        assert noon is not None
        db.restore()

        system = db.start()
        for _ in range(new_orders + 1):  # the log moved since the restored last anchor
            open_order(system.work_orders, store)
        before, recorded = witness.read_bytes(), _anchors(db.app_url)
        timer = PeriodicWitness(system.pool, witness, 0.001, check_seconds=0.05)
        with pytest.raises(LogBehindWitness) as refused:
            timer.once()
        text = str(refused.value)
        assert (f"the witnessed anchor {noon['anchor']}" in text
                and "restored from a backup taken before it" in text
                and "new witness file" in text), text
        assert any(r.levelname == "ERROR" and noon["anchor"] in r.getMessage()
                   for r in caplog.records)
        # A day-end close (or `audit anchor`) records its anchor, and writes none either.
        with psycopg.connect(db.app_url, autocommit=True) as conn:
            chain_witness.witness(conn, witness, "day-end")
        assert witness.read_bytes() == before
        assert _anchors(db.app_url) == recorded + 1  # the day-end's; none of the timer's

        # The loop says so on /health until the file is moved aside.
        supervisor = Supervisor(system.database_url, first_backoff=0.05, max_backoff=0.2)
        try:
            supervisor.start("chain-witness", timer.run)
            wait_until(lambda: any("LogBehindWitness" in p and "restored from a backup" in p
                                   for p in supervisor.problems()), 30,
                       "the chain-witness loop to report the restore")
            assert witness.read_bytes() == before
            witness.rename(tmp_path / "before-the-restore.jsonl")
            open_order(system.work_orders, store)
            wait_until(lambda: witness.exists(), 30, "a new witness file to start")
            wait_until(lambda: supervisor.states()["chain-witness"]["state"] == "running", 30,
                       "the loop to run again")
        finally:
            supervisor.stop(timeout=10)
        new = chain_witness.read_checked(witness)
        assert new.broken is None and new.anchors
        with psycopg.connect(db.app_url, autocommit=True) as conn:
            assert [log_behind_witness(conn, a) for a in new.anchors] == [None] * len(
                new.anchors)  # the restored log's heads alone
