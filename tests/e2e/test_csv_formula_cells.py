"""CSV exports open safely in a spreadsheet: a stored complaint or part name that starts like a
formula (`=HYPERLINK(...)`, `+`, `-`, `@`) comes out of the repair
records' CSV (API and command line) with a leading `'`; the JSON keeps the text as stored."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from servicecore import cli
from servicecore.container import Container
from tests.integration.audit_support import Desk, at, new_vin
from tests.integration.test_money_support import wait_for_projection

Auth = Callable[..., dict[str, str]]
DAY = "2025-09-03"
# what each visit's complaint and part name start with, one visit for each (a leading tab or
# carriage return is trimmed from both as they are recorded; tests/unit/test_csv_cells.py)
STARTS = ["=", "+", "-", "@"]


def _text(start: str, what: str) -> str:
    return f'{start}HYPERLINK("http://x.example/{what}","click")'


@pytest.fixture(scope="module")
def formulas(container: Container) -> dict[str, Any]:
    """One settled visit per dangerous first character: its complaint and its part's name
    start with it."""
    desk = Desk(container)
    visits = {}
    for n, start in enumerate(STARTS):
        hour = f"{8 + n:02d}"
        part = desk.part(_text(start, "part"), "100.00", at("2025-09-01", "09:00"))
        desk.receive(part, 1, "40.00", at("2025-09-01", "09:10"), supplier="Bosch Shanghai",
                     doc=f"DN-{n}")
        wo = desk.open(new_vin(), [_text(start, "complaint")], at(DAY, f"{hour}:00"))
        desk.check_in(wo, 20_000 + n, at(DAY, f"{hour}:05"))
        desk.diagnose(wo, 1, "seal failed", "replace seal", [], at(DAY, f"{hour}:10"))
        lines = [desk.labor(wo, 1, f"OP-{n}", "1.0", at(DAY, f"{hour}:15"),
                            description="replace seal"),
                 desk.part_line(wo, 1, part, 1, at(DAY, f"{hour}:16"))]
        desk.approve(wo, lines, at(DAY, f"{hour}:20"))
        desk.repair(wo, 1, desk.t1, at(DAY, f"{hour}:25"), at(DAY, f"{hour}:40"),
                    issue=(lines[1],))
        desk.settle(wo, at(DAY, f"{hour}:50"))
        visits[start] = wo
    wait_for_projection(container, "finance")
    wait_for_projection(container, "work_orders")
    return {"desk": desk, "visits": visits}


def _check_rows(rows: list[dict[str, str]]) -> None:
    assert len(rows) == len(STARTS)
    by_complaint = {r["fault_description"]: r for r in rows}
    for start in STARTS:
        row = by_complaint["'" + _text(start, "complaint") + " — seal failed"]
        assert row["part_names"] == "'" + _text(start, "part")
        assert row["part_quantities"] == "1" and row["labor_hours"] in ("1.0", "1.00")


def test_the_repair_records_csv_prefixes_text_that_reads_as_a_formula(
        client: TestClient, auth: Auth, formulas: dict[str, Any]) -> None:
    store = formulas["desk"].store
    auditor = auth("auditor", stores=[store])
    params = {"date": DAY, "store_id": store}
    as_csv = client.get("/audit/repair-records", headers=auditor, params={**params,
                                                                          "format": "csv"})
    assert as_csv.status_code == 200, as_csv.text
    _check_rows(list(csv.DictReader(io.StringIO(as_csv.text, newline=""))))
    # The JSON keeps the text as stored.
    records = client.get("/audit/repair-records", headers=auditor, params=params).json()
    assert sorted(r["fault_description"] for r in records["records"]) == sorted(
        _text(s, "complaint") + " — seal failed" for s in STARTS)
    assert sorted(r["parts"][0]["part_name"] for r in records["records"]) == sorted(
        _text(s, "part") for s in STARTS)


def test_the_repair_records_csv_for_excel_starts_with_the_byte_order_mark_on_each_page(
        client: TestClient, auth: Auth, formulas: dict[str, Any]) -> None:
    """`bom=true`: the same file led by EF BB BF, and its next page asked with it too."""
    auditor = auth("auditor", stores=[formulas["desk"].store])
    params = {"date": DAY, "store_id": formulas["desk"].store, "format": "csv"}
    plain = client.get("/audit/repair-records", headers=auditor, params=params)
    marked = client.get("/audit/repair-records", headers=auditor, params={**params,
                                                                          "bom": "true"})
    assert marked.status_code == 200, marked.text
    assert not plain.content.startswith(b"\xef\xbb\xbf")
    assert marked.content == b"\xef\xbb\xbf" + plain.content
    _check_rows(list(csv.DictReader(io.StringIO(marked.content.decode("utf-8-sig"),
                                                newline=""))))
    first = client.get("/audit/repair-records", headers=auditor,
                       params={**params, "bom": "true", "visits_limit": 1})
    assert first.content.startswith(b"\xef\xbb\xbf")
    following = first.headers["link"].split(">")[0].lstrip("<")
    assert "bom=true" in following
    assert client.get(following, headers=auditor).content.startswith(b"\xef\xbb\xbf")


def test_the_command_lines_repair_records_csv_prefixes_them_too(
        formulas: dict[str, Any], database_url: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    store = formulas["desk"].store
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("SERVICECORE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SERVICECORE_POOL_SIZE", "2")
    monkeypatch.setenv("SERVICECORE_SHOP_NAMES", json.dumps({store: "=某某大众4S店"}))
    out = tmp_path / "records.csv"
    assert cli.main(["audit", "repair-records", "--date", DAY, "--store", store,
                     "--format", "csv", "--out", str(out)]) == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"), newline="")))
    _check_rows(rows)
    assert {r["shop_name"] for r in rows} == {"'=某某大众4S店"}
