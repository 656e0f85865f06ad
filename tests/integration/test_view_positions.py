"""A read model's position moved by hand (the application's role owns the read models and
their positions). Set back, the view holds rows of events after it: they differ from the
rebuild. Set past the head of the log, the rows match the rebuild until new events come, which
the view then passes over: `audit views` names such a position at once (`past_the_log`)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from projections.base import ReadModel
from servicecore import cli
from servicecore.container import Container
from tests.conftest import JWT_SECRET
from tests.integration.support import head, open_order
from tests.scratch_systems import scratch_system
from workers.projection_runner import ProjectionRunner
from workers.view_verify import verify_view


@pytest.fixture
def scratch(server_url: str, tmp_path: Path) -> Iterator[tuple[Container, str]]:
    with scratch_system(server_url, "sc_positions", tmp_path) as scratched:
        yield scratched


def _work_orders(system: Container) -> tuple[ReadModel, ProjectionRunner]:
    view = next(v for v in system.views if v.name == "work_orders")
    return view, ProjectionRunner(system.app, system.pool, view)


def _follow(runner: ProjectionRunner) -> None:
    while runner.run_batch():
        pass


def _set_position(url: str, position: int) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("UPDATE projection_positions SET position = %s WHERE name = 'work_orders'",
                     (position,))


def test_a_position_set_past_the_log_is_named_before_and_after_events_pass_it(
        scratch: tuple[Container, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    system, url = scratch
    view, runner = _work_orders(system)
    for _ in range(2):
        open_order(system.work_orders, "S01")
    _follow(runner)
    found = verify_view(system.app, system.pool, view)
    assert (found.ok, found.past_the_log, found.as_dict()["past_the_log"]) == (True, None, None)

    last = head(system.app)
    _set_position(url, last + 1000)
    found = verify_view(system.app, system.pool, view)
    # the rows are those of every event stored: only the position tells
    assert (found.ok, found.tables, found.position, found.past_the_log) == (
        False, {}, last + 1000, last)
    assert found.as_dict()["past_the_log"] == last
    # The command line says so.
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("SERVICECORE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SERVICECORE_JWT_SECRET", JWT_SECRET)
    capsys.readouterr()
    assert cli.main(["audit", "views", "--view", "work_orders"]) == 1
    out, err = capsys.readouterr()
    assert json.loads(out.strip().splitlines()[-1])["past_the_log"] == last
    assert (f"work_orders: its position {last + 1000} is past the head of the log ({last})"
            in err)

    # The next visit is passed over by the view; the rebuild has it.
    opened = open_order(system.work_orders, "S01")["id"]
    _follow(runner)
    found = verify_view(system.app, system.pool, view)
    assert found.past_the_log == head(system.app)
    assert found.tables["wo_view"].keys == {"missing": [opened]}


def test_a_position_set_back_differs_by_the_rows_after_it(
        scratch: tuple[Container, str]) -> None:
    system, url = scratch
    view, runner = _work_orders(system)
    first = open_order(system.work_orders, "S01")
    later = open_order(system.work_orders, "S01")["id"]
    _follow(runner)
    _set_position(url, first["notification_id"])
    found = verify_view(system.app, system.pool, view)
    assert (found.ok, found.past_the_log) == (False, None)
    assert found.tables["wo_view"].keys == {"extra": [later]}
