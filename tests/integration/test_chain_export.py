"""The event log exported raw and checked outside the system: `servicecore audit export-chain`
writes a range with every event's link, projections/verify_chain.py (the standard library only)
recomputes it against a witness file. Each kind of tampering, done with the owner's rights in
the database, is found by the standalone verifier as `servicecore audit verify` finds it.
These tests tamper, so they run on a database of their own.
"""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from servicecore import cli
from servicecore.container import Container
from servicecore.schema import EVENTS_TABLE, HASHES_TABLE
from tests.integration.support import open_order
from tests.integration.test_chain_witness import _rewrite_from
from tests.integration.test_event_deletion import drawn_gap, slip_into_gap
from tests.integration.test_event_log_integrity import _open, _tamper, opened_with_mileage
from tests.scratch_systems import scratch_system

VERIFIER = Path(__file__).resolve().parents[2] / "projections" / "verify_chain.py"


@pytest.fixture
def scratch(server_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
            ) -> Iterator[tuple[Container, str]]:
    with scratch_system(server_url, "sc_export", tmp_path) as (system, url):
        monkeypatch.setenv("DATABASE_URL", url)
        # A day of work: visits opened, the day's head anchored into the witness file
        # (SERVICECORE_WITNESS_PATH, tests/conftest.py), then the next day's first visits.
        _open(system, 28720)
        for _ in range(3):
            open_order(system.work_orders, "S01")
        assert cli.main(["audit", "anchor", "--note", "day-end S01"]) == 0
        for _ in range(2):
            open_order(system.work_orders, "S01")
        yield system, url


def _export(tmp_path: Path, capsys: pytest.CaptureFixture[str], *args: str) -> Path:
    out = tmp_path / f"export-{len(list(tmp_path.glob('export-*')))}.jsonl"
    capsys.readouterr()
    assert cli.main(["audit", "export-chain", *args, "--out", str(out)]) == 0
    return out


def _standalone(tmp_path: Path, *args: str) -> tuple[int, dict[str, Any]]:
    """The verifier as an auditor runs it: the file alone, copied to a directory of its own,
    in isolated mode (no project on the path, no site customisation, no environment)."""
    alone = tmp_path / "auditor"
    alone.mkdir(exist_ok=True)
    shutil.copy(VERIFIER, alone / "verify_chain.py")
    ran = subprocess.run([sys.executable, "-I", "verify_chain.py", *args, "--json"],
                         cwd=alone, capture_output=True, text=True, env={}, check=False)
    assert ran.returncode in (0, 1), ran.stderr
    return ran.returncode, json.loads(ran.stdout)


def _audit_verify(capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    capsys.readouterr()
    code = cli.main(["audit", "verify", "--quiet"])
    return code, json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def _both(tmp_path: Path, capsys: pytest.CaptureFixture[str], *args: str
          ) -> tuple[tuple[int, dict[str, Any]], tuple[int, dict[str, Any]]]:
    """The standalone verifier's answer on a fresh export and the witness file, and `audit
    verify`'s on the database."""
    export = _export(tmp_path, capsys)
    outside = _standalone(tmp_path, str(export), "--witness",
                          str(tmp_path / "witness.jsonl"), *args)
    return outside, _audit_verify(capsys)


def _head(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(f"SELECT max(notification_id) FROM {EVENTS_TABLE}").fetchone()
    assert row is not None
    return int(row[0])


def _anchored(tmp_path: Path) -> int:
    lines = (tmp_path / "witness.jsonl").read_text().splitlines()
    return int(json.loads(lines[-1])["notification_id"])


def test_an_untouched_log_verifies_outside_the_system(
        scratch: tuple[Container, str], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    _, url = scratch
    (code, answer), (inside, verified) = _both(tmp_path, capsys)
    assert (code, inside) == (0, 0)
    assert answer["ok"] and verified["ok"]
    assert answer["events_checked"] == verified["events_checked"] == _head(url)
    assert answer["head_hash"] == verified["head_hash"]
    assert answer["witnessed_to"] == verified["witnessed_to"] == _anchored(tmp_path)
    assert answer["previous_checked"] == "the genesis (no event before the range)"
    # A range further on joins the link before it, checked against the witnessed anchor
    # there (or against the link an auditor gives).
    anchored = _anchored(tmp_path)
    later = _export(tmp_path, capsys, "--from", str(anchored + 1))
    code, answer = _standalone(tmp_path, str(later), "--witness",
                               str(tmp_path / "witness.jsonl"))
    assert code == 0
    assert answer["previous_checked"].startswith("witnessed")
    wrong = "0" * 63 + "1"
    assert _standalone(tmp_path, str(later), "--previous", wrong)[1]["first_break"][
        "reason"] == "range does not join"
    # Two pages of the log, given in order, are one chain.
    first = _export(tmp_path, capsys, "--to", str(anchored))
    code, answer = _standalone(tmp_path, str(first), str(later))
    assert (code, answer["events_checked"]) == (0, _head(url))
    # A range with no event of the log is refused.
    for refused in (["--from", str(_head(url) + 1)], ["--from", "3", "--to", "2"]):
        assert cli.main(["audit", "export-chain", *refused]) == 2


def test_an_event_edited_is_found_at_its_id(scratch: tuple[Container, str], tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    _, url = scratch
    target = opened_with_mileage(url, 28720)
    _tamper(url, f"UPDATE {EVENTS_TABLE} SET state = convert_to(replace(convert_from(state, "
                 f"'UTF8'), '\"mileage\":28720', '\"mileage\":8720'), 'UTF8') "
                 "WHERE notification_id = %s", target)
    (code, answer), (inside, verified) = _both(tmp_path, capsys)
    assert (code, inside) == (1, 1)
    assert answer["first_break"]["reason"] == verified["first_break"]["reason"] == \
        "event changed"
    assert answer["first_break"]["notification_id"] == \
        verified["first_break"]["notification_id"] == target


def test_an_edit_with_every_later_link_recomputed_fails_against_the_witness(
        scratch: tuple[Container, str], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    _, url = scratch
    _rewrite_from(url, opened_with_mileage(url, 28720))
    (code, answer), (inside, verified) = _both(tmp_path, capsys)
    assert (code, inside) == (1, 1)
    assert answer["first_break"]["reason"] == verified["first_break"]["reason"] == \
        "anchor differs"
    assert answer["first_break"]["notification_id"] == \
        verified["first_break"]["notification_id"] == _anchored(tmp_path)


def _delete(url: str, ids: list[int]) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for table in (EVENTS_TABLE, HASHES_TABLE):
            conn.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
            conn.execute(f"DELETE FROM {table} WHERE notification_id = ANY(%s)", (ids,))
            conn.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")


def test_an_event_removed_breaks_the_chain_at_the_next(
        scratch: tuple[Container, str], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    _, url = scratch
    middle = _head(url) // 2
    _delete(url, [middle])
    (code, answer), (inside, verified) = _both(tmp_path, capsys)
    assert (code, inside) == (1, 1)
    # The registry names the id removed; the chain alone breaks at the event after it.
    assert (verified["first_break"]["notification_id"],
            verified["first_break"]["reason"]) == (middle, "event deleted")
    assert (answer["first_break"]["notification_id"],
            answer["first_break"]["reason"]) == (middle + 1, "event changed")


def test_two_events_swapped_are_found_at_the_first(
        scratch: tuple[Container, str], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    _, url = scratch
    first, second = _head(url) // 2, _head(url) // 2 + 1
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"ALTER TABLE {EVENTS_TABLE} DISABLE TRIGGER USER")
        for old, new in ((first, -1), (second, first), (-1, second)):
            conn.execute(f"UPDATE {EVENTS_TABLE} SET notification_id = %s "
                         "WHERE notification_id = %s", (new, old))
        conn.execute(f"ALTER TABLE {EVENTS_TABLE} ENABLE TRIGGER USER")
    (code, answer), (inside, verified) = _both(tmp_path, capsys)
    assert (code, inside) == (1, 1)
    for found in (answer, verified):
        assert (found["first_break"]["notification_id"],
                found["first_break"]["reason"]) == (first, "event changed")


@pytest.mark.parametrize("relinked", [False, True], ids=["linked-there", "later-relinked"])
def test_an_event_inserted_into_a_gap_is_found(
        scratch: tuple[Container, str], tmp_path: Path, capsys: pytest.CaptureFixture[str],
        relinked: bool) -> None:
    """An id a save drew and rolled back leaves a gap; an event put in it with the link the
    chain gives it there breaks the next event's link; with every later link recomputed as
    well, the chain is whole again, but not the one the witnessed anchor after it names."""
    system, url = scratch
    gap_id = drawn_gap(url)
    open_order(system.work_orders, "S01")
    assert cli.main(["audit", "anchor", "--note", "noon"]) == 0
    assert _both(tmp_path, capsys)[0][0] == 0
    slip_into_gap(url, gap_id, linked=True, relinked=relinked)
    (code, answer), (inside, verified) = _both(tmp_path, capsys)
    assert (code, inside) == (1, 1)
    assert (verified["first_break"]["notification_id"],
            verified["first_break"]["reason"]) == (gap_id, "event no save recorded")
    assert (answer["first_break"]["notification_id"], answer["first_break"]["reason"]) == (
        (_anchored(tmp_path), "anchor differs") if relinked else (gap_id + 1, "event changed"))


def test_a_tail_cut_off_fails_against_a_witnessed_anchor_past_it(
        scratch: tuple[Container, str], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    _, url = scratch
    assert cli.main(["audit", "anchor", "--note", "day-end S01 second day"]) == 0
    anchored = _anchored(tmp_path)
    _delete(url, list(range(anchored - 2, anchored + 1)))
    (code, answer), (inside, verified) = _both(tmp_path, capsys)
    assert (code, inside) == (1, 1)
    assert verified["first_break"]["notification_id"] == anchored - 2
    assert (answer["first_break"]["notification_id"],
            answer["first_break"]["reason"]) == (anchored, "anchor beyond the export")
    assert answer["last_notification_id"] == anchored - 3
    # An export meant to stop before it lists the anchor past it instead.
    shorter = _export(tmp_path, capsys, "--to", str(anchored - 3))
    code, answer = _standalone(tmp_path, str(shorter), "--witness",
                               str(tmp_path / "witness.jsonl"), "--partial")
    assert (code, answer["witnessed_outside"]) == (0, [anchored])


def test_an_export_file_cut_or_edited_is_found(
        scratch: tuple[Container, str], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The file itself changed on its way to the auditor: its last lines cut off, a line
    removed, two lines swapped, a line repeated."""
    export = _export(tmp_path, capsys)
    lines = export.read_text().splitlines(keepends=True)
    events = [i for i, text in enumerate(lines) if json.loads(text)["kind"] == "event"]
    cases = {"export incomplete": lines[:events[-2]],
             "chain gap": lines[:events[3]] + lines[events[3] + 1:],
             "chain gap ": (lines[:events[3]] + [lines[events[4]], lines[events[3]]]
                            + lines[events[4] + 1:]),
             "out of order": lines[:events[4]] + [lines[events[3]]] + lines[events[4]:]}
    for reason, changed in cases.items():
        export.write_text("".join(changed))
        code, answer = _standalone(tmp_path, str(export))
        assert (code, answer["first_break"]["reason"]) == (1, reason.strip())


def test_the_verifier_imports_nothing_of_the_project() -> None:
    """It runs with the standard library alone: its imports name standard modules only."""
    tree = ast.parse(VERIFIER.read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree)
                if isinstance(node, ast.Import) for alias in node.names} | {
        str(node.module).split(".")[0] for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)}
    assert imported
    assert imported <= set(sys.stdlib_module_names) | {"__future__"}
