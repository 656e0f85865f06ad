"""Input that is valid piece by piece but big in sum: a work order that keeps growing, a stream
with many events, an export over a long range. Each limit answers problem+json and stores
nothing; what has no limit answers in pages."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import pytest
from fastapi.testclient import TestClient

from api.errors import MAX_ERRORS
from domain.application import Request
from domain.common import Caller
from domain.customer import MAX_TAGS
from domain.purchase_order import MAX_DRAFT_LINES
from domain.statement_format import MAX_SPAN_DAYS
from domain.work_order import WorkOrder
from domain.work_order_lines import labor_line
from domain.work_order_state import MAX_EVENTS, MAX_JOBS, MAX_LINES
from projections import audit
from servicecore.container import Container
from tests.e2e.test_api_contract import log_head, open_one, problem

Auth = Callable[..., dict[str, str]]
LABOR = {"op_code": "BRK-PAD", "description": "replace front pads", "hours": "1.5",
         "hourly_rate": "300.00"}


def as_advisor(store_id: str) -> Request:
    return Request(Caller("adv-li", "advisor", (store_id,), datetime.now(UTC), "big-input", None))


def fill(container: Container, store_id: str, work_order_id: UUID,
         change: Callable[[WorkOrder, Any], None]) -> None:
    """Grow the work order up to its limit in one save (the API would take a request each)."""

    def act(session: Any, wo: WorkOrder) -> None:
        change(wo, session.audit(wo.store_id))

    container.work_orders._on(as_advisor(store_id), work_order_id, act)


def test_a_work_order_holds_at_most_max_lines(client: TestClient, container: Container,
                                              auth: Auth, store_id: str) -> None:
    """Each command loads, copies and saves the whole work order, and its view rewrites the
    whole detail: a work order grown to 3,000 lines took 35 ms a command and answered 0.8 MB
    for its detail, and both went on growing with every line."""
    advisor = auth("advisor", "adv-li", [store_id])
    work_order_id = UUID(open_one(client, auth, store_id)["id"])

    def to_the_limit(wo: WorkOrder, audit: Any) -> None:
        while len(wo.lines) < MAX_LINES:
            wo.add_line(audit, labor_line(wo.next_line_id(), 1, dict(LABOR)))

    fill(container, store_id, work_order_id, to_the_limit)
    before = log_head(client)
    labor = client.post(f"/work-orders/{work_order_id}/jobs/1/labor-lines", json=LABOR,
                        headers=advisor)
    assert problem(labor, 422, "invalid-input")["detail"] == \
        f"a work order holds at most {MAX_LINES} lines"
    part = client.post(f"/work-orders/{work_order_id}/jobs/1/part-lines",
                       json={"part_number": "0986494209", "qty": "1", "unit_price": "10.00",
                             "description": "pads"}, headers=advisor)
    assert problem(part, 422, "invalid-input")["detail"] == \
        f"a work order holds at most {MAX_LINES} lines"
    assert log_head(client) == before
    detail = client.get(f"/work-orders/{work_order_id}?wait_for={before}", headers=advisor)
    assert len(detail.json()["lines"]) == MAX_LINES


def test_a_work_order_holds_at_most_max_jobs(client: TestClient, container: Container,
                                             auth: Auth, store_id: str) -> None:
    advisor = auth("advisor", "adv-li", [store_id])
    work_order_id = UUID(open_one(client, auth, store_id)["id"])

    def to_the_limit(wo: WorkOrder, audit: Any) -> None:
        while len(wo.jobs) < MAX_JOBS:
            wo.add_job(audit, f"rattle {len(wo.jobs)}")

    fill(container, store_id, work_order_id, to_the_limit)
    before = log_head(client)
    response = client.post(f"/work-orders/{work_order_id}/jobs",
                           json={"complaint": "one more rattle"}, headers=advisor)
    assert problem(response, 422, "invalid-input")["detail"] == \
        f"a work order holds at most {MAX_JOBS} jobs"
    assert log_head(client) == before


def test_a_work_order_takes_its_own_commands_up_to_max_events(
        client: TestClient, container: Container, auth: Auth, store_id: str) -> None:
    """A price changed back and forth adds an event each time and nothing to the state: the
    stream grew without end, and every read that replays it (`as_of`, the timeline, a cold
    load) with it. Settling, delivering, closing and cancelling still go through."""
    advisor = auth("advisor", "adv-li", [store_id])
    work_order_id = UUID(open_one(client, auth, store_id)["id"])
    client.post(f"/work-orders/{work_order_id}/jobs/1/labor-lines", json=LABOR, headers=advisor)

    def to_one_below(wo: WorkOrder, audit: Any) -> None:
        while wo.version < MAX_EVENTS - 1:
            wo.reprice_line(audit, "L1", f"{300 + wo.version % 7}.00", None)

    fill(container, store_id, work_order_id, to_one_below)
    price = f"/work-orders/{work_order_id}/lines/L1/price"
    last = client.post(price, json={"unit_price": "299.00"}, headers=advisor)
    assert last.status_code == 200, last.text
    assert last.json()["version"] == MAX_EVENTS
    before = log_head(client)
    for path, body in [(price, {"unit_price": "298.00"}),
                       (f"/work-orders/{work_order_id}/jobs", {"complaint": "rattle"})]:
        refused = client.post(path, json=body, headers=advisor)
        assert problem(refused, 422, "invalid-input")["detail"] == \
            f"work order holds at most {MAX_EVENTS} events"
    assert log_head(client) == before
    cancelled = client.post(f"/work-orders/{work_order_id}/cancel",
                            json={"reason": "opened twice"}, headers=advisor)
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["version"] == MAX_EVENTS + 1


def test_an_over_long_revocation_reason_is_refused_by_its_schema(client: TestClient,
                                                                 auth: Auth,
                                                                 store_id: str) -> None:
    """A command's query text is bounded in /openapi.json like its body's: the reason of a
    revoked progress link was checked by hand in the route, invisible to clients."""
    advisor = auth("advisor", "adv-li", [store_id])
    work_order_id = open_one(client, auth, store_id)["id"]
    assert client.post(f"/work-orders/{work_order_id}/progress-link", json={},
                       headers=advisor).status_code == 201
    before = log_head(client)
    response = client.delete(f"/work-orders/{work_order_id}/progress-link",
                             params={"reason": "r" * 501}, headers=advisor)
    errors = problem(response, 422, "invalid-input")["errors"]
    assert errors[0]["loc"] == ["query", "reason"] and errors[0]["type"] == "string_too_long"
    assert log_head(client) == before


def test_a_422_lists_at_most_max_errors(client: TestClient, auth: Auth, store_id: str) -> None:
    """500 order lines with 13 bad fields each (64 KiB) found 6,500 errors: the answer was
    0.6 MB of them, ten times the request; 8,000 unknown query parameters, 0.66 MB."""
    manager = auth("manager", "mgr-wu", [store_id])
    before = log_head(client)
    line = {"part_number": 1, "qty": "x", "unit_cost": "y"} | {f"x{i}": i for i in range(10)}
    response = client.post("/purchase-orders", headers=manager,
                           json={"store_id": store_id, "supplier": "FAW-VW Parts",
                                 "lines": [line] * 500})
    body = problem(response, 422, "invalid-input")
    assert len(body["errors"]) == MAX_ERRORS and body["error_count"] == 500 * 13
    assert body["errors"][0]["loc"] == ["body", "lines", 0, "part_number"]
    unknown = "&".join(f"p{i}=1" for i in range(2000))
    body = problem(client.get(f"/work-orders?{unknown}", headers=manager), 422, "invalid-input")
    assert len(body["errors"]) == MAX_ERRORS and body["error_count"] == 2000
    assert body["errors"][0] == {"loc": ["query", "p0"], "msg": "Unknown query parameter",
                                 "type": "extra_forbidden"}
    assert log_head(client) == before
    few = problem(client.get("/work-orders?a=1&b=2", headers=manager), 422, "invalid-input")
    assert len(few["errors"]) == 2 and "error_count" not in few


def test_a_statement_covers_at_most_a_year(client: TestClient, auth: Auth,
                                           store_id: str) -> None:
    """The statement's page lists the store's unreconciled payments over the statement's dates:
    two lines, in 2000 and in 2099, listed every one the store ever took."""
    finance = auth("finance", "fin-1", [store_id])
    before = log_head(client)
    csv = ("date,amount,reference,counterparty\n2000-01-03,10.00,A1,陈静\n"
           "2099-12-30,20.00,A2,陈静\n")
    for response in (
            client.post("/reconciliation/statements", headers=finance,
                        json={"store_id": store_id, "source": "bank", "csv": csv}),
            client.post(f"/reconciliation/statements/file?store_id={store_id}&source=bank",
                        content=csv.encode(), headers={**finance, "Content-Type": "text/csv"})):
        body = problem(response, 422, "invalid-input")
        assert body["detail"].startswith(f"a statement covers at most {MAX_SPAN_DAYS} days")
        assert (body["first"], body["last"]) == ("2000-01-03", "2099-12-30")
    assert log_head(client) == before
    # A leap year's statement, first day to last, is one statement.
    year = ("date,amount,reference,counterparty\n2028-01-01,10.00,B1,陈静\n"
            "2028-12-31,20.00,B2,陈静\n")
    accepted = client.post("/reconciliation/statements", headers=finance,
                           json={"store_id": store_id, "source": "bank", "csv": year})
    assert accepted.status_code == 201, accepted.text


def test_a_history_page_reads_its_own_events_not_the_whole_stream(
        client: TestClient, container: Container, auth: Auth, store_id: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Every /history read and rendered the whole stream and then cut the page out of it: a
    page of a stock item's 5,000 events took 0.25 s, and a client paging through a stream
    read it once per page. A page is now the same page, read on its own."""
    work_order_id = UUID(open_one(client, auth, store_id)["id"])
    advisor = auth("advisor", "adv-li", [store_id])
    client.post(f"/work-orders/{work_order_id}/jobs/1/labor-lines", json=LABOR, headers=advisor)

    def reprice(wo: WorkOrder, audit: Any) -> None:
        while wo.version < 3000:
            wo.reprice_line(audit, "L1", f"{300 + wo.version % 7}.00", None)

    fill(container, store_id, work_order_id, reprice)
    whole = audit.history(container.app, work_order_id)
    assert len(whole) == 3000
    read: list[int] = []
    select_events = container.app.recorder.select_events

    def counted(originator_id: Any, **kwargs: Any) -> Any:
        found = select_events(originator_id, **kwargs)
        if originator_id == work_order_id:
            read.append(len(found))
        return found

    monkeypatch.setattr(container.app.recorder, "select_events", counted)
    auditor = auth("auditor", "aud-1", [store_id])
    for offset, limit in [(0, 50), (2950, 100), (2999, 1), (3000, 10)]:
        read.clear()
        response = client.get(f"/work-orders/{work_order_id}/history",
                              params={"offset": offset, "limit": limit}, headers=auditor)
        assert response.status_code == 200, response.text
        page = response.json()
        assert (page["total"], page["limit"], page["offset"]) == (3000, limit, offset)
        expected = json.loads(json.dumps(whole[offset:offset + limit], default=str))
        assert [(e["version"], e["event"]) for e in page["items"]] == \
            [(e["version"], e["event"]) for e in expected]
        assert sum(read) <= limit + 2  # the last version, the first event, the page
    first = client.get(f"/work-orders/{work_order_id}/history?limit=1", headers=auditor).json()
    assert first["items"][0]["changes"]["customer"]["name"] == "王芳"  # opened for the auditor
    other = auth("auditor", "aud-2", ["S-OTHER"])
    problem(client.get(f"/work-orders/{work_order_id}/history", headers=other), 404, "not-found")


def test_a_draft_from_every_suggestion_takes_at_most_max_draft_lines(
        client: TestClient, container: Container, auth: Auth, store_id: str) -> None:
    """Without `part_numbers` a draft took every part the suggestion list proposed, in one
    command that loads and changes each part's stock item: 1,500 proposals were one 3 s
    command of 1,503 events and an order of 1,500 lines, past the 1,000 an order holds."""
    manager = Request(Caller("mgr-wu", "manager", (store_id,), datetime.now(UTC), "big-input",
                             None))
    supplier = f"Bulk {store_id}"
    for n in range(MAX_DRAFT_LINES + 1):
        number = f"BLK{store_id}{n:04d}"
        container.inventory.register_part(manager, part_number=number, list_price="10.00",
                                          details={"name": "clip", "unit": "pc",
                                                   "category": "body",
                                                   "preferred_supplier": supplier})
        done = container.inventory.set_levels(manager, store_id, number, min_stock="4",
                                              reorder_qty="8")
    clerk = auth("parts_clerk", "clerk-1", [store_id])
    proposed = client.get("/purchase-orders/suggestions", headers=clerk, params={
        "store_id": store_id, "supplier": supplier, "limit": 1,
        "wait_for": done.notification_id}).json()
    assert proposed["total"] == MAX_DRAFT_LINES + 1
    before = log_head(client)
    refused = client.post("/purchase-orders/from-suggestions", headers=clerk,
                          json={"store_id": store_id, "supplier": supplier})
    body = problem(refused, 422, "invalid-input")
    assert (body["limit"], body["count"]) == (MAX_DRAFT_LINES, MAX_DRAFT_LINES + 1)
    assert "part_numbers" in body["detail"]
    assert log_head(client) == before
    # Named, at most the limit of them make one draft; the rest stay proposed.
    some = client.get("/purchase-orders/suggestions", headers=clerk, params={
        "store_id": store_id, "supplier": supplier, "limit": MAX_DRAFT_LINES}).json()["items"]
    drafted = client.post("/purchase-orders/from-suggestions", headers=clerk, json={
        "store_id": store_id, "supplier": supplier,
        "part_numbers": [row["part_number"] for row in some]})
    assert drafted.status_code == 201, drafted.text
    assert drafted.json()["lines"] == MAX_DRAFT_LINES
    rest = client.get("/purchase-orders/suggestions", headers=clerk, params={
        "store_id": store_id, "supplier": supplier,
        "wait_for": drafted.json()["notification_id"]}).json()
    assert rest["total"] == 1


def test_a_customer_holds_at_most_max_tags(client: TestClient, auth: Auth,
                                           store_id: str) -> None:
    """A registration takes 20 tags, but tags added one by one had no end: each was one more
    event and one more entry in the state every payment of the customer loads."""
    desk = auth("advisor", "adv-li", [store_id])
    registered = client.post("/customers", headers=desk, json={
        "store_id": store_id, "kind": "person", "name": "陈静", "phones": ["13900000001"],
        "tags": [f"tag-{n}" for n in range(MAX_TAGS - 1)]})
    assert registered.status_code == 201, registered.text
    tags = f"/customers/{registered.json()['id']}/tags"
    assert client.post(tags, json={"tag": "last-one"}, headers=desk).status_code == 200
    before = log_head(client)
    refused = client.post(tags, json={"tag": "one-more"}, headers=desk)
    body = problem(refused, 422, "invalid-input")
    assert body["detail"] == f"a customer holds at most {MAX_TAGS} tags: remove one first"
    assert body["limit"] == MAX_TAGS and body["field"] == "tag"
    assert log_head(client) == before
    assert client.post(f"{tags}/tag-0/removal", json={"reason": "no longer true"},
                       headers=desk).status_code == 200
    assert client.post(tags, json={"tag": "one-more"}, headers=desk).status_code == 200


def test_an_as_of_reads_a_long_stream_a_chunk_at_a_time(
        client: TestClient, container: Container, auth: Auth, store_id: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The event store reads a stream whole: an `as_of` of a busy part's stock item (hundreds
    of thousands of events in a few years) held every one of them in memory at once. Each read
    now takes at most STREAM_CHUNK events, and the replay is the same."""
    work_order_id = UUID(open_one(client, auth, store_id)["id"])
    advisor = auth("advisor", "adv-li", [store_id])
    client.post(f"/work-orders/{work_order_id}/jobs/1/labor-lines", json=LABOR, headers=advisor)
    length = 2 * audit.STREAM_CHUNK + 10

    def reprice(wo: WorkOrder, audit: Any) -> None:
        while wo.version < length:
            wo.reprice_line(audit, "L1", f"{300 + wo.version % 7}.00", None)

    fill(container, store_id, work_order_id, reprice)
    read: list[int] = []
    select_events = container.app.recorder.select_events

    def counted(originator_id: Any, **kwargs: Any) -> Any:
        found = select_events(originator_id, **kwargs)
        if originator_id == work_order_id:
            read.append(len(found))
        return found

    monkeypatch.setattr(container.app.recorder, "select_events", counted)
    then = datetime.now(UTC).isoformat()
    doc = client.get(f"/work-orders/{work_order_id}", params={"as_of": then},
                     headers=advisor).json()
    assert doc["version"] == length
    assert read == [audit.STREAM_CHUNK, audit.STREAM_CHUNK, 10]
    read.clear()
    replayed = audit.aggregate_as_of(container.app, work_order_id, datetime.now(UTC))
    assert replayed.version == length and max(read) == audit.STREAM_CHUNK
