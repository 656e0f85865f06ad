"""Snapshots are a cache of states, but a cold load trusts them: one that does not equal the
replay of its stream changes what commands decide while every event, and so the hash chain,
stays as it was. The application's role may insert snapshots, so `servicecore audit verify`
replays each snapshotted stream and names the snapshot that differs. These tests forge rows,
so they run on a database of their own.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from domain.application import SNAPSHOT_EVERY, ServiceCore
from domain.common import Audit
from domain.counter import DocumentCounter
from domain.snapshot_seal import MARK, TAG_BYTES, SealedSnapshots
from servicecore import audit_chain, cli
from servicecore.container import Container, build, eventsourcing_env, migrate
from servicecore.roles import DatabaseUrls
from servicecore.schema import SNAPSHOTS_TABLE
from tests.conftest import settings_for
from tests.databases import app_role_url, scratch_database

AUDIT = Audit("mgr-1", "manager", "S01", datetime.now(UTC), "snapshot-forgery")


@pytest.fixture
def counted(server_url: str, tmp_path: Path) -> Iterator[tuple[Container, str, DocumentCounter]]:
    """A scratch store whose work-order counter has taken enough numbers to be snapshotted."""
    with scratch_database(server_url, "sc_snap") as owner_url:
        url = app_role_url(owner_url)  # migrated by the owner, used as the application's role
        migrate(DatabaseUrls(owner=owner_url, app=url), settings_for(url, tmp_path / "migrate"))
        system = build(settings_for(url, tmp_path))
        try:
            counter = DocumentCounter(series="work-order", store_id="S01", year=2026,
                                      audit=AUDIT)
            system.app.save(counter)
            for _ in range(SNAPSHOT_EVERY + 9):
                counter.take(AUDIT, "WO")
                system.app.save(counter)
            yield system, url, counter
        finally:
            system.close()


def _verify(url: str, capsys: pytest.CaptureFixture[str],
            monkeypatch: pytest.MonkeyPatch) -> tuple[int, dict[str, Any]]:
    monkeypatch.setenv("DATABASE_URL", url)
    code = cli.main(["audit", "verify", "--quiet"])
    return code, json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def _forge(url: str, counter: DocumentCounter, version: int, last: int, *,
          seal: bool = True) -> None:
    """As the application's role: the real snapshot's row again, at `version`, saying the
    counter's last number was `last`; with the real row's seal in front (which no longer
    matches), or without one (as a snapshot stored before seals)."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(f"SELECT topic, state FROM {SNAPSHOTS_TABLE} "
                           "WHERE originator_id = %s AND originator_version = %s",
                           (counter.id, SNAPSHOT_EVERY)).fetchone()
        assert row is not None
        state = bytes(row[1])
        assert state.startswith(MARK)
        front, inner = state[:len(MARK) + TAG_BYTES], state[len(MARK) + TAG_BYTES:]
        inner = inner.replace(f'"last":{SNAPSHOT_EVERY - 1}'.encode(), f'"last":{last}'.encode())
        conn.execute(
            f"INSERT INTO {SNAPSHOTS_TABLE} (originator_id, originator_version, topic, state) "
            "VALUES (%s, %s, %s, %s)",
            (counter.id, version, row[0], (front if seal else b"") + inner))


def _cold_load(url: str, system: Container, counter: DocumentCounter,
               refused: dict[str, int] | None = None) -> Any:
    """The counter as a process that starts now loads it (`refused`: the snapshots its
    store passed over, by reason)."""
    cold = ServiceCore(env={**eventsourcing_env(url, system.settings),
                            "AGGREGATE_CACHE_MAXSIZE": ""})
    try:
        return cold.repository.get(counter.id)
    finally:
        store = cold.snapshots
        assert isinstance(store, SealedSnapshots)
        if refused is not None:
            refused.update(store.refused)
        cold.close()


def test_real_snapshots_check_out(counted: tuple[Container, str, DocumentCounter],
                                  capsys: pytest.CaptureFixture[str],
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    _, url, _ = counted
    code, answer = _verify(url, capsys, monkeypatch)
    assert code == 0, answer
    assert answer["ok"] is True and answer["snapshots_checked"] == 1
    assert answer["snapshot_break"] is None


def test_a_forged_snapshot_is_named_by_stream_and_version(
        counted: tuple[Container, str, DocumentCounter], capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    system, url, counter = counted
    # At the stream's last version: a cold process would hand out numbers 3 to 109 again
    # (the events say 109 was the last one taken).
    _forge(url, counter, counter.version, 2)
    assert counter.last == 109
    # Its seal does not match, so a cold process passes over it and replays the events.
    refused: dict[str, int] = {}
    assert _cold_load(url, system, counter, refused).last == 109
    assert refused == {"seal differs": 1}

    code, answer = _verify(url, capsys, monkeypatch)
    assert code == 1
    assert answer["ok"] is False
    assert answer["first_break"] is None  # the events and their chain are untouched
    assert answer["snapshot_break"] == {"stream_id": str(counter.id),
                                        "version": counter.version,
                                        "reason": "snapshot differs from its events"}


def test_a_snapshot_past_its_streams_last_event_is_named(
        counted: tuple[Container, str, DocumentCounter]) -> None:
    system, url, counter = counted
    _forge(url, counter, 5_000, SNAPSHOT_EVERY)
    # A cold load passes over it (else the counter's next event would be stored as 5001)...
    cold = _cold_load(url, system, counter)
    assert (cold.version, cold.last) == (counter.version, counter.last)
    # ...and `audit verify` names it.
    with psycopg.connect(url) as conn:
        found = audit_chain.verify_snapshots(conn)
    assert found.broken is not None
    assert (found.broken.stream_id, found.broken.version, found.broken.reason) == (
        counter.id, 5_000, "snapshot without its event")


def test_a_genuine_snapshot_is_loaded_and_an_unsealed_one_is_passed_over(
        counted: tuple[Container, str, DocumentCounter],
        caplog: pytest.LogCaptureFixture) -> None:
    system, url, counter = counted
    refused: dict[str, int] = {}
    cold = _cold_load(url, system, counter, refused)
    assert (cold.version, cold.last, refused) == (counter.version, counter.last, {})
    # Another key (a process configured apart from the others) passes over the genuine one.
    other = system.settings.model_copy(update={"jwt_secret": "another secret " * 3})
    stranger = ServiceCore(env={**eventsourcing_env(url, other), "AGGREGATE_CACHE_MAXSIZE": ""})
    try:
        assert stranger.repository.get(counter.id).last == counter.last
        assert isinstance(stranger.snapshots, SealedSnapshots)
        assert stranger.snapshots.refused == {"seal differs": 1}
    finally:
        stranger.close()
    # A row without a seal (a forger's, or one stored before seals) at the last version.
    _forge(url, counter, counter.version, 2, seal=False)
    cold = _cold_load(url, system, counter, refused)
    assert (cold.version, cold.last, refused) == (counter.version, counter.last,
                                                  {"unsealed": 1})
    assert "refused (unsealed): the stream replays from its events" in caplog.text
