"""The published analytics snapshot as its readers see it: the KPI endpoint (JSON and CSV), the
dashboard page, and the CLI's read-only query and Parquet export."""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import duckdb
import pytest
from fastapi.testclient import TestClient

from analytics.loader import AnalyticsLoader
from analytics.schema import TABLES
from servicecore import cli
from servicecore.container import Container
from tests.integration.analytics_support import visit
from tests.scratch_systems import served_module

# Both loaders read the log from event 0: a served system of the module's own, whose API and
# command line read the snapshot it publishes.
served, container, client = served_module("sc_readers")


def test_snapshot_through_api_dashboard_and_cli(
        container: Container, client: TestClient, auth: Callable[..., dict[str, str]],
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    store = "SN" + uuid.uuid4().hex[:6].upper()
    visit(container, store, "2025-05-06", 0)
    loader = AnalyticsLoader(container.app, container.settings.analytics_path)
    try:
        loader.catch_up()
        assert loader.publish(force=True)
        position = loader.position()
    finally:
        loader.close()
    analyst = auth("analyst", "ana-1", [store])

    got = client.get(f"/analytics/kpis/csi?store_id={store}", headers=analyst)
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["snapshot"]["position"] == position
    assert body["rows"] == [{"surveys": 1, "satisfied": 1, "csi": "1.0000", "average_score": "4.00",
                             "complaints": 0}]
    as_csv = client.get(f"/analytics/kpis/csi?store_id={store}&format=csv", headers=analyst)
    assert as_csv.status_code == 200 and as_csv.headers["content-type"].startswith("text/csv")
    assert as_csv.headers["x-snapshot-position"] == str(position)
    (row,) = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert (row["surveys"], row["satisfied"], row["complaints"]) == ("1", "1", "0")

    page = client.get("/analytics/dashboard?date_from=2025-05-01&date_to=2025-05-31",
                      headers=analyst)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "<svg" in page.text and store in page.text
    assert "<td>2025-05-06</td><td>1.00</td>" in page.text  # the visit, in its day's bucket
    # money cards say they are without VAT, as the catalogue's amounts are
    assert "有效工时单价（不含税，元/小时）" in page.text and "毛利（不含税，元）" in page.text
    token = analyst["Authorization"].removeprefix("Bearer ")
    assert client.get(f"/analytics/dashboard?token={token}").status_code == 422  # see
    # tests/integration/test_dashboard.py: the browser signs in for a cookie instead
    assert client.get("/analytics/dashboard",
                      headers=auth("advisor", "adv-1", [store])).status_code == 403
    assert client.get(f"/analytics/kpis/csi?store_id={store}",
                      headers=auth("advisor", "adv-1", [store])).status_code == 403

    # The CLI reads a snapshot under SERVICECORE_DATA_DIR, read-only.
    own = AnalyticsLoader(container.app, tmp_path / "analytics" / "servicecore.duckdb")
    try:
        own.catch_up()
        own.publish(force=True)
        count = own.conn.execute("SELECT count(*) FROM fact_work_orders").fetchone()
    finally:
        own.close()
    assert count is not None
    monkeypatch.setenv("SERVICECORE_DATA_DIR", str(tmp_path))
    capsys.readouterr()
    assert cli.main(["analytics", "query", "SELECT count(*) FROM fact_work_orders"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == ["count_star()", str(count[0])]
    # A write is refused by the read-only snapshot: exit 1, DuckDB's reason logged.
    assert cli.main(["analytics", "query", "DELETE FROM fact_work_orders"]) == 1
    assert "read-only mode" in capsys.readouterr().err
    export = tmp_path / "export"
    assert cli.main(["analytics", "export", "--dir", str(export)]) == 0
    files = sorted(p.name for p in export.glob("*.parquet"))
    assert files == sorted(f"{t.name}.parquet" for t in TABLES)
    with duckdb.connect() as check:
        found = check.execute(f"SELECT count(*) FROM read_parquet('{export}/fact_work_orders"
                              ".parquet')").fetchone()
    assert found == count


def test_an_export_that_fails_midway_leaves_the_previous_export_whole(
        container: Container, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    store = "EX" + uuid.uuid4().hex[:6].upper()
    own = AnalyticsLoader(container.app, tmp_path / "analytics" / "servicecore.duckdb")
    monkeypatch.setenv("SERVICECORE_DATA_DIR", str(tmp_path))
    export = tmp_path / "export"
    try:
        visit(container, store, "2025-05-06", 0)
        own.catch_up()
        own.publish(force=True)
        first = own.position()
        assert cli.main(["analytics", "export", "--dir", str(export)]) == 0
        kept = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in export.iterdir()}

        visit(container, store, "2025-05-07", 1)
        own.catch_up()
        own.publish(force=True)
        # the third table cannot be written (here: it is not in the snapshot; a full disk alike)
        gone = SimpleNamespace(name="fact_not_there")
        monkeypatch.setattr("analytics.schema.TABLES", [*TABLES[:2], gone, *TABLES[2:]])
        capsys.readouterr()
        assert cli.main(["analytics", "export", "--dir", str(export)]) == 1
    finally:
        own.close()
    # every file as the first export wrote it, nothing of the failed one
    assert {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in export.iterdir()} == kept
    # which snapshot they are of, and which tables
    manifest = json.loads((export / "export.json").read_text())
    assert manifest["position"] == first
    assert manifest["tables"] == [f"{t.name}.parquet" for t in TABLES]
