"""The raw export over HTTP: an auditor fetches the log page by page (`GET /audit/chain/export`,
JSON lines) and checks the pages with projections/verify_chain.py, outside the system. A token of
some stores gets the other stores' events as their links alone, and the chain still joins.
Served on a database of its own, through the application's role, as in production.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.support import open_order
from tests.integration.test_chain_export import _anchored, _standalone
from tests.scratch_systems import ServedScratch, served_scratch

Auth = Callable[..., dict[str, str]]
EXPORT = "/audit/chain/export"


@pytest.fixture
def scratch(server_url: str, tmp_path: Path) -> Iterator[ServedScratch]:
    with served_scratch(server_url, "sc_chain_export", tmp_path) as served:
        for store in ("S01", "S02", "S01", "S02", "S01"):
            open_order(served.system.work_orders, store)
        yield served


def _pages(scratch: ServedScratch, headers: dict[str, str], tmp_path: Path,
           **params: Any) -> list[Path]:
    """Every page from the first, following `Link` rel="next", each saved to a file."""
    pages: list[Path] = []
    url: str | None = EXPORT
    query: dict[str, Any] | None = params
    while url:
        answer = scratch.client.get(url, params=query, headers=headers)
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"].startswith("application/jsonl")
        page = tmp_path / f"page-{len(pages)}.jsonl"
        page.write_bytes(answer.content)
        pages.append(page)
        link = answer.headers.get("link")
        url, query = (link.split(">")[0].lstrip("<"), None) if link else (None, None)
    return pages


def _kinds(page: Path) -> list[str]:
    return [json.loads(line)["kind"] for line in page.read_text().splitlines()]


def test_pages_of_the_export_verify_outside_the_system(
        scratch: ServedScratch, auth: Auth, tmp_path: Path) -> None:
    auditor = auth("auditor", "aud-wang")
    anchored = scratch.client.post("/audit/chain/anchors", json={"note": "day-end"},
                                   headers=auditor)
    assert anchored.status_code == 201, anchored.text
    open_order(scratch.system.work_orders, "S01")
    witness = tmp_path / "witness.jsonl"
    assert _anchored(tmp_path) == anchored.json()["notification_id"]

    pages = _pages(scratch, auditor, tmp_path, events=4)
    assert len(pages) > 2
    assert _kinds(pages[0])[0] == "export" and _kinds(pages[0])[-1] == "end"
    code, answer = _standalone(tmp_path, *map(str, pages), "--witness", str(witness))
    assert code == 0, answer
    assert answer["withheld"] == 0 and answer["witnessed_to"] == _anchored(tmp_path)
    assert answer["recorded_anchors_checked"] == 1
    # One page alone joins the link before it; given out of order, the pages do not join.
    assert _standalone(tmp_path, str(pages[1]))[0] == 0
    code, answer = _standalone(tmp_path, str(pages[1]), str(pages[0]))
    assert (code, answer["first_break"]["reason"]) == (1, "files do not join")


def test_another_stores_events_are_withheld_with_their_links(
        scratch: ServedScratch, auth: Auth, tmp_path: Path) -> None:
    pages = _pages(scratch, auth("auditor", "aud-s01", ["S01"]), tmp_path, events=1000)
    (page,) = pages
    lines = [json.loads(line) for line in page.read_text().splitlines()]
    withheld = [line for line in lines if line["kind"] == "withheld"]
    assert withheld and all(set(line) == {"kind", "notification_id", "hash", "previous_hash"}
                            for line in withheld)
    assert lines[0]["stores"] == ["S01"]
    code, answer = _standalone(tmp_path, str(page))
    assert code == 0, answer
    assert answer["withheld"] == len(withheld) and answer["events_checked"] > 0


@pytest.mark.parametrize(("params", "field"), [({"from": 3, "to": 2}, "to"),
                                               ({"from": 10_000}, "from")])
def test_a_range_with_no_events_is_refused(scratch: ServedScratch, auth: Auth,
                                           params: dict[str, int], field: str) -> None:
    answer = scratch.client.get(EXPORT, params=params, headers=auth("auditor"))
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["field"] == field


def test_only_auditors_and_managers_export(scratch: ServedScratch, auth: Auth) -> None:
    for role, status in (("auditor", 200), ("manager", 200), ("advisor", 403),
                         ("analyst", 403)):
        assert scratch.client.get(EXPORT, headers=auth(role)).status_code == status, role


def test_a_range_ending_past_the_head_ends_at_the_head(
        scratch: ServedScratch, auth: Auth, tmp_path: Path) -> None:
    # The largest id a client may name: the ids past the head hold nothing, and the page ends
    # there (it had walked every empty range of ids up to it until the statement deadline: 503).
    (page,) = _pages(scratch, auth("auditor"), tmp_path, to=2**63 - 1)
    lines = [json.loads(line) for line in page.read_text().splitlines()]
    head = lines[0]["log_head"]
    assert lines[0]["to"] == head and lines[-1]["kind"] == "end"
    assert [line["notification_id"] for line in lines[1:-1]
            if "notification_id" in line][-1] == head
    assert _standalone(tmp_path, str(page))[0] == 0
