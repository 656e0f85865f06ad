"""Concurrent commands on real PostgreSQL: retries, If-Match, gap-free numbers, idempotency."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import httpx
from fastapi.testclient import TestClient

from domain.application import CommandResult
from domain.common import IllegalTransition, StaleVersion
from domain.work_order import WorkOrder
from servicecore.container import Container
from tests.integration.support import (
    LABOR,
    VEHICLE,
    Auth,
    head,
    http_dispatched,
    http_open,
    load,
    open_order,
    post,
    request,
    together,
)

THREADS = 8


def _failures(results: list[Any]) -> list[Exception]:
    return [r for r in results if isinstance(r, Exception)]


def test_eight_advisors_adding_lines_at_once_all_succeed_and_nothing_is_lost(
        container: Container, store_id: str) -> None:
    wos = container.work_orders
    # A work order, checked in: version 2.
    work_order_id = UUID(open_order(wos, store_id)["id"])
    wos.check_in(request(store_id), work_order_id, mileage_in=42_010, fuel_level=40)

    # Eight desks price a labor line on job 1 at the same instant, without If-Match.
    def add_line(i: int) -> CommandResult:
        return wos.add_labor_line(request(store_id, user=f"adv-{i}"), work_order_id, 1,
                                  {**LABOR, "op_code": f"OP-{i}"})

    results = together(THREADS, add_line)

    # The server retried every conflict: all succeed, each got its own line id and version.
    assert _failures(results) == []
    answers = [r.body for r in results if isinstance(r, CommandResult)]
    assert sorted(a["line_id"] for a in answers) == sorted(f"L{n}" for n in range(1, 9))
    assert sorted(a["version"] for a in answers) == list(range(3, 3 + THREADS))

    # The stored work order holds all eight lines, each op code once: nothing lost or doubled.
    stored = load(container.app, WorkOrder, work_order_id)
    assert stored.version == 2 + THREADS
    assert sorted(line["op_code"] for line in stored.lines.values()) == sorted(
        f"OP-{i}" for i in range(THREADS))


def test_if_match_on_the_same_version_lets_exactly_one_writer_win(
        client: TestClient, auth: Auth, store_id: str) -> None:
    advisor = auth("advisor", "adv-li", [store_id])
    # The work order is checked in; every desk has read the same ETag.
    opened = http_open(client, auth, store_id)
    wo = f"/work-orders/{opened['id']}"
    checked = post(client, f"{wo}/check-in", advisor, {"mileage_in": 42_010, "fuel_level": 40})
    etag = f'"{checked["version"]}"'

    # Six desks add a line at once, each saying If-Match with that ETag.
    def add_line(i: int) -> httpx.Response:
        response: httpx.Response = client.post(
            f"{wo}/jobs/1/labor-lines", json={**LABOR, "op_code": f"OP-{i}"},
            headers={**advisor, "If-Match": etag})
        return response

    responses = [r for r in together(6, add_line) if isinstance(r, httpx.Response)]

    # Exactly one wins; the others are told their version is stale (412 problem+json).
    assert sorted(r.status_code for r in responses) == [200] + [412] * 5
    for refused in (r for r in responses if r.status_code == 412):
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["type"].endswith("/stale-version")
    winner = next(r for r in responses if r.status_code == 200).json()
    assert winner["line_id"] == "L1" and winner["version"] == checked["version"] + 1


def test_if_match_race_in_the_domain_raises_stale_version(container: Container,
                                                          store_id: str) -> None:
    wos = container.work_orders
    work_order_id = UUID(open_order(wos, store_id)["id"])

    # Eight calls, all expecting version 1, add a job at once.
    def add_job(i: int) -> CommandResult:
        return wos.add_job(request(store_id, expected_version=1), work_order_id,
                           complaint=f"complaint {i}")

    results = together(THREADS, add_job)

    # One result, seven StaleVersion, and the stream moved by exactly one event.
    assert len([r for r in results if isinstance(r, CommandResult)]) == 1
    assert all(isinstance(e, StaleVersion) for e in _failures(results))
    assert len(_failures(results)) == THREADS - 1
    stored = load(container.app, WorkOrder, work_order_id)
    assert stored.version == 2 and len(stored.jobs) == 2


def test_two_desks_cancelling_the_same_work_order_one_wins_one_gets_409(
        client: TestClient, auth: Auth, container: Container, store_id: str) -> None:
    advisor = auth("advisor", "adv-li", [store_id])
    manager = auth("manager", "mgr-wang", [store_id])
    opened = http_open(client, auth, store_id)
    wo = f"/work-orders/{opened['id']}"

    # The advisor and the manager both cancel at the same moment.
    def cancel(i: int) -> httpx.Response:
        response: httpx.Response = client.post(
            f"{wo}/cancel", json={"reason": "customer changed mind"},
            headers=(advisor, manager)[i])
        return response

    responses = [r for r in together(2, cancel) if isinstance(r, httpx.Response)]

    # One cancellation is stored; the other is an illegal transition on a cancelled order.
    assert sorted(r.status_code for r in responses) == [200, 409]
    refused = next(r for r in responses if r.status_code == 409)
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["type"].endswith("/illegal-transition")
    history = client.get(f"{wo}/history", headers=manager).json()["items"]
    assert [h["event"] for h in history] == ["WorkOrder.Opened", "WorkOrder.Cancelled"]


def test_two_cancellations_in_the_domain_one_illegal_transition(container: Container,
                                                                store_id: str) -> None:
    wos = container.work_orders
    work_order_id = UUID(open_order(wos, store_id)["id"])

    # Two threads cancel the same work order through the service.
    results = together(2, lambda i: wos.cancel(request(store_id, user=f"adv-{i}"),
                                               work_order_id, reason="duplicate order"))

    assert len([r for r in results if isinstance(r, CommandResult)]) == 1
    assert [type(e) for e in _failures(results)] and all(
        isinstance(e, IllegalTransition) for e in _failures(results))


def test_work_order_numbers_are_gap_free_under_concurrent_opening(container: Container,
                                                                  store_id: str) -> None:
    wos = container.work_orders
    at = datetime.now(UTC)

    # Eight advisors each open five work orders in the same new store, all at once.
    def open_five(i: int) -> list[str]:
        return [open_order(wos, store_id, at=at)["number"] for _ in range(5)]

    results = together(THREADS, open_five)

    # Numbers 000001..000040, each exactly once.
    assert _failures(results) == []
    numbers = sorted(n for r in results if isinstance(r, list) for n in r)
    year = int(numbers[0].split("-")[2])
    assert numbers == [f"WO-{store_id}-{year}-{n:06d}" for n in range(1, 5 * THREADS + 1)]


def test_the_same_idempotency_key_six_times_at_once_opens_one_work_order(
        client: TestClient, auth: Auth, container: Container, store_id: str) -> None:
    advisor = auth("advisor", "adv-li", [store_id], **{"Idempotency-Key": f"k-{uuid4()}"})
    body = {"store_id": store_id, "customer": {"name": "刘洋", "phone": "13800000001"},
            "vehicle": VEHICLE, "mileage": 42_000, "complaints": ["oil change"]}

    # The tablet retries the same open six times concurrently (bad network).
    results = together(6, lambda i: client.post("/work-orders", json=body, headers=advisor))
    responses = [r for r in results if isinstance(r, httpx.Response)]

    # Every answer names the same work order; all but the first are marked replayed.
    assert len(responses) == 6 and {r.status_code for r in responses} == {201}, [
        r.text for r in responses]
    assert len({r.json()["id"] for r in responses}) == 1
    replayed = [r.headers.get("Idempotent-Replayed") for r in responses]
    assert sorted(replayed, key=str) == sorted([None] + ["true"] * 5, key=str)

    # Exactly one work order exists in the store, numbered 000001.
    listed = client.get("/work-orders", params={"wait_for": head(container.app)},
                        headers=advisor).json()
    assert listed["total"] == 1
    assert listed["items"][0]["number"].endswith("-000001")

    # The same key with a different body is refused, and stores nothing.
    before = head(container.app)
    reused = client.post("/work-orders", json={**body, "mileage": 43_000}, headers=advisor)
    assert reused.status_code == 422
    assert reused.headers["content-type"] == "application/problem+json"
    assert reused.json()["type"].endswith("/idempotency-key-reused")
    assert head(container.app) == before


def test_a_technician_cannot_hold_two_open_clocks(client: TestClient, auth: Auth,
                                                  container: Container, store_id: str) -> None:
    technician = f"tech-{store_id.lower()}"
    tech = auth("technician", technician, [store_id])
    # Two work orders, job 1 of each dispatched to the same technician.
    first = http_dispatched(client, auth, store_id, technician)
    second = http_dispatched(client, auth, store_id, technician)

    # The technician clocks on the first job.
    post(client, f"/work-orders/{first['id']}/jobs/1/clock-on", tech)
    before = head(container.app)

    # Clocking on the second job while the first clock runs is refused, and stores nothing.
    refused = client.post(f"/work-orders/{second['id']}/jobs/1/clock-on", json={}, headers=tech)
    assert refused.status_code == 409, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert "already clocked on" in refused.json()["detail"]
    assert head(container.app) == before

    # After clocking off the first job, the second clock-on is accepted.
    post(client, f"/work-orders/{first['id']}/jobs/1/clock-off", tech)
    post(client, f"/work-orders/{second['id']}/jobs/1/clock-on", tech)
