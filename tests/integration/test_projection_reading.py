"""How projections read the log: the fast decoder gives the library's events, a view that
names the events it handles ends as if it had seen them all, and `projections rebuild` with
several projections at once (processes of their own) ends equal to a catch-up."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from eventsourcing.persistence import Notification

from projections.base import ReadModel
from projections.batch_rows import FEW_ROWS
from servicecore import cli
from servicecore.container import Container
from servicecore.demo import load_demo
from tests.conftest import JWT_SECRET
from tests.integration.support import head, request
from tests.scratch_systems import ServedScratch, served_module
from workers.event_batches import EventReader
from workers.projection_runner import ProjectionRunner

NOW = datetime(2026, 3, 2, 16, 0, tzinfo=UTC)

# Every view here is rebuilt or caught up from event 0: a system of the module's own (as the
# application's role, its projections followed, as the session's are), not the session's log.
served, container, client = served_module("sc_reading", projections=True)


def _history(container: Container) -> str:
    """A varied demo (visits to settlement and aftercare) and one customer erased."""
    store = "PR" + uuid.uuid4().hex[:6].upper()
    load_demo(container.work_orders, container.inventory, visits=16, stores=(store,),
              settlements=container.settlements, aftercare=container.aftercare, now=NOW)
    reader = EventReader(container.app)
    with container.pool.connection() as conn:
        rows = reader.read(conn, 1, 1_000_000)
    opened = [reader.decode(r) for r in rows if r.topic.endswith(":WorkOrder.Opened")]
    customer_id = next(e.customer_id for e in opened if e.audit.store_id == store)
    container.customers.erase(request(store, role="manager"), customer_id,
                              reason="customer asked (PIPL)")
    return store


def _fresh(container: Container, view: ReadModel, suffix: str) -> None:
    with container.pool.connection() as conn, conn.transaction():
        for statement in view.drop(suffix):
            conn.execute(statement)
        view.create(conn, suffix)
        conn.execute("DELETE FROM projection_positions WHERE name = %s", (view.name + suffix,))


def _differences(container: Container, view: ReadModel, left: str, right: str) -> dict[str, int]:
    """Rows of each table of `view` found on one side only (as jsonb, duplicates counted)."""
    found = {}
    with container.pool.connection() as conn:
        for table in view.tables:
            a, b = f"{table}{left}", f"{table}{right}"
            row = conn.execute(
                f"""SELECT (SELECT count(*) FROM (SELECT to_jsonb(x) FROM {a} x EXCEPT ALL
                                                  SELECT to_jsonb(y) FROM {b} y) d1)
                         + (SELECT count(*) FROM (SELECT to_jsonb(y) FROM {b} y EXCEPT ALL
                                                  SELECT to_jsonb(x) FROM {a} x) d2)""",
            ).fetchone()
            assert row is not None
            if row[0]:
                found[table] = row[0]
    return found


def test_the_fast_decoder_gives_the_events_the_library_gives(container: Container) -> None:
    _history(container)
    app = container.app
    reader = EventReader(app)
    assert reader.fast  # JSON state, neither ciphered nor compressed: the orjson path
    with container.pool.connection() as conn:
        rows = reader.read(conn, 1, 1_000_000)
    assert len(rows) == len({r.id for r in rows}) and rows[-1].id == head(app)
    for row in rows:
        ours = reader.decode(row)
        theirs = app.mapper.to_domain_event(Notification(
            id=row.id, originator_id=row.originator_id,
            originator_version=row.originator_version, topic=row.topic, state=bytes(row.state)))
        assert type(ours) is type(theirs), row.topic
        assert ours.__dict__ == theirs.__dict__, row.topic


@pytest.mark.parametrize("name", ["work_orders", "stock", "finance", "workshop", "customers"])
def test_a_view_that_names_what_it_handles_ends_as_if_it_had_read_everything(
        container: Container, name: str) -> None:
    _history(container)
    view = next(v for v in container.views if v.name == name)
    assert view.handles is not None
    for suffix in ("_h1", "_h2"):
        _fresh(container, view, suffix)
    ProjectionRunner(container.app, container.pool, view, batch_size=53, suffix="_h1").catch_up()
    everything = ProjectionRunner(container.app, container.pool, view, batch_size=53,
                                  suffix="_h2")
    view.handles = None  # this instance only: every event decoded and passed to apply
    try:
        everything.catch_up()
    finally:
        del view.handles
    assert view.handles is not None
    assert _differences(container, view, "_h1", "_h2") == {}
    with container.pool.connection() as conn:
        counts = [conn.execute(f"SELECT count(*) FROM {t}_h1").fetchone() for t in view.tables]
    assert any(c and c[0] for c in counts)


def test_rebuilding_every_projection_at_once_ends_equal_to_a_catch_up(
        container: Container, served: ServedScratch, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    _history(container)
    monkeypatch.setenv("DATABASE_URL", served.app_url)
    monkeypatch.setenv("SERVICECORE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SERVICECORE_JWT_SECRET", JWT_SECRET)
    monkeypatch.setenv("SERVICECORE_PROJECTION_REBUILD_PARALLELISM", "2")
    monkeypatch.setenv("SERVICECORE_PROJECTION_REBUILD_BATCH_SIZE", "97")
    capsys.readouterr()

    assert cli.main(["projections", "rebuild"]) == 0
    out, _ = capsys.readouterr()
    results = [json.loads(line) for line in out.splitlines()]
    names = [v.name for v in container.views]
    assert sorted(r["projection"] for r in results) == sorted(names)
    assert all(r["events"] > 0 for r in results)

    reached = head(container.app)
    for view in container.views:
        _fresh(container, view, "_cu")
        ProjectionRunner(container.app, container.pool, view, suffix="_cu").catch_up()
        with container.pool.connection() as conn:
            row = conn.execute("SELECT position FROM projection_positions WHERE name = %s",
                               (view.name,)).fetchone()
        assert row is not None and row[0] >= reached  # the swap moved the live position on
        assert _differences(container, view, "", "_cu") == {}, view.name


@pytest.mark.parametrize("name", ["audit_index", "stock"])
def test_a_view_applied_in_small_batches_ends_equal_to_one_applied_in_large_ones(
        container: Container, name: str) -> None:
    """Small batches insert their few new rows with one INSERT, large ones through COPY
    (projections/batch_rows.py, FEW_ROWS): the same rows land either way."""
    _history(container)
    view = next(v for v in container.views if v.name == name)
    for suffix in ("_few", "_many"):
        _fresh(container, view, suffix)
    ProjectionRunner(container.app, container.pool, view, batch_size=3, suffix="_few").catch_up()
    ProjectionRunner(container.app, container.pool, view, batch_size=5000,
                     suffix="_many").catch_up()
    assert _differences(container, view, "_few", "_many") == {}
    table = "audit_index" if name == "audit_index" else "stock_movements"
    with container.pool.connection() as conn:
        row = conn.execute(f"SELECT count(*) FROM {table}_few").fetchone()
    assert row is not None and row[0] > FEW_ROWS  # the large batches did go through COPY
