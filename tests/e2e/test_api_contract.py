"""The HTTP contract: problem+json for every error, store isolation, ETags, health and lag."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import jwt
from fastapi.testclient import TestClient
from httpx import Response

from api.errors import title_of
from servicecore.container import Container
from tests.conftest import JWT_SECRET

VIN = "LSVAU218XN2183294"
LABOR = {"op_code": "BRK-PAD", "description": "replace front pads", "hours": "1.5",
         "hourly_rate": "300.00"}
Auth = Callable[..., dict[str, str]]


def problem(response: Response, status: int, kind: str) -> dict[str, Any]:
    """Assert an RFC 9457 problem of the given status and type; return its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert {"type", "title", "status", "detail"} <= body.keys()
    assert body["status"] == status and body["type"].endswith(f"/{kind}")
    assert body["title"] and body["detail"]
    return body


def opening(store_id: str, **overrides: Any) -> dict[str, Any]:
    return {"store_id": store_id, "customer": {"name": "王芳", "phone": "13611112222"},
            "vehicle": {"vin": VIN, "plate": "沪B54321"}, "mileage": 30_000,
            "complaints": ["engine light on"], **overrides}


def open_one(client: TestClient, auth: Auth, store_id: str) -> dict[str, Any]:
    response = client.post("/work-orders", json=opening(store_id),
                           headers=auth("advisor", "adv-li", [store_id]))
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def log_head(client: TestClient) -> int:
    return int(client.get("/health").json()["head_notification_id"])


def test_invalid_input_is_422_and_stores_nothing(client: TestClient, auth: Auth,
                                                 store_id: str) -> None:
    advisor = auth("advisor", "adv-li", [store_id])
    before = log_head(client)

    # A VIN with a wrong check digit: the domain refuses it.
    bad_vin = client.post("/work-orders", headers=advisor,
                          json=opening(store_id, vehicle={"vin": "LSVAU2180N2183294"}))
    assert "check digit" in problem(bad_vin, 422, "invalid-input")["detail"]

    # A body that is not JSON at all.
    malformed = client.post("/work-orders", content=b'{"store_id": "S01",',
                            headers={**advisor, "Content-Type": "application/json"})
    assert problem(malformed, 422, "invalid-input")["errors"]

    # A field the schema does not know.
    extra = client.post("/work-orders", json=opening(store_id, discount="99%"), headers=advisor)
    problem(extra, 422, "invalid-input")

    # None of them left a partial write behind.
    assert log_head(client) == before


def test_unknown_work_order_is_404_for_reads_and_commands(client: TestClient, auth: Auth,
                                                          store_id: str) -> None:
    advisor = auth("advisor", "adv-li", [store_id])
    unknown = f"/work-orders/{uuid4()}"
    problem(client.get(unknown, headers=advisor), 404, "not-found")
    problem(client.get(f"{unknown}/history", headers=advisor), 404, "not-found")
    problem(client.post(f"{unknown}/check-in", json={"mileage_in": 1, "fuel_level": 10},
                        headers=advisor), 404, "not-found")
    problem(client.post(f"{unknown}/repair-record/filing", headers=advisor,
                        json={"outcome": "filed", "receipt_no": "JT-1"}), 404, "not-found")
    problem(client.post("/failed-parts", headers=advisor, json={
        "work_order_id": unknown.rsplit("/", 1)[1], "line_id": "L1", "tag_number": "WT-1",
        "location": "cage"}), 404, "not-found")
    problem(client.post(f"/failed-parts/{uuid4()}/move", headers=advisor,
                        json={"location": "cage"}), 404, "not-found")
    problem(client.get(f"/grievances/{uuid4()}", headers=advisor), 404, "not-found")
    problem(client.get(f"/grievances/{uuid4()}/history", headers=advisor), 404, "not-found")
    problem(client.get(f"/customers/{uuid4()}/grievances", headers=advisor), 404, "not-found")
    problem(client.post(f"/grievances/{uuid4()}/first-contact", headers=advisor, json={}),
            404, "not-found")
    problem(client.post(f"/stores/{store_id}/grievances", headers=advisor, json={
        "customer_id": str(uuid4()), "kind": "complaint", "channel": "phone",
        "category": "price", "words": "too dear"}), 404, "not-found")


def test_quality_check_on_a_job_not_awaiting_qc_is_409(client: TestClient, auth: Auth,
                                                       store_id: str) -> None:
    opened = open_one(client, auth, store_id)
    before = log_head(client)

    # The manager tries to pass QC on a job nobody has worked on.
    refused = client.post(f"/work-orders/{opened['id']}/jobs/1/quality-check",
                          json={"passed": True}, headers=auth("manager", "mgr", [store_id]))
    assert "not awaiting QC" in problem(refused, 409, "illegal-transition")["detail"]
    assert log_head(client) == before


def test_a_complaint_case_step_out_of_order_is_409_and_bad_input_422(
        client: TestClient, auth: Auth, store_id: str) -> None:
    advisor = auth("advisor", "adv-li", [store_id])
    customer = client.post("/customers", headers=advisor, json={
        "store_id": store_id, "name": "王芳", "phones": ["13611112222"]}).json()
    case = client.post(f"/stores/{store_id}/grievances", headers=advisor, json={
        "customer_id": customer["id"], "kind": "suggestion", "channel": "in_store",
        "category": "other", "words": "a kids' corner in the lounge"})
    assert case.status_code == 201, case.text
    before = log_head(client)
    at_case = f"/grievances/{case.json()['id']}"
    early = problem(client.post(f"{at_case}/closure", headers=advisor, json={}), 409,
                    "illegal-transition")
    assert early["grievance_status"] == "registered"
    problem(client.post(f"{at_case}/assignment", headers=advisor, json={"owner": ""}), 422,
            "invalid-input")
    problem(client.post(f"{at_case}/resolution", headers=advisor,
                        json={"resolution": "done", "accepted": 1}), 422, "invalid-input")
    assert log_head(client) == before


def test_etag_is_the_version_and_a_stale_if_match_is_412_with_the_current_version(
        client: TestClient, auth: Auth, store_id: str) -> None:
    advisor = auth("advisor", "adv-li", [store_id])
    opened = open_one(client, auth, store_id)
    wo = f"/work-orders/{opened['id']}"

    # The command's ETag and the read model's ETag are both the stream version.
    detail = client.get(f"{wo}?wait_for={opened['notification_id']}", headers=advisor)
    assert detail.headers["ETag"] == f'"{opened["version"]}"' == f'"{detail.json()["version"]}"'

    # Check-in with the fresh ETag succeeds and answers the next one.
    checked = client.post(f"{wo}/check-in", json={"mileage_in": 30_010, "fuel_level": 60},
                          headers={**advisor, "If-Match": detail.headers["ETag"]})
    assert checked.status_code == 200, checked.text
    assert checked.headers["ETag"] == f'"{opened["version"] + 1}"'

    # A desk still holding the old ETag is told the current version (412).
    before = log_head(client)
    stale = client.post(f"{wo}/jobs/1/labor-lines", json=LABOR,
                        headers={**advisor, "If-Match": detail.headers["ETag"]})
    body = problem(stale, 412, "stale-version")
    assert body["current"] == checked.json()["version"]
    assert str(checked.json()["version"]) in body["detail"]
    assert log_head(client) == before

    # An If-Match that is not an ETag is invalid input.
    problem(client.post(f"{wo}/jobs/1/labor-lines", json=LABOR,
                        headers={**advisor, "If-Match": "yesterday"}), 422, "invalid-input")


def test_bad_tokens_are_401(client: TestClient, store_id: str) -> None:
    now = int(time.time())
    claims = {"sub": "adv-li", "role": "advisor", "stores": [store_id]}
    tokens = {
        "garbage": "Bearer not-a-jwt",
        "wrong secret": "Bearer " + jwt.encode({**claims, "exp": now + 60}, "x" * 40,
                                               algorithm="HS256"),
        "not bearer": "Basic YWRtaW46YWRtaW4=",
    }
    for name, header in tokens.items():
        refused = client.get("/work-orders", headers={"Authorization": header})
        problem(refused, 401, "unauthenticated")
        assert refused.headers["WWW-Authenticate"] == "Bearer", name


def test_an_expired_token_is_401(client: TestClient, store_id: str) -> None:
    expired = jwt.encode({"sub": "adv-li", "role": "advisor", "stores": [store_id],
                          "exp": int(time.time()) - 60}, JWT_SECRET, algorithm="HS256")
    problem(client.get("/work-orders", headers={"Authorization": f"Bearer {expired}"}),
            401, "unauthenticated")


def test_a_store_sees_only_its_own_work_orders(client: TestClient, auth: Auth,
                                               store_id: str) -> None:
    other_store = store_id + "B"
    theirs = open_one(client, auth, other_store)
    ours = open_one(client, auth, store_id)
    ours_only = auth("advisor", "adv-li", [store_id])
    wo = f"/work-orders/{theirs['id']}"

    # Store A's token cannot read store B's work order, its history, or its past state.
    problem(client.get(f"{wo}?wait_for={theirs['notification_id']}", headers=ours_only),
            404, "not-found")
    problem(client.get(f"{wo}/history", headers=ours_only), 404, "not-found")
    problem(client.get(wo, params={"as_of": datetime.now(UTC).isoformat()}, headers=ours_only),
            404, "not-found")
    # Nor change it.
    problem(client.post(f"{wo}/cancel", json={"reason": "not ours"}, headers=ours_only),
            404, "not-found")

    # Lists show store A's work order and never store B's, even filtered by B's plate.
    listed = client.get("/work-orders", params={"plate": "沪B54321",
                                                "wait_for": ours["notification_id"]},
                        headers=ours_only).json()
    assert [item["id"] for item in listed["items"]] == [ours["id"]]
    assert {item["store_id"] for item in listed["items"]} == {store_id}

    # Store B's token sees it.
    assert client.get(wo, headers=auth("advisor", "adv-b", [other_store])).status_code == 200


def test_health_shows_the_work_orders_projection_caught_up(client: TestClient, auth: Auth,
                                                           store_id: str) -> None:
    # A write, then a read that waits for it.
    opened = open_one(client, auth, store_id)
    client.get(f"/work-orders/{opened['id']}?wait_for={opened['notification_id']}",
               headers=auth("advisor", "adv-li", [store_id]))

    # Health: database reachable, projection position at the head, lag 0.
    health = client.get("/health")
    assert health.status_code == 200
    body = health.json()
    assert body["status"] == "ok" and body["database"] == "reachable"
    assert body["head_notification_id"] >= opened["notification_id"]
    assert body["projections"]["work_orders"] == {
        "position": body["head_notification_id"], "lag": 0, "stalled_seconds": 0.0,
        "stopped_at": None}


def test_a_command_can_be_looked_up_by_its_command_id(client: TestClient, auth: Auth,
                                                      container: Container,
                                                      store_id: str) -> None:
    """After a 503 that could not tell whether a command was stored, its command id says."""
    opened = open_one(client, auth, store_id)
    with container.pool.connection() as conn:
        row = conn.execute("SELECT command_id FROM servicecore_commands "
                           "WHERE %s = ANY(notification_ids)",
                           (opened["notification_id"],)).fetchone()
    assert row is not None
    advisor = auth("advisor", "adv-li", [store_id])
    found = client.get(f"/commands/{row[0]}", headers=advisor)
    assert found.status_code == 200, found.text
    body = found.json()
    assert body["stored"] is True and body["command_id"] == str(row[0])
    assert opened["notification_id"] in body["notification_ids"]
    problem(client.get(f"/commands/{uuid4()}", headers=advisor), 404, "not-found")
    problem(client.get(f"/commands/{uuid4()}"), 401, "unauthenticated")


def test_every_integer_a_request_body_takes_is_bounded(client: TestClient) -> None:
    """Events are read back with orjson, which turns an integer beyond 64 bits into a float
    without an error: no command may carry one into the log, so every integer field of every
    request body has a maximum (a larger value is a 422, never stored)."""
    spec = client.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    bodies = {ref["$ref"].rsplit("/", 1)[1]
              for path in spec["paths"].values() for op in path.values()
              if isinstance(op, dict)
              for content in op.get("requestBody", {}).get("content", {}).values()
              for ref in [content["schema"]] if "$ref" in ref}
    seen, unbounded, todo = set(), [], list(bodies)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for field, prop in schemas[name].get("properties", {}).items():
            for option in [prop, *prop.get("anyOf", []), prop.get("items", {})]:
                if option.get("type") == "integer" and "maximum" not in option:
                    unbounded.append(f"{name}.{field}")
                ref = option.get("$ref") or option.get("items", {}).get("$ref")
                if ref:
                    todo.append(ref.rsplit("/", 1)[1])
    assert len(seen) > 20
    assert unbounded == []


def test_each_problem_type_has_one_human_title(client: TestClient, auth: Auth,
                                               store_id: str) -> None:
    """RFC 9457: the title summarises the problem's type and is the same on every occurrence;
    what happened is the detail, and a domain refusal names its own class in `code`."""
    advisor = auth("advisor", "adv-li", [store_id])
    manager = auth("manager", "mgr", [store_id])
    opened = open_one(client, auth, store_id)
    wo = f"/work-orders/{opened['id']}"
    answers = [
        # invalid input: refused by the domain (a VIN's check digit), by validation (a body,
        # an unknown query parameter, an If-Match that is no ETag)
        client.post("/work-orders", headers=advisor,
                    json=opening(store_id, vehicle={"vin": "LSVAU2180N2183294"})),
        client.post("/work-orders", headers=advisor, json={"store_id": store_id}),
        client.get("/work-orders", params={"statsu": "open"}, headers=advisor),
        client.post(f"{wo}/jobs/1/labor-lines", json=LABOR,
                    headers={**advisor, "If-Match": "yesterday"}),
        # a monthly report of no calendar month, of a region that is not configured
        client.get("/analytics/reports/monthly", params={"month": "2026-13"}, headers=manager),
        client.get("/analytics/reports/monthly", params={"month": "2026-11", "region": "西北"},
                   headers=manager),
        # unknown ids, and a path or method no route has
        client.get(f"/work-orders/{uuid4()}", headers=advisor),
        client.get(f"/settlements/{uuid4()}", headers=advisor),
        client.get("/no-such-thing", headers=advisor),
        client.delete(wo, headers=advisor),
        # no token, a bad one, a role that may not
        client.get("/work-orders"),
        client.get("/work-orders", headers={"Authorization": "Bearer nonsense"}),
        client.post("/customers", json={}, headers=auth("technician", "t1", [store_id])),
        # illegal in the state it is in: a job nobody worked on, a bill for an open visit
        client.post(f"{wo}/jobs/1/quality-check", json={"passed": True}, headers=manager),
        client.post("/settlements", json={"work_order_id": opened["id"]},
                    headers=auth("cashier", "cash-1", [store_id])),
        # a stale If-Match, a body over the limit
        client.post(f"{wo}/jobs/1/labor-lines", json=LABOR,
                    headers={**advisor, "If-Match": '"0"'}),
        client.post("/work-orders", headers={**advisor, "Content-Type": "application/json"},
                    content=b'{"x": "' + b"a" * 300_000 + b'"}'),
    ]
    titles: dict[str, set[str]] = {}
    codes: dict[str, set[str]] = {}
    for answer in answers:
        assert answer.status_code >= 400, answer.text
        assert answer.headers["content-type"] == "application/problem+json", answer.text
        body = answer.json()
        titles.setdefault(body["type"].rsplit("/", 1)[1], set()).add(body["title"])
        if "code" in body:
            codes.setdefault(body["type"].rsplit("/", 1)[1], set()).add(body["code"])
    assert {"invalid-input", "not-found", "http-404", "http-405", "unauthenticated",
            "forbidden", "illegal-transition", "stale-version", "too-large"} <= titles.keys()
    assert titles == {kind: {title_of(kind)} for kind in titles}, titles
    assert titles["invalid-input"] == {"Invalid input"}
    assert (titles["http-404"], titles["http-405"]) == ({"Not Found"}, {"Method Not Allowed"})
    # A title is words for people, never the name of the class that refused ...
    assert all(" " in title or title.istitle() for (title,) in titles.values()), titles
    assert not {title for (title,) in titles.values()} & set().union(*codes.values())
    # ... which the domain's refusals carry in `code`, several under one type.
    assert "InvalidInput" in codes["invalid-input"] and "NotFound" in codes["not-found"]
    assert len(codes["illegal-transition"]) == 2, codes
