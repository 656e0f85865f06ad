"""A statement line of money going out — a refund paid back to a customer by transfer — is
matched by hand, with a reason, to the approved refund of the statement's store that it paid:
the line and the refund are marked in one save, a refund is matched once, and refusals store
nothing."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from tests.e2e.test_api_contract import log_head, problem
from tests.e2e.test_money_api import confirmed_settlement
from tests.e2e.test_parts_api import get, post
from tests.integration.support import together
from tests.scratch_systems import served_module

Auth = Callable[..., dict[str, str]]
served, container, client = served_module("sc_statement_refunds", projections=True)


def _refunded(client: TestClient, auth: Auth, store_id: str) -> dict[str, Any]:
    """A visit paid by transfer, 50.00 of it refunded (asked by the cashier, approved by a
    manager) and 20.00 more asked for, not yet decided."""
    cashier = auth("cashier", "cash-" + store_id, [store_id])
    manager = auth("manager", "mgr-" + store_id, [store_id])
    wo_id, sid = confirmed_settlement(client, auth, store_id)
    paid = post(client, "/payments", cashier, {
        "work_order_id": wo_id, "method": "bank_transfer", "amount": "900.00",
        "provider_ref": "TR-" + uuid.uuid4().hex[:8]}, 201)
    refund = post(client, "/refunds", cashier, {
        "work_order_id": wo_id, "payment_id": paid["payment_id"], "amount": "50.00",
        "reason": "goodwill: paid back by transfer", "kind": "payment_return"}, 201)
    post(client, f"/refunds/{refund['refund_id']}/decision", manager,
         {"work_order_id": wo_id, "approve": True})
    pending = post(client, "/refunds", cashier, {
        "work_order_id": wo_id, "payment_id": paid["payment_id"], "amount": "20.00",
        "reason": "second goodwill", "kind": "payment_return"}, 201)
    return {"settlement_id": sid, "refund_id": refund["refund_id"],
            "pending_id": pending["refund_id"], "payment_id": paid["payment_id"]}


def _statement(client: TestClient, finance: dict[str, str], store_id: str) -> dict[str, Any]:
    """The bank's lines: the refund going out (1), a transfer coming in (2), another 50.00
    going out (3)."""
    day = datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
    return post(client, "/reconciliation/statements", finance, {  # type: ignore[no-any-return]
        "store_id": store_id, "source": "bank", "account": "工行 1001",
        "csv": "date,amount,reference,counterparty\n"
               f"{day},-50.00,OUT-{uuid.uuid4().hex[:6]},王伟\n{day},77.00,IN-1,李雷\n"
               f"{day},-50.00,OUT-{uuid.uuid4().hex[:6]},王伟\n"}, 201)


def _match(client: TestClient, finance: dict[str, str], statement_id: str,
           body: dict[str, Any]) -> Any:
    return client.post(f"/reconciliation/statements/{statement_id}/matches", headers=finance,
                       json=body)


def test_a_refund_paid_by_transfer_is_matched_to_its_line_once(
        client: TestClient, auth: Auth, store_id: str) -> None:
    finance = auth("finance", "fin-1", [store_id])
    visit = _refunded(client, auth, store_id)
    stmt = _statement(client, finance, store_id)
    matched = _match(client, finance, stmt["id"], {
        "line_no": 1, "settlement_id": visit["settlement_id"],
        "refund_id": visit["refund_id"], "reason": "goodwill refund by transfer"})
    assert matched.status_code == 200, matched.text
    view = get(client, f"/reconciliation/statements/{stmt['id']}", finance,
               wait_for=matched.json()["notification_id"])
    assert [(ln["line_no"], ln["refund_id"], ln["settlement_id"], ln["payment_id"],
             ln["reason"]) for ln in view["matched"]] == [
        (1, visit["refund_id"], visit["settlement_id"], None, "goodwill refund by transfer")]
    assert [ln["line_no"] for ln in view["unmatched_lines"]] == [2, 3]
    # The settlement shows where its refund was found.
    settlement = get(client, f"/settlements/{visit['settlement_id']}", finance,
                     wait_for=matched.json()["notification_id"])
    (refund,) = [r for r in settlement["refunds"] if r["refund_id"] == visit["refund_id"]]
    assert (refund["statement_id"], refund["statement_line"]) == (stmt["id"], 1)
    # The same refund on the other 50.00 line: matched once only, and nothing stored.
    before = log_head(client)
    again = _match(client, finance, stmt["id"], {
        "line_no": 3, "settlement_id": visit["settlement_id"],
        "refund_id": visit["refund_id"], "reason": "same refund"})
    assert "already matched" in problem(again, 409, "illegal-transition")["detail"]
    line_taken = _match(client, finance, stmt["id"], {
        "line_no": 1, "settlement_id": visit["settlement_id"],
        "refund_id": visit["pending_id"], "reason": "same line"})
    problem(line_taken, 409, "illegal-transition")
    assert log_head(client) == before


@pytest.mark.parametrize(("change", "status", "field", "said"), [
    ({"line_no": 2}, 422, "line_no", "a refund matches money out"),
    ({"reason": "  "}, 422, "reason", "needs a reason"),
    ({"refund_id": None}, 422, "payment_id", "or the refund (refund_id)"),
    ({"payment_id": "PAY-X"}, 422, "refund_id", "not both"),
    ({"refund_id": "RF-NONE"}, 404, None, "refund RF-NONE not found"),
])
def test_a_refund_match_that_cannot_hold_is_refused_naming_why(
        client: TestClient, auth: Auth, store_id: str, change: dict[str, Any], status: int,
        field: str | None, said: str) -> None:
    finance = auth("finance", "fin-1", [store_id])
    visit = _refunded(client, auth, store_id)
    stmt = _statement(client, finance, store_id)
    before = log_head(client)
    refused = _match(client, finance, stmt["id"], {
        "line_no": 1, "settlement_id": visit["settlement_id"],
        "refund_id": visit["refund_id"], "reason": "refund by transfer", **change})
    found = problem(refused, status, "invalid-input" if status == 422 else "not-found")
    assert found.get("field") == field and said in found["detail"]
    assert log_head(client) == before


def test_a_refund_not_paid_out_or_of_another_store_is_not_matched(
        client: TestClient, auth: Auth, store_id: str) -> None:
    other = "T" + uuid.uuid4().hex[:6].upper()
    finance = auth("finance", "fin-1", [store_id, other])
    visit = _refunded(client, auth, store_id)
    stmt = _statement(client, finance, store_id)
    foreign = _statement(client, finance, other)
    before = log_head(client)
    pending = _match(client, finance, stmt["id"], {
        "line_no": 1, "settlement_id": visit["settlement_id"],
        "refund_id": visit["pending_id"], "reason": "refund by transfer"})
    assert "only an approved refund" in problem(pending, 409, "illegal-transition")["detail"]
    elsewhere = _match(client, finance, foreign["id"], {
        "line_no": 1, "settlement_id": visit["settlement_id"],
        "refund_id": visit["refund_id"], "reason": "refund by transfer"})
    assert problem(elsewhere, 422, "invalid-input")["field"] == "settlement_id"
    assert log_head(client) == before


def test_a_refund_match_is_idempotent_and_checks_if_match(
        client: TestClient, auth: Auth, store_id: str) -> None:
    finance = auth("finance", "fin-1", [store_id])
    visit = _refunded(client, auth, store_id)
    stmt = _statement(client, finance, store_id)
    body = {"line_no": 1, "settlement_id": visit["settlement_id"],
            "refund_id": visit["refund_id"], "reason": "refund by transfer"}
    stale = _match(client, {**finance, "If-Match": '"7"'}, stmt["id"], body)
    problem(stale, 412, "stale-version")
    keyed = {**finance, "Idempotency-Key": "match-" + uuid.uuid4().hex}
    first = _match(client, keyed, stmt["id"], body)
    assert first.status_code == 200, first.text
    head = log_head(client)
    second = _match(client, keyed, stmt["id"], body)
    assert (second.status_code, second.headers["Idempotent-Replayed"]) == (200, "true")
    assert second.json() == first.json()
    assert log_head(client) == head


def test_one_refund_matched_from_two_statements_at_once_is_matched_once(
        client: TestClient, auth: Auth, store_id: str) -> None:
    """Two clerks match the same refund, each on a statement of their own, at the same
    instant: the settlement is saved with one statement, the other is retried on fresh state
    and refused (409); the refund shows on one line only."""
    finance = auth("finance", "fin-1", [store_id])
    visit = _refunded(client, auth, store_id)
    statements = [_statement(client, finance, store_id)["id"] for _ in range(2)]
    answers = together(2, lambda i: _match(client, finance, statements[i], {
        "line_no": 1, "settlement_id": visit["settlement_id"],
        "refund_id": visit["refund_id"], "reason": "refund by transfer"}))
    codes = sorted(a.status_code for a in answers if not isinstance(a, Exception))
    assert codes == [200, 409], answers
    head = log_head(client)
    matched = [get(client, f"/reconciliation/statements/{sid}", finance, wait_for=head)["matched"]
               for sid in statements]
    assert sorted(len(m) for m in matched) == [0, 1]
