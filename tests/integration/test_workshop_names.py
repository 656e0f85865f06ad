"""The workshop view keeps each technician's name (from their profile), and a database whose
workshop tables an older version made gets the name column and its values on the next start,
without a step by hand: the view is rebuilt from event 0 before the process serves."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

import psycopg
import pytest
from psycopg.rows import dict_row

from domain.application import Request
from domain.common import Caller
from projections.part_serials import PartSerialsView
from projections.workshop import WorkshopView
from servicecore.container import Container, build
from tests.conftest import settings_for
from tests.databases import scratch_database
from workers.projection_runner import ProjectionRunner


def manager(store_id: str) -> Request:
    return Request(Caller(f"mgr-{store_id}", "manager", (store_id,), datetime.now(UTC),
                          str(uuid4())))


def caught_up(system: Container) -> None:
    view = next(v for v in system.views if v.name == "workshop")
    ProjectionRunner(system.app, system.pool, view).catch_up()


def query(url: str, sql: str) -> list[dict[str, Any]]:
    with psycopg.connect(url, autocommit=True) as conn, conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(sql).fetchall()  # type: ignore[arg-type]


def test_older_workshop_tables_get_the_name_column_and_its_values_on_start(
        server_url: str, tmp_path: Path) -> None:
    with scratch_database(server_url, "sc_reshape") as url:
        system = build(settings_for(url, tmp_path))
        try:
            # Zhao is named, renamed, and Li has no name; the view follows.
            people = system.technicians
            people.set_profile(manager("S01"), "tech-zhao", store_id="S01",
                               skills={"chassis": 3}, hourly_cost="85.00", name="赵师傅")
            people.set_profile(manager("S01"), "tech-li", store_id="S01",
                               skills={"engine": 2}, hourly_cost="80.00")
            people.set_profile(manager("S01"), "tech-zhao", store_id="S01",
                               skills={"chassis": 3}, hourly_cost="85.00", name="赵工")
            caught_up(system)
            named = "SELECT user_id, name FROM technicians ORDER BY user_id"
            assert query(url, named) == [{"user_id": "tech-li", "name": None},
                                         {"user_id": "tech-zhao", "name": "赵工"}]
            # A row the events do not make: only a rebuild takes it away.
            query(url, "INSERT INTO tech_days (user_id, day, store_id) "
                       "VALUES ('marker', '2020-01-01', 'S01') RETURNING user_id")
        finally:
            system.close()

        # A start that finds no record of the tables (as on a database from before it) compares
        # them: of this version's shape, nothing is rebuilt but the views past revision 1 (no
        # record stands for revision 1: tests/integration/test_view_revisions.py), and the
        # shapes are recorded. A marker in a view still at revision 1 stays.
        query(url, "INSERT INTO part_serial_visits (work_order_id, store_id, number, vin) VALUES "
                   "(gen_random_uuid(), 'S01', 'marker', 'LSVAU2180N2183294') RETURNING number")
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("DROP TABLE read_model_shapes")
        build(settings_for(url, tmp_path)).close()
        assert PartSerialsView.revision == 1
        assert query(url, "SELECT number FROM part_serial_visits WHERE number = 'marker'") == [
            {"number": "marker"}]
        kept = query(url, "SELECT user_id FROM tech_days") == [{"user_id": "marker"}]
        assert kept == (WorkshopView.revision == 1)
        assert {r["name"] for r in query(url, "SELECT name FROM read_model_shapes")} == {
            view.name for view in system.views}

        # The technicians table as the version before the name made it (its recorded shape
        # forgotten, its revision kept): the comparison alone finds it.
        query(url, "INSERT INTO tech_days (user_id, day, store_id) VALUES "
                   "('marker', '2020-01-01', 'S01') ON CONFLICT DO NOTHING RETURNING user_id")
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("ALTER TABLE technicians DROP COLUMN name")
            conn.execute("UPDATE read_model_shapes SET definition = '' WHERE name = 'workshop'")
        before = query(url, "SELECT position FROM projection_positions "
                            "WHERE name = 'workshop'")[0]["position"]

        # The next start finds the difference, rebuilds the view and swaps it in.
        system = build(settings_for(url, tmp_path))
        try:
            assert query(url, named) == [{"user_id": "tech-li", "name": None},
                                         {"user_id": "tech-zhao", "name": "赵工"}]
            assert query(url, "SELECT user_id FROM tech_days") == []
            after = query(url, "SELECT position FROM projection_positions "
                               "WHERE name = 'workshop'")[0]["position"]
            assert after == before == system.app.recorder.max_notification_id()
            # Nothing of the rebuild is left behind.
            assert query(url, "SELECT relname FROM pg_class WHERE relname LIKE '%%\\_shape' "
                              "OR relname LIKE '%%\\_rebuild'") == []
        finally:
            system.close()


def test_a_table_added_to_a_view_is_filled_on_start(server_url: str, tmp_path: Path) -> None:
    """A view's table missing beside the others (as when a version adds one) is not made
    empty beside them: the whole view is rebuilt."""
    with scratch_database(server_url, "sc_reshape") as url:
        system = build(settings_for(url, tmp_path))
        try:
            system.technicians.set_profile(manager("S02"), "tech-wu", store_id="S02",
                                           skills={}, hourly_cost="85.00", name="吴师傅")
            caught_up(system)
        finally:
            system.close()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("DROP TABLE technicians")
            conn.execute("UPDATE read_model_shapes SET definition = 'older' "
                         "WHERE name = 'workshop'")
        build(settings_for(url, tmp_path)).close()
        assert query(url, "SELECT user_id, name, on_roster FROM technicians") == [
            {"user_id": "tech-wu", "name": "吴师傅", "on_roster": True}]


def test_a_view_that_adds_its_new_columns_itself_is_not_rebuilt(
        server_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """FinanceView adds the columns it gained to an older table in `create` (their defaults
    are right for the rows before them): the tables are compared after that, found right,
    and the view is not rebuilt (a view whose `revision` went up is, on a database from before
    the record: tests/integration/test_view_revisions.py)."""
    with scratch_database(server_url, "sc_reshape") as url:
        build(settings_for(url, tmp_path)).close()
        with psycopg.connect(url, autocommit=True) as conn:
            # the table as made before the allowances, and so before the columns after them
            for column in ("allowances", "written_off", "due_on"):
                conn.execute(f"ALTER TABLE settlement_bills DROP COLUMN {column}")
            # the recorded definition forgotten, its revision kept (no record at all would
            # stand for revision 1, and rebuild the view for its later revision)
            conn.execute("UPDATE read_model_shapes SET definition = '' WHERE name = 'finance'")
        with caplog.at_level(logging.WARNING, logger="servicecore.container"):
            build(settings_for(url, tmp_path)).close()
        assert not [r for r in caplog.records if "rebuilding" in r.getMessage()
                    and "projection finance" in r.getMessage()]
        assert query(url, "SELECT column_name FROM information_schema.columns WHERE "
                          "table_name = 'settlement_bills' AND column_name = 'allowances'")
        assert "finance" in {r["name"] for r in query(url, "SELECT name FROM read_model_shapes")}
