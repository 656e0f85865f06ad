"""The internal bill (the dealership pays itself): the settling books it as an expense, and its
views say so — nothing outstanding, never a receivable, the amount `expensed` — as the ledger
does."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient

from tests.e2e.test_parts_api import Auth, get, on_roster, post
from tests.e2e.workshop_steps import worked_and_passed_qc


def test_the_internal_bill_is_settled_by_its_expense_booking_not_outstanding(
        client: TestClient, auth: Auth, store_id: str) -> None:
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    manager = auth("manager", "mgr-" + store_id, [store_id])
    cashier = auth("cashier", "cash-" + store_id, [store_id])
    tech = auth("technician", "tech-" + store_id, [store_id])
    # A customer's brake job, and a wash on the used-car department's account.
    opened = post(client, "/work-orders", advisor, {
        "store_id": store_id, "customer": {"name": "王伟", "phone": "13800000003"},
        "vehicle": {"vin": "LSVAU218XN2183294", "plate": "沪C12345"}, "mileage": 30000,
        "complaints": ["brake noise"]}, 201)
    wo = f"/work-orders/{opened['id']}"
    post(client, f"{wo}/check-in", advisor, {"mileage_in": 30010, "fuel_level": 50})
    lines = [post(client, f"{wo}/jobs/1/labor-lines", advisor, {
        "op_code": "BRK01", "description": "replace pads", "hours": "1.0",
        "hourly_rate": "300.00"})["line_id"],
        post(client, f"{wo}/jobs/1/labor-lines", advisor, {
            "op_code": "WASH", "description": "wash for the used-car lot", "hours": "0.5",
            "hourly_rate": "200.00", "pay_type": "internal"})["line_id"]]
    for line in lines:
        post(client, f"{wo}/lines/{line}/authorization", advisor,
             {"decision": "approved", "channel": "in_person"})
    on_roster(client, manager, store_id, "tech-" + store_id)
    worked_and_passed_qc(client, wo, manager, tech, "tech-" + store_id)

    sid = post(client, "/settlements", cashier, {"work_order_id": opened["id"],
                                                 "internal_department": "used cars"}, 201)["id"]
    confirmed = post(client, f"/settlements/{sid}/confirmation", cashier)
    # Confirmed, not settled: nothing is booked yet, the internal bill still waits.
    assert confirmed["bills"]["internal"] == {
        "total": "100.00", "allowances": "0.00", "paid": "0.00", "expensed": "0.00",
        "outstanding": "100.00", "written_off": "0.00"}
    paid = post(client, "/payments", cashier, {"work_order_id": opened["id"], "method": "cash",
                                               "amount": "300.00", "tendered": "300.00"}, 201)
    assert paid["settled"] is True
    # Settled: the expense booking settled the internal bill, in the command's answer ...
    settled = {"total": "100.00", "allowances": "0.00", "paid": "0.00", "expensed": "100.00",
               "outstanding": "0.00", "written_off": "0.00"}
    assert paid["bills"]["internal"] == settled
    # ... in the settlement's detail and in its replay ...
    detail = get(client, f"/settlements/{sid}", cashier, wait_for=paid["notification_id"])
    now = datetime.now(ZoneInfo("Asia/Shanghai")).isoformat()
    replayed = get(client, f"/settlements/{sid}", cashier, as_of=now)
    for doc in (detail, replayed):
        internal = next(b for b in doc["bill_status"] if b["kind"] == "internal")
        assert {k: internal[k] for k in settled} == settled, doc
        customer = next(b for b in doc["bill_status"] if b["kind"] == "customer")
        assert (customer["expensed"], customer["outstanding"]) == ("0.00", "0.00")
    # ... as the ledger has it: expensed to internal service charges, owed by no one.
    finance = auth("finance", "fin-" + store_id, [store_id])
    month = datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")
    journal = get(client, "/ledger", finance, month=month, account="6602")["items"]
    assert sum(Decimal(j["debit"]) - Decimal(j["credit"]) for j in journal
               if j["settlement_id"] == sid) == Decimal("100.00")
    owed = get(client, "/receivables", finance, kind="internal")
    assert owed["items"] == []
