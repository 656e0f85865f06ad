"""A statement line's match to a payment — made by hand or by auto-match — is taken back by a
manager, with a reason, as a refund match is: the line and the payment are both unmatched
again, in one save, each with an event of its own (nothing deleted); the payment can then be
matched to the right line. Without a reason, without a manager, or on a line not matched to a
payment it is refused and nothing is stored. The finance view equals its rebuild."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient

from servicecore.container import Container
from tests.e2e.test_api_contract import log_head, problem
from tests.e2e.test_money_api import confirmed_settlement
from tests.e2e.test_parts_api import get, post
from tests.e2e.test_statement_refund_matches import _refunded
from tests.e2e.test_statement_refund_matches import _statement as refund_statement
from tests.scratch_systems import served_module
from workers.view_verify import verify_view

Auth = Callable[..., dict[str, str]]
served, container, client = served_module("sc_payment_unmatch", projections=True)


def _paid(client: TestClient, auth: Auth, store_id: str) -> dict[str, Any]:
    """A visit paid by two transfers, 400.00 and 500.00, each with the bank's reference."""
    cashier = auth("cashier", "cash-" + store_id, [store_id])
    wo_id, sid = confirmed_settlement(client, auth, store_id)
    paid = {}
    for amount in ("400.00", "500.00"):
        ref = "TR-" + uuid.uuid4().hex[:8]
        made = post(client, "/payments", cashier, {
            "work_order_id": wo_id, "method": "bank_transfer", "amount": amount,
            "provider_ref": ref}, 201)
        paid[amount] = {"payment_id": made["payment_id"], "ref": ref}
    return {"settlement_id": sid, "paid": paid}


def _statement(client: TestClient, finance: dict[str, str], store_id: str,
               paid: dict[str, Any]) -> dict[str, Any]:
    """The bank's lines: the 400.00 transfer (1), the 500.00 transfer (2), and another 400.00
    from someone else (3)."""
    day = datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
    return post(client, "/reconciliation/statements", finance, {  # type: ignore[no-any-return]
        "store_id": store_id, "source": "bank", "account": "工行 1001",
        "csv": "date,amount,reference,counterparty\n"
               f"{day},400.00,{paid['400.00']['ref']},王伟\n"
               f"{day},500.00,{paid['500.00']['ref']},王伟\n"
               f"{day},400.00,IN-{uuid.uuid4().hex[:6]},李雷\n"}, 201)


def _withdraw(client: TestClient, headers: dict[str, str], statement_id: str, line_no: int,
              body: dict[str, Any]) -> Any:
    return client.post(f"/reconciliation/statements/{statement_id}/lines/{line_no}/"
                       "payment-match/withdrawal", headers=headers, json=body)


def _unmatched_payments(view: dict[str, Any]) -> set[str]:
    return {p["payment_id"] for p in view["unmatched_payments"]}


def test_a_manager_takes_a_payment_match_back_and_it_is_matched_again(
        client: TestClient, container: Container, auth: Auth, store_id: str) -> None:
    finance = auth("finance", "fin-1", [store_id])
    manager = auth("manager", "mgr-" + store_id, [store_id])
    cashier = auth("cashier", "cash-" + store_id, [store_id])
    visit = _paid(client, auth, store_id)
    p400, p500 = (visit["paid"][a]["payment_id"] for a in ("400.00", "500.00"))
    stmt = _statement(client, finance, store_id, visit["paid"])
    page = f"/reconciliation/statements/{stmt['id']}"
    # The 400.00 transfer matched by hand to the wrong line (3 instead of 1).
    wrong = client.post(f"{page}/matches", headers=finance, json={
        "line_no": 3, "settlement_id": visit["settlement_id"], "payment_id": p400,
        "reason": "same amount, same day"})
    assert wrong.status_code == 200, wrong.text
    # Refused, nothing stored: no reason, not a manager, a line not matched to a payment.
    before = log_head(client)
    assert problem(_withdraw(client, manager, stmt["id"], 3, {"reason": " "}), 422,
                   "invalid-input")["field"] == "reason"
    problem(_withdraw(client, finance, stmt["id"], 3, {"reason": "wrong line"}), 403, "forbidden")
    problem(_withdraw(client, cashier, stmt["id"], 3, {"reason": "wrong line"}), 403, "forbidden")
    assert "not matched to a payment" in problem(
        _withdraw(client, manager, stmt["id"], 1, {"reason": "wrong line"}), 409,
        "illegal-transition")["detail"]
    problem(_withdraw(client, manager, stmt["id"], 9, {"reason": "wrong line"}), 404,
            "not-found")
    assert log_head(client) == before
    # The manager takes it back: one save, two events (the line's, the payment's).
    taken = _withdraw(client, manager, stmt["id"], 3, {"reason": "matched to the wrong line"})
    assert taken.status_code == 200, taken.text
    assert taken.json()["payment_id"] == p400
    assert log_head(client) == before + 2
    view = get(client, page, finance, wait_for=taken.json()["notification_id"])
    assert view["matched"] == []
    assert [ln["line_no"] for ln in view["unmatched_lines"]] == [1, 2, 3]
    assert {p400, p500} <= _unmatched_payments(view)
    # Both streams keep the match and its withdrawal.
    history = get(client, f"/settlements/{visit['settlement_id']}/history", manager)
    kinds = [e["event"].rsplit(".", 1)[-1] for e in history["items"]]
    assert kinds[-2:] == ["PaymentReconciled", "PaymentReconciliationWithdrawn"]
    # Taken back twice: nothing left to take back.
    problem(_withdraw(client, manager, stmt["id"], 3, {"reason": "again"}), 409,
            "illegal-transition")
    # Auto-match now pairs both transfers with their own lines.
    auto = post(client, f"{page}/auto-match", finance)
    assert (auto["matched"], auto["remaining"]) == (2, 0)
    view = get(client, page, finance, wait_for=auto["notification_id"])
    assert [(ln["line_no"], ln["payment_id"]) for ln in view["matched"]] == [
        (1, p400), (2, p500)]
    # A match auto-match made is taken back the same way.
    undone = _withdraw(client, manager, stmt["id"], 2, {"reason": "the bank reversed it"})
    assert undone.status_code == 200, undone.text
    view = get(client, page, finance, wait_for=undone.json()["notification_id"])
    assert [ln["line_no"] for ln in view["matched"]] == [1]
    assert [ln["line_no"] for ln in view["unmatched_lines"]] == [2, 3]
    assert p500 in _unmatched_payments(view) and p400 not in _unmatched_payments(view)
    # The finance view holds nothing its rebuild from the log would not.
    finance_view = next(v for v in container.views if v.name == "finance")
    check = verify_view(container.app, container.pool, finance_view)
    assert check.ok, check.as_dict()


def test_a_refund_match_is_not_taken_back_as_a_payment_match(
        client: TestClient, auth: Auth, store_id: str) -> None:
    """Each withdrawal takes back its own kind of match: a line matched to a refund is 409
    on the payment route, and stays matched."""
    finance = auth("finance", "fin-1", [store_id])
    manager = auth("manager", "mgr-" + store_id, [store_id])
    visit = _refunded(client, auth, store_id)
    stmt = refund_statement(client, finance, store_id)
    matched = post(client, f"/reconciliation/statements/{stmt['id']}/matches", finance, {
        "line_no": 1, "settlement_id": visit["settlement_id"],
        "refund_id": visit["refund_id"], "reason": "goodwill refund by transfer"})
    before = log_head(client)
    assert "not matched to a payment" in problem(
        _withdraw(client, manager, stmt["id"], 1, {"reason": "wrong line"}), 409,
        "illegal-transition")["detail"]
    assert log_head(client) == before
    view = get(client, f"/reconciliation/statements/{stmt['id']}", finance,
               wait_for=matched["notification_id"])
    assert [(ln["line_no"], ln["refund_id"]) for ln in view["matched"]] == [
        (1, visit["refund_id"])]
