"""The rebuild commands report progress (stderr) up to the head of the log; stdout keeps the
one JSON result line per rebuild."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from analytics.rebuild import rebuild as rebuild_analytics
from servicecore import cli
from servicecore.container import Container
from tests.conftest import JWT_SECRET
from tests.integration.support import head, open_order
from tests.scratch_systems import module_container
from workers.projection_rebuild import rebuild

# A log of this module's own: each test rebuilds from event 0 up to the head, which on the
# session's log (every earlier test's events) takes the longer the more tests ran before.
container = module_container("sc_progress")


def _seed(container: Container, store_id: str, orders: int = 6) -> None:
    for _ in range(orders):
        open_order(container.work_orders, store_id)


def _check(calls: list[tuple[int, int]], last: int) -> None:
    """Several reports, never going back, never past the total; the last one complete."""
    assert len(calls) >= 2, calls
    done = [d for d, _ in calls]
    assert done == sorted(done)
    assert all(0 < d <= t for d, t in calls), calls
    assert calls[-1] == (last, last)


def test_a_projection_rebuild_reports_each_batch(container: Container, store_id: str) -> None:
    _seed(container, store_id)
    calls: list[tuple[int, int]] = []
    view = next(v for v in container.views if v.name == "work_orders")
    figures = rebuild(container.app, container.pool, view, batch_size=25,
                      progress=lambda done, total: calls.append((done, total)))
    _check(calls, head(container.app))
    assert figures["events"] > 0


def test_an_analytics_rebuild_reports_each_batch(container: Container, store_id: str,
                                                 tmp_path: Path) -> None:
    _seed(container, store_id)
    calls: list[tuple[int, int]] = []
    figures = rebuild_analytics(container.app, tmp_path / "a.duckdb", batch_size=40,
                                progress=lambda done, total: calls.append((done, total)))
    _check(calls, head(container.app))
    assert figures["events"] > 0


def test_the_commands_draw_progress_on_stderr_and_print_json_on_stdout(
        container: Container, store_id: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    _seed(container, store_id)
    url = container.settings.database_url
    assert url is not None
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("SERVICECORE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SERVICECORE_JWT_SECRET", JWT_SECRET)
    capsys.readouterr()

    assert cli.main(["projections", "rebuild", "--name", "finance"]) == 0
    out, err = capsys.readouterr()
    (line,) = out.splitlines()
    assert json.loads(line)["projection"] == "finance"
    reached = head(container.app)
    assert "projection finance [" in err and "events/s" in err
    bar = [line for line in err.splitlines() if "projection finance [" in line]
    assert f"{reached:,}/{reached:,} events" in bar[-1]

    assert cli.main(["analytics", "rebuild"]) == 0
    out, err = capsys.readouterr()
    (line,) = out.splitlines()
    assert json.loads(line)["events"] > 0
    bar = [line for line in err.splitlines() if line.startswith("analytics [")]
    assert bar[-1].startswith("analytics [##############################] ")
    assert (tmp_path / "analytics" / "servicecore-snapshot.duckdb").exists()
