"""Bad input never reaches the domain: body size, field lengths, unknown query parameters,
text PostgreSQL cannot hold, numbers past bigint. Each answer is problem+json; nothing stored."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
from fastapi.dependencies.utils import is_scalar_field
from fastapi.testclient import TestClient

from api.json_bodies import api_routes
from api.main import create_app
from servicecore.container import Container
from servicecore.server import H11HeaderTimeoutProtocol, HttpToolsHeaderTimeoutProtocol
from tests.e2e.test_api_contract import log_head, opening, problem
from tests.live_server import serving

Auth = Callable[..., dict[str, str]]
LIMIT = 256 * 1024


def next_week() -> str:
    """A day capacity can be planned for (and booked)."""
    return (datetime.now(ZoneInfo("Asia/Shanghai")).date() + timedelta(days=7)).isoformat()


@pytest.fixture(scope="module")
def live_url(container: Container) -> Iterator[str]:
    with serving(create_app(container.api_context())) as url:
        yield url


@pytest.fixture(scope="module", params=["httptools", "h11"])
def protocol_url(request: pytest.FixtureRequest, container: Container) -> Iterator[str]:
    """The API served with each of `serve`'s HTTP protocols (httptools where installed)."""
    protocol = {"httptools": HttpToolsHeaderTimeoutProtocol,
                "h11": H11HeaderTimeoutProtocol}[request.param]
    if protocol is None:
        pytest.skip("httptools is not installed")
    with serving(create_app(container.api_context()), http=protocol) as url:
        yield url


def raw_exchange(base_url: str, head: bytes, body_chunks: list[bytes]) -> bytes:
    """Send a request head and some body bytes, never the end of the body; read the answer."""
    address = urlsplit(base_url)
    with socket.create_connection((address.hostname, address.port), timeout=30) as sock:
        sock.sendall(head)
        for chunk in body_chunks:
            sock.sendall(chunk)
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            data = sock.recv(65536)
            if not data:
                break
            answer += data
    return answer


def request_head(auth: Auth, store_id: str, extra: str) -> bytes:
    token = auth("advisor", "adv-li", [store_id])["Authorization"]
    return (f"POST /work-orders HTTP/1.1\r\nHost: test\r\nAuthorization: {token}\r\n"
            f"Content-Type: application/json\r\n{extra}\r\n").encode()


def assert_too_large(answer: bytes) -> None:
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line.startswith(b"HTTP/1.1 413"), answer[:300]
    headers, _, body = rest.partition(b"\r\n\r\n")
    assert b"content-type: application/problem+json" in headers.lower()
    assert json.loads(body)["type"].endswith("/too-large")


def test_a_512_kib_complaint_is_413_and_stores_nothing(client: TestClient, auth: Auth,
                                                       store_id: str) -> None:
    before = log_head(client)
    huge = opening(store_id, complaints=["noise " * (512 * 1024 // 6)])
    response = client.post("/work-orders", json=huge,
                           headers=auth("advisor", "adv-li", [store_id]))
    body = problem(response, 413, "too-large")
    assert body["limit"] == LIMIT
    assert log_head(client) == before


def test_a_body_without_content_length_is_counted_too(client: TestClient, auth: Auth,
                                                      store_id: str) -> None:
    before = log_head(client)
    payload = json.dumps(opening(store_id, complaints=["x" * 1000] * 300)).encode()
    assert len(payload) > LIMIT

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(payload), 16 * 1024):
            yield payload[start:start + 16 * 1024]

    response = client.post("/work-orders", content=chunks(),
                           headers={**auth("advisor", "adv-li", [store_id]),
                                    "Content-Type": "application/json"})
    problem(response, 413, "too-large")
    assert log_head(client) == before


def test_a_declared_oversize_body_is_refused_before_it_is_sent(live_url: str, auth: Auth,
                                                               store_id: str,
                                                               client: TestClient) -> None:
    before = log_head(client)
    # Content-Length says 10 MB and not a byte of the body follows: the answer comes anyway.
    answer = raw_exchange(live_url, request_head(auth, store_id, "Content-Length: 10485760\r\n"),
                          [])
    assert_too_large(answer)
    assert log_head(client) == before


def test_a_chunked_oversize_body_is_refused_while_it_arrives(live_url: str, auth: Auth,
                                                             store_id: str,
                                                             client: TestClient) -> None:
    before = log_head(client)
    # 300 KiB in 16 KiB chunks and no final chunk: the server answers without the whole body.
    chunk = b"4000\r\n" + b" " * 0x4000 + b"\r\n"
    answer = raw_exchange(live_url, request_head(auth, store_id, "Transfer-Encoding: chunked\r\n"),
                          [chunk] * 19)
    assert_too_large(answer)
    assert log_head(client) == before


def test_a_body_under_the_limit_is_served(client: TestClient, auth: Auth,
                                          store_id: str) -> None:
    # 30 complaints of 1,000 characters each: long, within every limit.
    response = client.post("/work-orders", json=opening(store_id, complaints=["y" * 1000] * 30),
                           headers=auth("advisor", "adv-li", [store_id]))
    assert response.status_code == 201, response.text


@pytest.mark.parametrize(("path", "body", "loc"), [
    ("/work-orders", "complaint", ["body", "complaints", 0]),
    ("/work-orders", "appointment_id", ["body", "appointment_id"]),
])
def test_an_over_long_field_is_422_and_stores_nothing(client: TestClient, auth: Auth,
                                                      store_id: str, path: str, body: str,
                                                      loc: list[Any]) -> None:
    before = log_head(client)
    request = opening(store_id, complaints=["z" * 1001]) if body == "complaint" else \
        opening(store_id, appointment_id="k" * 65)
    response = client.post(path, json=request, headers=auth("advisor", "adv-li", [store_id]))
    errors = problem(response, 422, "invalid-input")["errors"]
    assert any(e["loc"] == loc and e["type"] == "string_too_long" for e in errors), errors
    assert log_head(client) == before


def test_over_long_list_items_and_map_keys_are_422(client: TestClient, auth: Auth,
                                                   store_id: str) -> None:
    before = log_head(client)
    manager = auth("manager", "mgr-wu", [store_id])
    capacity = {"store_id": store_id, "from_day": next_week(), "to_day": next_week(),
                "opens": "08:30", "closes": "17:30", "bays": 4,
                "skill_hours": {"s" * 31: "8"}}
    problem(client.post("/appointments/capacity", json=capacity, headers=manager), 422,
            "invalid-input")
    customer = {"store_id": store_id, "name": "王芳", "phones": ["1" * 31]}
    problem(client.post("/customers", json=customer, headers=manager), 422, "invalid-input")
    assert log_head(client) == before


def test_every_request_schema_bounds_its_text_and_lists(client: TestClient) -> None:
    """Every string, list and map a request body, path or query can carry has a bound (the
    reason of a revoked progress link, a query parameter, had none; nor had a read's filters:
    a 20 kB `store_id` was echoed back by the dispatch board and two audit reports)."""
    document = client.get("/openapi.json").json()
    unbounded: list[str] = []

    def visit(schema: dict[str, Any], where: str, numeric_sibling: bool = False) -> None:
        if "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[-1]
            visit(document["components"]["schemas"][name], f"{where}<{name}>")
            return
        branches = schema.get("anyOf", [])
        has_number = any(b.get("type") in ("number", "integer") for b in branches)
        for branch in branches:
            visit(branch, where, has_number)
        kind = schema.get("type")
        if kind == "string" and "maxLength" not in schema and "enum" not in schema \
                and "const" not in schema and schema.get("format") not in \
                ("uuid", "date", "date-time") and not numeric_sibling:
            unbounded.append(f"{where}: string without maxLength")
        if kind == "array":
            if "maxItems" not in schema:
                unbounded.append(f"{where}: array without maxItems")
            visit(schema.get("items", {}), f"{where}[]")
        if kind == "object":
            for name, prop in schema.get("properties", {}).items():
                visit(prop, f"{where}.{name}")
            extra = schema.get("additionalProperties")
            if isinstance(extra, dict):
                if "maxProperties" not in schema:
                    unbounded.append(f"{where}: map without maxProperties")
                visit(schema.get("propertyNames", {"type": "string"}), f"{where}{{key}}")
                visit(extra, f"{where}{{}}")

    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                if parameter["in"] in ("path", "query"):
                    visit(parameter["schema"], f"{method} {path} {parameter['name']}")
            content = operation.get("requestBody", {}).get("content", {})
            for media in content.values():
                visit(media["schema"], f"{method} {path}")
    assert not unbounded, "\n".join(sorted(set(unbounded)))


@pytest.mark.parametrize("url", [
    "/work-orders?wo_number=WO-S01-2026-000123",
    "/stock?part=0986494209",
    "/customers?q=138&phone=13800000000",
    "/settlements?status=open&page=2",
    "/follow-ups?verbose=1",
])
def test_an_unknown_query_parameter_is_422(client: TestClient, auth: Auth, url: str) -> None:
    response = client.get(url, headers=auth("manager", "mgr-wu"))
    errors = problem(response, 422, "invalid-input")["errors"]
    unknown = url.split("?")[1].split("&")[-1].split("=")[0]
    assert errors == [{"loc": ["query", unknown], "msg": "Unknown query parameter",
                       "type": "extra_forbidden"}]


def test_an_unknown_query_parameter_on_a_command_stores_nothing(client: TestClient, auth: Auth,
                                                                store_id: str) -> None:
    before = log_head(client)
    response = client.post("/work-orders?dry_run=true", json=opening(store_id),
                           headers=auth("advisor", "adv-li", [store_id]))
    problem(response, 422, "invalid-input")
    assert log_head(client) == before


@pytest.mark.parametrize(("url", "repeated"), [
    ("/work-orders?limit=1&limit=500", "limit"),
    ("/work-orders?status=opened&status=closed&limit=5", "status"),
    ("/stock?store_id=S1&store_id=S2", "store_id"),
])
def test_a_query_parameter_given_twice_is_422(client: TestClient, auth: Auth, url: str,
                                              repeated: str) -> None:
    """The route took the last value silently: `status=opened&status=closed` listed only
    the closed ones, as if the first filter had not been asked for."""
    errors = problem(client.get(url, headers=auth("manager", "mgr-wu")), 422,
                     "invalid-input")["errors"]
    assert errors == [{"loc": ["query", repeated], "msg": "Given more than once",
                       "type": "repeated"}]


def test_no_route_takes_a_list_in_its_query(client: TestClient) -> None:
    """Refusing a repeated name holds only while every query parameter is a single value."""
    routes = list(api_routes(client.app.routes))  # type: ignore[attr-defined]
    assert len(routes) > 50
    lists = [(route.path, param.alias) for route in routes
             for param in _query_params(route.dependant) if not is_scalar_field(param)]
    assert lists == []


def _query_params(dependant: Any) -> Iterator[Any]:
    yield from dependant.query_params
    for sub in dependant.dependencies:
        yield from _query_params(sub)


def test_declared_query_parameters_still_work(client: TestClient, auth: Auth,
                                              store_id: str) -> None:
    manager = auth("manager", "mgr-wu", [store_id])
    assert client.get("/work-orders?status=opened&limit=5&offset=0&plate=%E6%B2%AAB54321",
                      headers=manager).status_code == 200
    assert client.get(f"/stock?store_id={store_id}&low_only=true",
                      headers=manager).status_code == 200


# -- what the fuzzing found: 500s, now refused as invalid input ------------------------------

@pytest.mark.parametrize("url", [
    "/complaints?status=%03%0E%00%C3%87~",  # NUL in a filter: "text fields cannot contain NUL"
    "/work-orders?plate=%00%C2%B8&customer_phone=I",
    "/parts/%00",  # NUL in a path value
    "/reminders/due?days=114&offset=59545797466521000449409024",  # offset past bigint
    "/work-orders?wait_for=100000000000000000000",  # wait_for past bigint
    # days whose report arithmetic leaves the calendar: the validity before it, the next day
    "/audit/sanbao?as_of=0002-01-29",
    "/audit/sanbao?as_of=9999-12-31",
    "/audit/repair-records?date=9999-12-31",
    "/audit/repair-records?date=0001-01-01",
])
def test_what_the_fuzzer_found_is_422_not_500(client: TestClient, auth: Auth, url: str) -> None:
    problem(client.get(url, headers=auth("manager", "mgr-wu")), 422, "invalid-input")


@pytest.mark.parametrize("text", ["engine\x00light", "engine \ud83d light"])
def test_text_postgresql_cannot_hold_is_422_and_stores_nothing(client: TestClient, auth: Auth,
                                                               store_id: str,
                                                               text: str) -> None:
    """A NUL or an unpaired surrogate would be stored in the event and then stop every
    projection that writes it to a text column."""
    before = log_head(client)
    raw = json.dumps(opening(store_id, complaints=[text]))  # ensure_ascii: escapes survive
    response = client.post("/work-orders", content=raw,
                           headers={**auth("advisor", "adv-li", [store_id]),
                                    "Content-Type": "application/json"})
    problem(response, 422, "invalid-input")
    assert log_head(client) == before


@pytest.mark.parametrize("format", ["csv", "jsonl"])
def test_a_store_id_that_cannot_be_a_file_name_still_exports(client: TestClient, auth: Auth,
                                                            format: str) -> None:
    """Found by fuzzing: the store id went into the Content-Disposition header, which is
    Latin-1, and a store id like "è\\x1e" made the export a 500."""
    response = client.get("/audit/repair-records",
                          params={"date": "2026-03-01", "store_id": "è\x1e门店", "format": format},
                          headers=auth("auditor", "aud-1"))
    assert response.status_code == 200, response.text
    disposition = response.headers["content-disposition"]
    assert disposition == f'attachment; filename="repair-records-____-2026-03-01.{format}"'


# -- what the reliability audit found: 500s on nesting and on numbers past Decimal's digits --

def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("depth", [500, 950])
@pytest.mark.parametrize("idempotency_key", [None, "nested-body"])
def test_a_deeply_nested_body_is_422_not_500(client: TestClient, auth: Auth, store_id: str,
                                             depth: int, idempotency_key: str | None) -> None:
    """Found by the reliability audit: the NUL/surrogate check walked the body by recursion,
    so a list nested 500 deep (well within what the JSON parser takes) exhausted the
    recursion limit and answered 500; with an Idempotency-Key, fingerprinting such a body
    did too."""
    before = log_head(client)
    raw = json.dumps(opening(store_id))[:-1] + f', "x": {nested(depth)}}}'
    headers = {**auth("advisor", "adv-li", [store_id]), "Content-Type": "application/json"}
    if idempotency_key:
        headers["Idempotency-Key"] = f"{idempotency_key}-{depth}"
    errors = problem(client.post("/work-orders", content=raw, headers=headers), 422,
                     "invalid-input")["errors"]
    assert errors[0]["loc"] == ["body", "x"]
    assert log_head(client) == before


@pytest.mark.parametrize("depth", [957, 990, 5000])
def test_a_deeply_nested_statement_file_or_page_decision_is_422_not_500(
        client: TestClient, auth: Auth, store_id: str, depth: int) -> None:
    """The body of a statement file is fingerprinted for its Idempotency-Key, and the
    customer's decisions are parsed before the link is checked: JSON nested past what the
    parser (RecursionError, not ValueError) or the encoder follows was a 500, the latter
    for anyone on the internet."""
    before = log_head(client)
    headers = {**auth("finance", "fin-1", [store_id]), "Content-Type": "text/csv",
               "Idempotency-Key": f"nested-file-{depth}"}
    problem(client.post(f"/reconciliation/statements/file?store_id={store_id}&source=bank",
                        content=nested(depth).encode(), headers=headers), 422, "invalid-input")
    decisions = client.post(f"/progress/{'A' * 80}/decisions", content=nested(depth).encode(),
                            headers={"Content-Type": "application/json"})
    problem(decisions, 422, "invalid-input")
    assert log_head(client) == before


@pytest.mark.parametrize("number", ["1" + "0" * 30, "1" * 400, 1e30, 1e308])
def test_a_number_past_every_business_size_is_422_not_500(client: TestClient, auth: Auth,
                                                          store_id: str,
                                                          number: str | float) -> None:
    """Found by the reliability audit: skill hours and counted quantities are maps of
    Decimals with no bound in the schema, and bank statement amounts come from the file; a
    value over 28 digits overflowed Decimal's quantize (InvalidOperation) into a 500."""
    manager = auth("manager", "mgr-wu", [store_id])
    capacity = {"store_id": store_id, "from_day": next_week(), "to_day": next_week(),
                "opens": "08:30", "closes": "17:30", "bays": 4,
                "skill_hours": {"engine": number}}
    part = "PN-" + store_id
    assert client.post("/parts", json={"part_number": part, "name": "pads", "unit": "set",
                                       "category": "brake", "list_price": "10.00"},
                       headers=manager).status_code in (201, 200)
    receipt = client.post(f"/stock/{store_id}/{part}/receipts",
                          json={"qty": "4", "unit_cost": "3.00", "supplier": "FAW-VW Parts",
                                "supplier_doc": "DN-1"}, headers=manager)
    assert receipt.status_code == 201, receipt.text
    lot = receipt.json()["lot_id"]
    before = log_head(client)
    detail = problem(client.post("/appointments/capacity", json=capacity, headers=manager),
                     422, "invalid-input")["detail"]
    assert "too large" in detail
    count = client.post(f"/stock/{store_id}/{part}/stocktakes",
                        json={"counted": {lot: number}, "reason": "counted again"},
                        headers=manager)
    assert "too large" in problem(count, 422, "invalid-input")["detail"]
    written = number if isinstance(number, str) else f"{Decimal(number):f}"  # no exponent
    csv = f"date,amount,reference,counterparty\n2026-05-01,{written},4200001234,陈静\n"
    statement = client.post("/reconciliation/statements", headers=manager,
                            json={"store_id": store_id, "source": "bank", "csv": csv})
    assert "too large" in problem(statement, 422, "invalid-input")["detail"]
    upload = client.post(f"/reconciliation/statements/file?store_id={store_id}&source=bank",
                         content=csv.encode(), headers={**manager, "Content-Type": "text/csv"})
    assert problem(upload, 422, "invalid-input")["row"] == 2
    assert log_head(client) == before


@pytest.mark.parametrize("key", ["", "key\x00with-nul", "key\nwith-newline", "key\x7f"])
def test_an_empty_or_control_character_idempotency_key_is_422(client: TestClient, auth: Auth,
                                                              store_id: str, key: str) -> None:
    """A key is stored with the command and its events: a NUL in it would stop every view
    that writes it to a text column, and an empty key would tie every command of a client
    that always sends the header to its first one. Only uvicorn's parser stood in the way."""
    before = log_head(client)
    response = client.post("/work-orders", json=opening(store_id),
                           headers={**auth("advisor", "adv-li", [store_id]),
                                    "Idempotency-Key": key})
    errors = problem(response, 422, "invalid-input")["errors"]
    assert errors[0]["loc"] == ["header", "idempotency-key"]
    assert log_head(client) == before


def test_a_printable_idempotency_key_with_spaces_and_non_ascii_still_replays(
        client: TestClient, auth: Auth, store_id: str) -> None:
    key = f"visit 7 é {store_id}".encode("latin-1")
    headers = {**auth("advisor", "adv-li", [store_id]), "Idempotency-Key": key}
    first = client.post("/work-orders", json=opening(store_id), headers=headers)
    again = client.post("/work-orders", json=opening(store_id), headers=headers)
    assert first.status_code == 201, first.text
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()


@pytest.mark.parametrize("malformed", [
    b"NOT AN HTTP REQUEST\r\n\r\n",
    b"GET /health HTTP/1.1\r\nHost: test\r\nBad Header: x\r\n\r\n",
    b"GET /health HTTP/1.1\r\nHost: test\r\nX-Note: a\x00b\r\n\r\n",
], ids=["request-line", "header-name", "header-value"])
def test_a_request_the_server_cannot_parse_is_a_400_problem(protocol_url: str,
                                                             malformed: bytes) -> None:
    """Answered by the server itself (no route sees it), in the shape of every other error."""
    answer = raw_exchange(protocol_url, malformed, [])
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line == b"HTTP/1.1 400 Bad Request", answer[:300]
    head, _, body = rest.partition(b"\r\n\r\n")
    headers = dict(line.split(b": ", 1) for line in head.lower().split(b"\r\n"))
    assert headers[b"content-type"] == b"application/problem+json", answer[:300]
    assert headers[b"connection"] == b"close"
    assert int(headers[b"content-length"]) == len(body)
    problem_body = json.loads(body)
    assert problem_body == {"type": "https://servicecore.dev/problems/http-400",
                            "title": "Bad Request", "status": 400,
                            "detail": "the request line or a header is not valid HTTP/1.1"}
