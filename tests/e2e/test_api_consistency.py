"""One API shape: every list is a page `{total, limit, offset, items}`; payments and refunds name
the visit the same way; one dispatch path whose jobs count in the technician's load; the QC
inspector records quality checks, and the cashier reads the settlements they take money on."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient

from servicecore.demo import make_vin
from tests.e2e.test_money_api import confirmed_settlement, ready_for_settlement
from tests.e2e.test_parts_api import get, head, new_part, on_roster, post, ready_visit

Auth = Callable[..., dict[str, str]]
PAGE = {"total", "limit", "offset", "items"}
SHANGHAI = ZoneInfo("Asia/Shanghai")


def _schema(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _gets(doc: dict[str, Any]) -> list[tuple[str, dict[str, Any], dict[str, Any] | None]]:
    """(path, operation, its 200 JSON schema or None) of every GET."""
    found = []
    for path, operations in doc["paths"].items():
        operation = operations.get("get")
        if operation is None:
            continue
        content = operation["responses"].get("200", {}).get("content", {})
        schema = content.get("application/json", {}).get("schema")
        found.append((path, operation, _schema(doc, schema) if schema else None))
    return found


def test_every_collection_in_the_openapi_document_is_a_page(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    collections = []
    for path, operation, schema in _gets(doc):
        query = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
        assert schema is None or schema.get("type") != "array", f"GET {path} answers a bare list"
        if not query & {"limit", "offset"}:
            continue
        collections.append(path)
        assert {"limit", "offset"} <= query, f"GET {path} pages with both limit and offset"
        assert schema is not None, f"GET {path} documents no answer"
        assert set(schema.get("required", [])) >= PAGE, (path, schema.get("required"))
        properties = schema["properties"]
        assert properties["items"]["type"] == "array", path
        assert {properties[n]["type"] for n in ("total", "limit", "offset")} == {"integer"}, path
    # the lists the issue named, among every other
    assert {"/payments", "/receivables", "/ledger", "/settlements", "/technicians",
            "/work-orders/{work_order_id}/history"} <= set(collections)


def _value(parameter: dict[str, Any], today: date) -> str:
    """A plausible value for a required query parameter (404 or 409 answers are fine)."""
    named = {"month": today.strftime("%Y-%m"), "number": "WO-S01-2026-000001",
             "store_id": "S01", "correlation_id": "no-such-request"}
    if parameter["name"] in named:
        return named[parameter["name"]]
    schema = parameter.get("schema", {})
    schema = next(iter(schema.get("anyOf", [])), schema)
    if schema.get("format") == "date":
        return today.isoformat()
    if schema.get("format") == "uuid":
        return str(uuid.uuid4())
    return "x"


# Routes that need one of several optional query parameters (the document cannot say which):
# the one named here is sent.
ONE_OF = {"/audit/personal-data-reads": ("customer_id",), "/day-end": ("month",),
          "/ledger/trial-balance": ("month",)}


def test_no_get_answers_a_bare_list(client: TestClient, auth: Auth) -> None:
    """What the document cannot show (an answer without a declared schema): each GET without
    path parameters, called as a manager, answers an object; a documented page is one."""
    doc = client.get("/openapi.json").json()
    manager = auth("manager")
    today = datetime.now(SHANGHAI).date()
    called = 0
    for path, operation, schema in _gets(doc):
        parameters = operation.get("parameters", [])
        content = operation["responses"]["200"].get("content", {})
        if "{" in path or "text/html" in content or (  # a page, JSON lines: not one object
                "application/jsonl" in content and "application/json" not in content):
            continue
        query = {p["name"]: _value(p, today) for p in parameters
                 if p["in"] == "query" and (p.get("required") or p["name"] in ONE_OF.get(path, ()))}
        response = client.get(path, headers=manager, params=query)
        assert response.status_code in (200, 404), (path, response.text)
        called += 1
        if response.status_code != 200:
            continue
        body = response.json()
        assert isinstance(body, dict), f"GET {path} answered a bare list"
        if schema is not None and PAGE <= set(schema.get("properties", {})):
            assert PAGE <= set(body) and body["total"] >= len(body["items"]), path
    assert called >= 30


def test_a_page_counts_everything_and_holds_its_slice(client: TestClient, auth: Auth,
                                                      store_id: str) -> None:
    advisor = auth("advisor", stores=[store_id])
    rng = random.Random(store_id)
    vins = sorted(make_vin(rng) for _ in range(3))
    for vin in vins:
        post(client, "/vehicles", advisor, {"store_id": store_id, "vin": vin}, 201)
    first = get(client, "/vehicles", advisor, limit=2, wait_for=head(client))
    assert (first["total"], first["limit"], first["offset"]) == (3, 2, 0)
    rest = get(client, "/vehicles", advisor, limit=2, offset=2)
    assert rest["total"] == 3 and [v["vin"] for v in first["items"] + rest["items"]] == vins
    assert get(client, "/vehicles", advisor, offset=5)["items"] == []


def test_payments_receivables_ledger_and_history_are_pages(client: TestClient, auth: Auth,
                                                           store_id: str) -> None:
    cashier = auth("cashier", "cash-" + store_id, [store_id])
    finance = auth("finance", "fin-" + store_id, [store_id])
    wo_id, sid = confirmed_settlement(client, auth, store_id, warranty_labor=True)
    post(client, "/payments", cashier, {"work_order_id": wo_id, "method": "cash",
                                        "amount": "300.00"}, 201)
    paid = post(client, "/payments", cashier, {"work_order_id": wo_id, "method": "alipay",
                                               "amount": "600.00", "provider_ref": "A-" + sid},
                201)
    wait = paid["notification_id"]
    journal = get(client, "/payments", finance, limit=1, wait_for=wait)
    assert journal["total"] == 2 and len(journal["items"]) == 1
    second = get(client, "/payments", finance, limit=1, offset=1)
    assert {journal["items"][0]["method"], second["items"][0]["method"]} == {"cash", "alipay"}
    # The cashier reads the payments journal too, and the receivables.
    assert get(client, "/payments", cashier)["total"] == 2
    owed = get(client, "/receivables", cashier)
    assert owed["total"] == 1 and owed["items"][0]["kind"] == "warranty"
    month = datetime.now(SHANGHAI).strftime("%Y-%m")
    lines = get(client, "/ledger", finance, month=month, limit=2)
    assert lines["total"] > 2 and len(lines["items"]) == 2
    assert get(client, "/ledger/gross-profit", finance)["total"] == 1
    history = get(client, f"/settlements/{sid}/history", finance, limit=1)
    assert history["total"] > 1 and len(history["items"]) == 1
    assert history["items"][0]["event"] == "Settlement.Opened"


def test_the_cashier_reads_the_settlement_they_work_on_and_its_history(
        client: TestClient, auth: Auth, store_id: str) -> None:
    cashier = auth("cashier", "cash-" + store_id, [store_id])
    _, wo_id = ready_for_settlement(client, auth, store_id)
    sid = post(client, "/settlements", cashier, {"work_order_id": wo_id}, 201)["id"]
    paid = post(client, "/payments", cashier, {"work_order_id": wo_id, "method": "cash",
                                               "amount": "50.00"}, 201)
    shown = get(client, f"/settlements/{sid}", cashier, wait_for=paid["notification_id"])
    assert [p["payment_id"] for p in shown["payments"]] == [paid["payment_id"]]
    events = [h["event"] for h in get(client, f"/settlements/{sid}/history", cashier)["items"]]
    assert events == ["Settlement.Opened", "Settlement.Drafted", "Settlement.PaymentTaken"]
    # ... only in their own stores, and a technician reads neither.
    elsewhere = auth("cashier", "cash-other", ["ELSEWHERE"])
    for url in (f"/settlements/{sid}", f"/settlements/{sid}/history"):
        assert client.get(url, headers=elsewhere).status_code == 404
        refused = client.get(url, headers=auth("technician", stores=[store_id]))
        assert refused.status_code == 403
        assert refused.headers["content-type"] == "application/problem+json"


def _visit(client: TestClient, auth: Auth, store_id: str, vin: str) -> str:
    """A checked-in visit with one approved 1.5 h chassis job."""
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    opened = post(client, "/work-orders", advisor, {
        "store_id": store_id, "customer": {"name": "王伟", "phone": "13800000003"},
        "vehicle": {"vin": vin}, "mileage": 30000, "complaints": ["brake noise"]}, 201)
    wo = f"/work-orders/{opened['id']}"
    post(client, f"{wo}/check-in", advisor, {"mileage_in": 30010, "fuel_level": 50})
    line = post(client, f"{wo}/jobs/1/labor-lines", advisor, {
        "op_code": "BRK01", "description": "replace pads", "hours": "1.5",
        "hourly_rate": "300.00"})
    post(client, f"{wo}/lines/{line['line_id']}/authorization", advisor,
         {"decision": "approved", "channel": "in_person"})
    return str(opened["id"])


def test_a_job_the_desk_dispatches_by_name_counts_in_the_technicians_load(
        client: TestClient, auth: Auth, store_id: str) -> None:
    manager = auth("manager", "mgr-" + store_id, [store_id])
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    today = datetime.now(SHANGHAI).date()
    ta, tb = f"ta-{store_id}", f"tb-{store_id}"
    for tech in (ta, tb):  # equally qualified: only the load tells them apart
        post(client, f"/technicians/{tech}/profile", manager,
             {"store_id": store_id, "skills": {"chassis": 2}, "hourly_cost": "85.00"})
        post(client, f"/technicians/{tech}/shifts", manager, {"shifts": [
            {"day": today.isoformat(), "start": "00:00", "end": "23:59", "break_minutes": 0}]})
    rng = random.Random(store_id)
    first, second, third = (_visit(client, auth, store_id, make_vin(rng)) for _ in range(3))

    # The desk names ta for the first job: the board and auto-dispatch both count it.
    post(client, f"/work-orders/{first}/jobs/1/dispatch", advisor, {"technician_id": ta})
    board = get(client, "/dispatch/board", advisor, store_id=store_id, wait_for=head(client))
    loads = {t["user_id"]: t["open_load_hours"] for t in board["technicians"]}
    assert loads == {ta: "1.50", tb: "0.00"}
    auto = post(client, "/dispatch/auto", advisor, {"work_order_id": second, "job_no": 1})
    assert auto["technician_id"] == tb and auto["open_load_before"] == "0.00"

    # Reassigned by name to tb (with a reason): ta is released, tb carries both jobs.
    assert client.post(f"/work-orders/{first}/jobs/1/dispatch", headers=advisor,
                       json={"technician_id": tb}).status_code == 422
    post(client, f"/work-orders/{first}/jobs/1/dispatch", advisor,
         {"technician_id": tb, "reason": "ta is on the road test"})
    auto = post(client, "/dispatch/auto", advisor, {"work_order_id": third, "job_no": 1})
    assert auto["technician_id"] == ta and auto["open_load_before"] == "0.00"
    board = get(client, "/dispatch/board", advisor, store_id=store_id, wait_for=head(client))
    loads = {t["user_id"]: t["open_load_hours"] for t in board["technicians"]}
    assert loads == {ta: "1.50", tb: "3.00"}


def test_the_qc_inspector_records_quality_checks_and_nothing_else(
        client: TestClient, auth: Auth, store_id: str) -> None:
    manager = auth("manager", "mgr-" + store_id, [store_id])
    tech = auth("technician", "tech-" + store_id, [store_id])
    inspector = auth("qc_inspector", "qc-" + store_id, [store_id])
    wo_id = _visit(client, auth, store_id, make_vin(random.Random(store_id)))
    wo = f"/work-orders/{wo_id}"
    on_roster(client, manager, store_id, "tech-" + store_id)
    post(client, f"{wo}/jobs/1/dispatch", manager, {"technician_id": "tech-" + store_id})
    post(client, f"{wo}/jobs/1/clock-on", tech)
    post(client, f"{wo}/jobs/1/clock-off", tech)
    post(client, f"{wo}/jobs/1/complete", tech)
    # Neither the technician nor the desk passes their own work; the inspector fails it ...
    for role in ("technician", "advisor", "cashier"):
        refused = client.post(f"{wo}/jobs/1/quality-check", json={"passed": True},
                              headers=auth(role, stores=[store_id]))
        assert refused.status_code == 403, role
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["status"] == 403 and "quality check" in refused.json()["detail"]
    failed = post(client, f"{wo}/jobs/1/quality-check", inspector,
                  {"passed": False, "reason": "pads squeal on the test drive"})
    assert failed["number"].startswith(f"WO-{store_id}-")
    # ... the job goes back to repair, and passes the second time.
    post(client, f"{wo}/jobs/1/clock-on", tech)
    post(client, f"{wo}/jobs/1/clock-off", tech)
    post(client, f"{wo}/jobs/1/complete", tech)
    post(client, f"{wo}/jobs/1/quality-check", inspector, {"passed": True})
    doc = get(client, wo, inspector, wait_for=head(client))
    assert doc["status"] == "ready_for_settlement"
    history = get(client, f"{wo}/history", manager)["items"]
    checks = [h for h in history if h["event"] == "WorkOrder.QualityChecked"]
    assert [(h["actor"]["role"], h["changes"]["passed"]) for h in checks] == [
        ("qc_inspector", False), ("qc_inspector", True)]
    # The inspector records checks only: no dispatch, no estimate, no money.
    for url, body in ((f"{wo}/jobs/1/dispatch", {"technician_id": "x"}),
                      ("/settlements", {"work_order_id": wo_id}),
                      ("/dispatch/auto", {"work_order_id": wo_id, "job_no": 1})):
        assert client.post(url, headers=inspector, json=body).status_code == 403, url


def test_payments_and_refunds_name_the_visit_the_same_way(client: TestClient, auth: Auth,
                                                          store_id: str) -> None:
    """By the work order: a refund of an unknown visit is a 404 like a payment's."""
    cashier = auth("cashier", "cash-" + store_id, [store_id])
    unknown = str(uuid.uuid4())
    paying = client.post("/payments", headers=cashier, json={
        "work_order_id": unknown, "method": "cash", "amount": "1.00"})
    refunding = client.post("/refunds", headers=cashier, json={
        "work_order_id": unknown, "payment_id": "PAY-X", "amount": "1.00", "reason": "x"})
    assert (paying.status_code, refunding.status_code) == (404, 404)
    neither = client.post("/refunds", headers=cashier, json={
        "payment_id": "PAY-X", "amount": "1.00", "reason": "x"})
    assert neither.status_code == 422
    assert neither.headers["content-type"] == "application/problem+json"


def test_a_command_whose_fields_all_have_defaults_needs_no_body(client: TestClient, auth: Auth,
                                                                 store_id: str) -> None:
    """`curl -X POST …/clock-on` with no body at all, as a terminal sends it: clock-on and
    clock-off (default: the caller), issue (default: what the line still needs) and closing a
    purchase order received in full (a reason only when short) take no body, as `{}`."""
    clerk = auth("parts_clerk", "clerk-" + store_id, [store_id])
    tech = auth("technician", "tech-" + store_id, [store_id])
    number = new_part(client, clerk)
    post(client, f"/stock/{store_id}/{number}/receipts", clerk, {
        "qty": 3, "unit_cost": "100.00", "supplier": "S", "supplier_doc": "DN-1"}, 201)
    wo, line = ready_visit(client, auth, store_id, number, qty="2")

    def bare(url: str, headers: dict[str, str]) -> dict[str, Any]:
        response = client.post(url, headers=headers)  # no body, no Content-Type
        assert response.status_code == 200, (url, response.text)
        return response.json()  # type: ignore[no-any-return]

    assert bare(f"{wo}/lines/{line}/issue", clerk)["issued_qty"] == "2"
    bare(f"{wo}/jobs/1/clock-on", tech)
    board = get(client, f"/technicians/tech-{store_id}", tech, wait_for=head(client))
    assert board["open_clock"]["job_no"] == 1
    off = bare(f"{wo}/jobs/1/clock-off", tech)
    assert off["clocked_seconds"] >= 0
    assert get(client, f"/technicians/tech-{store_id}", tech,
               wait_for=off["notification_id"])["open_clock"] is None
    order = post(client, "/purchase-orders", clerk, {
        "store_id": store_id, "supplier": "S",
        "lines": [{"part_number": number, "qty": "4", "unit_cost": "100.00"}]}, 201)
    po = f"/purchase-orders/{order['id']}"
    post(client, f"{po}/send", clerk)
    post(client, f"{po}/receipts", clerk, {"line_no": 1, "qty": 4, "supplier_doc": "DN-2"}, 201)
    closed = bare(f"{po}/close", clerk)
    assert get(client, po, clerk, wait_for=closed["notification_id"])["status"] == "closed"
    # Cancelling always wants a reason: the document says so, and the body is checked first.
    doc = client.get("/openapi.json").json()
    media = doc["paths"]["/purchase-orders/{order_id}/cancel"]["post"]["requestBody"]
    schema = doc["components"]["schemas"][
        media["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]]
    assert "reason" in schema["required"]
    order = post(client, "/purchase-orders", clerk, {
        "store_id": store_id, "supplier": "S",
        "lines": [{"part_number": number, "qty": "1", "unit_cost": "100.00"}]}, 201)
    unexplained = client.post(f"/purchase-orders/{order['id']}/cancel", headers=clerk, json={})
    assert unexplained.status_code == 422
    assert [e["loc"] for e in unexplained.json()["errors"]] == [["body", "reason"]]

def test_a_refund_answers_its_status_as_its_decision_does(client: TestClient, auth: Auth,
                                                          store_id: str) -> None:
    """Asked by the cashier, the refund waits for a manager: the answer says so."""
    cashier = auth("cashier", "cash-" + store_id, [store_id])
    manager = auth("manager", "mgr-" + store_id, [store_id])
    wo_id, _ = confirmed_settlement(client, auth, store_id)
    paid = post(client, "/payments", cashier, {"work_order_id": wo_id, "method": "bank_card",
                                               "amount": "500.00", "provider_ref": "POS-1"}, 201)
    asked = post(client, "/refunds", cashier, {
        "work_order_id": wo_id, "payment_id": paid["payment_id"], "amount": "20.00",
        "reason": "goodwill"}, 201)
    assert asked["refund_status"] == "requested"
    decided = post(client, f"/refunds/{asked['refund_id']}/decision", manager,
                   {"work_order_id": wo_id, "approve": True})
    assert decided["refund_status"] == "approved"


def test_a_stocktake_waiting_for_approval_has_one_name(client: TestClient, auth: Auth,
                                                       store_id: str) -> None:
    """The approvals list names a stocktake `count_id`, as its command answers it and its
    decision's path takes it (and a scrap `request_id`); `ref` stays, deprecated."""
    clerk = auth("parts_clerk", stores=[store_id])
    number = new_part(client, clerk, min_stock=0)
    post(client, f"/stock/{store_id}/{number}/receipts", clerk, {
        "qty": 5, "unit_cost": "200.00", "supplier": "S", "supplier_doc": "DN-1"}, 201)
    lot = get(client, f"/stock/{store_id}/{number}", clerk, wait_for=head(client))["lots"][0]
    counted = post(client, f"/stock/{store_id}/{number}/stocktakes", clerk, {
        "counted": {lot["lot_id"]: "2"}, "reason": "three sets missing"})
    assert counted["status"] == "awaiting_approval"
    pending = get(client, "/stock/approvals", clerk, wait_for=counted["notification_id"])
    [waiting] = [a for a in pending["items"] if a["store_id"] == store_id]
    assert (waiting["kind"], waiting["count_id"], waiting["ref"]) == (
        "stocktake", counted["count_id"], counted["count_id"])
    assert "request_id" not in waiting
    decided = post(client, f"/stock/{store_id}/{number}/stocktakes/{waiting['count_id']}/"
                   "decision", auth("manager", stores=[store_id]), {"approve": True})
    assert decided["count_id"] == counted["count_id"] and decided["status"] == "posted"
    schema = client.get("/openapi.json").json()["components"]["schemas"]["ApprovalOut"]
    assert schema["properties"]["ref"]["deprecated"] is True
