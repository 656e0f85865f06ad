"""A statement line that needs no match in the books — a line the bank printed twice, its fee,
interest, a transfer between the store's own accounts — is explained by finance with a kind and
a reason: it leaves the unmatched lines, so a month's reconciliation can be finished. A
manager may withdraw an explanation, with a reason. Refusals store nothing."""

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
served, container, client = served_module("sc_statement_explain", projections=True)


def _statement(client: TestClient, finance: dict[str, str], store_id: str,
               extra: str = "") -> dict[str, Any]:
    """A bank statement: 赵敏's transfer (1), the bank's fee (2), the transfer printed again
    (3), the quarter's interest (4), and `extra` lines after them."""
    ref = "R" + uuid.uuid4().hex[:8]
    return post(client, "/reconciliation/statements", finance, {  # type: ignore[no-any-return]
        "store_id": store_id, "source": "bank", "account": "工行 1001",
        "csv": "date,amount,reference,counterparty\n"
               f"2026-05-01,1010.00,{ref},赵敏\n2026-05-01,-2.00,FEE-{ref},\n"
               f"2026-05-01,1010.00,{ref},赵敏\n2026-05-02,3.15,INT-{ref},\n{extra}"}, 201)


def _explain(client: TestClient, headers: dict[str, str], statement_id: str, line_no: int,
             body: dict[str, Any]) -> Any:
    return client.post(f"/reconciliation/statements/{statement_id}/lines/{line_no}/explanation",
                       headers=headers, json=body)


def _view(client: TestClient, finance: dict[str, str], statement_id: str,
          after: int) -> dict[str, Any]:
    return get(client, f"/reconciliation/statements/{statement_id}",  # type: ignore[no-any-return]
               finance, wait_for=after)


def test_explained_lines_leave_the_unmatched_lines_saying_what_who_and_why(
        client: TestClient, auth: Auth, store_id: str) -> None:
    finance = auth("finance", "fin-1", [store_id])
    stmt = _statement(client, finance, store_id)
    # The clerk explains the fee, the interest and the line the bank printed twice.
    fee = _explain(client, finance, stmt["id"], 2, {"kind": "bank_fee",
                                                    "reason": "transfer fee, May"})
    assert fee.status_code == 200, fee.text
    assert fee.json()["line_no"] == 2 and fee.json()["kind"] == "bank_fee"
    _explain(client, finance, stmt["id"], 4, {"kind": "interest", "reason": "Q2 interest"})
    dup = _explain(client, finance, stmt["id"], 3, {"kind": "duplicate", "duplicate_of": 1,
                                                    "reason": "printed twice by the bank"})
    assert dup.status_code == 200, dup.text
    view = _view(client, finance, stmt["id"], dup.json()["notification_id"])
    # Only the transfer waits for its payment now.
    assert [ln["line_no"] for ln in view["unmatched_lines"]] == [1]
    assert view["matched"] == []
    shown = {ln["line_no"]: ln for ln in view["explained"]}
    assert sorted(shown) == [2, 3, 4]
    assert (shown[2]["explained_kind"], shown[2]["explained_reason"],
            shown[2]["explained_by"], shown[2]["duplicate_of"]) == (
        "bank_fee", "transfer fee, May", "fin-1", None)
    assert shown[2]["explained_at"]
    assert (shown[3]["explained_kind"], shown[3]["duplicate_of"]) == ("duplicate", 1)
    assert shown[3]["counterparty"] == "赵敏"

    # The audit log says who explained which line and why.
    auditor = auth("auditor", "aud-li", [store_id])
    log = get(client, "/audit/log", auditor, event_type="Statement.LineExplained",
              store_id=store_id, wait_for=dup.json()["notification_id"])
    ours = [item for item in log["items"] if item["stream_id"] == stmt["id"]]
    assert [(item["actor"]["user_id"], item["reason"]) for item in ours] == [
        ("fin-1", "transfer fee, May"), ("fin-1", "Q2 interest"),
        ("fin-1", "printed twice by the bank")]


@pytest.mark.parametrize(("line_no", "body", "field"), [
    (2, {"kind": "bank_fee"}, "reason"),
    (2, {"kind": "bank_fee", "reason": "  "}, "reason"),
    (2, {"kind": "charity", "reason": "not a kind"}, "kind"),
    (3, {"kind": "duplicate", "reason": "printed twice"}, "duplicate_of"),
    (3, {"kind": "duplicate", "reason": "printed twice", "duplicate_of": 3}, "duplicate_of"),
    (3, {"kind": "duplicate", "reason": "printed twice", "duplicate_of": 99}, "duplicate_of"),
    (4, {"kind": "duplicate", "reason": "printed twice", "duplicate_of": 1}, "duplicate_of"),
    (2, {"kind": "bank_fee", "reason": "fee", "duplicate_of": 1}, "duplicate_of"),
])
def test_an_explanation_without_its_reason_or_true_duplicate_is_422_naming_the_field(
        client: TestClient, auth: Auth, store_id: str, line_no: int, body: dict[str, Any],
        field: str) -> None:
    finance = auth("finance", "fin-1", [store_id])
    stmt = _statement(client, finance, store_id)
    before = log_head(client)
    refused = _explain(client, finance, stmt["id"], line_no, body)
    assert problem(refused, 422, "invalid-input")["field"] == field
    assert log_head(client) == before


def test_a_duplicate_names_what_differs_from_the_line_it_repeats(
        client: TestClient, auth: Auth, store_id: str) -> None:
    finance = auth("finance", "fin-1", [store_id])
    stmt = _statement(client, finance, store_id)
    refused = _explain(client, finance, stmt["id"], 4, {
        "kind": "duplicate", "duplicate_of": 2, "reason": "printed twice"})
    found = problem(refused, 422, "invalid-input")
    assert found["differs"] == ["date", "amount", "reference"]
    # A line explained as a duplicate is no original for another duplicate.
    post(client, f"/reconciliation/statements/{stmt['id']}/lines/3/explanation", finance,
         {"kind": "duplicate", "duplicate_of": 1, "reason": "printed twice"})
    chained = _explain(client, finance, stmt["id"], 1, {
        "kind": "duplicate", "duplicate_of": 3, "reason": "printed twice"})
    assert problem(chained, 422, "invalid-input")["field"] == "duplicate_of"


def test_who_may_explain_and_an_unknown_line_or_statement(
        client: TestClient, auth: Auth, store_id: str) -> None:
    finance = auth("finance", "fin-1", [store_id])
    stmt = _statement(client, finance, store_id)
    body = {"kind": "bank_fee", "reason": "transfer fee"}
    before = log_head(client)
    problem(_explain(client, auth("cashier", "cash-1", [store_id]), stmt["id"], 2, body),
            403, "forbidden")
    problem(_explain(client, auth("finance", "fin-9", ["X" + store_id]), stmt["id"], 2, body),
            404, "not-found")
    problem(_explain(client, finance, stmt["id"], 9, body), 404, "not-found")
    problem(_explain(client, finance, str(uuid.uuid4()), 2, body), 404, "not-found")
    assert log_head(client) == before
    manager = auth("manager", "mgr-1", [store_id])
    assert _explain(client, manager, stmt["id"], 2, body).status_code == 200


def test_a_line_is_explained_once_and_a_manager_withdraws_it_with_a_reason(
        client: TestClient, auth: Auth, store_id: str) -> None:
    finance = auth("finance", "fin-1", [store_id])
    manager = auth("manager", "mgr-1", [store_id])
    stmt = _statement(client, finance, store_id)
    lines = f"/reconciliation/statements/{stmt['id']}/lines"
    post(client, f"{lines}/2/explanation", finance, {"kind": "other", "reason": "unsure"})
    before = log_head(client)
    twice = _explain(client, finance, stmt["id"], 2, {"kind": "bank_fee", "reason": "fee"})
    assert problem(twice, 409, "illegal-transition")["explanation"]["kind"] == "other"
    # Finance may not take an explanation back; a manager does, saying why.
    problem(client.post(f"{lines}/2/explanation/withdrawal", headers=finance,
                        json={"reason": "wrong kind"}), 403, "forbidden")
    missing = client.post(f"{lines}/2/explanation/withdrawal", headers=manager, json={})
    assert problem(missing, 422, "invalid-input")["field"] == "reason"
    assert log_head(client) == before
    withdrawn = post(client, f"{lines}/2/explanation/withdrawal", manager,
                     {"reason": "it is the bank's fee"})
    view = _view(client, finance, stmt["id"], withdrawn["notification_id"])
    assert 2 in [ln["line_no"] for ln in view["unmatched_lines"]]
    assert view["explained"] == []
    problem(client.post(f"{lines}/2/explanation/withdrawal", headers=manager,
                        json={"reason": "again"}), 409, "illegal-transition")
    # Unmatched again, the line is explained anew.
    again = post(client, f"{lines}/2/explanation", finance, {"kind": "bank_fee",
                                                             "reason": "transfer fee"})
    view = _view(client, finance, stmt["id"], again["notification_id"])
    assert [(ln["line_no"], ln["explained_kind"]) for ln in view["explained"]] == [
        (2, "bank_fee")]


def test_an_explanation_is_idempotent_and_checks_if_match(
        client: TestClient, auth: Auth, store_id: str) -> None:
    finance = auth("finance", "fin-1", [store_id])
    stmt = _statement(client, finance, store_id)
    keyed = {**finance, "Idempotency-Key": "explain-" + uuid.uuid4().hex}
    body = {"kind": "bank_fee", "reason": "transfer fee"}
    first = _explain(client, keyed, stmt["id"], 2, body)
    assert first.status_code == 200, first.text
    head = log_head(client)
    second = _explain(client, keyed, stmt["id"], 2, body)
    assert second.status_code == 200, second.text
    assert second.headers["Idempotent-Replayed"] == "true"
    assert second.json() == first.json()
    assert log_head(client) == head
    # The statement is at version 2 now: an If-Match of the version read before is 412.
    stale = _explain(client, {**finance, "If-Match": '"1"'}, stmt["id"], 4,
                     {"kind": "interest", "reason": "Q2 interest"})
    problem(stale, 412, "stale-version")
    assert log_head(client) == head
    fresh = _explain(client, {**finance, "If-Match": first.headers["ETag"]}, stmt["id"], 4,
                     {"kind": "interest", "reason": "Q2 interest"})
    assert fresh.status_code == 200, fresh.text


def test_a_matched_line_is_not_explained_nor_an_explained_line_matched(
        client: TestClient, auth: Auth, store_id: str) -> None:
    cashier = auth("cashier", "cash-" + store_id, [store_id])
    finance = auth("finance", "fin-1", [store_id])
    wo_id, sid = confirmed_settlement(client, auth, store_id)
    ref = "POS-" + uuid.uuid4().hex[:6]
    card = post(client, "/payments", cashier, {"work_order_id": wo_id, "method": "bank_card",
                                               "amount": "600.00", "provider_ref": ref}, 201)
    day = datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
    stmt = _statement(client, finance, store_id, f"{day},600.00,{ref},王伟\n")
    # Line 5 is the card payment, but the clerk first calls it "other".
    post(client, f"/reconciliation/statements/{stmt['id']}/lines/5/explanation", finance,
         {"kind": "other", "reason": "looked like a refund"})
    before = log_head(client)
    refused = client.post(f"/reconciliation/statements/{stmt['id']}/matches", headers=finance,
                          json={"line_no": 5, "settlement_id": sid,
                                "payment_id": card["payment_id"], "reason": "it is the card"})
    problem(refused, 409, "illegal-transition")
    auto = post(client, f"/reconciliation/statements/{stmt['id']}/auto-match?wait_for={before}",
                finance)
    assert auto["matched"] == 0
    assert log_head(client) == before
    # Withdrawn, the line is matched; a matched line is then not explained.
    post(client, f"/reconciliation/statements/{stmt['id']}/lines/5/explanation/withdrawal",
         auth("manager", "mgr-1", [store_id]), {"reason": "it is the card payment"})
    matched = post(client, f"/reconciliation/statements/{stmt['id']}/matches", finance, {
        "line_no": 5, "settlement_id": sid, "payment_id": card["payment_id"],
        "reason": "it is the card"})
    head = log_head(client)
    problem(_explain(client, finance, stmt["id"], 5, {"kind": "other", "reason": "again"}),
            409, "illegal-transition")
    assert log_head(client) == head
    view = _view(client, finance, stmt["id"], matched["notification_id"])
    assert [(m["line_no"], m["payment_id"]) for m in view["matched"]] == [
        (5, card["payment_id"])]
