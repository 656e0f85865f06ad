"""A view whose handlers now write otherwise (its `revision` went up) is rebuilt from event 0
on the first start of that version, before the process serves; a view at the revision that
wrote its rows is left as it is. The customers view's revision 2 lists the complaints taken
after opening (JobAdded): revision 1 wrote only those taken at opening."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
import pytest
from psycopg.rows import dict_row

from projections.customers import CustomersView
from projections.part_serials import PartSerialsView
from servicecore.container import Container, build
from tests.conftest import settings_for
from tests.databases import scratch_database
from tests.integration.support import VIN, request
from workers.projection_runner import ProjectionRunner

LOCK = "SELECT pg_advisory_lock(hashtext('servicecore-read-model-shapes'))"
UNLOCK = "SELECT pg_advisory_unlock(hashtext('servicecore-read-model-shapes'))"
EVERY_COMPLAINT = ["brake noise", "wipers smear"]


def query(url: str, sql: str, params: Any = None) -> list[dict[str, Any]]:
    with psycopg.connect(url, autocommit=True) as conn, conn.cursor(row_factory=dict_row) as cur:
        cur.execute(sql, params)  # type: ignore[arg-type]
        return cur.fetchall() if cur.description else []


def complaints(url: str, wo_id: UUID) -> list[str]:
    return query(url, "SELECT complaints FROM visits WHERE work_order_id = %s",
                 (wo_id,))[0]["complaints"]  # type: ignore[no-any-return]


def as_revision_1_wrote_it(url: str, wo_id: UUID) -> None:
    """The visit as revision 1 of the customers view left it: the opening complaint only."""
    query(url, "UPDATE visits SET complaints = ARRAY['brake noise'] WHERE work_order_id = %s",
          (wo_id,))


def rebuilds(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "rebuilding it" in r.getMessage()]


MARKER = "SELECT number FROM part_serial_visits WHERE number = 'marker'"


@contextmanager
def visit_with_a_job_added(server_url: str, tmp_path: Path) -> Iterator[tuple[str, UUID]]:
    """A database whose customers view holds a visit with a complaint taken at opening and one
    taken at check-in; a marker row in the part-serials view (still at revision 1), which only
    its rebuild takes away."""
    with scratch_database(server_url, "sc_revision") as url:
        system = build(settings_for(url, tmp_path))
        try:
            opened = system.work_orders.open(
                request("S01"), store_id="S01", customer={"name": "孙丽", "phone": "13500000000"},
                vehicle={"vin": VIN, "plate": "沪A12345"}, mileage=48_000,
                complaints=["brake noise"])
            wo_id = UUID(opened.body["id"])
            system.work_orders.check_in(request("S01"), wo_id, mileage_in=48_010, fuel_level=30)
            system.work_orders.add_job(request("S01"), wo_id, complaint="wipers smear")
            caught_up(system)
        finally:
            system.close()
        query(url, "INSERT INTO part_serial_visits (work_order_id, store_id, number, vin) "
                   "VALUES (gen_random_uuid(), 'S01', 'marker', 'LSVAU2180N2183294')")
        assert complaints(url, wo_id) == EVERY_COMPLAINT
        yield url, wo_id


def caught_up(system: Container) -> None:
    view = next(v for v in system.views if isinstance(v, CustomersView))
    ProjectionRunner(system.app, system.pool, view).catch_up()


def recorded(url: str) -> dict[str, int | None]:
    return {r["name"]: r["revision"]
            for r in query(url, "SELECT name, revision FROM read_model_shapes")}


def test_a_view_built_at_an_earlier_revision_is_rebuilt_on_start(
        server_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with visit_with_a_job_added(server_url, tmp_path) as (url, wo_id):
        assert recorded(url)["customers"] == CustomersView.revision > 1
        # The database as revision 1 of the customers view built it.
        as_revision_1_wrote_it(url, wo_id)
        query(url, "UPDATE read_model_shapes SET revision = 1 WHERE name = 'customers'")

        # The next start rebuilds the customers view, says why, and records its revision.
        with caplog.at_level(logging.WARNING, logger="servicecore.container"):
            system = build(settings_for(url, tmp_path))
        try:
            assert complaints(url, wo_id) == EVERY_COMPLAINT
            said = rebuilds(caplog)
            assert len(said) == 1 and "projection customers" in said[0], said
            assert "revision 1" in said[0] and f"is {CustomersView.revision}" in said[0], said
            assert recorded(url)["customers"] == CustomersView.revision
            position = query(url, "SELECT position FROM projection_positions "
                                  "WHERE name = 'customers'")[0]["position"]
            assert position == system.app.recorder.max_notification_id()
        finally:
            system.close()
        # The other views, at the revision that wrote them, were left as they were.
        assert query(url, MARKER) == [{"number": "marker"}]

        # A start that finds every view at its revision rebuilds nothing: rows the handlers
        # did not write stay (only a rebuild would take them away).
        as_revision_1_wrote_it(url, wo_id)
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="servicecore.container"):
            build(settings_for(url, tmp_path)).close()
        assert rebuilds(caplog) == []
        assert complaints(url, wo_id) == ["brake noise"]


def test_a_record_from_before_revisions_stands_for_revision_1(
        server_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """An older database's record has no revision column: it is added, and every view is
    taken as written by revision 1 (the only one there was): the customers view, now at 2, is
    rebuilt, as is any other view past 1; the views still at 1 are not."""
    with visit_with_a_job_added(server_url, tmp_path) as (url, wo_id):
        as_revision_1_wrote_it(url, wo_id)
        query(url, "ALTER TABLE read_model_shapes DROP COLUMN revision")
        with caplog.at_level(logging.WARNING, logger="servicecore.container"):
            system = build(settings_for(url, tmp_path))
        system.close()
        assert complaints(url, wo_id) == EVERY_COMPLAINT
        rebuilt = {m.split(":")[0] for m in rebuilds(caplog)}
        assert rebuilt == {f"projection {view.name}" for view in system.views
                           if view.revision > 1} >= {"projection customers"}
        assert recorded(url) == {view.name: view.revision for view in system.views}
        assert PartSerialsView.revision == 1  # still at 1: not rebuilt, its marker stays
        assert query(url, MARKER) == [{"number": "marker"}]


def test_concurrent_starts_rebuild_once_under_the_advisory_lock(
        server_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with visit_with_a_job_added(server_url, tmp_path) as (url, wo_id):
        as_revision_1_wrote_it(url, wo_id)
        query(url, "UPDATE read_model_shapes SET revision = 1 WHERE name = 'customers'")
        # The lock is held elsewhere: both starts wait for it before looking at any view.
        with psycopg.connect(url, autocommit=True) as holder, ThreadPoolExecutor(2) as pool, \
                caplog.at_level(logging.WARNING, logger="servicecore.container"):
            holder.execute(LOCK)
            starts = [pool.submit(lambda: build(settings_for(url, tmp_path)).close())
                      for _ in range(2)]
            deadline = time.monotonic() + 60
            while waiting(url) < 2:
                assert time.monotonic() < deadline, "the starts did not wait for the lock"
                assert not any(s.done() for s in starts), [s.result() for s in starts]
                time.sleep(0.05)
            assert complaints(url, wo_id) == ["brake noise"]  # nothing rebuilt meanwhile
            holder.execute(UNLOCK)
            for started in starts:
                started.result(timeout=120)
        # One of them rebuilt the view; the other found it done.
        assert [m.split(":")[0] for m in rebuilds(caplog)] == ["projection customers"]
        assert complaints(url, wo_id) == EVERY_COMPLAINT
        assert recorded(url)["customers"] == CustomersView.revision


def waiting(url: str) -> int:
    """How many sessions of the database wait for an advisory lock."""
    return int(query(url, "SELECT count(*) AS n FROM pg_locks l JOIN pg_database d "
                          "ON d.oid = l.database WHERE l.locktype = 'advisory' "
                          "AND NOT l.granted AND d.datname = current_database()")[0]["n"])
