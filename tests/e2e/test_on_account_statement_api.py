"""The account's monthly statement (对账单) over HTTP: two visits charged to a fleet customer's
account and one partly paid; the month shows each charge and payment with the balance after it,
and its closing balance is the account's balance and what the ledger's 1122 holds; the month
before is empty and the month after opens with that balance."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient

from tests.e2e.test_money_api import ready_for_settlement
from tests.e2e.test_on_account_api import Auth
from tests.e2e.test_parts_api import get, head, post
from tests.integration.audit_support import new_vin

ZONE = ZoneInfo("Asia/Shanghai")


def _charged(client: TestClient, auth: Auth, store_id: str,
             customer_id: str | None = None) -> tuple[str, str, Decimal]:
    """A visit confirmed and charged to its customer's account: (work-order id, customer id,
    amount charged)."""
    cashier = auth("cashier", "cash-" + store_id, [store_id])
    manager = auth("manager", "mgr-" + store_id, [store_id])
    wo, wo_id = ready_for_settlement(client, auth, store_id, vin=new_vin(),
                                     customer_id=customer_id)
    customer_id = get(client, wo, manager, wait_for=head(client))["customer"]["id"]
    sid = post(client, "/settlements", cashier, {"work_order_id": wo_id}, 201)["id"]
    owed = Decimal(post(client, f"/settlements/{sid}/confirmation",
                        cashier)["bills"]["customer"]["outstanding"])
    post(client, f"/customers/{customer_id}/credit-terms", manager,
         {"limit": "50000.00", "days": 30, "reason": "fleet contract"})
    post(client, f"/settlements/{sid}/charge-to-account", cashier)
    return wo_id, customer_id, owed


def test_the_months_statement_agrees_with_the_account_and_the_ledger(
        client: TestClient, auth: Auth, store_id: str) -> None:
    cashier = auth("cashier", "cash-" + store_id, [store_id])
    finance = auth("finance", "fin-" + store_id, [store_id])
    first, customer_id, owed_first = _charged(client, auth, store_id)
    _, same_customer, owed_second = _charged(client, auth, store_id, customer_id)
    assert same_customer == customer_id
    part = (owed_first / 3).quantize(Decimal("0.01"))
    paid = post(client, "/payments", cashier, {
        "work_order_id": first, "method": "bank_transfer", "amount": str(part),
        "provider_ref": "TR-" + uuid.uuid4().hex[:8]}, 201)

    today = datetime.now(ZONE).date()
    month = today.strftime("%Y-%m")
    url = f"/customers/{customer_id}/account/statement"
    statement = get(client, url, finance, month=month, wait_for=paid["notification_id"])
    balance = owed_first + owed_second - part
    assert (statement["opening_balance"], statement["charged"], statement["paid"],
            statement["closing_balance"]) == (
        "0.00", str(owed_first + owed_second), str(part), str(balance))
    lines = statement["items"]
    assert statement["total"] == len(lines) == 3
    assert [(line["debit"], line["credit"]) for line in lines] == [
        (str(owed_first), "0.00"), (str(owed_second), "0.00"), ("0.00", str(part))]
    assert [line["balance"] for line in lines] == [
        str(owed_first), str(owed_first + owed_second), str(balance)]
    assert {line["posted_on"] for line in lines} == {today.isoformat()}
    assert all(line["settlement_number"] and line["work_order_number"] for line in lines)

    # The closing balance is the account's balance and what 1122 holds.
    account = get(client, f"/customers/{customer_id}/account", cashier)
    assert account["balance"] == str(balance)
    trial = get(client, "/ledger/trial-balance", finance, month=month)
    assert Decimal({a["account"]: a["balance"] for a in trial["accounts"]}["1122"]) == balance

    # A page of one line keeps the balance after it and the count of all.
    page = get(client, url, finance, month=month, limit=1, offset=2)
    assert (page["total"], [line["balance"] for line in page["items"]]) == (3, [str(balance)])

    # The month before: nothing; the month after opens with this month's closing balance.
    before = f"{today.year - 1}-{today.month:02d}"
    empty = get(client, url, finance, month=before, wait_for=head(client))
    assert (empty["opening_balance"], empty["closing_balance"], empty["items"]) == (
        "0.00", "0.00", [])
    after = f"{today.year + 1}-{today.month:02d}"
    later = get(client, url, finance, month=after)
    assert (later["opening_balance"], later["closing_balance"], later["items"]) == (
        str(balance), str(balance), [])

    # A bad month 422; another store's token or an unknown customer 404.
    assert client.get(url, headers=finance, params={"month": "2026-13"}).status_code == 422
    assert get(client, url, finance)["month"] == month
    other = auth("finance", "fin-other", ["ZZ" + store_id[:6]])
    assert client.get(url, headers=other, params={"month": month}).status_code == 404
    unknown = f"/customers/{uuid.uuid4()}/account/statement"
    assert client.get(unknown, headers=finance, params={"month": month}).status_code == 404
