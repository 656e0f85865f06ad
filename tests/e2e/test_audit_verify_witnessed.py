"""`GET /audit/chain/verify` says how far the server's witness file reaches: `witnessed_to`,
the last event of the range an anchor kept outside the database matched; past it the range
is checked against the database alone. Runs on a database of its own, served through the
application's role.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.support import open_order
from tests.scratch_systems import ServedScratch, served_scratch

Auth = Callable[..., dict[str, str]]
VERIFY, ANCHORS = "/audit/chain/verify", "/audit/chain/anchors"


@pytest.fixture
def scratch(server_url: str, tmp_path: Path) -> Iterator[ServedScratch]:
    with served_scratch(server_url, "sc_verify_witnessed", tmp_path) as served:
        yield served


def _ok(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_the_answer_names_the_last_event_the_witness_file_reaches(scratch: ServedScratch,
                                                                  auth: Auth) -> None:
    auditor = auth("auditor", "aud-wang")
    open_order(scratch.system.work_orders, "S01")
    assert _ok(scratch.client.get(VERIFY, headers=auditor))["witnessed_to"] is None
    anchored = scratch.client.post(ANCHORS, json={"note": "noon"}, headers=auditor)
    assert anchored.status_code in (200, 201), anchored.text
    head = anchored.json()["notification_id"]
    open_order(scratch.system.work_orders, "S01")
    answer = _ok(scratch.client.get(VERIFY, headers=auditor))
    assert answer["ok"] is True and answer["to"] > head
    assert (answer["witness_anchors"], answer["witnessed_to"]) == (1, head)
    # A range that ends before the anchor reaches no anchor kept outside.
    before = _ok(scratch.client.get(VERIFY, params={"to": head - 1}, headers=auditor))
    assert (before["ok"], before["witnessed_to"]) == (True, None)


def test_a_line_removed_from_the_witness_file_fails_the_answer(scratch: ServedScratch,
                                                                 auth: Auth) -> None:
    auditor = auth("auditor", "aud-wang")
    for _ in range(3):
        open_order(scratch.system.work_orders, "S01")
        anchored = scratch.client.post(ANCHORS, json={"note": "noon"}, headers=auditor)
        assert anchored.status_code in (200, 201), anchored.text
    answer = _ok(scratch.client.get(VERIFY, headers=auditor))
    assert (answer["ok"], answer["witness_anchors"], answer["witness_break"],
            answer["anchors_not_witnessed"]) == (True, 3, None, None)
    # Someone who may write the file (not the database) takes the second line out.
    path = scratch.system.settings.witness_file
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(lines[0] + lines[2])
    answer = _ok(scratch.client.get(VERIFY, headers=auditor))
    assert (answer["ok"], answer["first_break"], answer["witness_anchors"]) == (False, None, 2)
    assert answer["witness_break"] == "line 2 carries number 3: 1 line(s) before it removed"
    # Cut at its end instead, the file is a whole chain: the database's later anchors show it.
    path.write_bytes(lines[0])
    answer = _ok(scratch.client.get(VERIFY, headers=auditor))
    assert (answer["ok"], answer["witness_break"], answer["anchors_not_witnessed"]) == (
        True, None, 2)
    # Removed, the server's file holds none of the database's anchors.
    path.unlink()
    answer = _ok(scratch.client.get(VERIFY, headers=auditor))
    assert (answer["ok"], answer["witness_anchors"], answer["anchors_not_witnessed"]) == (
        True, 0, 3)
