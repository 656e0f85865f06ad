"""Auto-match proposes refunds for a statement's lines of money out: the refund paid out with
the line's reference (`payout_ref`, said when the refund is approved), else the one approved
refund of the line's amount within 7 days that no other line pairs with as well, paid out by a
method the statement carries. A refund matched already, one not approved, an ambiguous pair,
a line of money in (for a refund) and a line of money out (for a payment) are never proposed.
A proposal is accepted as a refund matched by hand is (`Statement.RefundMatched`, marked not
manual), and a manager's withdrawal frees both sides for the next auto-match."""

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
from tests.scratch_systems import served_module

Auth = Callable[..., dict[str, str]]
served, container, client = served_module("sc_refund_automatch", projections=True)


def _refund(client: TestClient, auth: Auth, store_id: str, wo_id: str, payment_id: str,
            amount: str, decision: dict[str, Any] | None) -> str:
    """A refund asked by the cashier; approved by a manager with `decision`'s payout (None:
    left undecided)."""
    cashier = auth("cashier", "cash-" + store_id, [store_id])
    manager = auth("manager", "mgr-" + store_id, [store_id])
    refund_id: str = post(client, "/refunds", cashier, {
        "work_order_id": wo_id, "payment_id": payment_id, "amount": amount,
        "reason": "goodwill", "kind": "payment_return"}, 201)["refund_id"]
    if decision is not None:
        post(client, f"/refunds/{refund_id}/decision", manager, {"approve": True, **decision})
    return refund_id


def _visit(client: TestClient, auth: Auth, store_id: str) -> dict[str, Any]:
    """A visit paid 900.00 by transfer (reference `paid_ref`) and refunds out of it: A 50.00
    by transfer with its reference, B 30.00 and C, D 20.00 each approved without one, E 25.00
    paid out in cash, F 40.00 asked and not decided."""
    cashier = auth("cashier", "cash-" + store_id, [store_id])
    wo_id, sid = confirmed_settlement(client, auth, store_id)
    paid_ref = "TR-" + uuid.uuid4().hex[:8]
    paid = post(client, "/payments", cashier, {"work_order_id": wo_id, "method": "bank_transfer",
                                               "amount": "900.00", "provider_ref": paid_ref}, 201)
    out_ref = "OUT-" + uuid.uuid4().hex[:8]
    refunds = {name: _refund(client, auth, store_id, wo_id, paid["payment_id"], amount, how)
               for name, amount, how in [
                   ("A", "50.00", {"payout_method": "bank_transfer", "payout_ref": out_ref}),
                   ("B", "30.00", {}), ("C", "20.00", {}), ("D", "20.00", {}),
                   ("E", "25.00", {"payout_method": "cash"}), ("F", "40.00", None)]}
    return {"wo_id": wo_id, "settlement_id": sid, "payment_id": paid["payment_id"],
            "paid_ref": paid_ref, "out_ref": out_ref, "refunds": refunds}


def _statement(client: TestClient, finance: dict[str, str], store_id: str,
               visit: dict[str, Any]) -> str:
    """1: A's transfer (its reference); 2: money in with A's reference and amount; 3: 30.00
    out under the bank's own serial (B's); 4: 20.00 out (C's or D's: which?); 5: 40.00 out
    (F's, not approved); 6: the payment's 900.00 with its reference, but going out; 7: 25.00
    out (E's, paid in cash: not on the bank's statement)."""
    day = datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
    rows = [("-50.00", visit["out_ref"]), ("50.00", visit["out_ref"]), ("-30.00", "BK-0003"),
            ("-20.00", "BK-0004"), ("-40.00", "BK-0005"), ("-900.00", visit["paid_ref"]),
            ("-25.00", "BK-0007")]
    csv = "date,amount,reference,counterparty\n" + "".join(
        f"{day},{amount},{ref},王伟\n" for amount, ref in rows)
    return post(client, "/reconciliation/statements", finance, {  # type: ignore[no-any-return]
        "store_id": store_id, "source": "bank", "account": "工行 1001", "csv": csv}, 201)["id"]


def _auto(client: TestClient, finance: dict[str, str], statement_id: str) -> dict[str, Any]:
    return post(client, f"/reconciliation/statements/{statement_id}/auto-match", finance)


def test_auto_match_proposes_the_refunds_its_lines_of_money_out_paid(
        client: TestClient, auth: Auth, store_id: str) -> None:
    finance = auth("finance", "fin-1", [store_id])
    manager = auth("manager", "mgr-" + store_id, [store_id])
    visit = _visit(client, auth, store_id)
    refunds = visit["refunds"]
    stmt = _statement(client, finance, store_id, visit)
    answer = _auto(client, finance, stmt)
    assert (answer["matched"], answer["skipped"], answer["remaining"]) == (2, 0, 0)
    view = get(client, f"/reconciliation/statements/{stmt}", finance,
               wait_for=answer["notification_id"])
    assert [(ln["line_no"], ln["refund_id"], ln["payment_id"], ln["manual"])
            for ln in view["matched"]] == [(1, refunds["A"], None, False),
                                           (3, refunds["B"], None, False)]
    assert visit["out_ref"] in view["matched"][0]["reason"]
    assert [ln["line_no"] for ln in view["unmatched_lines"]] == [2, 4, 5, 6, 7]
    # the refunds left for a line of money out: C and D (by transfer, as paid), not E (cash),
    # not F (not approved), not A and B (matched)
    assert view["unmatched_refunds_count"] == 2
    assert sorted(r["refund_id"] for r in view["unmatched_refunds"]) == sorted(
        [refunds["C"], refunds["D"]])
    assert {(r["method"], r["amount"], r["settlement_id"]) for r in view["unmatched_refunds"]} == {
        ("bank_transfer", "20.00", visit["settlement_id"])}
    page = get(client, f"/reconciliation/statements/{stmt}", finance,
               refunds_limit=1, refunds_offset=1)
    assert (page["unmatched_refunds_count"], len(page["unmatched_refunds"])) == (2, 1)
    assert page["unmatched_refunds"][0]["refund_id"] == view["unmatched_refunds"][1]["refund_id"]
    # the settlement shows where each refund was found, and how it went out
    settlement = get(client, f"/settlements/{visit['settlement_id']}", finance,
                     wait_for=answer["notification_id"])
    shown = {r["refund_id"]: r for r in settlement["refunds"]}
    assert (shown[refunds["A"]]["statement_id"], shown[refunds["A"]]["statement_line"],
            shown[refunds["A"]]["payout_method"], shown[refunds["A"]]["payout_ref"]) == (
        stmt, 1, "bank_transfer", visit["out_ref"])
    assert (shown[refunds["B"]]["statement_line"], shown[refunds["B"]]["payout_ref"]) == (3, None)
    assert all(shown[refunds[n]]["statement_id"] is None for n in "CDEF")
    # Nothing left to propose: a refund is matched once.
    head = log_head(client)
    again = _auto(client, finance, stmt)
    assert (again["matched"], again["remaining"]) == (0, 0)
    assert log_head(client) == head
    # A manager takes line 1's match back: both sides are free, and auto-match pairs them again.
    taken = post(client, f"/reconciliation/statements/{stmt}/lines/1/refund-match/withdrawal",
                 manager, {"reason": "checking the transfer"})
    after = get(client, f"/settlements/{visit['settlement_id']}", finance,
                wait_for=taken["notification_id"])
    assert [r["statement_id"] for r in after["refunds"] if r["refund_id"] == refunds["A"]] == [
        None]
    rematched = _auto(client, finance, stmt)
    assert rematched["matched"] == 1
    view = get(client, f"/reconciliation/statements/{stmt}", finance,
               wait_for=rematched["notification_id"])
    assert [(ln["line_no"], ln["refund_id"]) for ln in view["matched"]] == [
        (1, refunds["A"]), (3, refunds["B"])]


def test_a_refund_matched_on_one_statement_is_not_proposed_on_another(
        client: TestClient, auth: Auth, store_id: str) -> None:
    finance = auth("finance", "fin-1", [store_id])
    visit = _visit(client, auth, store_id)
    first = _statement(client, finance, store_id, visit)
    assert _auto(client, finance, first)["matched"] == 2
    # the same lines on another account's statement: A and B are matched already
    day = datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
    second = post(client, "/reconciliation/statements", finance, {
        "store_id": store_id, "source": "bank", "account": "建行 2002",
        "csv": f"date,amount,reference,counterparty\n{day},-50.00,{visit['out_ref']},王伟\n"
               f"{day},-30.00,BK-0003,王伟\n"}, 201)["id"]
    answer = _auto(client, finance, second)
    assert (answer["matched"], answer["remaining"]) == (0, 0)


@pytest.mark.parametrize(("decision", "field"), [
    ({"approve": True, "payout_method": "bank_transfer"}, "payout_ref"),
    ({"approve": True, "payout_method": "wechat_pay", "payout_ref": "   "}, "payout_ref"),
    ({"approve": True, "payout_method": "cheque", "payout_ref": "CH-1"}, "payout_method"),
    ({"approve": True, "payout_ref": "x" * 81}, "payout_ref"),
    ({"approve": False, "reason": "not this one", "payout_ref": "TR-1"}, "payout_ref"),
])
def test_a_payout_that_cannot_be_paired_is_refused_and_stores_nothing(
        client: TestClient, auth: Auth, store_id: str, decision: dict[str, Any],
        field: str) -> None:
    cashier = auth("cashier", "cash-" + store_id, [store_id])
    manager = auth("manager", "mgr-" + store_id, [store_id])
    wo_id, _ = confirmed_settlement(client, auth, store_id)
    paid = post(client, "/payments", cashier, {"work_order_id": wo_id, "method": "cash",
                                               "amount": "100.00"}, 201)
    refund_id = _refund(client, auth, store_id, wo_id, paid["payment_id"], "10.00", None)
    before = log_head(client)
    refused = client.post(f"/refunds/{refund_id}/decision", headers=manager, json=decision)
    assert problem(refused, 422, "invalid-input")["field"] == field
    assert log_head(client) == before
