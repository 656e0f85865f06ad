"""A credit a manager grants on a settled bill (a goodwill allowance) is what the payer no
longer owes, everywhere the visit is read: the work order, the list, the work order `as_of`
and the customer's progress page agree with the settlement to the fen. A credit asked for
and not yet decided, a rejected one and a payment returned change no bill."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient

from tests.e2e.test_money_api import ready_for_settlement
from tests.e2e.test_parts_api import Auth, get, post
from tests.e2e.test_progress_page import HTML, page_path, share


def _owes(totals: dict[str, Any]) -> dict[str, tuple[str, str, str]]:
    return {payer: (f["total"], f["allowances"], f["due"]) for payer, f in totals.items()}


def _read(client: TestClient, advisor: dict[str, str], wo_id: str, page: str,
          after: int) -> dict[str, Any]:
    """The work order once the view applied `after`; the list, the replay `as_of` now and
    the progress page must say the same."""
    doc = get(client, f"/work-orders/{wo_id}", advisor, wait_for=after)
    listed = get(client, f"/work-orders?number={doc['number']}", advisor)["items"][0]
    replayed = get(client, f"/work-orders/{wo_id}", advisor,
                   as_of=datetime.now(UTC).isoformat())
    assert listed["totals"] == doc["totals"] == replayed["totals"]
    shown = get(client, page + ".json", {})
    customer = doc["totals"]["customer"]
    assert (shown["approved_total"], shown["allowances"], shown["due"]) == (
        customer["total"], customer["allowances"], customer["due"])
    return doc


def _bills(client: TestClient, cashier: dict[str, str], sid: str,
           after: int) -> dict[str, tuple[str, str, str]]:
    """The settlement's own figures per bill: total, allowances, total less allowances."""
    found = get(client, f"/settlements/{sid}", cashier, wait_for=after)["bill_status"]
    return {b["kind"]: (b["total"], b["allowances"],
                        f"{float(b['total']) - float(b['allowances']):.2f}") for b in found}


def test_an_approved_credit_is_owed_no_more_on_every_read_of_the_visit(
        client: TestClient, auth: Auth, store_id: str) -> None:
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    cashier = auth("cashier", "cash-" + store_id, [store_id])
    manager = auth("manager", "mgr-" + store_id, [store_id])
    _, wo_id = ready_for_settlement(client, auth, store_id, warranty_labor=True)
    page = page_path(share(client, advisor, wo_id))
    # Customer bill 900.00, the OEM's warranty bill 150.00: both paid, the visit settled.
    sid = post(client, "/settlements", cashier, {"work_order_id": wo_id}, 201)["id"]
    post(client, f"/settlements/{sid}/confirmation", cashier)
    cash = post(client, "/payments", cashier, {"work_order_id": wo_id, "method": "cash",
                                               "amount": "900.00"}, 201)
    oem = post(client, "/payments", cashier, {
        "work_order_id": wo_id, "bill": "warranty", "method": "bank_transfer",
        "amount": "150.00", "provider_ref": "OEM-" + store_id}, 201)
    assert oem["settled"] is True
    doc = _read(client, advisor, wo_id, page, oem["notification_id"])
    assert _owes(doc["totals"]) == {"customer": ("900.00", "0.00", "900.00"),
                                    "warranty": ("150.00", "0.00", "150.00")}

    # A credit of 30.00 asked for: nothing changes until a manager decides; rejected, nothing.
    asked = post(client, "/refunds", cashier, {
        "work_order_id": wo_id, "payment_id": cash["payment_id"], "amount": "30.00",
        "reason": "goodwill: waiting time", "kind": "credit"}, 201)
    doc = _read(client, advisor, wo_id, page, asked["notification_id"])
    assert doc["totals"]["customer"]["due"] == "900.00"
    rejected = post(client, f"/refunds/{asked['refund_id']}/decision", manager,
                    {"work_order_id": wo_id, "approve": False, "reason": "not our delay"})
    doc = _read(client, advisor, wo_id, page, rejected["notification_id"])
    assert doc["totals"]["customer"]["allowances"] == "0.00"

    # 20.00 of goodwill on the customer's bill and 15.00 on the OEM's, approved.
    for payment, amount in ((cash, "20.00"), (oem, "15.00")):
        credit = post(client, "/refunds", cashier, {
            "work_order_id": wo_id, "payment_id": payment["payment_id"], "amount": amount,
            "reason": "goodwill", "kind": "credit"}, 201)
        approved = post(client, f"/refunds/{credit['refund_id']}/decision", manager,
                        {"work_order_id": wo_id, "approve": True})
    at = approved["notification_id"]
    doc = _read(client, advisor, wo_id, page, at)
    assert _owes(doc["totals"]) == _bills(client, cashier, sid, at) == {
        "customer": ("900.00", "20.00", "880.00"), "warranty": ("150.00", "15.00", "135.00")}
    html = client.get(page, headers=HTML).text
    assert "-¥20.00" in html and "¥880.00" in html

    # 10.00 of the cash handed back (a payment return): the bill still asks 880.00.
    back = post(client, "/refunds", cashier, {
        "work_order_id": wo_id, "payment_id": cash["payment_id"], "amount": "10.00",
        "reason": "charged twice for the wash", "kind": "payment_return"}, 201)
    returned = post(client, f"/refunds/{back['refund_id']}/decision", manager,
                    {"work_order_id": wo_id, "approve": True})
    doc = _read(client, advisor, wo_id, page, returned["notification_id"])
    assert _owes(doc["totals"]) == _bills(client, cashier, sid, returned["notification_id"])
    assert doc["totals"]["customer"]["due"] == "880.00"
