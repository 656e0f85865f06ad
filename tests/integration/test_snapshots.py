"""Snapshots of long-lived streams: a cold process loads them, never a different state.

A counter holds one event per number; after `SNAPSHOT_EVERY` events a snapshot is stored in the
same process, and a process that starts cold loads the snapshot plus the events after it. The
state must equal a full replay of the events, which stay the record.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

from domain.application import SNAPSHOT_EVERY, ServiceCore
from domain.common import Audit
from domain.counter import DocumentCounter
from servicecore.container import Container, eventsourcing_env
from servicecore.schema import SNAPSHOTS_TABLE

AUDIT = Audit("mgr-1", "manager", "S01", datetime.now(UTC), "snapshot-test")


def _state(aggregate: Any) -> dict[str, Any]:
    return {k: v for k, v in vars(aggregate).items() if not k.startswith("_")} | {
        "version": aggregate.version}


def test_a_cold_process_loads_the_snapshot_and_gets_the_replayed_state(
        container: Container, database_url: str, store_id: str) -> None:
    app = container.app
    counter = DocumentCounter(series="snap", store_id=store_id, year=2026, audit=AUDIT)
    app.save(counter)
    for _ in range(SNAPSHOT_EVERY * 2 + 7):  # one number per save, as work orders take them
        counter.take(AUDIT, "WO")
        app.save(counter)

    with psycopg.connect(database_url) as conn:
        versions = [r[0] for r in conn.execute(
            f"SELECT originator_version FROM {SNAPSHOTS_TABLE} WHERE originator_id = %s "
            "ORDER BY 1", (counter.id,))]
    assert versions == [SNAPSHOT_EVERY, SNAPSHOT_EVERY * 2]

    cold = ServiceCore(env={**eventsourcing_env(database_url, container.settings),
                            "AGGREGATE_CACHE_MAXSIZE": ""})
    try:
        from_snapshot = cold.repository.get(counter.id)
        events = list(cold.events.get(counter.id))
        replayed = None
        for event in events:
            replayed = event.mutate(replayed)
    finally:
        cold.close()
    assert _state(from_snapshot) == _state(replayed) == _state(counter)
    assert from_snapshot.last == SNAPSHOT_EVERY * 2 + 7


def test_the_application_role_cannot_change_a_snapshot(container: Container,
                                                       database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn, \
            pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute(f"UPDATE {SNAPSHOTS_TABLE} SET state = state")
