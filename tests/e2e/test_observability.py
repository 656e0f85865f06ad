"""What operators see: JSON log lines that name the request, its user and store; an access line
without the customer's link token; Prometheus metrics of the API."""

from __future__ import annotations

import io
import json
import logging
import re
import uuid
from collections.abc import Callable, Iterator
from typing import Annotated, Any

import pytest
from fastapi import Depends
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from api.auth import Principal
from api.deps import reader
from api.log_context import LogContextFilter
from api.main import create_app
from servicecore.container import Container
from servicecore.logs import JsonFormatter
from tests.e2e.test_progress_page import page_path, share, visit

Auth = Callable[..., dict[str, str]]
VEHICLE = {"vin": "LSVAU218XN2183294", "plate": "沪A12345", "brand": "Volkswagen",
           "model": "Lavida"}
Reader = Annotated[Principal, Depends(reader("work_orders.read"))]


class Lines:
    """The JSON lines the process's handler would write, parsed."""

    def __init__(self, stream: io.StringIO) -> None:
        self.stream = stream

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    def all(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.text.splitlines() if line]

    def access(self, path_part: str) -> list[dict[str, Any]]:
        return [line for line in self.all()
                if line["logger"] == "servicecore.access" and path_part in line["path"]]


@pytest.fixture
def lines() -> Iterator[Lines]:
    """The root logger writes JSON into a buffer, as `servicecore serve` writes to stderr
    (without the test client's own lines: httpx logs each URL it calls)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(lambda record: not record.name.startswith("httpx"))
    handler.addFilter(LogContextFilter("api"))
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield Lines(stream)
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


@pytest.fixture(scope="module")
def observed(container: Container) -> Iterator[TestClient]:
    """An app of its own (its own metrics registry), with two routes that log while they work:
    one in the event loop, one in the thread pool, as real routes do."""
    app = create_app(container.api_context())
    work = logging.getLogger("servicecore.test.work")

    @app.get("/test-logging/async")
    async def async_route(principal: Reader) -> dict[str, str]:
        work.info("looking something up")
        return {"user": principal.user_id}

    @app.get("/test-logging/thread")
    def thread_route(principal: Reader) -> dict[str, str]:
        work.warning("something in a worker thread")
        return {"user": principal.user_id}

    @app.get("/test-logging/broken")
    def broken_route(principal: Reader) -> dict[str, str]:
        raise RuntimeError("a bug")

    with TestClient(app) as http:
        yield http


def test_every_line_of_a_request_names_its_correlation_id_user_and_store(
        observed: TestClient, auth: Auth, store_id: str, lines: Lines) -> None:
    advisor = auth("advisor", "adv-log", [store_id])

    # An advisor opens a work order, naming the request: every line of it carries the id.
    opened = observed.post("/work-orders", headers={**advisor, "X-Correlation-ID": "desk-0042"},
                           json={"store_id": store_id, "customer": {"name": "韩梅",
                                                                    "phone": "13900001111"},
                                 "vehicle": VEHICLE, "mileage": 12_000,
                                 "complaints": ["noise"]})
    assert opened.status_code == 201, opened.text
    assert opened.headers["X-Correlation-ID"] == "desk-0042"
    [access] = lines.access("/work-orders")
    assert access["correlation_id"] == "desk-0042"
    assert (access["user"], access["role"], access["store"]) == ("adv-log", "advisor", store_id)
    assert (access["method"], access["route"], access["status"]) == ("POST", "/work-orders", 201)
    assert access["service"] == "api" and access["level"] == "INFO"
    assert access["duration_ms"] >= 0 and access["bytes"] == len(opened.content)

    # Without a header the server makes the id: the answer, the log line and the stored events
    # all carry the same one.
    wo_id = opened.json()["id"]
    checked = observed.post(f"/work-orders/{wo_id}/check-in", headers=advisor,
                            json={"mileage_in": 12_001, "fuel_level": 40})
    assert checked.status_code == 200, checked.text
    correlation = checked.headers["X-Correlation-ID"]
    [access] = lines.access("/check-in")
    assert access["correlation_id"] == correlation
    assert access["route"] == "/work-orders/{work_order_id}/check-in"
    # The audit index is a read model: wait until it holds what the check-in stored.
    head = int(observed.get("/health").json()["head_notification_id"])
    events = observed.get("/audit/events", params={"correlation_id": correlation,
                                                   "wait_for": head},
                          headers=auth("auditor", "aud-log", [store_id])).json()["events"]
    assert [e["correlation_id"] for e in events] == [correlation]

    # Lines logged by the route itself, in the event loop and in a pool thread, carry it too.
    for path in ("/test-logging/async", "/test-logging/thread"):
        answer = observed.get(path, headers={**advisor, "X-Correlation-ID": f"cid{path}"})
        assert answer.json() == {"user": "adv-log"}
    work = [line for line in lines.all() if line["logger"] == "servicecore.test.work"]
    assert [(w["correlation_id"], w["user"], w["store"]) for w in work] == [
        ("cid/test-logging/async", "adv-log", store_id),
        ("cid/test-logging/thread", "adv-log", store_id)]
    assert work[1]["thread"] != "MainThread"

    # A request naming one store logs that store; a refused token logs no user.
    manager = auth("manager", "mgr-log", [store_id, "OTHER"])
    assert observed.get("/dispatch/board", params={"store_id": store_id},
                        headers=manager).status_code == 200
    [board] = lines.access("/dispatch/board")
    assert (board["user"], board["store"]) == ("mgr-log", store_id)
    assert observed.get("/work-orders", headers=manager).status_code == 200
    listing = [line for line in lines.access("/work-orders") if line["method"] == "GET"]
    assert listing[0]["store"] == f"{store_id},OTHER"
    assert observed.get("/work-orders",
                        headers={"Authorization": "Bearer nope"}).status_code == 401
    refused = [line for line in lines.access("/work-orders") if line["status"] == 401]
    assert refused[0]["user"] is None and refused[0]["correlation_id"]

    # A correlation id that could break a text log line is not taken over.
    odd = observed.get("/health/live", headers={"X-Correlation-ID": "a\tb"})
    assert odd.headers["X-Correlation-ID"] != "a\tb"

    # Every line written while handling these requests is one JSON object with the fields.
    for line in lines.all():
        assert {"ts", "level", "logger", "message", "correlation_id", "user",
                "store"} <= line.keys(), line


def test_an_unexpected_error_is_logged_with_its_request_and_answered_500(
        observed: TestClient, auth: Auth, lines: Lines) -> None:
    answer = observed.get("/test-logging/broken",
                          headers={**auth("advisor", "adv-bug", ["S01"]),
                                   "X-Correlation-ID": "bug-1"})
    assert answer.status_code == 500
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.headers["X-Correlation-ID"] == "bug-1"
    [error] = [line for line in lines.all() if line["level"] == "ERROR"]
    assert (error["correlation_id"], error["user"]) == ("bug-1", "adv-bug")
    assert "RuntimeError: a bug" in error["exc"]
    [access] = lines.access("/test-logging/broken")
    assert access["status"] == 500


def test_the_progress_link_token_never_reaches_the_log(
        observed: TestClient, auth: Auth, store_id: str, lines: Lines) -> None:
    advisor = auth("advisor", "adv-tok", [store_id])
    wo_id = visit(observed, advisor, store_id, auth("technician", "tech-tok", [store_id]))
    issued = share(observed, advisor, wo_id)
    path = page_path(issued)
    token = path.rsplit("/", 1)[1]

    # The customer opens the page, its JSON, and decides a line from it.
    assert observed.get(path).status_code == 200
    assert observed.get(path + ".json", params={"wait_for": 1}).status_code == 200
    decided = observed.post(path + "/decisions", json={"decisions": [
        {"line_id": "L1", "decision": "approved"}]})
    assert decided.status_code == 200, decided.text
    # An unknown token, and a dashboard token someone put in a query string.
    assert observed.get("/progress/" + "A" * 64).status_code == 404
    assert observed.get("/analytics/dashboard", params={"token": "eyJhbGciOi.secret.x"},
                        follow_redirects=False).status_code == 422

    assert token not in lines.text and "A" * 64 not in lines.text
    assert "eyJhbGciOi" not in lines.text
    pages = lines.access("/progress/")
    assert [(p["method"], p["path"], p["route"], p["status"]) for p in pages] == [
        ("GET", "/progress/[redacted]", "/progress/{token}", 200),
        ("GET", "/progress/[redacted].json?wait_for=1", "/progress/{token}.json", 200),
        ("POST", "/progress/[redacted]/decisions", "/progress/{token}/decisions", 200),
        ("GET", "/progress/[redacted]", "/progress/{token}", 404)]
    assert lines.access("/analytics/dashboard")[0]["path"] == \
        "/analytics/dashboard?token=[redacted]"
    # The text form of the line is the same target.
    assert all("[redacted]" in p["message"] for p in pages)
    # The customer is named as the audit trail names them: by the link's id, not its token.
    customer = f"customer-link:{issued['link_id']}"
    assert [(p["user"], p["role"], p["store"]) for p in pages] == [
        (customer, "customer", store_id), (customer, "customer", store_id),
        (customer, "customer", None), (None, None, None)]


def _families(client: TestClient) -> dict[str, Any]:
    answer = client.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {f.name: f for f in text_string_to_metric_families(answer.text)}


def _value(families: dict[str, Any], family: str, sample: str, **labels: str) -> float:
    return sum(s.value for s in families[family].samples
               if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items()))


def test_what_a_search_was_for_never_reaches_the_log(
        observed: TestClient, auth: Auth, store_id: str, lines: Lines) -> None:
    advisor = auth("advisor", "adv-find", [store_id])
    # The desk looks a customer up by phone, a car by plate and VIN, a customer by name.
    for url, params in (("/work-orders", {"customer_phone": "13912348765", "limit": 5}),
                        ("/work-orders", {"plate": "沪A98765", "vin": "LSVAU218XN2183294"}),
                        ("/customers", {"q": "王芳"}), ("/vehicles", {"q": "13912348765"})):
        assert observed.get(url, params=params, headers=advisor).status_code == 200, url
    for typed in ("13912348765", "A98765", "LSVAU218XN2183294", "王芳", "%E7%8E%8B"):
        assert typed not in lines.text, typed
    assert [p["path"] for p in lines.access("/work-orders?")] == [
        "/work-orders?customer_phone=[redacted]&limit=5",
        "/work-orders?plate=[redacted]&vin=[redacted]"]
    assert [p["path"] for p in lines.access("?q=")] == [
        "/customers?q=[redacted]", "/vehicles?q=[redacted]"]


def test_metrics_count_and_time_requests_by_route_template(
        observed: TestClient, auth: Auth, store_id: str) -> None:
    reader_headers = auth("advisor", "adv-m", [store_id])
    route = "/work-orders/{work_order_id}"
    before = _families(observed)
    seen = _value(before, "servicecore_http_request_duration_seconds",
                  "servicecore_http_request_duration_seconds_count", route=route, status="404")
    for _ in range(3):
        assert observed.get(f"/work-orders/{uuid.uuid4()}",
                            headers=reader_headers).status_code == 404
    observed.get("/no/such/path")

    families = _families(observed)
    histogram = families["servicecore_http_request_duration_seconds"]
    assert histogram.type == "histogram"
    labels = {"method": "GET", "route": route, "status": "404"}
    buckets = [s for s in histogram.samples if s.name.endswith("_bucket")
               and all(s.labels[k] == v for k, v in labels.items())]
    # every bucket bound, cumulative, the last (+Inf) holding every request
    assert [b.labels["le"] for b in buckets][-1] == "+Inf" and len(buckets) == 13
    assert [b.value for b in buckets] == sorted(b.value for b in buckets)
    assert buckets[-1].value == seen + 3
    assert _value(families, "servicecore_http_requests", "servicecore_http_requests_total",
                  **labels) == seen + 3
    # ids never become labels: a path no route serves counts as `unmatched`
    routes = {s.labels["route"] for s in families["servicecore_http_requests"].samples}
    assert "unmatched" in routes
    assert not any(re.search(r"[0-9a-f]{8}-[0-9a-f]{4}", r) for r in routes)
    # the scrape itself is in flight while it is answered
    assert _value(families, "servicecore_http_requests_in_flight",
                  "servicecore_http_requests_in_flight") == 1
    assert "process_resident_memory_bytes" in families or "process_cpu_seconds" in families
    # what /health knows, for alerting: each projection's lag, the head, the loops
    lag = {s.labels["projection"]: s.value
           for s in families["servicecore_projection_lag_events"].samples}
    assert {"work_orders", "stock", "finance"} <= lag.keys() and min(lag.values()) >= 0
    assert _value(families, "servicecore_log_head_notification_id",
                  "servicecore_log_head_notification_id") > 0
    assert families["servicecore_ready"].type == "gauge"
    assert families["servicecore_loop_restarts"].type == "counter"


def test_snapshots_refused_at_load_are_counted_by_reason(observed: TestClient,
                                                        container: Container) -> None:
    refused = container.app.snapshots.refused  # type: ignore[union-attr]
    before = _value(_families(observed), "servicecore_snapshots_refused",
                    "servicecore_snapshots_refused_total", reason="seal differs")
    assert before == refused["seal differs"]
    refused["seal differs"] += 1  # as SealedSnapshots.decoded counts a refusal
    try:
        assert _value(_families(observed), "servicecore_snapshots_refused",
                      "servicecore_snapshots_refused_total", reason="seal differs") == before + 1
    finally:
        refused["seal differs"] -= 1


def test_metrics_speak_openmetrics_to_a_scraper_that_asks(observed: TestClient) -> None:
    answer = observed.get("/metrics", headers={"Accept": "application/openmetrics-text"})
    assert answer.headers["content-type"].startswith("application/openmetrics-text")
    assert answer.text.rstrip().endswith("# EOF")


@pytest.mark.parametrize("accept", ["application/openmetrics-text; version=abc",
                                    "text/plain; version=1.x"])
def test_metrics_asked_in_a_version_no_one_can_read_are_prometheus_text(observed: TestClient,
                                                                         accept: str) -> None:
    """Found by the reliability review: the exposition library compares the Accept header's
    version as numbers, and one that is not ("abc", "1.x") raised TypeError, a 500 to anyone
    who can reach /metrics. A scraper that asks for what it cannot name gets the default."""
    answer = observed.get("/metrics", headers={"Accept": accept})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert "servicecore_ready" in answer.text


def test_traces_name_the_route_never_the_link_token_and_log_lines_carry_the_trace(
        container: Container, auth: Auth, store_id: str, lines: Lines) -> None:
    pytest.importorskip("opentelemetry.sdk")
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import SpanKind

    from servicecore.tracing import install_tracing

    exporter = InMemorySpanExporter()
    app = create_app(container.api_context())
    provider = install_tracing(app, "otlp", exporter=exporter)
    with TestClient(app) as traced:
        advisor = auth("advisor", "adv-trace", [store_id])
        wo_id = visit(traced, advisor, store_id, auth("technician", "tech-trace", [store_id]))
        path = page_path(share(traced, advisor, wo_id))
        token = path.rsplit("/", 1)[1]
        assert traced.get(path, params={"token": "abc"}).status_code == 422
        assert traced.get(path).status_code == 200
        assert traced.get("/health/live").status_code == 200
    provider.shutdown()

    spans = exporter.get_finished_spans()
    servers = [s for s in spans if s.kind == SpanKind.SERVER]
    assert {s.attributes["http.route"] for s in servers} >= {
        "/work-orders", "/work-orders/{work_order_id}/progress-link", "/progress/{token}"}
    # probes are not traced; the token is in no span's name or attributes
    assert not [s for s in servers if "/health" in s.attributes["http.route"]]
    everything = json.dumps([[s.name, dict(s.attributes or {})] for s in spans])
    assert token not in everything and "token=abc" not in everything
    assert "/progress/[redacted]" in everything
    # the page's access line carries its span's trace id
    page = next(s for s in servers if s.attributes["http.route"] == "/progress/{token}"
                and s.attributes.get("http.status_code", s.attributes.get(
                    "http.response.status_code")) == 200)
    [access] = [a for a in lines.access("/progress/") if a["status"] == 200]
    assert access["trace_id"] == format(page.context.trace_id, "032x")
    assert token not in lines.text
