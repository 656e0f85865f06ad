"""Over the API an auditor gets what `servicecore audit verify` answers, page by page: the
chain and the command registry over a range of notification ids (events deleted, events no
save recorded, ids given out twice), and the snapshots over a page of snapshotted streams.

Tampering needs the owner's rights, so these tests run on a database of their own, migrated by
its owner and served through the application's role, as in production.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from domain.application import SNAPSHOT_EVERY
from domain.common import Audit
from domain.counter import DocumentCounter
from servicecore import cli
from servicecore.container import Container
from servicecore.schema import EVENTS_TABLE, HASHES_TABLE
from tests.conftest import JWT_SECRET
from tests.integration.support import open_order
from tests.integration.test_snapshot_integrity import _forge
from tests.scratch_systems import ServedScratch, served_scratch

Auth = Callable[..., dict[str, str]]
VERIFY, SNAPSHOTS = "/audit/chain/verify", "/audit/chain/snapshots"
AUDIT = Audit("mgr-1", "manager", "S01", datetime.now(UTC), "api-verify")


@pytest.fixture
def scratch(server_url: str, tmp_path: Path) -> Iterator[ServedScratch]:
    with served_scratch(server_url, "sc_verify_api", tmp_path) as served:
        yield served


def _ok(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _delete(url: str, ids: list[int]) -> None:
    """The owner removes events and their links."""
    with psycopg.connect(url, autocommit=True) as conn:
        for table in (EVENTS_TABLE, HASHES_TABLE):
            conn.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
            conn.execute(f"DELETE FROM {table} WHERE notification_id = ANY(%s)", (ids,))
            conn.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")


def test_events_deleted_are_named_in_the_range_that_holds_them(scratch: ServedScratch,
                                                               auth: Auth) -> None:
    auditor = auth("auditor", "aud-wang")
    for _ in range(3):
        open_order(scratch.system.work_orders, "S01")
    head = _ok(scratch.client.get(VERIFY, headers=auditor))["log_head"]
    middle = head // 2
    # One event in the middle and the last two go, with their links.
    _delete(scratch.owner_url, [middle, head - 1, head])

    inside = _ok(scratch.client.get(VERIFY, params={"from": middle, "to": middle + 1},
                                    headers=auditor))
    assert inside["ok"] is False
    assert (inside["first_break"]["notification_id"], inside["first_break"]["reason"]) == (
        middle, "event deleted")
    before = _ok(scratch.client.get(VERIFY, params={"to": middle - 1}, headers=auditor))
    assert before["ok"] is True
    # The tail: the log's head is the registry's last id, so the last page reaches it (from
    # after the link that depended on the deleted one).
    tail = _ok(scratch.client.get(VERIFY, params={"from": middle + 2}, headers=auditor))
    assert tail["log_head"] == head and tail["range_to"] == head
    assert (tail["ok"], tail["first_break"]["notification_id"],
            tail["first_break"]["reason"]) == (False, head - 1, "event deleted")


def test_ids_given_out_again_after_a_tail_cut_off_are_named(
        scratch: ServedScratch, auth: Auth, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    auditor = auth("auditor", "aud-wang")
    open_order(scratch.system.work_orders, "S01")
    cut = open_order(scratch.system.work_orders, "S02")["notification_id"]  # the last save
    head = _ok(scratch.client.get(VERIFY, headers=auditor))["log_head"]
    assert cut == head
    # The owner cuts that save off with its links and sets the sequence back behind it: the
    # next visit (of another store: nothing of the cut save is cached) takes those ids.
    _delete(scratch.owner_url, [head - 2, head - 1, head])
    with psycopg.connect(scratch.owner_url, autocommit=True) as conn:
        conn.execute(f"SELECT setval('{EVENTS_TABLE}_notification_id_seq', %s)", (head - 3,))
    assert open_order(scratch.system.work_orders, "S01")["notification_id"] == head

    found = _ok(scratch.client.get(VERIFY, headers=auditor))
    assert found["events_checked"] == head  # the chain alone holds
    assert (found["ok"], found["first_break"]["notification_id"],
            found["first_break"]["reason"]) == (False, head - 2, "event replaced")
    assert found["first_break"]["stored"] < found["first_break"]["computed"]
    # `audit verify` says since when the id stands for another event.
    monkeypatch.setenv("DATABASE_URL", scratch.app_url)
    monkeypatch.setenv("SERVICECORE_JWT_SECRET", JWT_SECRET)
    capsys.readouterr()
    assert cli.main(["audit", "verify", "--quiet"]) == 1
    out, err = capsys.readouterr()
    named = json.loads(out)["first_break"]
    assert (named["notification_id"], named["reason"]) == (head - 2, "event replaced")
    assert [datetime.fromisoformat(named[k]) for k in ("stored", "computed")] == [
        datetime.fromisoformat(found["first_break"][k]) for k in ("stored", "computed")]
    assert (f"chain broken at notification id {head - 2}: event replaced (recorded by a save "
            f"at {named['stored']} and again by one at {named['computed']}: ") in err
    assert (f"notification id {head - 2} holds version 1 of stream ") in err
    assert (f"(domain.customer:Customer.Registered); a save recorded an event there at "
            f"{named['stored']}, and another at {named['computed']}; the links recompute up "
            f"to notification id {head}; no anchor kept outside the database matched") in err


def _counter(system: Container, year: int) -> DocumentCounter:
    counter = DocumentCounter(series="work-order", store_id="S01", year=year, audit=AUDIT)
    system.app.save(counter)
    for _ in range(SNAPSHOT_EVERY + 9):
        counter.take(AUDIT, "WO")
        system.app.save(counter)
    return counter


def test_snapshots_are_checked_page_by_page_and_a_forged_one_is_named(scratch: ServedScratch,
                                                                      auth: Auth) -> None:
    auditor = auth("auditor", "aud-wang")
    counters = sorted((_counter(scratch.system, year) for year in (2026, 2027, 2028)), key=lambda c: c.id)
    first = _ok(scratch.client.get(SNAPSHOTS, params={"streams": 2}, headers=auditor))
    assert (first["ok"], first["snapshots_checked"], first["streams_checked"]) == (True, 2, 2)
    assert first["next_after"] == str(counters[1].id)
    last = _ok(scratch.client.get(
        SNAPSHOTS, params={"after": first["next_after"], "streams": 2}, headers=auditor))
    assert (last["ok"], last["streams_checked"], last["next_after"]) == (True, 1, None)

    # The application's role inserts a snapshot of the last counter saying 2 was its last.
    target = counters[2]
    _forge(scratch.app_url, target, target.version, 2)
    found = _ok(scratch.client.get(SNAPSHOTS, params={"after": first["next_after"]},
                                   headers=auditor))
    assert found["ok"] is False and found["next_after"] is None
    assert found["snapshot_break"] == {"stream_id": str(target.id), "version": target.version,
                                       "reason": "snapshot differs from its events"}
    assert _ok(scratch.client.get(SNAPSHOTS, params={"streams": 2}, headers=auditor))["ok"]
    for bad in ({"streams": 0}, {"streams": 1001}, {"after": "not-a-uuid"}):
        answer = scratch.client.get(SNAPSHOTS, params=bad, headers=auditor)
        assert answer.status_code == 422, answer.text
    assert scratch.client.get(SNAPSHOTS, headers=auth("advisor")).status_code == 403
