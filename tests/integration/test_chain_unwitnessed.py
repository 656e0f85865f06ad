"""What `audit verify` cannot check, it says: events past the last anchor kept outside the
database. An owner who appends a forged event there, with its link and a registry row of its
own, leaves a database that agrees with itself; no check of the database alone can tell. The
answer names how far the anchors kept outside reach (`witnessed_to`) and stderr says what is
left unproven. The test tampers, so it runs on a database of its own.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from projections import chain_witness
from projections.hash_chain import COMMANDS_TABLE
from servicecore import cli
from servicecore.container import Container
from servicecore.schema import EVENTS_TABLE
from tests.integration.support import open_order
from tests.scratch_systems import scratch_system


@pytest.fixture
def scratch(server_url: str, tmp_path: Path) -> Iterator[tuple[Container, str]]:
    with scratch_system(server_url, "sc_unwitnessed", tmp_path) as scratched:
        open_order(scratched[0].work_orders, "S01")
        yield scratched


def _verify(url: str, *args: str, capsys: pytest.CaptureFixture[str],
            monkeypatch: pytest.MonkeyPatch) -> tuple[int, dict[str, Any], str]:
    monkeypatch.setenv("DATABASE_URL", url)
    code = cli.main(["audit", "verify", "--quiet", *args])
    captured = capsys.readouterr()
    return code, json.loads(captured.out.strip().splitlines()[-1]), captured.err


def _forge_after_head(url: str) -> int:
    """The owner appends a copy of the last event as a new stream's first, linked by the
    chain trigger, and records it in the registry as a save would: its id."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            f"INSERT INTO {EVENTS_TABLE} (originator_id, originator_version, topic, state) "
            f"SELECT gen_random_uuid(), 1, topic, state FROM {EVENTS_TABLE} "
            f"ORDER BY notification_id DESC LIMIT 1 RETURNING notification_id").fetchone()
        assert row is not None
        conn.execute(f"INSERT INTO {COMMANDS_TABLE} (command_id, notification_ids) "
                     "VALUES (gen_random_uuid(), ARRAY[%s]::bigint[])", (row[0],))
    return int(row[0])


def test_events_past_the_last_witnessed_head_are_reported_unproven(
        scratch: tuple[Container, str], tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    _, url = scratch
    witness = tmp_path / "witness.jsonl"  # SERVICECORE_WITNESS_PATH (tests/conftest.py)
    with psycopg.connect(url, autocommit=True) as conn:
        noon = chain_witness.witness(conn, witness, "noon")
        only_recorded = chain_witness.witness(conn, None, "in the database alone")
    assert only_recorded["notification_id"] == noon["notification_id"]
    code, answer, err = _verify(url, capsys=capsys, monkeypatch=monkeypatch)
    assert (code, answer["witnessed_to"], answer["to"]) == (0, noon["notification_id"],
                                                            noon["notification_id"])
    assert "not witnessed" not in err

    forged = _forge_after_head(url)
    # The database agrees with itself: the forgery is past what any anchor outside reaches,
    # and the answer says so instead of passing the whole log as proven.
    code, answer, err = _verify(url, capsys=capsys, monkeypatch=monkeypatch)
    assert (code, answer["ok"], answer["to"]) == (0, True, forged)
    assert answer["witnessed_to"] == noon["notification_id"]
    assert (f"not witnessed: events after notification id {noon['notification_id']} "
            f"(to {forged})") in err

    # Without the witness file the anchor recorded in the database proves nothing outside it.
    monkeypatch.setenv("SERVICECORE_WITNESS_PATH", str(tmp_path / "none.jsonl"))
    code, answer, err = _verify(url, capsys=capsys, monkeypatch=monkeypatch)
    assert (code, answer["anchors_checked"], answer["witnessed_to"]) == (0, 1, None)
    assert f"events 1 to {forged} were checked against the database alone" in err
    # An N:HEX kept on paper counts as well.
    code, answer, err = _verify(url, "--anchor", noon["anchor"], capsys=capsys,
                                monkeypatch=monkeypatch)
    assert (code, answer["witnessed_to"]) == (0, noon["notification_id"])
