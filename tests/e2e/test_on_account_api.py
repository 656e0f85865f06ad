"""Charge to account (挂账) over HTTP: a fleet customer's credit terms, a visit charged to the
account and delivered unpaid, the limit, the payment that clears it, and the aging."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient

from tests.e2e.test_money_api import ready_for_settlement
from tests.e2e.test_parts_api import get, head, post
from tests.integration.audit_support import new_vin

Auth = Callable[..., dict[str, str]]
ZONE = ZoneInfo("Asia/Shanghai")


def test_a_fleet_visit_is_charged_to_account_delivered_and_paid_later(
        client: TestClient, auth: Auth, store_id: str) -> None:
    cashier = auth("cashier", "cash-" + store_id, [store_id])
    manager = auth("manager", "mgr-" + store_id, [store_id])
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    finance = auth("finance", "fin-" + store_id, [store_id])
    wo, wo_id = ready_for_settlement(client, auth, store_id, vin=new_vin())
    customer_id = get(client, wo, advisor)["customer"]["id"]
    sid = post(client, "/settlements", cashier, {"work_order_id": wo_id}, 201)["id"]
    confirmed = post(client, f"/settlements/{sid}/confirmation", cashier)
    owed = Decimal(confirmed["bills"]["customer"]["outstanding"])
    assert owed > 0 and confirmed["status"] == "confirmed"
    history = get(client, f"/settlements/{sid}/history", manager)["total"]

    # Without credit terms the bill is paid at the till: refused, nothing stored.
    refused = client.post(f"/settlements/{sid}/charge-to-account", headers=cashier)
    assert refused.status_code == 409, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["type"].endswith("/no-credit-terms")

    # Credit terms are a manager's, with a reason; a cashier may not set them.
    terms = {"limit": str(owed - Decimal("1.00")), "days": 30, "reason": "fleet contract"}
    denied = client.post(f"/customers/{customer_id}/credit-terms", headers=cashier, json=terms)
    assert denied.status_code == 403, denied.text
    post(client, f"/customers/{customer_id}/credit-terms", manager, terms)

    # One yuan short of the bill: 409 naming the balance, the limit and the amount; nothing
    # stored, the visit cannot leave.
    over = client.post(f"/settlements/{sid}/charge-to-account", headers=cashier)
    assert over.status_code == 409, over.text
    problem = over.json()
    assert problem["type"].endswith("/credit-limit-exceeded")
    assert (problem["balance"], problem["limit"], problem["amount"]) == (
        "0.00", terms["limit"], str(owed))
    assert get(client, f"/settlements/{sid}/history", manager)["total"] == history
    early = client.post(f"{wo}/delivery", headers=advisor,
                        json={"mileage_out": 30012, "acknowledged_by": "车队调度"})
    assert early.status_code == 409, early.text

    # Within the limit: the visit settles on account and the car leaves unpaid.
    post(client, f"/customers/{customer_id}/credit-terms", manager,
         {"limit": "50000.00", "days": 30, "reason": "limit raised by contract amendment"})
    charged = post(client, f"/settlements/{sid}/charge-to-account", cashier)
    today = datetime.now(ZONE).date()
    due = (today + timedelta(days=30)).isoformat()
    assert charged["status"] == "settled" and charged["settled"] is True
    assert charged["charged"] == {"amount": str(owed), "due_on": due, "limit": "50000.00",
                                  "account_balance": str(owed)}
    again = client.post(f"/settlements/{sid}/charge-to-account", headers=cashier)
    assert again.status_code == 409, again.text
    post(client, f"{wo}/delivery", advisor, {"mileage_out": 30012, "acknowledged_by": "车队调度"})

    # The customer shows their terms; the account its open balance and due day.
    seen = get(client, f"/customers/{customer_id}", manager, wait_for=head(client))
    assert (seen["credit_terms"]["limit"], seen["credit_terms"]["days"]) == ("50000.00", 30)
    account = get(client, f"/customers/{customer_id}/account", cashier, wait_for=head(client))
    assert (account["balance"], account["overdue"], account["available"]) == (
        str(owed), "0.00", str(Decimal("50000.00") - owed))
    [open_charge] = account["open_charges"]
    assert (open_charge["settlement_id"], open_charge["due_on"]) == (sid, due)

    # The aging shows it due, and 10 days overdue when aged 40 days on.
    aged = get(client, "/receivables", finance, kind="customer")
    [group] = aged["items"]
    assert (group["outstanding"], group["overdue"]) == (str(owed), "0.00")
    assert group["open_bills"][0]["due_on"] == due
    later = (today + timedelta(days=40)).isoformat()
    aged = get(client, "/receivables", finance, kind="customer", aged_on=later)
    [group] = aged["items"]
    assert (group["overdue"], aged["overdue"]) == (str(owed), str(owed))
    assert group["open_bills"][0]["days_overdue"] == 10

    # The ledger holds it in customer receivable (1122) and balances.
    month = today.strftime("%Y-%m")
    trial = get(client, "/ledger/trial-balance", finance, month=month)
    assert trial["balanced"] is True
    receivable = {a["account"]: a["balance"] for a in trial["accounts"]}["1122"]
    assert Decimal(receivable) == owed

    # Paying more than is owed is refused; paying it clears the account and 1122.
    too_much = client.post("/payments", headers=cashier, json={
        "work_order_id": wo_id, "method": "bank_transfer", "amount": str(owed + 1),
        "provider_ref": "TR-" + uuid.uuid4().hex[:8]})
    assert too_much.status_code == 409, too_much.text
    paid = post(client, "/payments", cashier, {
        "work_order_id": wo_id, "method": "bank_transfer", "amount": str(owed),
        "provider_ref": "TR-" + uuid.uuid4().hex[:8]}, 201)
    account = get(client, f"/customers/{customer_id}/account", cashier,
                  wait_for=paid["notification_id"])
    assert (account["balance"], account["open_charges"]) == ("0.00", [])
    assert get(client, "/receivables", finance, kind="customer")["items"] == []
    trial = get(client, "/ledger/trial-balance", finance, month=month)
    assert trial["balanced"] is True
    assert Decimal({a["account"]: a["balance"] for a in trial["accounts"]}["1122"]) == 0

    # The visit's spend was counted when it was charged: paying the account adds nothing.
    seen = get(client, f"/customers/{customer_id}", manager, wait_for=head(client))
    assert seen["spend"]["total"] == str(owed)

    # Removing the terms says why; the next charge is refused.
    post(client, f"/customers/{customer_id}/credit-terms/removal", manager,
         {"reason": "contract ended"})
    seen = get(client, f"/customers/{customer_id}", manager, wait_for=head(client))
    assert seen["credit_terms"] is None
    gone = client.post(f"/customers/{customer_id}/credit-terms/removal", headers=manager,
                       json={"reason": "twice"})
    assert gone.status_code == 409, gone.text


def test_the_account_lists_its_open_charges_a_page_at_a_time(client: TestClient, auth: Auth,
                                                              store_id: str) -> None:
    """A fleet that pays late has thousands of charges open: the account answers a page of
    them (`charges_limit`, at most 1,000) with their count and a link to the next ones, and
    its balance and overdue sum them all."""
    cashier = auth("cashier", "cash-" + store_id, [store_id])
    manager = auth("manager", "mgr-" + store_id, [store_id])
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    customer_id: str | None = None
    owed = Decimal("0.00")
    for _ in range(3):
        wo, wo_id = ready_for_settlement(client, auth, store_id, vin=new_vin(),
                                         customer_id=customer_id)
        if customer_id is None:
            customer_id = get(client, wo, advisor)["customer"]["id"]
            post(client, f"/customers/{customer_id}/credit-terms", manager,
                 {"limit": "90000.00", "days": 30, "reason": "fleet contract"})
        sid = post(client, "/settlements", cashier, {"work_order_id": wo_id}, 201)["id"]
        post(client, f"/settlements/{sid}/confirmation", cashier)
        owed += Decimal(post(client, f"/settlements/{sid}/charge-to-account",
                             cashier)["charged"]["amount"])
    url = f"/customers/{customer_id}/account"
    first = get(client, url, cashier, wait_for=head(client), charges_limit=2)
    assert (len(first["open_charges"]), first["open_charges_count"]) == (2, 3)
    assert first["balance"] == str(owed)  # every charge's, not the page's
    assert first["open_charges_next"] == f"{url}?charges_limit=2&charges_offset=2"
    rest = client.get(first["open_charges_next"], headers=cashier).json()
    assert (len(rest["open_charges"]), rest["open_charges_next"]) == (1, None)
    assert {c["settlement_id"] for c in first["open_charges"] + rest["open_charges"]} == {
        c["settlement_id"] for c in get(client, url, cashier)["open_charges"]}
    over = client.get(url, headers=cashier, params={"charges_limit": 1001})
    assert over.status_code == 422, over.text
