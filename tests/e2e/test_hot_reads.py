"""The two hot reads (api/hot_reads.py) answer byte for byte as FastAPI's routes do: the same
body, headers, problem+json errors, access line, metrics and recorded reads; whatever is not
a plain read goes on to the routes."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.types import Receive, Scope, Send

from api.hot_reads import HotReads
from api.main import create_app
from servicecore.container import Container
from tests.e2e import test_observability
from tests.e2e.test_observability import Lines
from tests.e2e.test_parts_api import head, new_part, post

Auth = Callable[..., dict[str, str]]
lines = test_observability.lines  # the fixture: the JSON lines the requests log
STOCK_ROUTE = "/stock/{store_id}/{part_number}"
WORK_ORDER_ROUTE = "/work-orders/{work_order_id}"


def _hot_reads(client: TestClient) -> HotReads:
    assert client.get("/health/live").status_code == 200  # the middleware stack is built
    node: Any = client.app
    while node is not None and not isinstance(node, HotReads):
        node = getattr(node, "middleware_stack", None) or getattr(node, "app", None)
    assert isinstance(node, HotReads), "the hot reads are not in the middleware stack"
    return node


@pytest.fixture
def routed(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths of the requests the hot reads passed on to FastAPI's routes."""
    hot = _hot_reads(client)
    paths: list[str] = []
    inner = hot.app

    async def spy(scope: Scope, receive: Receive, send: Send) -> None:
        paths.append(scope["path"])
        await inner(scope, receive, send)

    monkeypatch.setattr(hot, "app", spy)
    return paths


def _visit(client: TestClient, auth: Auth, store_id: str) -> tuple[str, str]:
    """A part received in the store, and a work order opened there: (part number, id)."""
    clerk = auth("parts_clerk", stores=[store_id])
    number = new_part(client, clerk)
    post(client, f"/stock/{store_id}/{number}/receipts", clerk, {
        "qty": 3, "unit_cost": "220.00", "supplier": "FAW-VW Parts", "supplier_doc": "DN-1"},
        201)
    opened = post(client, "/work-orders", auth("advisor", stores=[store_id]), {
        "store_id": store_id, "customer": {"name": "王伟", "phone": "13800000001"},
        "vehicle": {"vin": "LSVAU218XN2183294", "plate": "沪A12345"}, "mileage": 30000,
        "complaints": ["brake noise"]}, 201)
    # read once with ?wait_for= (FastAPI's route): the read models have both
    for path, reader in ((f"/stock/{store_id}/{number}", clerk),
                         (f"/work-orders/{opened['id']}", auth("advisor", stores=[store_id]))):
        assert client.get(path, params={"wait_for": head(client)},
                          headers=reader).status_code == 200
    return number, str(opened["id"])


def _exchange(client: TestClient, path: str, headers: dict[str, str]) -> tuple[Any, ...]:
    response = client.get(path, headers={**headers, "X-Correlation-ID": "hot-1"})
    return response.status_code, response.headers.raw, response.content


def test_the_hot_reads_answer_as_the_routes_do(client: TestClient, auth: Auth, store_id: str,
                                              routed: list[str], lines: Lines,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    number, wo_id = _visit(client, auth, store_id)
    advisor = auth("advisor", "adv-hot", [store_id])
    other_store = auth("advisor", "adv-other", ["ELSEWHERE"])
    reached, beyond = head(client), head(client) + 1_000_000
    cases = [
        (f"/stock/{store_id}/{number}", advisor),  # found
        (f"/stock/{store_id}/{number.lower()}", advisor),  # the number as typed
        (f"/stock/{store_id}/{number}?wait_for={reached}", advisor),  # read your writes
        (f"/stock/{store_id}/{number}?wait_for={beyond}", advisor),  # not waited for
        (f"/stock/{store_id}/NOPE-{number}", advisor),  # 404
        (f"/stock/{store_id}/{number}", other_store),  # not the caller's store: 404
        (f"/stock/{store_id}/{number}", {}),  # no token: 401
        (f"/stock/{store_id}/{number}", {"Authorization": "Bearer not-a-jwt"}),  # 401
        (f"/work-orders/{wo_id}", advisor),  # found, with its ETag
        (f"/work-orders/{wo_id.upper()}?wait_for=0", advisor),
        (f"/work-orders/{wo_id}?wait_for={beyond}", advisor),  # X-Read-Model-Stale
        (f"/work-orders/{uuid.uuid4()}", advisor),  # 404
        (f"/work-orders/{wo_id}", other_store),  # 404
        (f"/work-orders/{wo_id}", {"Authorization": "Basic abc"}),  # 401
    ]
    hot = _hot_reads(client)
    for path, headers in cases:
        passed_on = len(routed)
        answer = _exchange(client, path, headers)
        assert len(routed) == passed_on, path
        with monkeypatch.context() as off:  # the hot reads off: FastAPI's route answers
            off.setattr(hot, "routes", ())
            assert _exchange(client, path, headers) == answer, path
        assert routed[passed_on:] == [path.split("?")[0]], path
    statuses = [_exchange(client, path, headers)[0] for path, headers in cases]
    assert statuses == [200, 200, 200, 200, 404, 404, 401, 401, 200, 200, 200, 404, 404, 401]
    assert _exchange(client, *cases[10])[1].count((b"x-read-model-stale", b"true")) == 1

    # The access lines say the same, the caller and the store included.
    accessed = [line for line in lines.all() if line["logger"] == "servicecore.access"
                and line["correlation_id"] == "hot-1"]
    pairs = accessed[:2 * len(cases)]
    for one, other in zip(pairs[0::2], pairs[1::2], strict=True):
        for key in ("method", "path", "route", "status", "bytes", "user", "role", "store"):
            assert one[key] == other[key], (key, one, other)
        assert one["message"].split(" ms")[0].rsplit(" ", 1)[0] == (
            other["message"].split(" ms")[0].rsplit(" ", 1)[0])  # but for the duration
    assert {line["route"] for line in pairs} == {STOCK_ROUTE, WORK_ORDER_ROUTE}
    assert pairs[0]["store"] == store_id and pairs[0]["user"] == "adv-hot"


def test_the_hot_reads_count_in_the_metrics_by_route_template(
        client: TestClient, auth: Auth, store_id: str, routed: list[str]) -> None:
    number, wo_id = _visit(client, auth, store_id)
    registry = client.app.state.metrics.registry  # type: ignore[attr-defined]

    def count(route: str, status: str) -> float:
        return registry.get_sample_value(
            "servicecore_http_requests_total",
            {"method": "GET", "route": route, "status": status}) or 0.0

    before = [count(STOCK_ROUTE, "200"), count(WORK_ORDER_ROUTE, "200"),
              count(WORK_ORDER_ROUTE, "404")]
    passed_on = len(routed)
    reader = auth("technician", stores=[store_id])
    for path in (f"/stock/{store_id}/{number}", f"/work-orders/{wo_id}",
                 f"/work-orders/{uuid.uuid4()}"):
        assert client.get(path, headers=reader).status_code in (200, 404)
    assert len(routed) == passed_on
    assert [count(STOCK_ROUTE, "200"), count(WORK_ORDER_ROUTE, "200"),
            count(WORK_ORDER_ROUTE, "404")] == [n + 1 for n in before]


def test_what_is_not_a_plain_read_goes_on_to_the_routes(
        client: TestClient, auth: Auth, store_id: str, routed: list[str]) -> None:
    number, wo_id = _visit(client, auth, store_id)
    manager = auth("manager", stores=[store_id])
    passed_on = len(routed)
    # the lot ledger's path would match the stock item's too: its route is tried first
    assert client.get("/stock/lots/NO-SUCH-LOT", headers=manager).status_code == 404
    assert client.get("/stock/lots/NO-SUCH-LOT", headers=manager).json()["detail"] == (
        "lot NO-SUCH-LOT not found")
    # values the route refuses: its own 422
    assert client.get(f"/stock/{'S' * 21}/{number}", headers=manager).status_code == 422
    assert client.get(f"/stock/{store_id}/{'P' * 41}", headers=manager).status_code == 422
    assert client.get(f"/work-orders/{wo_id}", headers={
        **manager, "X-Correlation-ID": "x" * 201}).status_code == 422
    assert client.get("/work-orders/not-a-uuid", headers=manager).status_code == 422
    # a UUID without its hyphens is still one, as the route reads it
    assert client.get(f"/work-orders/{wo_id.replace('-', '')}",
                      headers=manager).json()["id"] == wo_id
    # queries: as_of, an unknown parameter
    assert client.get(f"/stock/{store_id}/{number}", params={"as_of": "2020-01-01"},
                      headers=manager).status_code == 404
    assert client.get(f"/work-orders/{wo_id}", params={"colour": "red"},
                      headers=manager).status_code == 422
    # wait_for as the route reads it, not as the hot reads take it (given twice: refused)
    for query, status in (("wait_for=007", 200), ("wait_for=-1", 422),
                          ("wait_for=9223372036854775808", 422),
                          ("wait_for=1&wait_for=2", 422)):
        assert client.get(f"/work-orders/{wo_id}?{query}",
                          headers=manager).status_code == status, query
    assert len(routed) - passed_on == 13
    assert _hot_reads(client).served == [STOCK_ROUTE, WORK_ORDER_ROUTE]


def test_an_auditors_hot_read_of_a_work_order_is_recorded(
        client: TestClient, auth: Auth, store_id: str, routed: list[str]) -> None:
    _, wo_id = _visit(client, auth, store_id)
    auditor = auth("auditor", "aud-hot", [store_id])
    before, passed_on = head(client), len(routed)
    assert client.get(f"/work-orders/{wo_id}", headers=auditor).status_code == 200
    assert len(routed) == passed_on
    assert head(client) == before + 1  # the PersonalDataRead, saved before the answer left
    manager = auth("manager", stores=[store_id])
    doc = client.get(f"/work-orders/{wo_id}", headers=manager).json()
    reads = client.get("/audit/personal-data-reads", headers=manager, params={
        "customer_id": doc["customer"]["id"], "wait_for": head(client)}).json()["items"]
    assert [(r["user_id"], r["endpoint"], r["purpose"]) for r in reads] == [
        ("aud-hot", f"GET /work-orders/{wo_id}", "work order")]


def test_a_hot_read_is_traced_as_its_route(container: Container, auth: Auth, store_id: str,
                                           lines: Lines) -> None:
    pytest.importorskip("opentelemetry.sdk")
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import SpanKind

    from servicecore.tracing import install_tracing

    exporter = InMemorySpanExporter()
    app = create_app(container.api_context())
    provider = install_tracing(app, "otlp", exporter=exporter)
    with TestClient(app) as traced:
        _, wo_id = _visit(traced, auth, store_id)
        routed: list[str] = []
        hot = _hot_reads(traced)
        inner = hot.app

        async def spy(scope: Scope, receive: Receive, send: Send) -> None:
            routed.append(scope["path"])
            await inner(scope, receive, send)

        hot.app = spy
        assert traced.get(f"/work-orders/{wo_id}",
                          headers=auth("advisor", stores=[store_id])).status_code == 200
        assert routed == []
    provider.shutdown()
    servers = [dict(s.attributes or {}) | {"trace_id": s.context.trace_id}
               for s in exporter.get_finished_spans() if s.kind == SpanKind.SERVER]
    span = [s for s in servers if s.get("http.target", s.get("url.path")) == (
        f"/work-orders/{wo_id}")][-1]  # the last request: the hot read
    assert span["http.route"] == WORK_ORDER_ROUTE
    [access] = [a for a in lines.access(f"/work-orders/{wo_id}") if "?" not in a["path"]]
    assert access["trace_id"] == format(span["trace_id"], "032x")
