"""The DuckDB tables carry the revision of the fold that wrote them: a loader of another
revision loads them again from event 0 when it starts following the log, swaps the fresh file
in and publishes it; a loader of the same revision keeps them; a file from before revisions
counts as revision 1."""

from __future__ import annotations

import logging
from pathlib import Path
from uuid import UUID

import duckdb
import pytest

from analytics.loader import REVISION, AnalyticsLoader
from analytics.publish import snapshot_path
from servicecore.container import Container
from tests.integration.support import VIN, request


def store_of(conn: duckdb.DuckDBPyConnection, wo_id: UUID) -> str:
    found = conn.execute("SELECT store_id FROM fact_work_orders WHERE work_order_id = ?",
                         [str(wo_id)]).fetchone()
    assert found is not None
    return str(found[0])


def as_an_older_fold_wrote_it(path: Path, wo_id: UUID, revision: int | None) -> None:
    """A row no event makes, and the revision that is said to have written the tables."""
    with duckdb.connect(str(path)) as conn:
        conn.execute("UPDATE fact_work_orders SET store_id = 'STALE' WHERE work_order_id = ?",
                     [str(wo_id)])
        conn.execute("UPDATE analytics_position SET revision = ?", [revision])


def test_tables_of_another_revision_are_loaded_again_on_start(
        container: Container, store_id: str, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    opened = container.work_orders.open(
        request(store_id), store_id=store_id, customer={"name": "孙丽", "phone": "13500000000"},
        vehicle={"vin": VIN, "plate": "沪A12345"}, mileage=48_000, complaints=["brake noise"])
    wo_id = UUID(opened.body["id"])
    path = tmp_path / "analytics.duckdb"
    loader = AnalyticsLoader(container.app, path)
    loader.catch_up()
    assert loader.written_by() == REVISION
    loader.close()

    # The file as revision 1 of the fold left it; this version's fold is revision 2.
    as_an_older_fold_wrote_it(path, wo_id, 1)
    loader = AnalyticsLoader(container.app, path, revision=2)
    try:
        with caplog.at_level(logging.WARNING, logger="analytics.loader"):
            assert loader.reload_if_revised()
        assert [r.getMessage() for r in caplog.records if "again from event 0" in r.getMessage()]
        assert store_of(loader.conn, wo_id) == store_id and loader.written_by() == 2
        assert loader.position() >= (opened.notification_id or 0) > 0
        # Readers elsewhere get the reloaded tables in the snapshot published at once.
        with duckdb.connect(str(snapshot_path(path)), read_only=True) as snap:
            assert store_of(snap, wo_id) == store_id
    finally:
        loader.close()

    # The same revision keeps the tables as they are (only a reload would change the row).
    as_an_older_fold_wrote_it(path, wo_id, 2)
    loader = AnalyticsLoader(container.app, path, revision=2)
    try:
        assert not loader.reload_if_revised()
        assert store_of(loader.conn, wo_id) == "STALE"
    finally:
        loader.close()


def test_a_file_from_before_revisions_counts_as_revision_1(
        container: Container, store_id: str, tmp_path: Path) -> None:
    opened = container.work_orders.open(
        request(store_id), store_id=store_id, customer={"name": "孙丽", "phone": "13500000000"},
        vehicle={"vin": VIN, "plate": "沪A12345"}, mileage=48_000, complaints=["brake noise"])
    wo_id = UUID(opened.body["id"])
    path = tmp_path / "analytics.duckdb"
    loader = AnalyticsLoader(container.app, path)
    loader.catch_up()
    loader.close()
    with duckdb.connect(str(path)) as conn:
        conn.execute("UPDATE fact_work_orders SET store_id = 'STALE' WHERE work_order_id = ?",
                     [str(wo_id)])
        conn.execute("ALTER TABLE analytics_position DROP COLUMN revision")

    # The column comes back; revision 1 keeps the tables, revision 2 loads them again.
    loader = AnalyticsLoader(container.app, path, revision=1)
    try:
        assert loader.written_by() == 1 and not loader.reload_if_revised()
        assert store_of(loader.conn, wo_id) == "STALE"
    finally:
        loader.close()
    with duckdb.connect(str(path)) as conn:
        conn.execute("UPDATE analytics_position SET revision = NULL")
    loader = AnalyticsLoader(container.app, path, revision=2)
    try:
        assert loader.reload_if_revised() and store_of(loader.conn, wo_id) == store_id
    finally:
        loader.close()
