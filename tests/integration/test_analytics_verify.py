"""`audit views` for the analytic DuckDB files: the published snapshot and the loader's own
file (while no process holds it) compared with the tables loaded again up to their position.
A row changed, deleted or added in a file is reported by its key; untouched files are ok,
also when the file stands further on than the position first read."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from analytics import verify
from analytics.verify import files_to_verify, verify_files
from servicecore.container import Container
from tests.integration.analytics_support import load_and_publish
from tests.integration.support import head, open_order
from tests.scratch_systems import module_container

# A log of this module's own: each test loads the whole log in small batches and loads it again
# to compare, which on the session's log (every earlier test's events) takes minutes.
container = module_container("sc_views")


def _loaded(container: Container, path: Path, store_id: str) -> list[str]:
    """Three work orders, loaded in small batches (as a loader following the log) and
    published; their ids."""
    ids = sorted(open_order(container.work_orders, store_id)["id"] for _ in range(3))
    load_and_publish(container, path)
    return ids


def test_untouched_files_are_ok(container: Container, store_id: str, tmp_path: Path,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "analytics.duckdb"
    _loaded(container, path, store_id)
    files = files_to_verify(path)
    assert [f.name for f in files] == ["analytics-snapshot-a.duckdb", "analytics.duckdb"]
    # The position first read is behind the file (it moved on): the rebuild catches up first.
    position_of = verify._position_of
    monkeypatch.setattr(verify, "_position_of", lambda target: position_of(target) - 3)

    check = verify_files(container.app, files, zone="Asia/Shanghai", batch_size=5000)

    assert check.ok, check.as_dict()
    assert [c.position for c in check.files] == [head(container.app)] * 2
    assert all(c.rows > 0 for c in check.files)


def test_rows_changed_deleted_or_added_in_a_file_are_reported_by_their_keys(
        container: Container, store_id: str, tmp_path: Path) -> None:
    path = tmp_path / "analytics.duckdb"
    edited, deleted, _ = _loaded(container, path, store_id)
    with duckdb.connect(str(files_to_verify(path)[0])) as conn:
        conn.execute("UPDATE fact_work_orders SET mileage_in = mileage_in + 1 WHERE work_order_id = ?",
                     [edited])
        conn.execute("DELETE FROM fact_work_orders WHERE work_order_id = ?", [deleted])
        conn.execute("INSERT INTO dim_store SELECT 'ZZ' || store_id, * EXCLUDE (store_id) "
                     "FROM dim_store WHERE store_id = ?", [store_id])

    check = verify_files(container.app, files_to_verify(path), zone="Asia/Shanghai")

    snapshot, own = check.files
    assert own.ok and not check.ok
    assert snapshot.tables == {
        "fact_work_orders": {"missing": 2, "extra": 1,
                             "keys": {"missing": sorted([edited, deleted]), "extra": [edited]}},
        "dim_store": {"missing": 0, "extra": 1, "keys": {"extra": ["ZZ" + store_id]}}}
    assert check.as_dict()["ok"] is False


def test_a_file_whose_position_stands_past_the_log_is_named_not_waited_for(
        container: Container, store_id: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A file's position moved past the head of the log (its loader would then pass over the
    events stored up to it): its tables still match, and no load reaches that position. It is
    not ok, with the log's head named; before, the comparison loaded again and again, for ever."""
    path = tmp_path / "analytics.duckdb"
    _loaded(container, path, store_id)
    snapshot = files_to_verify(path)[0]
    with duckdb.connect(str(snapshot)) as conn:
        conn.execute("UPDATE analytics_position SET position = position + 1000")
    loads: list[int] = []
    catch_up = verify.AnalyticsLoader.catch_up

    def counted(loader: verify.AnalyticsLoader) -> int:
        loads.append(loader.position())
        if len(loads) > 20:
            raise RuntimeError("loading the log again and again for a position it never reaches")
        return catch_up(loader)

    monkeypatch.setattr(verify.AnalyticsLoader, "catch_up", counted)
    check = verify_files(container.app, files_to_verify(path), zone="Asia/Shanghai")

    past, own = sorted(check.files, key=lambda c: c.file != str(snapshot))
    assert (past.ok, past.position, past.past_the_log) == (
        False, head(container.app) + 1000, head(container.app))
    assert own.ok and own.past_the_log is None
    assert check.as_dict()["ok"] is False
    assert check.as_dict()["files"][[c.file for c in check.files].index(str(snapshot))][
        "past_the_log"] == head(container.app)
