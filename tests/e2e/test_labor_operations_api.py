"""The labor-operation master over HTTP on PostgreSQL: a manager registers a store's operation
and changes it with a reason, every role reads it; labor lines take its hours and rate, an
advisor's price off it is 403 with nothing stored, a manager's is recorded with its reason, an
op code not in the master is taken as typed as before, and the warranty claim names hours
claimed beyond the flat rate."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from servicecore import cli
from servicecore.container import Container
from tests.conftest import JWT_SECRET
from tests.e2e.scope_dataset import event_count
from tests.e2e.test_parts_api import Auth, get, head, post
from tests.integration.test_parts_support import wait_for_projection

RATES = {"customer": "300.00", "warranty": "180.00", "insurance": "260.00",
         "internal": "150.00"}


def refused(client: TestClient, container: Container, method: str, url: str,
            headers: dict[str, str], body: Any, status: int) -> dict[str, Any]:
    """The request answered `status` as problem+json, and the log is as it was."""
    before = event_count(container)
    response = client.request(method, url, headers=headers, json=body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert event_count(container) == before
    return response.json()  # type: ignore[no-any-return]


def register(client: TestClient, manager: dict[str, str], store_id: str,
             **overrides: Any) -> dict[str, Any]:
    return post(client, "/labor-operations", manager, {
        "store_id": store_id, "op_code": "brk-pad", "description": "replace front brake pads",
        "flat_rate_hours": "1.5", "rates": dict(RATES), **overrides}, 201)


def visit(client: TestClient, advisor: dict[str, str], store_id: str) -> str:
    opened = post(client, "/work-orders", advisor, {
        "store_id": store_id, "customer": {"name": "王伟", "phone": "13800000001"},
        "vehicle": {"vin": "LSVAU218XN2183294", "plate": "沪A12345"}, "mileage": 30000,
        "complaints": ["brake noise"]}, 201)
    wo = f"/work-orders/{opened['id']}"
    post(client, f"{wo}/check-in", advisor, {"mileage_in": 30010, "fuel_level": 50})
    return wo


def line_of(client: TestClient, wo: str, headers: dict[str, str], line_id: str
            ) -> dict[str, Any]:
    doc = get(client, wo, headers, wait_for=head(client))
    return next(ln for ln in doc["lines"] if ln["line_id"] == line_id)  # type: ignore[no-any-return]


def test_a_manager_registers_and_changes_an_operation_with_a_reason_every_role_reads_it(
        client: TestClient, auth: Auth, store_id: str) -> None:
    manager = auth("manager", "mgr-" + store_id, [store_id])
    made = register(client, manager, store_id)
    assert made["op_code"] == "BRK-PAD"
    post(client, "/labor-operations", manager, {
        "store_id": store_id, "op_code": "ＷＡＳＨ　１", "description": "wash",
        "flat_rate_hours": "0.3", "rates": dict(RATES)}, 201)
    response = client.patch("/labor-operations/brk-pad", headers=manager, json={
        "store_id": store_id, "flat_rate_hours": "1.8", "rates": {"customer": "320.00"},
        "reason": "2026 labor time guide"})
    assert response.status_code == 200, response.text
    for role in ("advisor", "technician", "cashier", "analyst", "qc_inspector"):
        reader = auth(role, f"{role}-{store_id}", [store_id])
        found = get(client, "/labor-operations/BRK-PAD", reader, store_id=store_id,
                    wait_for=head(client))
        assert (found["flat_rate_hours"], found["rates"]["customer"],
                found["rates"]["warranty"], found["skill"], found["level"]) == (
            "1.8", "320.00", "180.00", "chassis", 1)
        assert (found["last_reason"], found["updated_by"], found["version"]) == (
            "2026 labor time guide", "mgr-" + store_id, 2)
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    listed = get(client, "/labor-operations", advisor, store_id=store_id, q="brk")
    assert [i["op_code"] for i in listed["items"]] == ["BRK-PAD"]
    listed = get(client, "/labor-operations", advisor, store_id=store_id, q="WASH")
    assert [i["op_code"] for i in listed["items"]] == ["WASH1"]
    listed = get(client, "/labor-operations", advisor, q="front brake")
    assert [i["op_code"] for i in listed["items"]] == ["BRK-PAD"]
    assert get(client, "/labor-operations", advisor)["total"] == 2
    # Another store's token sees none of it.
    elsewhere = auth("manager", "mgr-x", [store_id + "X"])
    assert get(client, "/labor-operations", elsewhere, q="BRK")["total"] == 0
    get(client, "/labor-operations/BRK-PAD", elsewhere, 404, store_id=store_id)


def test_master_edits_are_the_managers_and_bad_input_is_422_with_nothing_stored(
        client: TestClient, auth: Auth, store_id: str, container: Container) -> None:
    manager = auth("manager", "mgr-" + store_id, [store_id])
    register(client, manager, store_id)
    change = {"store_id": store_id, "flat_rate_hours": "3", "reason": "cheaper"}
    for role in ("advisor", "qc_inspector", "technician", "cashier", "finance"):
        who = auth(role, f"{role}-{store_id}", [store_id])
        problem = refused(client, container, "PATCH", "/labor-operations/BRK-PAD", who,
                          change, 403)
        assert "manager" in problem["detail"]
        refused(client, container, "POST", "/labor-operations", who, {
            "store_id": store_id, "op_code": "X1", "description": "x",
            "flat_rate_hours": "1", "rates": dict(RATES)}, 403)
    # A change without a reason, or with nothing to change; bad values.
    refused(client, container, "PATCH", "/labor-operations/BRK-PAD", manager,
            {"store_id": store_id, "flat_rate_hours": "2"}, 422)
    problem = refused(client, container, "PATCH", "/labor-operations/BRK-PAD", manager,
                      {"store_id": store_id, "reason": "nothing"}, 422)
    assert problem["field"] == "body"
    refused(client, container, "PATCH", "/labor-operations/BRK-PAD", manager,
            {"store_id": store_id, "flat_rate_hours": "1.50", "reason": "same"}, 409)
    refused(client, container, "PATCH", "/labor-operations/NOPE", manager,
            {"store_id": store_id, "active": False, "reason": "gone"}, 404)
    base = {"store_id": store_id, "op_code": "OIL-1", "description": "oil",
            "flat_rate_hours": "0.5", "rates": dict(RATES)}
    for bad, field in (({"flat_rate_hours": "0"}, "flat_rate_hours"),
                       ({"flat_rate_hours": "0.555"}, "flat_rate_hours"),
                       ({"rates": {**RATES, "internal": None}}, "rates"),
                       ({"rates": {**RATES, "warranty": "1.001"}}, "rates.warranty"),
                       ({"op_code": "OIL 1/2"}, "op_code"),
                       ({"skill": "chassis"}, "level")):
        problem = refused(client, container, "POST", "/labor-operations", manager,
                          {**base, **bad}, 422)
        assert field in (problem.get("field"), *(
            ".".join(map(str, e["loc"][1:])) for e in problem.get("errors", []))), problem
    refused(client, container, "POST", "/labor-operations", manager,
            {**base, "op_code": "brk-pad"}, 409)


def test_labor_lines_take_the_master_price_and_an_override_is_the_managers_with_a_reason(
        client: TestClient, auth: Auth, store_id: str, container: Container) -> None:
    manager = auth("manager", "mgr-" + store_id, [store_id])
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    register(client, manager, store_id)
    wo = visit(client, advisor, store_id)
    lines = f"{wo}/jobs/1/labor-lines"
    # Defaults: hours, rate and description from the master.
    first = post(client, lines, advisor, {"op_code": "brk-pad"})["line_id"]
    line = line_of(client, wo, advisor, first)
    assert (line["op_code"], line["description"], line["hours"], line["unit_price"],
            line["gross"]) == ("BRK-PAD", "replace front brake pads", "1.5", "300.00",
                               "450.00")
    assert line["labor_operation"]["flat_rate_hours"] == "1.5"
    assert line["price_override_reason"] is None
    # The advisor's price off the master: 403, nothing stored.
    for off in ({"hours": "2"}, {"hourly_rate": "280.00"}):
        problem = refused(client, container, "POST", lines, advisor,
                          {"op_code": "BRK-PAD", **off}, 403)
        assert "manager" in problem["detail"] and "BRK-PAD" in problem["detail"]
    # The manager's: a reason or 422; with it, recorded on the line.
    problem = refused(client, container, "POST", lines, manager,
                      {"op_code": "BRK-PAD", "hours": "2.5"}, 422)
    assert problem["field"] == "price_override_reason"
    over = post(client, lines, manager, {"op_code": "BRK-PAD", "hours": "2.5",
                                         "price_override_reason": "seized caliper bolts"})
    line = line_of(client, wo, advisor, over["line_id"])
    assert (line["hours"], line["gross"], line["price_override_reason"]) == (
        "2.5", "750.00", "seized caliper bolts")
    # A change of the master leaves the lines as they were added.
    response = client.patch("/labor-operations/BRK-PAD", headers=manager, json={
        "store_id": store_id, "rates": {"customer": "999.00"}, "reason": "test"})
    assert response.status_code == 200, response.text
    assert line_of(client, wo, advisor, first)["unit_price"] == "300.00"


def test_an_op_code_not_in_the_master_behaves_as_before(
        client: TestClient, auth: Auth, store_id: str, container: Container) -> None:
    manager = auth("manager", "mgr-" + store_id, [store_id])
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    register(client, manager, store_id)
    wo = visit(client, advisor, store_id)
    lines = f"{wo}/jobs/1/labor-lines"
    added = post(client, lines, advisor, {"op_code": "BRK01", "description": "replace pads",
                                          "hours": "1.0", "hourly_rate": "300.00"})
    line = line_of(client, wo, advisor, added["line_id"])
    assert (line["op_code"], line["hours"], line["gross"]) == ("BRK01", "1.0", "300.00")
    assert "labor_operation" not in line and "price_override_reason" not in line
    for missing in ("description", "hours", "hourly_rate"):
        body = {"op_code": "BRK01", "description": "x", "hours": "1", "hourly_rate": "1"}
        del body[missing]
        problem = refused(client, container, "POST", lines, advisor, body, 422)
        assert problem["field"] == missing
    problem = refused(client, container, "POST", lines, advisor, {
        "op_code": "BRK01", "description": "x", "hours": "1", "hourly_rate": "1",
        "price_override_reason": "no master here"}, 422)
    assert problem["field"] == "price_override_reason"


@pytest.mark.parametrize("authorised", [False, True])
def test_the_warranty_claim_names_hours_beyond_the_flat_rate(
        client: TestClient, auth: Auth, store_id: str, authorised: bool) -> None:
    manager = auth("manager", "mgr-" + store_id, [store_id])
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    register(client, manager, store_id)
    wo = visit(client, advisor, store_id)
    warranty = {"coverage_code": "BASIC-3Y",
                **({"authorization_ref": "OEM-AUTH-7"} if authorised else {})}
    added = post(client, f"{wo}/jobs/1/labor-lines", manager, {
        "op_code": "BRK-PAD", "pay_type": "warranty", "hours": "2.5", "warranty": warranty,
        "price_override_reason": "seized caliper bolts"})
    post(client, f"{wo}/lines/{added['line_id']}/authorization", advisor,
         {"decision": "approved", "channel": "phone"})
    claim = get(client, f"{wo}/warranty-claim", advisor)
    [labor] = claim["jobs"][0]["labor"]
    assert (labor["flat_rate_hours"], labor["master_flat_rate_hours"], labor["amount"]) == (
        "2.5", "1.5", "450.00")  # the warranty rate, 180.00 an hour
    [over] = [p for p in claim["problems"] if p["kind"] == "flat_rate_hours"]
    assert (over["line_id"], over["level"]) == (
        added["line_id"], "warning" if authorised else "error")
    assert "seized caliper bolts" in over["detail"]
    # The printed page shows the master's hours beside those claimed.
    page = client.get(f"{wo}/warranty-claim", headers=advisor, params={"format": "html"})
    assert page.status_code == 200, page.text
    assert "<th>Master h</th>" in page.text
    assert re.search(r"<td[^>]*>2\.5</td>\s*<td[^>]*>1\.5</td>", page.text), page.text


def test_a_rebuild_of_the_master_view_equals_the_live_one(
        client: TestClient, auth: Auth, container: Container, database_url: str,
        store_id: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    manager = auth("manager", "mgr-" + store_id, [store_id])
    register(client, manager, store_id)
    register(client, manager, store_id, op_code="OIL-1", skill="maintenance", level=2)
    for change in ({"rates": {"warranty": "190.00"}}, {"active": False},
                   {"description": "oil and filter", "flat_rate_hours": "0.4"}):
        response = client.patch("/labor-operations/OIL-1", headers=manager, json={
            "store_id": store_id, **change, "reason": "labor time guide"})
        assert response.status_code == 200, response.text
    wait_for_projection(container, "labor_operations")

    def table() -> list[str]:
        with container.pool.connection() as conn:
            return [row[0] for row in conn.execute(
                "SELECT t::text FROM labor_operations t ORDER BY id").fetchall()]

    live = table()
    assert sum(store_id in row for row in live) == 2
    for name, value in (("DATABASE_URL", database_url), ("SERVICECORE_JWT_SECRET", JWT_SECRET),
                        ("SERVICECORE_DATA_DIR", str(tmp_path)),
                        ("SERVICECORE_PROJECTION_BATCH_SIZE", "3")):
        monkeypatch.setenv(name, value)
    capsys.readouterr()
    assert cli.main(["projections", "rebuild", "--name", "labor_operations"]) == 0
    assert '"projection": "labor_operations"' in capsys.readouterr().out
    assert table() == live
    assert cli.main(["audit", "views", "--view", "labor_operations"]) == 0
    assert '"ok": true' in capsys.readouterr().out
    oil = get(client, "/labor-operations/OIL-1", manager, store_id=store_id)
    assert (oil["rates"]["warranty"], oil["active"], oil["flat_rate_hours"], oil["version"]) == (
        "190.00", False, "0.4", 4)
