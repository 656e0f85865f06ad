"""A witnessed anchor whose event is gone: the tail cut off (or the anchored event itself
deleted), the links after it recomputed, the registry and the anchors table cleaned to match,
and the application going on storing events after it. The anchor then names an id that holds
no event, and `audit verify` must say so instead of passing over it.
These tests tamper with the owner's rights, so they run on a database of their own.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from domain.integrity import link
from projections import chain_witness
from projections.hash_chain import COMMANDS_TABLE, verify
from servicecore import cli
from servicecore.container import Container
from servicecore.schema import ANCHORS_TABLE, EVENTS_TABLE, HASHES_TABLE
from tests.integration.support import open_order
from tests.scratch_systems import scratch_system

TABLES = (EVENTS_TABLE, HASHES_TABLE, COMMANDS_TABLE, ANCHORS_TABLE)


@pytest.fixture
def scratch(server_url: str, tmp_path: Path) -> Iterator[tuple[Container, str]]:
    with scratch_system(server_url, "sc_anchor_gap", tmp_path) as scratched:
        for _ in range(3):
            open_order(scratched[0].work_orders, "S01")
        yield scratched


def _verify(url: str, *args: str, capsys: pytest.CaptureFixture[str],
            monkeypatch: pytest.MonkeyPatch) -> tuple[int, dict[str, Any]]:
    monkeypatch.setenv("DATABASE_URL", url)
    code = cli.main(["audit", "verify", "--quiet", *args])
    return code, json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def _erase_from(url: str, first: int) -> None:
    """The owner removes the events from `first` on, their links, the registry's record of
    them (a save that also stored earlier events keeps those) and every anchor; then the chain
    is whole again and the registry agrees with the log."""
    with psycopg.connect(url, autocommit=True) as conn:
        for table in TABLES:
            conn.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        for table in (EVENTS_TABLE, HASHES_TABLE):
            conn.execute(f"DELETE FROM {table} WHERE notification_id >= %s", (first,))
        conn.execute(f"DELETE FROM {COMMANDS_TABLE} WHERE notification_ids[1] >= %s",
                     (first,))
        conn.execute(f"UPDATE {COMMANDS_TABLE} SET notification_ids = array(SELECT n FROM "
                     "unnest(notification_ids) n WHERE n < %s) WHERE %s <= ANY(notification_ids)",
                     (first, first))
        conn.execute(f"DELETE FROM {ANCHORS_TABLE}")
        for table in TABLES:
            conn.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")


def _relink(url: str) -> None:
    """Every link recomputed from the first event, as the owner can."""
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(f"SELECT notification_id, originator_id, originator_version, "
                            f"topic, state FROM {EVENTS_TABLE} ORDER BY 1").fetchall()
        conn.execute(f"ALTER TABLE {HASHES_TABLE} DISABLE TRIGGER USER")
        conn.execute(f"DELETE FROM {HASHES_TABLE}")
        previous = bytes(32)
        for number, stream, version, topic, state in rows:
            previous = link(previous, number, stream, version, topic, bytes(state))
            conn.execute(f"INSERT INTO {HASHES_TABLE} VALUES (%s, %s)", (number, previous))
        conn.execute(f"ALTER TABLE {HASHES_TABLE} ENABLE TRIGGER USER")


def test_a_cut_tail_is_named_at_the_witnessed_head_after_the_log_went_on(
        scratch: tuple[Container, str], tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    system, url = scratch
    witness = tmp_path / "witness.jsonl"  # SERVICECORE_WITNESS_PATH (tests/conftest.py)
    with psycopg.connect(url, autocommit=True) as conn:
        day_end = chain_witness.witness(conn, witness, "day-end S01")
    _erase_from(url, day_end["notification_id"] - 2)  # the day's last save, and more
    # Right after the cut the witnessed head lies past the log's end.
    code, answer = _verify(url, capsys=capsys, monkeypatch=monkeypatch)
    assert (code, answer["first_break"]["reason"]) == (1, "anchor beyond the log")
    # The application goes on: new events get ids after the cut ones, and the chain, the
    # registry and the (empty) anchors table all agree; the witnessed head holds no event.
    open_order(system.work_orders, "S01")
    code, answer = _verify(url, capsys=capsys, monkeypatch=monkeypatch)
    assert code == 1 and answer["ok"] is False
    assert answer["first_break"]["notification_id"] == day_end["notification_id"]
    assert answer["first_break"]["reason"] == "anchor without its event"
    assert answer["first_break"]["stored"] == day_end["hash"]
    # A range over the API (the same function, anchors of the witness file) says the same.
    with psycopg.connect(url, autocommit=True) as conn:
        ranged = verify(conn, 1, day_end["notification_id"] + 10,
                        anchors=chain_witness.read(witness))
    assert ranged.broken is not None
    assert (ranged.broken.notification_id, ranged.broken.reason) == (
        day_end["notification_id"], "anchor without its event")


def test_the_witnessed_event_deleted_and_the_chain_relinked_is_named(
        scratch: tuple[Container, str], tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    system, url = scratch
    witness = tmp_path / "witness.jsonl"
    with psycopg.connect(url, autocommit=True) as conn:
        noon = chain_witness.witness(conn, witness, "noon")
    open_order(system.work_orders, "S01")
    last = open_order(system.work_orders, "S01")["notification_id"]
    # Only the anchored event goes: the later events stay, relinked over the hole, and the
    # registry forgets the one id.
    with psycopg.connect(url, autocommit=True) as conn:
        for table in TABLES:
            conn.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        conn.execute(f"DELETE FROM {EVENTS_TABLE} WHERE notification_id = %s",
                     (noon["notification_id"],))
        conn.execute(f"UPDATE {COMMANDS_TABLE} SET notification_ids = "
                     "array_remove(notification_ids, %s)", (noon["notification_id"],))
        conn.execute(f"DELETE FROM {ANCHORS_TABLE}")
        for table in TABLES:
            conn.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")
    _relink(url)
    monkeypatch.setenv("SERVICECORE_WITNESS_PATH", str(tmp_path / "none.jsonl"))
    assert _verify(url, capsys=capsys, monkeypatch=monkeypatch)[0] == 0  # the database agrees
    code, answer = _verify(url, "--witness", str(witness), capsys=capsys,
                           monkeypatch=monkeypatch)
    assert code == 1 and answer["to"] == last
    assert answer["first_break"]["notification_id"] == noon["notification_id"]
    assert answer["first_break"]["reason"] == "anchor without its event"
