"""An event back-dated past a witnessed anchor, or post-dated past one.

The application's role may insert events (it stores every save) and rows of the command
registry: anyone with its credentials can put an event at the head of the log, which the chain
trigger links like any other. Its recorded time is what the event says, so it can claim a time
before the day's close. An anchor kept outside the database carries the time it was recorded:
an event after it in the log that says it was recorded before it, or one before it that says
it was recorded after it, by more than clocks differ (projections/chain_time.py), is named by
`audit verify` and `GET /audit/chain/verify`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import psycopg
import pytest

from projections.chain_time import CLOCK_SKEW, DATED, DATED_AFTER
from servicecore import cli
from servicecore.schema import COMMANDS_TABLE, EVENTS_TABLE
from tests.conftest import JWT_SECRET
from tests.integration.support import open_order
from tests.scratch_systems import ServedScratch, served_scratch

Auth = Callable[..., dict[str, str]]


@pytest.fixture
def scratch(server_url: str, tmp_path: Path,
            monkeypatch: pytest.MonkeyPatch) -> Iterator[ServedScratch]:
    with served_scratch(server_url, "sc_backdated", tmp_path) as served:
        monkeypatch.setenv("DATABASE_URL", served.app_url)
        monkeypatch.setenv("SERVICECORE_JWT_SECRET", JWT_SECRET)
        yield served


def _slip_in(app_url: str, recorded: datetime) -> int:
    """As the application's role: the last number taken again (the next version of the
    counter's stream), saying it was recorded at `recorded`, with its registry row."""
    with psycopg.connect(app_url, autocommit=True) as conn, conn.transaction():
        stream, version, topic, state = conn.execute(
            f"SELECT originator_id, originator_version, topic, convert_from(state, 'UTF8') "
            f"FROM {EVENTS_TABLE} WHERE topic LIKE '%%DocumentCounter.Taken' "
            "ORDER BY notification_id DESC LIMIT 1").fetchone() or (None, 0, "", "")
        data = json.loads(state)
        data["timestamp"]["_data_"] = recorded.isoformat()
        data["number"] += 1
        row = conn.execute(
            f"INSERT INTO {EVENTS_TABLE} (originator_id, originator_version, topic, state) "
            "VALUES (%s, %s, %s, convert_to(%s, 'UTF8')) RETURNING notification_id",
            (stream, version + 1, topic, json.dumps(data, separators=(",", ":")))).fetchone()
        assert row is not None
        conn.execute(f"INSERT INTO {COMMANDS_TABLE} (command_id, notification_ids) "
                     "VALUES (%s, %s)", (uuid4(), [row[0]]))
    return int(row[0])


def _verify(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any], str]:
    capsys.readouterr()
    code = cli.main(["audit", "verify", "--quiet", *args])
    out, err = capsys.readouterr()
    return code, json.loads(out.strip().splitlines()[-1]), err


def test_an_event_dated_before_the_witnessed_close_is_named(
        scratch: ServedScratch, auth: Auth, capsys: pytest.CaptureFixture[str]) -> None:
    open_order(scratch.system.work_orders, "S01")
    # The day's close: the head recorded and appended to the server's witness file.
    answer = scratch.client.post("/audit/chain/anchors", json={"note": "day-end S01"},
                                 headers=auth("manager"))
    assert answer.status_code == 201, answer.text
    witness = str(scratch.system.settings.witness_file)
    closed = datetime.fromisoformat(answer.json()["anchored_at"])
    # Work after the close, stored honestly, and one event slipped in within the clocks'
    # leeway: nothing wrong.
    open_order(scratch.system.work_orders, "S01")
    _slip_in(scratch.app_url, closed - CLOCK_SKEW + timedelta(seconds=30))
    code, found, _ = _verify(capsys, "--witness", witness)
    assert (code, found["first_break"], found["witnessed_to"]) == (
        0, None, answer.json()["notification_id"])

    # A number taken "yesterday", put in after the close was witnessed.
    backdated = _slip_in(scratch.app_url, closed - timedelta(days=1))
    code, found, err = _verify(capsys, "--witness", witness)
    assert code == 1
    assert found["first_break"] == {"notification_id": backdated, "reason": DATED,
                                    "stored": (closed - timedelta(days=1)).isoformat(),
                                    "computed": closed.isoformat()}
    assert f"chain broken at notification id {backdated}: {DATED}" in err
    # A range that begins after the anchor holds its events to it all the same.
    code, found, _ = _verify(capsys, "--witness", witness, "--from", str(backdated))
    assert (code, found["first_break"]["reason"]) == (1, DATED)
    # Over the API, against the server's witness file, the same.
    page = scratch.client.get("/audit/chain/verify", headers=auth("auditor")).json()
    assert (page["ok"], page["first_break"]["notification_id"],
            page["first_break"]["reason"]) == (False, backdated, DATED)
    # Without an anchor kept outside there is no time to hold it to (the anchors table's
    # times are the database's, which its owner can rewrite).
    Path(witness).unlink()
    code, found, _ = _verify(capsys)
    assert (code, found["first_break"]) == (0, None)


def test_an_event_dated_after_the_witnessed_anchor_that_holds_it_is_named(
        scratch: ServedScratch, auth: Auth, capsys: pytest.CaptureFixture[str]) -> None:
    open_order(scratch.system.work_orders, "S01")
    manager = auth("manager")
    assert scratch.client.post("/audit/chain/anchors", headers=manager).status_code == 201
    witness = str(scratch.system.settings.witness_file)
    # A number "taken tomorrow", put in now: nothing after it to hold it to yet.
    tomorrow = datetime.now().astimezone() + timedelta(days=1)
    postdated = _slip_in(scratch.app_url, tomorrow)
    code, found, _ = _verify(capsys, "--witness", witness)
    assert (code, found["first_break"]) == (0, None)
    # The next close witnesses a head past it, recorded today.
    answer = scratch.client.post("/audit/chain/anchors", headers=manager)
    assert answer.status_code == 201, answer.text
    code, found, _ = _verify(capsys, "--witness", witness)
    assert code == 1
    assert found["first_break"] == {
        "notification_id": postdated, "reason": DATED_AFTER, "stored": tomorrow.isoformat(),
        "computed": datetime.fromisoformat(answer.json()["anchored_at"]).isoformat()}
    page = scratch.client.get("/audit/chain/verify", headers=auth("auditor")).json()
    assert (page["ok"], page["first_break"]["notification_id"],
            page["first_break"]["reason"]) == (False, postdated, DATED_AFTER)
