"""Money rules that hold across commands, not just within one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient

from domain.cashier_day import CashierDay
from domain.common import InvalidInput, NotPermitted
from domain.settlement import Settlement
from projections import finance_queries
from servicecore.container import Container
from servicecore.demo_catalog import ZONE
from tests.integration.support import Auth, load, post
from tests.integration.test_money_support import (
    draft,
    events_of,
    ready_visit,
    req,
    today,
    version_of,
)


def test_split_discounts_do_not_bypass_the_managers_approval(container: Container,
                                                             store_id: str) -> None:
    # A 450.00 customer bill: a cashier may give up to 45.00 (10 %) on their own.
    work_order_id = ready_visit(container, store_id)
    settlement_id = draft(container, store_id, work_order_id)
    settlements = container.settlements
    settlements.discount(req(store_id), settlement_id, bill="customer", amount="45.00",
                         reason="member's discount")

    # Another 45.00, alone under the threshold, takes the bill's discount to 20 %: like 90.00
    # at once, it needs a manager (with a reason). Line by line the same holds.
    for amount, line_id in (("45.00", None), ("90.00", None), ("1.00", "L1")):
        with pytest.raises(NotPermitted):
            settlements.discount(req(store_id), settlement_id, bill="customer", amount=amount,
                                 line_id=line_id)
    assert load(container.app, Settlement, settlement_id).bills["customer"]["discount"] == \
        Decimal("45.00")
    settlements.discount(req(store_id, "manager"), settlement_id, bill="customer",
                         amount="45.00", reason="loyal customer")
    bill = load(container.app, Settlement, settlement_id).bills["customer"]
    assert (bill["discount"], bill["total"]) == (Decimal("90.00"), Decimal("360.00"))


def test_auto_match_with_a_duplicated_statement_line_still_matches_once(
        client: TestClient, auth: Auth, container: Container, store_id: str) -> None:
    finance_user = auth("finance", f"fin-{store_id}", [store_id])
    work_order_id = ready_visit(container, store_id)
    settlement_id = draft(container, store_id, work_order_id)
    container.settlements.confirm(req(store_id), settlement_id)
    ref = f"ALI-{store_id}"
    container.settlements.pay(req(store_id), work_order_id=work_order_id, method="alipay",
                              amount="450.00", provider_ref=ref)
    # The provider's export repeats the line (it happens); the payment exists once.
    imported = post(client, "/reconciliation/statements", finance_user, {
        "store_id": store_id, "source": "alipay",
        "csv": f"date,amount,reference,counterparty\n{today()},450.00,{ref},王伟\n"
               f"{today()},450.00,{ref},王伟\n"}, 201)
    url = f"/reconciliation/statements/{imported['id']}"
    client.get(url, headers=finance_user, params={"wait_for": imported["notification_id"]})

    matched = client.post(f"{url}/auto-match", headers=finance_user, json={})

    assert matched.status_code == 200, matched.text
    assert matched.json()["matched"] == 1
    payment = next(iter(load(container.app, Settlement, settlement_id).payments.values()))
    assert payment["reconciled"] is not None


def test_auto_match_right_after_the_import_or_once_more_is_no_error(
        client: TestClient, auth: Auth, container: Container, store_id: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Auto-match pressed at once after the import (the view has not seen the statement yet)
    matches instead of answering 422 "no line matches"; pressed again, nothing is left: 200
    with 0 matched; a statement id nobody imported is 404, not 422."""
    finance_user = auth("finance", f"fin-{store_id}", [store_id])
    work_order_id = ready_visit(container, store_id)
    settlement_id = draft(container, store_id, work_order_id)
    container.settlements.confirm(req(store_id), settlement_id)
    ref = f"WX-{store_id}-now"
    container.settlements.pay(req(store_id), work_order_id=work_order_id, method="wechat_pay",
                              amount="450.00", provider_ref=ref)
    imported = post(client, "/reconciliation/statements", finance_user, {
        "store_id": store_id, "source": "wechat_pay",
        "csv": f"date,amount,reference,counterparty\n{today()},450.00,{ref},王伟\n"}, 201)
    url = f"/reconciliation/statements/{imported['id']}/auto-match"
    # The view is behind at the first look (as it is a moment after the import).
    real = finance_queries.match_proposals
    looks: list[int] = []

    def behind_once(conn: Any, statement_id: Any) -> list[dict[str, Any]]:
        looks.append(1)
        return [] if len(looks) == 1 else real(conn, statement_id)

    monkeypatch.setattr(finance_queries, "match_proposals", behind_once)

    first = client.post(url, headers=finance_user, json={})
    assert first.status_code == 200, first.text
    assert (first.json()["matched"], first.json()["remaining"]) == (1, 0)
    monkeypatch.setattr(finance_queries, "match_proposals", real)
    again = client.post(url, headers=finance_user, json={},
                        params={"wait_for": first.json()["notification_id"]})
    assert again.status_code == 200, again.text
    assert (again.json()["matched"], again.json()["skipped"], again.json()["remaining"]) == \
        (0, 0, 0)
    assert again.json()["notification_id"] <= first.json()["notification_id"]  # none stored
    unknown = client.post(f"/reconciliation/statements/{uuid4()}/auto-match",
                          headers=finance_user, json={})
    assert unknown.status_code == 404, unknown.text


def test_a_correction_into_a_closed_day_says_why(container: Container, store_id: str) -> None:
    """Money found for a day already closed is booked as a correction of it: an auditor asks
    why the drawer of that day did not hold it, so the correction needs a reason, kept on the
    payment's event beside who and when."""
    st = container.settlements
    # opened yesterday: a payment is never dated before the work order's opening day
    work_order_id = ready_visit(container, store_id,
                                opened_at=datetime.now(UTC) - timedelta(days=1))
    settlement_id = draft(container, store_id, work_order_id)
    st.confirm(req(store_id), settlement_id)
    yesterday = (datetime.now(ZONE).date() - timedelta(days=1)).isoformat()
    st.close_day(req(store_id), store_id=store_id, business_date=yesterday, counted_cash="0.00")
    before = version_of(container, settlement_id)
    for reason in (None, "  "):
        with pytest.raises(InvalidInput, match="reason"):
            st.pay(req(store_id), work_order_id=work_order_id, method="cash", amount="50.00",
                   correction_of=yesterday, reason=reason)
    assert version_of(container, settlement_id) == before  # nothing stored
    st.pay(req(store_id), work_order_id=work_order_id, method="cash", amount="50.00",
           correction_of=yesterday, reason="cash found under the drawer tray at day-end")
    [taken] = [e for e in events_of(container, settlement_id)
               if isinstance(e, Settlement.PaymentTaken)]
    assert (taken.payment["correction_of"], taken.reason) == (
        yesterday, "cash found under the drawer tray at day-end")
    # An ordinary payment needs none.
    st.pay(req(store_id), work_order_id=work_order_id, method="cash", amount="10.00")


def test_a_payment_is_never_dated_before_its_visit_and_a_back_dated_one_says_why(
        client: TestClient, auth: Auth, container: Container, store_id: str) -> None:
    """A work order opened two days ago: a payment dated three days ago (or a correction of
    that day) is refused with both dates named and nothing stored; one dated yesterday, a day
    the cashier never closed, needs a reason (kept on the payment's event), as a correction
    of a closed day does; today's needs none."""
    now = datetime.now(ZONE)
    opened = now - timedelta(days=2)
    work_order_id = ready_visit(container, store_id, opened_at=opened.astimezone(UTC))
    settlement_id = draft(container, store_id, work_order_id)
    container.settlements.confirm(req(store_id), settlement_id)
    cashier = auth("cashier", f"cashier-{store_id}", [store_id])
    opened_on = opened.date().isoformat()
    before = (now - timedelta(days=3)).date().isoformat()
    yesterday = (now - timedelta(days=1)).date().isoformat()
    stored = version_of(container, settlement_id)
    pay = {"work_order_id": str(work_order_id), "method": "cash", "amount": "50.00",
           "reason": "keyed in late"}
    early = client.post("/payments", headers=cashier, json={**pay, "business_date": before})
    assert early.status_code == 422, early.text
    assert early.headers["content-type"].startswith("application/problem+json")
    problem = early.json()
    assert (problem["business_date"], problem["opened_on"], problem["field"]) == (
        before, opened_on, "business_date")
    assert before in problem["detail"] and opened_on in problem["detail"]
    container.settlements.close_day(req(store_id), store_id=store_id, business_date=before,
                                    counted_cash="0.00")
    correcting = client.post("/payments", headers=cashier, json={**pay, "correction_of": before})
    assert correcting.status_code == 422, correcting.text
    assert (correcting.json()["correction_of"], correcting.json()["opened_on"]) == (
        before, opened_on)
    unexplained = client.post("/payments", headers=cashier, json={
        **pay, "business_date": yesterday, "reason": " "})
    assert unexplained.status_code == 422, unexplained.text
    assert f"dated {yesterday}, before today" in unexplained.json()["detail"]
    assert "reason" in unexplained.json()["detail"]
    assert version_of(container, settlement_id) == stored  # nothing stored
    post(client, "/payments", cashier, {**pay, "business_date": yesterday}, 201)
    post(client, "/payments", cashier, {**pay, "reason": None}, 201)  # today: no reason
    taken = [(e.payment["business_date"], e.reason) for e in events_of(
        container, settlement_id) if isinstance(e, Settlement.PaymentTaken)]
    assert taken == [(yesterday, "keyed in late"), (today(), None)]


def test_a_day_end_difference_is_booked_so_the_books_hold_what_the_drawer_does(
        client: TestClient, auth: Auth, container: Container, store_id: str) -> None:
    """450.00 taken in cash, 440.00 counted: the 10.00 short leaves cash on hand for the
    pending account (1901) on that business day, so the trial balance's cash is the drawer's;
    a day that agrees books nothing. The entry travels in the close's event."""
    st = container.settlements
    work_order_id = ready_visit(container, store_id)
    st.confirm(req(store_id), draft(container, store_id, work_order_id))
    st.pay(req(store_id), work_order_id=work_order_id, method="cash", amount="450.00")
    closed = st.close_day(req(store_id), store_id=store_id, counted_cash="440.00",
                          reason="10 short, not found")
    st.close_day(req(store_id, user=f"cash2-{store_id}"), store_id=store_id,
                 counted_cash="0.00")  # another cashier's empty day: no entry
    finance = auth("finance", f"fin-{store_id}", [store_id])
    month = today()[:7]
    got = client.get("/ledger/trial-balance", headers=finance,
                     params={"month": month, "wait_for": closed.notification_id})
    assert got.status_code == 200, got.text
    accounts = {a["account"]: a for a in got.json()["accounts"] if a["store_id"] == store_id}
    assert accounts["1001"]["balance"] == "440.00"
    assert (accounts["1901"]["debit"], accounts["1901"]["credit"],
            accounts["1901"]["name"]) == ("10.00", "0.00", "cash over and short (pending)")
    assert got.json()["balanced"] is True
    [close] = [e for e in events_of(container, CashierDay.create_id(
        store_id, f"cashier-{store_id}", today())) if isinstance(e, CashierDay.Closed)]
    assert [(p["account"], p["debit"], p["credit"]) for p in close.entries[0]["postings"]] == [
        ("1901", Decimal("10.00"), Decimal("0.00")), ("1001", Decimal("0.00"), Decimal("10.00"))]


def test_a_close_stored_before_it_booked_its_difference_reads_as_booking_none() -> None:
    state: dict[str, Any] = {"variance": Decimal("-5.00")}
    CashierDay.Closed.upcast_v1_v2(state)
    assert state["entries"] == []
