"""Receivables a cashier can phone about: who owes (name and phone for the roles that may read
customers' personal data, the read recorded as every such read is), for which work order and
car, and for how long (days since settlement, in age buckets with totals)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient

from tests.e2e.test_money_api import ready_for_settlement
from tests.e2e.test_parts_api import get, head, post
from tests.integration.audit_support import new_vin

Auth = Callable[..., dict[str, str]]
ZERO = {"days_0_30": "0.00", "days_31_60": "0.00", "days_61_90": "0.00", "days_over_90": "0.00"}


def owing_customer(client: TestClient, auth: Auth, store_id: str) -> dict[str, Any]:
    """A settled visit whose customer was paid back 100.00 of 900.00 (a payment return: the
    customer owes it again) and whose warranty line the OEM has not paid (150.00)."""
    cashier = auth("cashier", "cash-" + store_id, [store_id])
    manager = auth("manager", "mgr-" + store_id, [store_id])
    _, wo_id = ready_for_settlement(client, auth, store_id, warranty_labor=True, vin=new_vin())
    sid = post(client, "/settlements", cashier, {"work_order_id": wo_id}, 201)["id"]
    confirmed = post(client, f"/settlements/{sid}/confirmation", cashier)
    paid = post(client, "/payments", cashier, {
        "work_order_id": wo_id, "method": "alipay", "provider_ref": "ALI-" + uuid.uuid4().hex[:8],
        "amount": confirmed["bills"]["customer"]["outstanding"]}, 201)
    assert paid["settled"] is True
    asked = post(client, "/refunds", cashier, {"work_order_id": wo_id, "amount": "100.00",
                                               "payment_id": paid["payment_id"],
                                               "reason": "card charged twice",
                                               "kind": "payment_return"}, 201)
    post(client, f"/refunds/{asked['refund_id']}/decision", manager, {"approve": True})
    doc = get(client, f"/work-orders/{wo_id}", manager, wait_for=head(client))
    return {"customer_id": doc["customer"]["id"], "work_order_number": doc["number"],
            "settlement_number": confirmed["number"], "plate": doc["vehicle"]["plate"]}


def _reads(client: TestClient, manager: dict[str, str], customer_id: str) -> list[Any]:
    return get(client, "/audit/personal-data-reads",  # type: ignore[no-any-return]
               manager, customer_id=customer_id, wait_for=head(client))["items"]


def test_the_cashier_sees_who_owes_for_which_car_and_since_when(
        client: TestClient, auth: Auth, store_id: str) -> None:
    visit = owing_customer(client, auth, store_id)
    cashier = auth("cashier", "cash-" + store_id, [store_id])
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    owed = get(client, "/receivables", cashier, wait_for=head(client))
    assert (owed["total"], owed["aged_on"], owed["outstanding"]) == (2, today.isoformat(),
                                                                     "250.00")
    assert owed["aging"] == {**ZERO, "days_0_30": "250.00"}
    customer = next(g for g in owed["items"] if g["kind"] == "customer")
    # The cashier may read customers' personal data: the name and phone to call.
    assert (customer["customer_name"], customer["customer_phone"]) == ("王伟", "13800000002")
    assert (customer["outstanding"], customer["oldest_age_days"]) == ("100.00", 0)
    assert customer["aging"] == {**ZERO, "days_0_30": "100.00"}
    [bill] = customer["open_bills"]
    assert (bill["work_order_number"], bill["settlement_number"], bill["plate"],
            bill["settled_on"], bill["age_days"], bill["outstanding"]) == (
        visit["work_order_number"], visit["settlement_number"], visit["plate"],
        today.isoformat(), 0, "100.00")
    # The OEM's group names no person; its bill shows the car all the same.
    oem = next(g for g in owed["items"] if g["kind"] == "warranty")
    assert (oem["customer_name"], oem["customer_phone"]) == (None, None)
    assert oem["open_bills"][0]["plate"] == visit["plate"]

    # Finance may not read personal data: the same balances, ages and plates, no name or phone.
    finance = auth("finance", "fin-" + store_id, [store_id])
    seen = get(client, "/receivables", finance, kind="customer")
    [group] = seen["items"]
    assert (group["customer_name"], group["customer_phone"]) == (None, None)
    assert group["payer"] == {"customer_id": visit["customer_id"]}
    assert group["open_bills"][0]["plate"] == visit["plate"]
    assert seen["aging"] == {**ZERO, "days_0_30": "100.00"}


def test_debts_fall_into_age_buckets_on_the_day_asked(client: TestClient, auth: Auth,
                                                      store_id: str) -> None:
    owing_customer(client, auth, store_id)
    finance = auth("finance", "fin-" + store_id, [store_id])
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    for days, bucket in ((30, "days_0_30"), (31, "days_31_60"), (60, "days_31_60"),
                         (61, "days_61_90"), (90, "days_61_90"), (91, "days_over_90")):
        on = (today + timedelta(days=days)).isoformat()
        owed = get(client, "/receivables", finance, aged_on=on, wait_for=head(client))
        assert (owed["aged_on"], owed["aging"]) == (on, {**ZERO, bucket: "250.00"}), days
        for group in owed["items"]:
            assert group["oldest_age_days"] == days
            assert group["aging"] == {**ZERO, bucket: group["outstanding"]}
            assert [b["age_days"] for b in group["open_bills"]] == [days]
    # A page of one: the totals still cover every group the filters list.
    page = get(client, "/receivables", finance, limit=1, offset=1)
    assert (page["total"], len(page["items"]), page["aging"]["days_0_30"]) == (2, 1, "250.00")
    assert page["items"][0]["kind"] == "warranty"
    # Balances are today's: aging them to a past day would mislead, so it is refused.
    past = client.get("/receivables", headers=finance,
                      params={"aged_on": (today - timedelta(days=1)).isoformat()})
    assert past.status_code == 422, past.text
    assert past.headers["content-type"].startswith("application/problem+json")
    assert past.json()["today"] == today.isoformat()
    assert client.get("/receivables", headers=finance,
                      params={"limit": 1001}).status_code == 422


def test_an_auditors_read_of_debtors_is_recorded_and_an_erased_one_reads_erased(
        client: TestClient, auth: Auth, store_id: str) -> None:
    visit = owing_customer(client, auth, store_id)
    customer_id = visit["customer_id"]
    cashier = auth("cashier", "cash-" + store_id, [store_id])
    auditor = auth("auditor", "aud-" + store_id, [store_id])
    manager = auth("manager", "mgr-" + store_id, [store_id])
    # A cashier's or manager's read is not recorded (as on every route that shows such data).
    before = head(client)
    get(client, "/receivables", cashier, wait_for=before)
    get(client, "/receivables", manager, kind="customer")
    assert head(client) == before and _reads(client, manager, customer_id) == []
    # An auditor's is: who, which request, for what.
    owed = get(client, "/receivables", auditor, kind="customer")
    assert owed["items"][0]["customer_name"] == "王伟"
    [read] = _reads(client, manager, customer_id)
    assert (read["purpose"], read["customer_id"]) == ("receivables", customer_id)
    assert read["endpoint"] == "GET /receivables?kind=customer"
    # Erased on request: the debt stays, the person reads as erased, and no read is recorded.
    erased = post(client, f"/customers/{customer_id}/erasure", manager,
                  {"reason": "PIPL request"})
    for who in (cashier, auditor):
        owed = get(client, "/receivables", who, kind="customer",
                   wait_for=erased["notification_id"])
        [group] = owed["items"]
        assert (group["customer_name"], group["customer_phone"], group["outstanding"]) == (
            "[erased]", "[erased]", "100.00")
    assert len(_reads(client, manager, customer_id)) == 1
