"""The audit exports whose length grows with the stores and the years are answered a page at a
time: the serial conflicts of a period (pairs of visits, which grow with the square of a
serial's visits) and the repair records of a day (each rebuilt from its visit's events), with
a `next` link (the `Link` header in CSV and JSON lines), and a page over the maximum is 422
naming the field; the command line writes the day's records whole, through a file renamed
when complete."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from servicecore import cli
from servicecore.container import Container
from tests.e2e.test_money_api import Auth
from tests.e2e.test_parts_api import get
from tests.e2e.test_serial_conflicts_api import three_visits
from tests.integration.audit_support import Desk, at, new_vin
from tests.integration.test_parts_support import wait_for_projection

DAY = "2025-09-02"


def test_serial_conflicts_come_a_page_at_a_time(client: TestClient, auth: Auth,
                                                 container: Container, store_id: str) -> None:
    three_visits(client, auth, store_id)  # two conflicts: a serial on two cars, one removed twice
    wait_for_projection(container, "part_serials")
    admin = auth("advisor", "adv-" + store_id, [store_id])
    today = date.today()
    period = {"from": (today - timedelta(days=1)).isoformat(),
              "to": (today + timedelta(days=1)).isoformat()}
    whole = get(client, "/audit/serial-conflicts", admin, store_id=store_id, **period)
    assert (whole["count"], whole["conflicts_offset"], whole["next"]) == (2, 0, None)
    first = get(client, "/audit/serial-conflicts", admin, store_id=store_id, conflicts_limit=1,
                **period)
    assert (first["count"], first["conflicts"]) == (1, whole["conflicts"][:1])
    assert first["next"] == (f"/audit/serial-conflicts?from={period['from']}&to={period['to']}"
                             f"&store_id={store_id}&conflicts_limit=1&conflicts_offset=1")
    last = client.get(first["next"], headers=admin).json()
    assert (last["count"], last["conflicts_offset"], last["next"]) == (1, 1, None)
    assert [*first["conflicts"], *last["conflicts"]] == whole["conflicts"]
    for field, value in (("conflicts_limit", 1001), ("conflicts_limit", 0),
                         ("conflicts_offset", 1_000_001)):
        refused = client.get("/audit/serial-conflicts", headers=admin,
                             params={**period, field: value})
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert [e["loc"] for e in refused.json()["errors"]] == [["query", field]]


@pytest.fixture(scope="module")
def settled_day(container: Container) -> dict[str, Any]:
    """Three warranty visits of one store settled on DAY, at 10:00, 11:00 and 12:00."""
    desk = Desk(container)
    visits = []
    for hour in ("10", "11", "12"):
        wo = desk.warranty_visit(new_vin(), "engine misfire", "ENG-COIL",
                                 at(DAY, "08:00"), at(DAY, "09:00"))
        desk.settle(wo, at(DAY, f"{hour}:00"))
        visits.append(str(wo))
    wait_for_projection(container, "finance")
    return {"store": desk.store, "visits": visits}


def test_a_days_repair_records_come_a_page_at_a_time(
        client: TestClient, auth: Auth, settled_day: dict[str, Any]) -> None:
    store = settled_day["store"]
    auditor = auth("auditor", stores=[store])
    whole = get(client, "/audit/repair-records", auditor, date=DAY)
    assert (whole["visits"], whole["visits_offset"], whole["count"], whole["next"]) == (
        3, 0, 3, None)
    assert [r["work_order_id"] for r in whole["records"]] == settled_day["visits"]
    first = get(client, "/audit/repair-records", auditor, date=DAY, visits_limit=2)
    assert (first["visits"], first["count"]) == (3, 2)
    assert first["next"] == (f"/audit/repair-records?date={DAY}&format=json&visits_limit=2"
                             "&visits_offset=2")
    last = client.get(first["next"], headers=auditor).json()
    assert (last["visits_offset"], last["count"], last["next"]) == (2, 1, None)
    assert [*first["records"], *last["records"]] == whole["records"]
    # CSV and JSON lines keep their body; the following page is in the Link header.
    for format in ("csv", "jsonl"):
        page = client.get("/audit/repair-records", headers=auditor, params={
            "date": DAY, "store_id": store, "format": format, "visits_limit": 1,
            "visits_offset": 1})
        assert page.status_code == 200, page.text
        assert page.headers["link"] == (
            f'</audit/repair-records?date={DAY}&store_id={store}&format={format}'
            '&visits_limit=1&visits_offset=2>; rel="next"')
        vins = ([row["vin"] for row in csv.DictReader(io.StringIO(page.text))]
                if format == "csv" else [json.loads(line)["vin"] for line in
                                         page.text.splitlines()])
        assert vins == [whole["records"][1]["vin"]]
        tail = client.get("/audit/repair-records", headers=auditor, params={
            "date": DAY, "format": format, "visits_limit": 1, "visits_offset": 2})
        assert "link" not in tail.headers
    refused = client.get("/audit/repair-records", headers=auditor,
                         params={"date": DAY, "visits_limit": 1001})
    assert refused.status_code == 422, refused.text
    assert [e["loc"] for e in refused.json()["errors"]] == [["query", "visits_limit"]]


def test_the_command_line_writes_the_whole_day(
        settled_day: dict[str, Any], database_url: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("SERVICECORE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SERVICECORE_POOL_SIZE", "2")
    out = tmp_path / "out" / "records.csv"
    assert cli.main(["audit", "repair-records", "--date", DAY, "--store",
                     settled_day["store"], "--format", "csv", "--out", str(out)]) == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"), newline="")))
    assert [r["store_id"] for r in rows] == [settled_day["store"]] * 3
    assert sorted(p.name for p in out.parent.iterdir()) == ["records.csv"]  # no .part left
