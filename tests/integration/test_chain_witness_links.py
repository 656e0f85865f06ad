"""The witness file's lines form a chain of their own: each carries its number in the file and
the SHA-256 of the line before it, so `audit verify` finds a line removed, changed, reordered
or duplicated from the file alone; a file cut at its end shows against the anchors the
database recorded after its last line. Lines written before the links still verify, named as
such. The file is built by `servicecore audit anchor`, as at the end of a day; these tests run
on a database of their own.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from projections.chain_witness import WITNESSED
from servicecore import cli
from servicecore.container import Container
from tests.integration.support import open_order
from tests.scratch_systems import scratch_system

Verified = tuple[int, dict[str, Any], str]


@pytest.fixture
def scratch(server_url: str, tmp_path: Path) -> Iterator[tuple[Container, str]]:
    with scratch_system(server_url, "sc_witness_links", tmp_path) as scratched:
        yield scratched


@pytest.fixture
def witnessed(scratch: tuple[Container, str], tmp_path: Path,
              capsys: pytest.CaptureFixture[str],
              monkeypatch: pytest.MonkeyPatch) -> Callable[[int], Path]:
    """`anchor(n)`: n work orders opened, each followed by `audit anchor`; the witness file."""
    system, url = scratch
    monkeypatch.setenv("DATABASE_URL", url)

    def anchor(times: int) -> Path:
        for _ in range(times):
            open_order(system.work_orders, "S01")
            assert cli.main(["audit", "anchor", "--note", "noon"]) == 0
        capsys.readouterr()
        return tmp_path / "witness.jsonl"  # SERVICECORE_WITNESS_PATH (tests/conftest.py)

    return anchor


def _verify(capsys: pytest.CaptureFixture[str]) -> Verified:
    """`servicecore audit verify` on the configured witness file: exit code, JSON, stderr."""
    code = cli.main(["audit", "verify", "--quiet"])
    out, err = capsys.readouterr()
    return code, json.loads(out.strip().splitlines()[-1]), err


def _rewrite(path: Path, change: Callable[[list[bytes]], list[bytes]]) -> None:
    path.write_bytes(b"".join(change(path.read_bytes().splitlines(keepends=True))))


def test_each_line_carries_its_number_and_the_hash_of_the_line_before(
        witnessed: Callable[[int], Path], capsys: pytest.CaptureFixture[str]) -> None:
    path = witnessed(3)
    lines = path.read_bytes().splitlines(keepends=True)
    parsed = [json.loads(line) for line in lines]
    assert [p["line"] for p in parsed] == [1, 2, 3]
    assert [p["previous"] for p in parsed] == [
        None, hashlib.sha256(lines[0]).hexdigest(), hashlib.sha256(lines[1]).hexdigest()]
    code, answer, err = _verify(capsys)
    assert (code, answer["ok"], answer["witness_anchors"]) == (0, True, 3)
    assert (answer["witness_breaks"], answer["anchors_not_witnessed"]) == ([], None)
    assert "witness" not in err


@pytest.mark.parametrize(("tamper", "report"), [
    (lambda ls: ls[:1] + ls[2:], "line 2 carries number 3: 1 line(s) before it removed"),
    (lambda ls: ls[2:], "line 1 carries number 3: 2 line(s) before it removed"),
    (lambda ls: ls[:1] + [ls[1].replace(b'"noon"', b'"noon!"')] + ls[2:],
     "line 2 changed after it was written (line 3's link does not match it)"),
    (lambda ls: [ls[0], ls[2], ls[1], ls[3]], "line 2 carries number 3: lines out of order"),
    (lambda ls: [ls[0], ls[1], ls[3], ls[2]], "line 3 carries number 4: lines out of order"),
    (lambda ls: ls[:2] + ls[1:], "lines 2 and 3 both carry number 2: a line duplicated"),
    (lambda ls: ls + ls[1:2], "lines 2 and 5 both carry number 2: a line duplicated"),
], ids=["removed", "first-two-removed", "edited", "reordered", "last-two-swapped",
        "duplicated", "duplicated-at-end"])
def test_a_line_removed_changed_reordered_or_duplicated_fails_the_verification(
        witnessed: Callable[[int], Path], capsys: pytest.CaptureFixture[str],
        tamper: Callable[[list[bytes]], list[bytes]], report: str) -> None:
    path = witnessed(4)
    _rewrite(path, tamper)
    code, answer, err = _verify(capsys)
    assert (code, answer["ok"], answer["first_break"]) == (1, False, None)  # the chain is whole
    assert answer["witness_breaks"] == [f"{path}: {report}"]
    assert f"witness file broken: {path}: {report}\n" in err


def test_a_file_cut_at_its_end_shows_against_the_anchors_of_the_database(
        witnessed: Callable[[int], Path], capsys: pytest.CaptureFixture[str]) -> None:
    path = witnessed(3)
    last = json.loads(path.read_bytes().splitlines()[-1])["notification_id"]
    _rewrite(path, lambda ls: ls[:1])
    code, answer, err = _verify(capsys)
    # The lines left are a whole chain; what is missing is what the database recorded after.
    assert (code, answer["witness_breaks"], answer["anchors_not_witnessed"]) == (0, [], 2)
    assert (f"the database holds anchors up to notification id {last} (2) the witness files "
            "do not have: their last lines lost, or not written there\n") in err


def test_the_file_removed_shows_against_every_anchor_of_the_database(
        witnessed: Callable[[int], Path], capsys: pytest.CaptureFixture[str]) -> None:
    path = witnessed(3)
    last = json.loads(path.read_bytes().splitlines()[-1])["notification_id"]
    path.unlink()
    code, answer, err = _verify(capsys)
    # Nothing to compare with: not a break, but every anchor the database recorded is named.
    assert (code, answer["witness_anchors"], answer["anchors_not_witnessed"]) == (0, 0, 3)
    assert (f"the database holds anchors up to notification id {last} (3) and no witness "
            f"file was read: the configured one ({path}) does not exist") in err


def test_lines_written_before_the_links_still_verify_and_are_named(
        witnessed: Callable[[int], Path], capsys: pytest.CaptureFixture[str]) -> None:
    path = witnessed(3)
    # The three lines as the version before the links wrote them.
    _rewrite(path, lambda ls: [(json.dumps({k: json.loads(line)[k] for k in WITNESSED},
                                           ensure_ascii=False) + "\n").encode() for line in ls])
    witnessed(2)  # then two more by this version: they link on, numbered 4 and 5
    lines = path.read_bytes().splitlines(keepends=True)
    assert [json.loads(line).get("line") for line in lines] == [None, None, None, 4, 5]
    assert json.loads(lines[3])["previous"] == hashlib.sha256(lines[2]).hexdigest()
    code, answer, err = _verify(capsys)
    assert (code, answer["ok"], answer["witness_anchors"], answer["witness_breaks"]) == (
        0, True, 5, [])
    assert f"{path}: lines 1-3 carry no link (written before links)\n" in err
    # An old line removed still shows in the number the first linked line carries...
    _rewrite(path, lambda ls: ls[:1] + ls[2:])
    removed = f"{path}: line 3 carries number 4: 1 line(s) before it removed"
    assert _verify(capsys)[:2] == (1, {**answer, "ok": False, "witness_anchors": 4,
                                       "witness_breaks": [removed]})
    # ...and the last old line changed, in the link of the line after it.
    path.write_bytes(b"".join(lines[:2] + [lines[2].replace(b'"noon"', b'"noon!"')]
                              + lines[3:]))
    assert _verify(capsys)[1]["witness_breaks"] == [
        f"{path}: line 3 changed after it was written (line 4's link does not match it)"]
