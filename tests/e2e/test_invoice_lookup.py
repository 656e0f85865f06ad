"""An auditor matching tax invoices to settlements: `/audit/lookup?number=` finds the bill a
blue invoice number is on and the credit a red-letter number writes off, and the settlement's
history shows every invoice number the bills were given, blue and red."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi.testclient import TestClient

from domain.settlement import Settlement
from servicecore.container import Container
from tests.e2e.test_parts_api import get, head
from tests.integration.support import Auth, load
from tests.integration.test_red_invoice_numbers import credit, invoiced, unique


def streams(found: dict[str, Any]) -> list[tuple[str, str]]:
    return [(s["stream_type"], s["stream_id"]) for s in found["streams"]]


def test_an_invoice_number_blue_or_red_finds_its_settlement_and_the_history_shows_both(
        client: TestClient, auth: Auth, container: Container, store_id: str) -> None:
    blue, red = unique(), unique()
    settlement_id, payment_id = invoiced(container, store_id, blue)
    refund_id = credit(container, store_id, settlement_id, payment_id, red).body["refund_id"]
    settlement = load(container.app, Settlement, settlement_id)
    auditor = auth("auditor", "aud-1", [store_id])
    sid = str(settlement_id)

    # The blue number: the settlement whose customer bill has it, then its reservation.
    found = get(client, "/audit/lookup", auditor, number=blue, wait_for=head(client))
    assert (found["number"], found["kind"]) == (blue, "tax_invoice")
    assert found["work_order_id"] == str(settlement.work_order_id)
    assert streams(found)[0] == ("Settlement", sid)
    assert [t for t, _ in streams(found)] == ["Settlement", "InvoiceNumber"]
    assert found["streams"][0]["history"] == f"/settlements/{sid}/history"
    (use,) = found["invoices"]
    assert (use["store_id"], use["bill"], use["settlement_id"], use["red_letter"],
            use["settlement_number"], use["work_order_number"]) == (
        store_id, "customer", sid, False, settlement.number, settlement.work_order_number)

    # The red number: the same settlement, the credit, and the blue invoice it writes off.
    found = get(client, "/audit/lookup", auditor, number=f" {red} ")
    assert [t for t, _ in streams(found)] == ["Settlement", "RedInvoiceNumber"]
    (use,) = found["invoices"]
    assert (use["red_letter"], use["refund_id"], use["cancels"], use["settlement_id"]) == (
        True, refund_id, blue, sid)

    # Another store's auditor, a number nobody has: 404. A token for every store names the
    # store, or the group's configured stores are asked (none here): 422.
    assert client.get("/audit/lookup", params={"number": blue},
                      headers=auth("auditor", "aud-2", ["ELSEWHERE"])).status_code == 404
    assert client.get("/audit/lookup", params={"number": unique()},
                      headers=auditor).status_code == 404
    everywhere = auth("auditor", "aud-3", ["*"])
    named = get(client, "/audit/lookup", everywhere, number=blue, store_id=store_id)
    assert named["invoices"][0]["settlement_id"] == sid
    unnamed = client.get("/audit/lookup", params={"number": blue}, headers=everywhere)
    assert unnamed.status_code == 422 and "store_id" in unnamed.json()["detail"]

    # The settlement's history shows each bill's invoice number, blue and red.
    history = get(client, f"/settlements/{sid}/history", auditor)["items"]
    invoices = [(e["event"], e["changes"].get("bill"), e["changes"].get("invoice_no"))
                for e in history if e["event"] == "Settlement.InvoiceRecorded"]
    credits = [(e["changes"]["refund_id"], e["changes"]["kind"], e["changes"]
                ["red_invoice_number"]) for e in history
               if e["event"] == "Settlement.RefundRequested"]
    assert invoices == [("Settlement.InvoiceRecorded", "customer", blue)]
    assert credits == [(refund_id, "credit", red)]
    # and the settlement itself: the bill's invoice and the credit's red-letter number
    detail = get(client, f"/settlements/{sid}", auditor, wait_for=head(client))
    assert {k: b["invoice_no"] for k, b in detail["bills"].items()} == {"customer": blue}
    assert [(r["refund_id"], r["red_invoice_number"]) for r in detail["refunds"]] == [
        (refund_id, red)]
    assert UUID(detail["id"]) == settlement_id


def test_a_rejected_credits_red_number_goes_to_the_corrected_credit_and_the_lookup_names_it(
        client: TestClient, auth: Auth, container: Container, store_id: str) -> None:
    """The desk keys a credit with the red-letter number; the manager rejects it (wrong
    amount); the corrected credit takes the same number (it was 409), and the lookup names the
    corrected credit."""
    red = unique()
    settlement_id, payment_id = invoiced(container, store_id, unique())
    cashier = auth("cashier", f"cashier-{store_id}", [store_id])
    manager = auth("manager", f"mgr-{store_id}", [store_id])
    body = {"settlement_id": str(settlement_id), "payment_id": payment_id, "amount": "80.00",
            "reason": "goodwill: waiting time", "kind": "credit", "red_invoice_number": red}
    first = client.post("/refunds", headers=cashier, json=body)
    assert first.status_code == 201, first.text
    wrong = first.json()["refund_id"]
    decided = client.post(f"/refunds/{wrong}/decision", headers=manager,
                          json={"approve": False, "reason": "agreed 50.00, not 80.00"})
    assert decided.status_code == 200, decided.text

    corrected = client.post("/refunds", headers=cashier, json={**body, "amount": "50.00"})

    assert corrected.status_code == 201, corrected.text
    again = client.post("/refunds", headers=cashier, json={**body, "amount": "10.00"})
    assert again.status_code == 409, again.text
    assert again.json()["refund_id"] == corrected.json()["refund_id"]
    auditor = auth("auditor", "aud-1", [store_id])
    found = get(client, "/audit/lookup", auditor, number=red, wait_for=head(client))
    (use,) = found["invoices"]
    assert (use["red_letter"], use["refund_id"], use["settlement_id"]) == (
        True, corrected.json()["refund_id"], str(settlement_id))


def test_a_reversed_bills_red_letter_invoice_is_named_by_the_reversal_and_found_by_lookup(
        client: TestClient, auth: Auth, container: Container, store_id: str) -> None:
    blue, red = unique(), unique()
    settlement_id, _ = invoiced(container, store_id, blue)
    number = load(container.app, Settlement, settlement_id).number
    manager = auth("manager", "mgr-1", [store_id])
    path = f"/settlements/{settlement_id}/reversal"

    # The bill has a tax invoice: the reversal names the red-letter invoice writing it off.
    refused = client.post(path, json={"reason": "wrong labor rate"}, headers=manager)
    assert refused.status_code == 422, refused.text
    assert (refused.json()["field"], refused.json()["invoice_no"]) == (
        "red_invoice_numbers.customer", blue)
    done = client.post(path, json={"reason": "wrong labor rate",
                                   "red_invoice_numbers": {"customer": red}}, headers=manager)
    assert done.status_code == 200, done.text

    found = get(client, "/audit/lookup", auth("auditor", "aud-1", [store_id]), number=red,
                wait_for=head(client))
    assert [t for t, _ in streams(found)] == ["Settlement", "RedInvoiceNumber"]
    (use,) = found["invoices"]
    assert (use["red_letter"], use["refund_id"], use["cancels"], use["settlement_number"],
            use["settlement_id"]) == (True, None, blue, number, str(settlement_id))
    history = get(client, f"/settlements/{settlement_id}/history", manager)
    (reversal,) = [e for e in history["items"] if e["event"] == "Settlement.Reversed"]
    assert reversal["changes"]["red_invoices"] == {"customer": red}
