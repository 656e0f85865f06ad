"""The audit exports over HTTP and on the command line: roles, formats, and the problem answers
(visits are driven through the domain services at chosen business times)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from fastapi.testclient import TestClient

from servicecore import cli
from servicecore.container import Container
from tests.integration.audit_support import Desk, at, new_vin
from tests.integration.test_money_support import wait_for_projection

Auth = Callable[..., dict[str, str]]
PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def shop(container: Container) -> dict[str, Any]:
    """A warranty visit settled on 15 August 2025, a maintenance visit still open, and a car
    with five brake repairs under warranty."""
    desk = Desk(container)
    pump = desk.part("water pump", "800.00", at("2025-08-01", "09:00"))
    lot = desk.receive(pump, 2, "400.00", at("2025-08-01", "09:10"), supplier="Bosch Shanghai",
                       doc="DN-001")
    vin = new_vin()
    claimed = desk.open(vin, ["coolant leak at front"], at("2025-08-15", "08:50"),
                        kind="warranty")
    desk.check_in(claimed, 18_230, at("2025-08-15", "09:00"))
    desk.diagnose(claimed, 1, "water pump seal failed", "replace water pump", ["P0217"],
                  at("2025-08-15", "09:20"))
    lines = [desk.labor(claimed, 1, "ENG-WP", "2.4", at("2025-08-15", "09:30"),
                        description="replace water pump",
                        warranty={"coverage_code": "W-3Y", "campaign_no": "RC-2025-08"}),
             desk.part_line(claimed, 1, pump, 1, at("2025-08-15", "09:31"),
                            warranty={"coverage_code": "W-3Y"})]
    desk.approve(claimed, lines, at("2025-08-15", "09:35"))
    desk.repair(claimed, 1, desk.t1, at("2025-08-15", "10:00"), at("2025-08-15", "12:00"),
                issue=(lines[1],))
    desk.settle(claimed, at("2025-08-15", "14:00"))
    plain = desk.open(new_vin(), ["oil service"], at("2025-08-15", "09:00"), kind="maintenance")
    brakes = new_vin()
    for month in ("03", "04", "05", "06", "07"):
        desk.warranty_visit(brakes, "brake judder", "BRK-DISC", at(f"2025-{month}-10", "09:00"),
                            at(f"2025-{month}-10", "15:00"))
    wait_for_projection(container, "finance")
    wait_for_projection(container, "work_orders")
    return {"desk": desk, "vin": vin, "claimed": claimed, "plain": plain, "lot": lot,
            "pump": pump, "brakes": brakes,
            "number": f"WO-{desk.store}-2025-000001"}


def get(client: TestClient, path: str, headers: dict[str, str], status: int = 200,
        **params: Any) -> Any:
    response = client.get(path, headers=headers, params=params)
    assert response.status_code == status, response.text
    if status >= 400:
        assert response.headers["content-type"] == PROBLEM
    return response


def test_warranty_claim_json_for_auditor_manager_and_advisor(
        client: TestClient, auth: Auth, shop: dict[str, Any]) -> None:
    store, path = shop["desk"].store, f"/work-orders/{shop['claimed']}/warranty-claim"
    for role in ("auditor", "manager", "advisor"):
        claim = get(client, path, auth(role, stores=[store])).json()
        assert claim["vehicle"]["vin"] == shop["vin"]
        assert claim["jobs"][0]["labor"][0]["campaign_no"] == "RC-2025-08"
        assert claim["jobs"][0]["parts"][0]["lots"][0]["lot_id"] == shop["lot"]
    for role in ("technician", "cashier", "parts_clerk", "analyst"):
        get(client, path, auth(role, stores=[store]), 403)


def test_an_auditors_read_of_the_customer_is_recorded(
        client: TestClient, auth: Auth, container: Container, shop: dict[str, Any]) -> None:
    store, path = shop["desk"].store, f"/work-orders/{shop['claimed']}/warranty-claim"
    customer = get(client, path, auth("manager", stores=[store])).json()["customer"]["id"]
    wait_for_projection(container, "audit_index")
    reads = "/audit/personal-data-reads"
    before = get(client, reads, auth("auditor", stores=[store]), customer_id=customer).json()
    get(client, path, auth("manager", stores=[store]), format="html")
    get(client, path, auth("auditor", "aud-zhang", [store]), format="html")
    wait_for_projection(container, "audit_index")
    page = get(client, reads, auth("auditor", stores=[store]), customer_id=customer).json()
    after = page["items"]
    # One more read, the auditor's (the manager's is not recorded), newest first.
    assert page["total"] == before["total"] + 1 == len(after)
    assert (after[0]["user_id"], after[0]["purpose"], after[0]["store_id"]) == (
        "aud-zhang", "warranty claim", store)
    assert after[0]["endpoint"] == f"GET {path}?format=html"


def test_warranty_claim_problems(client: TestClient, auth: Auth, shop: dict[str, Any]) -> None:
    auditor = auth("auditor", stores=[shop["desk"].store])
    get(client, f"/work-orders/{uuid4()}/warranty-claim", auditor, 404)
    get(client, f"/work-orders/{shop['claimed']}/warranty-claim",
        auth("auditor", stores=["ELSEWHERE"]), 404)
    get(client, "/work-orders/not-a-uuid/warranty-claim", auditor, 422)
    get(client, f"/work-orders/{shop['claimed']}/warranty-claim", auditor, 422, format="pdf")
    problem = get(client, f"/work-orders/{shop['plain']}/warranty-claim", auditor, 409).json()
    assert problem["type"].endswith("/nothing-to-claim")
    assert "no approved warranty line" in problem["detail"]
    client_no_token = client.get(f"/work-orders/{shop['claimed']}/warranty-claim")
    assert client_no_token.status_code == 401


def test_warranty_claim_printable_page(client: TestClient, auth: Auth,
                                       shop: dict[str, Any]) -> None:
    auditor = auth("auditor", stores=[shop["desk"].store])
    path = f"/work-orders/{shop['claimed']}/warranty-claim"
    page = get(client, path, auditor, format="html")
    assert page.headers["content-type"].startswith("text/html")
    html = page.text
    for fact in (shop["vin"], shop["number"], "coolant leak at front", "water pump seal failed",
                 "replace water pump", "P0217", "ENG-WP", "RC-2025-08", shop["lot"],
                 "Bosch Shanghai", "李娜", "2025-08-15 10:00", "Asia/Shanghai"):
        assert fact in html, fact
    assert "@page" in html and "<script" not in html and "<link" not in html
    assert get(client, path, {**auditor, "Accept": "text/html,application/xhtml+xml"}).text == html
    assert get(client, path, {**auditor, "Accept": "application/json"}).json()["work_order"][
        "number"] == shop["number"]


def test_repair_records_json_csv_and_jsonl(client: TestClient, auth: Auth,
                                           shop: dict[str, Any]) -> None:
    store = shop["desk"].store
    auditor = auth("auditor", stores=[store])
    day = get(client, "/audit/repair-records", auditor, date="2025-08-15", store_id=store).json()
    assert (day["date"], day["count"], day["timezone"]) == ("2025-08-15", 1, "Asia/Shanghai")
    [record] = day["records"]
    assert (record["shop_name"], record["vin"], record["settlement_number"],
            record["work_items"], record["parts"][0]["part_code"]) == (
        store, shop["vin"], f"SET-{store}-2025-000001",
        [{"name": "replace water pump", "op_code": "ENG-WP", "labor_hours": "2.4",
          "fee": "720.00", "technicians": [{"technician_id": shop["desk"].t1,
                                            "clocked_hours": "2.00"}]}],
        shop["pump"])
    as_csv = get(client, "/audit/repair-records", auditor, date="2025-08-15", format="csv")
    assert as_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert [r["vin"] for r in rows] == [shop["vin"]]
    jsonl = get(client, "/audit/repair-records", auditor, date="2025-08-15", format="jsonl")
    assert [json.loads(line) for line in jsonl.text.splitlines()] == [record]
    alone = get(client, f"/work-orders/{shop['claimed']}/repair-record", auditor).json()
    assert alone == record
    assert get(client, "/audit/repair-records", auditor, date="2025-08-16").json()["count"] == 0


def test_repair_records_problems(client: TestClient, auth: Auth, shop: dict[str, Any]) -> None:
    store = shop["desk"].store
    auditor = auth("auditor", stores=[store])
    get(client, "/audit/repair-records", auditor, 422)  # the date is required
    get(client, "/audit/repair-records", auditor, 422, date="15.08.2025")
    get(client, "/audit/repair-records", auditor, 422, date="2025-08-15", format="xml")
    get(client, "/audit/repair-records", auditor, 403, date="2025-08-15", store_id="ELSEWHERE")
    get(client, "/audit/repair-records", auth("technician", stores=[store]), 403,
        date="2025-08-15")
    problem = get(client, f"/work-orders/{shop['plain']}/repair-record", auditor, 409).json()
    assert problem["type"].endswith("/not-settled")


def test_sanbao_for_auditors_and_managers(client: TestClient, auth: Auth,
                                          shop: dict[str, Any]) -> None:
    store = shop["desk"].store
    answer = get(client, "/audit/sanbao", auth("manager", stores=[store]), store_id=store,
                 as_of="2025-08-31").json()
    # The brakes repaired five times; the water pump (an engine part) replaced once, a warning.
    car, pump = answer["vehicles"]
    assert (car["vin"], car["status"], car["flags"][0]["rule"], car["flags"][0]["repairs"]) == (
        shop["brakes"], "breach", "same_problem", 5)
    assert (pump["vin"], pump["status"], [f["rule"] for f in pump["flags"]]) == (
        shop["vin"], "warning", ["main_part_replaced"])
    assert len(car["evidence"]) > 0 and car["sale_date"] is None
    # The vehicles are examined `limit` at a time, by VIN; `next` links the following ones.
    assert answer["next"] is None and answer["examined"] == answer["candidates"] >= 1
    first = get(client, "/audit/sanbao", auth("manager", stores=[store]), store_id=store,
                as_of="2025-08-31", candidates_limit=1).json()
    assert first["examined"] == 1
    assert first["next"] == (None if answer["candidates"] == 1 else (
        f"/audit/sanbao?store_id={store}&as_of=2025-08-31&candidates_limit=1"
        "&candidates_offset=1"))
    too_many = get(client, "/audit/sanbao", auth("manager", stores=[store]), 422,
                   candidates_limit=1001)
    assert [e["loc"] for e in too_many.json()["errors"]] == [["query", "candidates_limit"]]
    before = get(client, "/audit/sanbao", auth("auditor", stores=[store]), as_of="2025-05-31")
    # Three brake repairs: the same problem a warning, a serious safety fault that remained.
    assert [(v["status"], [(f["rule"], f["level"], f["repairs"]) for f in v["flags"]])
            for v in before.json()["vehicles"]] == [
        ("breach", [("same_problem", "warning", 3), ("serious_fault_remains", "breach", 3)])]
    get(client, "/audit/sanbao", auth("advisor", stores=[store]), 403)
    get(client, "/audit/sanbao", auth("auditor", stores=[store]), 422, as_of="yesterday")
    get(client, "/audit/sanbao", auth("auditor", stores=[store]), 403, store_id="ELSEWHERE")


def test_command_line_exports(shop: dict[str, Any], database_url: str, tmp_path: Path,
                              monkeypatch: pytest.MonkeyPatch, client: TestClient, auth: Auth,
                              capsys: pytest.CaptureFixture[str]) -> None:
    store = shop["desk"].store
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("SERVICECORE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SERVICECORE_POOL_SIZE", "2")
    monkeypatch.setenv("SERVICECORE_SHOP_NAMES", json.dumps({store: "某某大众4S店"}))
    page = tmp_path / "claim.html"
    assert cli.main(["audit", "warranty-claim", shop["number"], "--format", "html",
                     "--out", str(page)]) == 0
    assert shop["vin"] in page.read_text() and "ENG-WP" in page.read_text()
    assert cli.main(["audit", "warranty-claim", str(shop["claimed"])]) == 0
    claim = json.loads(capsys.readouterr().out)
    assert (claim["work_order"]["id"], claim["work_order"]["number"]) == (
        str(shop["claimed"]), shop["number"])
    # The file is the document the API answers, timestamps written alike (UTC with Z).
    answered = client.get(f"/work-orders/{shop['claimed']}/warranty-claim",
                          headers=auth("auditor", stores=[store]))
    assert answered.status_code == 200, answered.text
    assert claim == answered.json()
    assert cli.main(["audit", "warranty-claim", f"WO-{store}-1999-000001"]) == 1
    assert "not found" in capsys.readouterr().err
    records = tmp_path / "records.csv"
    assert cli.main(["audit", "repair-records", "--date", "2025-08-15", "--store", store,
                     "--format", "csv", "--out", str(records)]) == 0
    [row] = list(csv.DictReader(io.StringIO(records.read_text())))
    assert (row["shop_name"], row["vin"], row["work_order_number"]) == (
        "某某大众4S店", shop["vin"], shop["number"])
    assert cli.main(["audit", "repair-records", "--date", "2025-08-15", "--store", store]) == 0
    [line] = capsys.readouterr().out.splitlines()
    assert UUID(json.loads(line)["work_order_id"]) == shop["claimed"]


def test_command_line_repair_records_for_excel(
        shop: dict[str, Any], database_url: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """`--bom`: the CSV file led by the UTF-8 byte order mark, as the API's `bom=true` leads
    its CSVs (Excel on a Chinese Windows reads it as UTF-8), the rest byte for byte the same."""
    store = shop["desk"].store
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("SERVICECORE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SERVICECORE_POOL_SIZE", "2")
    day = ["audit", "repair-records", "--date", "2025-08-15", "--store", store]
    plain, marked = tmp_path / "plain.csv", tmp_path / "excel.csv"
    assert cli.main([*day, "--format", "csv", "--out", str(plain)]) == 0
    assert cli.main([*day, "--format", "csv", "--bom", "--out", str(marked)]) == 0
    assert marked.read_bytes() == b"\xef\xbb\xbf" + plain.read_bytes()
    [row] = list(csv.DictReader(io.StringIO(marked.read_text(encoding="utf-8-sig"))))
    assert row["vin"] == shop["vin"]
    assert cli.main([*day, "--format", "csv", "--bom"]) == 0  # on standard output too
    assert capsys.readouterr().out.encode() == marked.read_bytes()
    # JSON lines have no byte order mark to take: refused, nothing written
    assert cli.main([*day, "--bom", "--out", str(tmp_path / "records.jsonl")]) == 2
    assert "--bom" in capsys.readouterr().err
    assert not (tmp_path / "records.jsonl").exists()
