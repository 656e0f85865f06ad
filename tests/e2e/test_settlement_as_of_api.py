"""A settlement as it stood at any moment (`GET /settlements/{id}?as_of=`): a visit's deposit,
draft, discount, confirmation, the payment that settles it, a refund asked for and approved, a
reversal and a second settlement, each seen exactly as it was; the latest state as the finance
read model shows it; the same scope, refusals and roles as the current detail."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient

from tests.e2e.test_api_contract import problem
from tests.e2e.test_money_api import ready_for_settlement
from tests.e2e.test_parts_api import get, head, post

Auth = Callable[..., dict[str, str]]


def _moments(client: TestClient, headers: dict[str, str], url: str) -> list[datetime]:
    """Each event's business time (its audit stamp), by version (index 0 is version 1)."""
    items = get(client, f"{url}/history", headers)["items"]
    assert [e["version"] for e in items] == list(range(1, len(items) + 1))
    return [datetime.fromisoformat(e["actor"]["at"]) for e in items]


def _status(doc: dict[str, Any]) -> dict[str, tuple[str, str, str]]:
    return {b["kind"]: (b["total"], b["paid"], b["outstanding"]) for b in doc["bill_status"]}


def test_a_settlement_is_seen_as_it_stood_at_each_step(client: TestClient, auth: Auth,
                                                       store_id: str) -> None:
    cashier = auth("cashier", "cash-" + store_id, [store_id])
    manager = auth("manager", "mgr-" + store_id, [store_id])
    auditor = auth("auditor", "aud-" + store_id, [store_id])
    _, wo_id = ready_for_settlement(client, auth, store_id, warranty_labor=True)

    # A 100.00 cash deposit opens the visit's money; the cashier drafts (customer 900.00,
    # warranty 150.00), gives 20.00 off and confirms; WeChat Pay settles the remaining 780.00.
    deposit = post(client, "/payments", cashier, {"work_order_id": wo_id, "method": "cash",
                                                  "amount": "100.00", "tendered": "100.00"}, 201)
    sid = deposit["id"]
    url = f"/settlements/{sid}"
    post(client, "/settlements", cashier, {"work_order_id": wo_id}, 201)
    post(client, f"{url}/discounts", cashier, {"amount": "20.00", "reason": "member's discount"})
    first = post(client, f"{url}/confirmation", cashier)["number"]
    wechat = post(client, "/payments", cashier, {"work_order_id": wo_id, "method": "wechat_pay",
                                                 "amount": "780.00", "provider_ref": "WX-1"}, 201)
    assert wechat["settled"] is True
    # 50.00 of the WeChat payment goes back: the cashier asks, a manager approves.
    refund = post(client, "/refunds", cashier, {
        "work_order_id": wo_id, "payment_id": wechat["payment_id"], "amount": "50.00",
        "reason": "goodwill", "kind": "payment_return"}, 201)["refund_id"]
    post(client, f"/refunds/{refund}/decision", manager, {"work_order_id": wo_id,
                                                          "approve": True})
    # The manager reverses it; drafted again (no discount now) and confirmed under a new
    # number, the 830.00 kept leaves 70.00, paid by card, which settles it again.
    post(client, f"{url}/reversal", manager, {"reason": "the pads were a warranty part"})
    post(client, "/settlements", cashier, {"work_order_id": wo_id}, 201)
    second = post(client, f"{url}/confirmation", cashier)["number"]
    post(client, "/payments", cashier, {"work_order_id": wo_id, "method": "bank_card",
                                        "amount": "70.00", "provider_ref": "POS-1"}, 201)

    at = _moments(client, auditor, url)
    events = [e["event"] for e in get(client, f"{url}/history", auditor)["items"]]
    assert events == [
        "Settlement.Opened", "Settlement.PaymentTaken", "Settlement.Drafted",
        "Settlement.DiscountGiven", "Settlement.Confirmed", "Settlement.PaymentTaken",
        "Settlement.Settled", "Settlement.RefundRequested", "Settlement.RefundApproved",
        "Settlement.Reversed", "Settlement.Drafted", "Settlement.Confirmed",
        "Settlement.PaymentTaken", "Settlement.Settled"]

    def as_of(version: int) -> dict[str, Any]:
        """The settlement at the business time of the event with this version."""
        doc: dict[str, Any] = get(client, url, auditor, as_of=at[version - 1].isoformat())
        assert doc["as_of"] == at[version - 1].astimezone(UTC).isoformat().replace(
            "+00:00", "Z")
        return doc

    # Before its first event it did not exist.
    before = client.get(url, headers=auditor,
                        params={"as_of": (at[0] - timedelta(microseconds=1)).isoformat()})
    assert "did not exist" in problem(before, 404, "not-found")["detail"]

    # Opened with the deposit (one request: both events share their moment), nothing billed.
    doc = as_of(2)
    assert (doc["version"], doc["status"], doc["number"], doc["bills"]) == (2, "open", None, {})
    assert (doc["id"], doc["work_order_id"], doc["store_id"]) == (sid, wo_id, store_id)
    assert doc["bill_status"] == [] and doc["refunds"] == []
    assert [(p["kind"], p["method"], p["amount"], p["tendered"], p["change"], p["refunded"])
            for p in doc["payments"]] == [("deposit", "cash", "100.00", "100.00", "0.00", "0.00")]

    # Drafted: two bills, the deposit counts against the customer's.
    doc = as_of(3)
    assert (doc["version"], doc["status"], doc["number"]) == (3, "draft", None)
    assert _status(doc) == {"customer": ("900.00", "100.00", "800.00"),
                            "warranty": ("150.00", "0.00", "150.00")}
    customer = doc["bills"]["customer"]
    assert [(ln["kind"], ln["gross"], ln["net"], ln["vat"]) for ln in customer["lines"]] == [
        ("labor", "450.00", "450.00", "51.77"), ("part", "450.00", "450.00", "51.77")]
    assert (customer["vat"], doc["vat"], doc["revenue"]) == ("103.54", "120.80", "929.20")
    assert "discounts" not in customer

    # The discount, spread over the lines, and who gave it.
    doc = as_of(4)
    assert _status(doc)["customer"] == ("880.00", "100.00", "780.00")
    customer = doc["bills"]["customer"]
    assert [ln["discount"] for ln in customer["lines"]] == ["10.00", "10.00"]
    assert customer["discounts"] == [{"line_id": None, "amount": "20.00",
                                      "reason": "member's discount",
                                      "approved_by": None, "by": "cash-" + store_id}]

    # Confirmed: numbered, the settling payment not yet taken.
    doc = as_of(5)
    assert (doc["status"], doc["number"], doc["numbers"]) == ("confirmed", first, [first])
    assert doc["confirmed_at"] is not None and doc["settled_at"] is None
    assert doc["settled_entries"] == []
    assert len(doc["payments"]) == 1

    # The WeChat payment settles it in the same moment: paid in full, the entries posted.
    doc = as_of(7)
    assert (doc["version"], doc["status"], doc["number"]) == (7, "settled", first)
    assert _status(doc) == {"customer": ("880.00", "880.00", "0.00"),
                            "warranty": ("150.00", "0.00", "150.00")}
    assert [(p["method"], p["amount"], p["provider_ref"]) for p in doc["payments"]] == [
        ("cash", "100.00", None), ("wechat_pay", "780.00", "WX-1")]
    assert doc["settled_at"] == at[6].isoformat().replace("+00:00", "Z")
    revenue = doc["settled_entries"][0]
    assert sum(Decimal(p["debit"]) for p in revenue["postings"]) == Decimal("1030.00")

    # The refund asked for holds nothing back yet; approved, the money has left.
    doc = as_of(8)
    assert [(r["refund_id"], r["amount"], r["status"], r["decided_by"])
            for r in doc["refunds"]] == [(refund, "50.00", "requested", None)]
    assert _status(doc)["customer"] == ("880.00", "880.00", "0.00")
    doc = as_of(9)
    assert [(r["status"], r["decided_by"], r["business_date"] is not None)
            for r in doc["refunds"]] == [("approved", "mgr-" + store_id, True)]
    assert [p["refunded"] for p in doc["payments"]] == ["0.00", "50.00"]
    assert _status(doc)["customer"] == ("880.00", "830.00", "50.00")
    assert doc["status"] == "settled"

    # Reversed: nothing billed, no number (the first one kept in `numbers`), money kept.
    doc = as_of(10)
    assert (doc["status"], doc["number"], doc["numbers"]) == ("open", None, [first])
    assert (doc["bills"], doc["bill_status"], doc["settled_entries"]) == ({}, [], [])
    assert (doc["confirmed_at"], doc["settled_at"], doc["revenue"]) == (None, None, "0.00")
    assert len(doc["payments"]) == 2

    # A moment between two events sees the earlier one: just before the reversal.
    doc = get(client, url, auditor, as_of=(at[9] - timedelta(microseconds=1)).isoformat())
    assert (doc["version"], doc["status"]) == (9, "settled")

    # The latest state, replayed, is what the read model shows (today: the day so far).
    latest = get(client, url, auditor, as_of=datetime.now(ZoneInfo("Asia/Shanghai")).date()
                 .isoformat())
    assert (latest["version"], latest["status"], latest["numbers"]) == (
        14, "settled", [first, second])
    assert _status(latest) == {"customer": ("900.00", "900.00", "0.00"),
                               "warranty": ("150.00", "0.00", "150.00")}
    current = get(client, url, auditor, wait_for=head(client))
    overlap = current.keys() & latest.keys()
    assert overlap == current.keys()
    assert {k: latest[k] for k in overlap} == current
    # It shows no personal data (the customer by id only): the auditor's reads are not recorded.
    assert get(client, "/audit/personal-data-reads", auditor, customer_id=latest["customer_id"],
               wait_for=head(client))["items"] == []


def test_as_of_is_scoped_refused_and_allowed_like_the_current_detail(
        client: TestClient, auth: Auth, store_id: str) -> None:
    cashier = auth("cashier", "cash-" + store_id, [store_id])
    _, wo_id = ready_for_settlement(client, auth, store_id)
    sid = post(client, "/settlements", cashier, {"work_order_id": wo_id}, 201)["id"]
    url = f"/settlements/{sid}"
    later = datetime.now(UTC).isoformat()  # after every event of the visit

    # Another store's token: 404, as for the current detail, never 403.
    elsewhere = auth("auditor", "aud-b", [store_id + "B"])
    problem(client.get(url, headers=elsewhere, params={"as_of": later}), 404, "not-found")
    problem(client.get(url, headers=elsewhere), 404, "not-found")
    # A work order's id, or an id nobody used, is no settlement.
    for other in (wo_id, "00000000-0000-4000-8000-000000000000"):
        problem(client.get(f"/settlements/{other}", headers=cashier, params={"as_of": later}),
                404, "not-found")
    # Impossible days, zone-less moments, words: 422.
    for bad in ("2024-02-30", "2024-03-02T10:00:00", "yesterday"):
        problem(client.get(url, headers=cashier, params={"as_of": bad}), 422, "invalid-input")
    # The roles that read settlements read them as of a moment; a technician reads neither.
    for role in ("cashier", "advisor", "manager", "finance", "auditor"):
        doc = get(client, url, auth(role, f"{role}-1", [store_id]), as_of=later)
        assert (doc["status"], doc["version"]) == ("draft", 2)
    technician = auth("technician", "tech-1", [store_id])
    problem(client.get(url, headers=technician, params={"as_of": later}), 403, "forbidden")
    problem(client.get(url, headers=technician), 403, "forbidden")
    # A token for every store sees it.
    assert get(client, url, auth("auditor", "aud-all", ["*"]), as_of=later)["id"] == sid
