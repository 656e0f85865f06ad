"""Aggregate loads on real PostgreSQL: one statement for a cold load, and the cache a command
leaves behind never hides another process's write.

A cold load reads the latest snapshot and the events after it in one statement; the state is
the one eventsourcing's two statements give. After a command, the aggregates it saved are the
cached state; the next load still asks the store for newer events, so a line another process
added is seen, and a command on it (here an approval that reserves stock) decides on it.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest
from eventsourcing.application import AggregateNotFoundError, Repository, project_aggregate
from eventsourcing.persistence import DataError

from domain.application import SNAPSHOT_EVERY, ServiceCore
from domain.common import Audit
from domain.counter import DocumentCounter
from domain.work_order import WorkOrder
from servicecore.container import Container, eventsourcing_env
from servicecore.event_store import EventRecorder
from tests.integration.support import LABOR, open_order
from tests.integration.test_parts_support import (
    item_of,
    new_part,
    receive,
    req,
    version_of,
    wo_of,
)

AUDIT = Audit("mgr-1", "manager", "S01", datetime.now(UTC), "loads-test")


def _state(aggregate: Any) -> dict[str, Any]:
    return {k: v for k, v in vars(aggregate).items() if k != "_pending_events"}


def _counter(app: ServiceCore, store_id: str, numbers: int) -> DocumentCounter:
    counter = DocumentCounter(series=f"loads-{numbers}", store_id=store_id, year=2026,
                              audit=AUDIT)
    app.save(counter)
    for _ in range(numbers):
        counter.take(AUDIT, "WO")
        app.save(counter)
    return counter


def test_a_cold_load_is_one_statement_and_the_state_the_library_loads(
        container: Container, database_url: str, store_id: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    app = container.app
    streams = [_counter(app, store_id, n).id for n in (3, SNAPSHOT_EVERY, SNAPSHOT_EVERY + 4)]
    cold = ServiceCore(env={**eventsourcing_env(database_url, container.settings),
                            "AGGREGATE_CACHE_MAXSIZE": ""})
    statements: list[str] = []
    execute = psycopg.Cursor.execute
    mine = threading.get_ident()  # the session's projection runners run meanwhile

    def counted(self: psycopg.Cursor[Any], query: Any, *args: Any, **kwargs: Any) -> Any:
        if threading.get_ident() == mine:
            statements.append(str(query))
        return execute(self, query, *args, **kwargs)

    try:
        for stream_id in streams:
            monkeypatch.setattr(psycopg.Cursor, "execute", counted)
            statements.clear()
            loaded = cold.repository.get(stream_id)
            monkeypatch.undo()
            assert len(statements) == 1
            library = Repository._reconstruct_aggregate(cold.repository, stream_id, None,
                                                        project_aggregate)
            assert _state(loaded) == _state(library)
            assert _state(loaded) == _state(app.repository.get(stream_id))
        with pytest.raises(AggregateNotFoundError):
            cold.repository.get(uuid4())
    finally:
        cold.close()


def test_after_a_command_the_next_load_still_sees_another_process_write(
        container: Container, other: Container, store_id: str) -> None:
    wos, theirs = container.work_orders, other.work_orders
    number = new_part(container, store_id)
    receive(container, store_id, number, 5)
    work_order_id = UUID(open_order(wos, store_id)["id"])
    wos.add_labor_line(req(store_id, "advisor"), work_order_id, 1, dict(LABOR))
    # this process has the work order cached as it saved it (two lines' worth of commands)
    cached = container.app.cached(work_order_id)
    assert isinstance(cached, WorkOrder) and list(cached.lines) == ["L1"]
    # the other process adds a part line; this process approves it (the approval reserves)
    added = theirs.add_part_line(req(store_id, "advisor"), work_order_id, 1,
                                 {"part_number": number, "qty": "2"})
    line_id = added.body["line_id"]
    approved = wos.authorize_line(req(store_id, "advisor"), work_order_id, line_id,
                                  decision="approved", channel="phone")
    assert approved.body["supply"] == "reserved"
    assert approved.body["version"] == version_of(container, work_order_id)
    work_order = wo_of(container, work_order_id)
    assert list(work_order.lines) == ["L1", line_id]
    assert work_order.lines[line_id]["status"] == "approved"
    assert item_of(container, store_id, number).available == 3
    # and the other process, whose cache is older now, sees this process's approval
    assert wo_of(other, work_order_id).lines[line_id]["status"] == "approved"


def test_a_failed_select_raises_the_library_error_and_returns_its_connection(
        container: Container) -> None:
    """The recorder borrows pooled connections directly; errors are eventsourcing's, as the
    library's own get_connection raises them, and the connection goes back to the pool."""
    recorder = container.app.recorder
    assert isinstance(recorder, EventRecorder)
    for _ in range(container.settings.pool_size + 2):  # a leaked connection would show
        with pytest.raises(DataError):
            recorder.select_events("not a uuid")
    assert recorder.select_events(uuid4()) == []
