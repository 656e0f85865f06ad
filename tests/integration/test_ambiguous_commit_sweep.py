"""The ambiguous commit, swept over the commands that change money, stock and the workshop.

Each command is sent through an API process whose PostgreSQL connections go through a proxy;
the proxy drops the save's connection once the statement (the commit) is forwarded, before the
server's reply. Either the database is still reachable (the process finds out that its save
committed) or it is not (the answer is 503). Either way the client retries with the same
Idempotency-Key, on another API process and on the first one: each retry answers the first
result, marked replayed, and the store holds event for event what the command stores when no
fault happens: nothing applied twice, nothing accepted lost, no conflict with its own first
attempt. (Other families: the test_lost_acknowledgements*.py files.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit
from uuid import uuid4

import httpx
import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from servicecore.container import Container
from servicecore.event_store import EventRecorder
from tests.integration.faults import FaultyProxy
from tests.integration.support import (
    CUSTOMER,
    LABOR,
    VEHICLE,
    http_dispatched,
    http_open,
    on_roster,
    post,
)
from tests.integration.test_lost_acknowledgements import (  # noqa: F401  (fixtures)
    arm,
    behind,
    proxy,
)
from tests.integration.test_lost_acknowledgements_warranty_stock import events_after
from tests.integration.test_money_support import ready_visit, stocked_part

Auth = Callable[..., dict[str, str]]
Sent = tuple[str, str, str, dict[str, Any]]  # role, user, path, body
Setup = Callable[[TestClient, Container, Auth, str], Sent]


def tech(store_id: str) -> str:
    return f"tech-{store_id}"


def _wo_with_line(client: TestClient, auth: Auth, store_id: str) -> tuple[str, str]:
    advisor = auth("advisor", "adv-li", [store_id])
    wo = f"/work-orders/{http_open(client, auth, store_id)['id']}"
    post(client, f"{wo}/check-in", advisor, {"mileage_in": 42_010, "fuel_level": 40})
    return wo, post(client, f"{wo}/jobs/1/labor-lines", advisor, LABOR)["line_id"]


def work_order_creation(client: TestClient, container: Container, auth: Auth,
                        store_id: str) -> Sent:
    return ("advisor", "adv-li", "/work-orders", {
        "store_id": store_id, "customer": CUSTOMER, "vehicle": VEHICLE, "mileage": 42_000,
        "complaints": ["brake noise at low speed"]})


def check_in(client: TestClient, container: Container, auth: Auth, store_id: str) -> Sent:
    wo = f"/work-orders/{http_open(client, auth, store_id)['id']}"
    return "advisor", "adv-li", f"{wo}/check-in", {"mileage_in": 42_010, "fuel_level": 40}


def approval(client: TestClient, container: Container, auth: Auth, store_id: str) -> Sent:
    wo, line = _wo_with_line(client, auth, store_id)
    return ("advisor", "adv-li", f"{wo}/lines/{line}/authorization",
            {"decision": "approved", "channel": "phone"})


def dispatch(client: TestClient, container: Container, auth: Auth, store_id: str) -> Sent:
    wo, line = _wo_with_line(client, auth, store_id)
    post(client, f"{wo}/lines/{line}/authorization", auth("advisor", "adv-li", [store_id]),
         {"decision": "approved", "channel": "phone"})
    on_roster(client, auth("manager", "mgr-wang", [store_id]), store_id, tech(store_id))
    return ("manager", "mgr-wang", f"{wo}/jobs/1/dispatch",
            {"technician_id": tech(store_id)})


def clock_on(client: TestClient, container: Container, auth: Auth, store_id: str) -> Sent:
    wo = f"/work-orders/{http_dispatched(client, auth, store_id, tech(store_id))['id']}"
    return "technician", tech(store_id), f"{wo}/jobs/1/clock-on", {}


def clock_off(client: TestClient, container: Container, auth: Auth, store_id: str) -> Sent:
    _, _, path, _ = clock_on(client, container, auth, store_id)
    post(client, path, auth("technician", tech(store_id), [store_id]))
    return "technician", tech(store_id), path.replace("clock-on", "clock-off"), {}


def settlement_draft(client: TestClient, container: Container, auth: Auth,
                     store_id: str) -> Sent:
    visit = ready_visit(container, store_id)
    return "cashier", "cash-1", "/settlements", {"work_order_id": str(visit)}


def discount(client: TestClient, container: Container, auth: Auth, store_id: str) -> Sent:
    _, _, _, body = settlement_draft(client, container, auth, store_id)
    drafted = post(client, "/settlements", auth("cashier", "cash-1", [store_id]), body, 201)
    return ("cashier", "cash-1", f"/settlements/{drafted['id']}/discounts",
            {"amount": "20.00", "reason": "member's discount"})


def _item(container: Container, store_id: str, qty: int = 10) -> str:
    return f"/stock/{store_id}/{stocked_part(container, store_id, qty=qty)}"


def scrap(client: TestClient, container: Container, auth: Auth, store_id: str) -> Sent:
    return ("parts_clerk", "clerk-1", f"{_item(container, store_id)}/scrap",
            {"qty": 1, "reason": "cracked"})


def scrap_decision(client: TestClient, container: Container, auth: Auth,
                   store_id: str) -> Sent:
    item = _item(container, store_id)
    asked = post(client, f"{item}/scrap", auth("parts_clerk", "clerk-1", [store_id]),
                 {"qty": 3, "reason": "water damage in the store room"})
    assert asked["status"] == "awaiting_approval", asked
    return ("manager", "mgr-liu", f"{item}/scrap/{asked['request_id']}/decision",
            {"approve": True})


def transfer(client: TestClient, container: Container, auth: Auth, store_id: str) -> Sent:
    number = _item(container, store_id).rsplit("/", 1)[1]
    return ("parts_clerk", "clerk-1", "/stock/transfers", {
        "from_store": store_id, "to_store": store_id + "B", "part_number": number, "qty": 1,
        "reason": "the other store is short"})


def transfer_receipt(client: TestClient, container: Container, auth: Auth,
                     store_id: str) -> Sent:
    _, _, path, body = transfer(client, container, auth, store_id)
    sent = post(client, path, auth("parts_clerk", "clerk-1", [store_id, store_id + "B"]),
                body, 201)
    return "parts_clerk", "clerk-1", f"/stock/transfers/{sent['id']}/receipt", {}


def supplier_return(client: TestClient, container: Container, auth: Auth,
                    store_id: str) -> Sent:
    item = _item(container, store_id)
    clerk = auth("parts_clerk", "clerk-1", [store_id])
    lot = post(client, f"{item}/receipts", clerk, {
        "qty": 5, "unit_cost": "100.00", "supplier": "FAW-VW Parts",
        "supplier_doc": f"DN-{uuid4().hex[:8]}"}, 201)["lot_id"]
    return ("parts_clerk", "clerk-1", f"{item}/supplier-returns",
            {"lot_id": lot, "qty": "1", "reference": "RMA-1", "reason": "wrong fitment"})


def purchase_order(client: TestClient, container: Container, auth: Auth,
                   store_id: str) -> Sent:
    number = _item(container, store_id, qty=1).rsplit("/", 1)[1]
    return ("parts_clerk", "clerk-1", "/purchase-orders", {
        "store_id": store_id, "supplier": "FAW-VW Parts",
        "lines": [{"part_number": number, "qty": 2, "unit_cost": "90.00"}]})


def purchase_order_sent(client: TestClient, container: Container, auth: Auth,
                        store_id: str) -> Sent:
    _, _, path, body = purchase_order(client, container, auth, store_id)
    order = post(client, path, auth("parts_clerk", "clerk-1", [store_id]), body, 201)
    return "parts_clerk", "clerk-1", f"/purchase-orders/{order['id']}/send", {}


def part_return(client: TestClient, container: Container, auth: Auth, store_id: str) -> Sent:
    number = _item(container, store_id).rsplit("/", 1)[1]
    wo, _ = _wo_with_line(client, auth, store_id)
    advisor = auth("advisor", "adv-li", [store_id])
    part = post(client, f"{wo}/jobs/1/part-lines", advisor, {"part_number": number, "qty": "2"})
    post(client, f"{wo}/lines/{part['line_id']}/authorization", advisor,
         {"decision": "approved", "channel": "phone"})
    post(client, f"{wo}/lines/{part['line_id']}/issue", auth("parts_clerk", "clerk-1",
                                                              [store_id]))
    return ("parts_clerk", "clerk-1", f"{wo}/lines/{part['line_id']}/return",
            {"qty": 1, "reason": "one set unused"})


def statement_import(client: TestClient, container: Container, auth: Auth,
                     store_id: str) -> Sent:
    return ("finance", "fin-1", "/reconciliation/statements", {
        "store_id": store_id, "source": "bank", "account": "工行 1001",
        "csv": "date,amount,reference,counterparty\n"
               f"2026-05-01,1010.00,R{uuid4().hex[:8]},赵敏\n2026-05-01,-2.00,F1,\n"})


def points_earned(client: TestClient, container: Container, auth: Auth,
                  store_id: str) -> Sent:
    customer = post(client, "/customers", auth("advisor", "adv-li", [store_id]), {
        "store_id": store_id, "name": "王芳", "phones": ["13900139000"]}, 201)
    return ("cashier", "cash-1", f"/customers/{customer['id']}/points/earned",
            {"paid_amount": "1000.00", "reference": f"ST-{uuid4().hex[:6]}"})


def job_complete(client: TestClient, container: Container, auth: Auth, store_id: str) -> Sent:
    _, _, path, _ = clock_off(client, container, auth, store_id)
    post(client, path, auth("technician", tech(store_id), [store_id]))
    return "technician", tech(store_id), path.replace("clock-off", "complete"), {}


def quality_check(client: TestClient, container: Container, auth: Auth, store_id: str) -> Sent:
    _, _, path, _ = job_complete(client, container, auth, store_id)
    post(client, path, auth("technician", tech(store_id), [store_id]))
    return ("manager", "mgr-wang", path.replace("complete", "quality-check"),
            {"passed": True})


def customer_approval(client: TestClient, container: Container, auth: Auth,
                      store_id: str) -> Sent:
    """The customer approves a line on the progress page's link (JSON)."""
    wo, line = _wo_with_line(client, auth, store_id)
    advisor = auth("advisor", "adv-li", [store_id])
    client.get(wo, headers=advisor, params={"wait_for": container.app.recorder
                                            .max_notification_id()})
    issued = post(client, f"{wo}/progress-link", advisor, {}, 201)
    return ("advisor", "adv-li", f"{urlsplit(issued['url']).path}/decisions",
            {"decisions": [{"line_id": line, "decision": "approved"}]})


def points_redeemed(client: TestClient, container: Container, auth: Auth,
                    store_id: str) -> Sent:
    _, _, path, body = points_earned(client, container, auth, store_id)
    post(client, path, auth("cashier", "cash-1", [store_id]), body)
    return ("cashier", "cash-1", path.replace("earned", "redemption"),
            {"points": 30, "reference": f"PAY-{uuid4().hex[:6]}"})


SETUPS = [work_order_creation, check_in, approval, customer_approval, dispatch, clock_on,
          clock_off, job_complete, quality_check, settlement_draft, discount, scrap,
          scrap_decision, transfer, transfer_receipt, supplier_return, purchase_order,
          purchase_order_sent, part_return, statement_import, points_earned, points_redeemed]



def headers_for(auth: Auth, role: str, user: str, store_id: str, **extra: str
                ) -> dict[str, str]:
    return auth(role, user, [store_id, store_id + "B"], **extra)


def fault_free(setup: Setup, client: TestClient, container: Container, auth: Auth
               ) -> tuple[int, Any]:
    """What the command answers and stores sent once without a fault (at a store of its own)."""
    store_id = "T" + uuid4().hex[:6].upper()
    role, user, path, body = setup(client, container, auth, store_id)
    before = container.app.recorder.max_notification_id()
    done = client.post(path, json=body, headers=headers_for(
        auth, role, user, store_id, **{"Idempotency-Key": str(uuid4())}))
    assert done.status_code in (200, 201), done.text
    return done.status_code, before


def answered(response: httpx.Response) -> dict[str, Any]:
    """An answer without its notification id (where a reader's wait ends, not the command)."""
    return {k: v for k, v in response.json().items() if k != "notification_id"}


@pytest.mark.parametrize("reachable", [True, False], ids=["resolved", "unreachable"])
@pytest.mark.parametrize("setup", SETUPS)
def test_an_ambiguous_commit_retried_with_its_key_answers_the_first_result_once(
        setup: Setup, reachable: bool, behind: Container, proxy: FaultyProxy,  # noqa: F811
        container: Container, client: TestClient, database_url: str, store_id: str,
        auth: Auth) -> None:
    status, clean_from = fault_free(setup, client, container, auth)
    expected = events_after(database_url, clean_from)
    role, user, path, body = setup(client, container, auth, store_id)
    headers = headers_for(auth, role, user, store_id, **{"Idempotency-Key": str(uuid4())})
    recorder = behind.app.recorder
    assert isinstance(recorder, EventRecorder)
    recorder.resolve_seconds = 1.0
    before = container.app.recorder.max_notification_id()
    with TestClient(create_app(behind.api_context())) as api:
        arm(behind.app, proxy, then_away=not reachable)
        first = api.post(path, json=body, headers=headers)
        assert proxy.cuts == 1
        if reachable:
            assert first.status_code == status, first.text
        else:
            assert first.status_code == 503, first.text
            assert first.json()["type"].endswith("/unavailable"), first.text
    # the retry on another process, then on the first one once it reaches the database again
    elsewhere = client.post(path, json=body, headers=headers)
    if not reachable:
        proxy.readmit()
    with TestClient(create_app(behind.api_context())) as api:
        again = api.post(path, json=body, headers=headers)
    for retry in (elsewhere, again):
        assert retry.status_code == status, retry.text
        assert retry.headers["Idempotent-Replayed"] == "true"
    assert answered(again) == answered(elsewhere)
    if reachable:
        assert answered(again) == answered(first)
    # event for event what the command stores without the fault: nothing twice, none lost
    assert events_after(database_url, before) == expected
    assert expected
