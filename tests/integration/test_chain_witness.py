"""The chain's anchors witnessed outside the database.

Someone with the owner's rights can change an event, recompute every later link and rewrite
the anchors table: the database then holds a chain consistent in itself. The anchors the
application also appended to the witness file (projections/chain_witness.py) are not theirs
to rewrite, and `audit verify` compares the chain with them. These tests tamper, so they run
on a database of their own.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from projections import chain_witness
from servicecore import cli
from servicecore.container import Container
from servicecore.schema import ANCHORS_TABLE, EVENTS_TABLE, HASHES_TABLE, install
from tests.integration.support import open_order
from tests.integration.test_event_log_integrity import (
    _open,
    _tamper,
    _verify,
    opened_with_mileage,
)
from tests.scratch_systems import scratch_system


@pytest.fixture
def scratch(server_url: str, tmp_path: Path) -> Iterator[tuple[Container, str]]:
    with scratch_system(server_url, "sc_witness", tmp_path) as scratched:
        yield scratched


def _rewrite_from(url: str, target: int) -> None:
    """The careful tamperer: 28720 km becomes 8720 km, every link from there is recomputed
    and the anchors table is emptied, so the chain in the database is whole again."""
    _tamper(url, f"UPDATE {EVENTS_TABLE} SET state = convert_to(replace(convert_from(state, "
                 f"'UTF8'), '28720', '8720'), 'UTF8') WHERE notification_id = %s", target)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"ALTER TABLE {HASHES_TABLE} DISABLE TRIGGER USER")
        conn.execute(f"ALTER TABLE {ANCHORS_TABLE} DISABLE TRIGGER USER")
        conn.execute(f"DELETE FROM {ANCHORS_TABLE}")
        conn.execute(f"DELETE FROM {HASHES_TABLE} WHERE notification_id >= %s", (target,))
        install(conn)  # its back-fill relinks the events it finds without a link
        conn.execute(f"ALTER TABLE {HASHES_TABLE} ENABLE TRIGGER USER")
        conn.execute(f"ALTER TABLE {ANCHORS_TABLE} ENABLE TRIGGER USER")


def test_a_rewritten_chain_fails_against_the_witness_file(
        scratch: tuple[Container, str], tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    system, url = scratch
    witness = tmp_path / "witness.jsonl"  # SERVICECORE_WITNESS_PATH (tests/conftest.py)
    _open(system, 28720)
    # The day ends: `audit anchor` records the head and appends it to the witness file.
    monkeypatch.setenv("DATABASE_URL", url)
    assert cli.main(["audit", "anchor", "--note", "day-end S01"]) == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    lines = witness.read_text().splitlines()
    assert [json.loads(line)["anchor"] for line in lines] == [printed["anchor"]]
    open_order(system.work_orders, "S01")  # the next day's work
    code, answer = _verify(url, capsys=capsys, monkeypatch=monkeypatch)
    assert (code, answer["witness_anchors"], answer["anchors_checked"]) == (0, 1, 1)
    # The auditor names the configured file again (by another spelling of its path): it is
    # read once, so the count is the one anchor it holds, not two.
    again = str(witness.parent / "." / witness.name)
    code, answer = _verify(url, "--witness", again, "--witness", str(witness),
                           capsys=capsys, monkeypatch=monkeypatch)
    assert (code, answer["witness_anchors"], answer["anchors_checked"]) == (0, 1, 1)

    target = opened_with_mileage(url, 28720)
    _rewrite_from(url, target)
    # Without the witness the rewritten database checks out...
    monkeypatch.setenv("SERVICECORE_WITNESS_PATH", str(tmp_path / "none.jsonl"))
    assert _verify(url, capsys=capsys, monkeypatch=monkeypatch)[0] == 0
    # ...with it (named, or the configured one) the head of that day no longer matches.
    for args in (("--witness", str(witness)), ()):
        if not args:
            monkeypatch.setenv("SERVICECORE_WITNESS_PATH", str(witness))
        code, answer = _verify(url, *args, capsys=capsys, monkeypatch=monkeypatch)
        assert code == 1
        assert answer["witness_anchors"] == 1
        assert answer["first_break"]["reason"] == "anchor differs"
        assert answer["first_break"]["notification_id"] == printed["notification_id"]
        assert answer["first_break"]["stored"] == printed["hash"]


def test_the_witness_file_is_appended_to_and_read_back(
        scratch: tuple[Container, str], tmp_path: Path) -> None:
    system, url = scratch
    path = tmp_path / "deep" / "witness.jsonl"
    with psycopg.connect(url, autocommit=True) as conn:
        assert "anchor_id" not in chain_witness.witness(conn, path)  # an empty log: nothing
        assert not path.exists()
        open_order(system.work_orders, "S01")
        first = chain_witness.witness(conn, path, "noon", by="aud-wang")
        open_order(system.work_orders, "S01")
        second = chain_witness.witness(conn, path, "day-end S01 2026-12-04 csh-1")
    read = chain_witness.read(path)
    assert [f"{a.notification_id}:{a.hash}" for a in read] == [first["anchor"],
                                                               second["anchor"]]
    assert json.loads(path.read_text().splitlines()[0])["anchored_by"] == "aud-wang"
    path.write_text(path.read_text() + "not json\n")
    with pytest.raises(ValueError, match="line 3"):
        chain_witness.read(path)

