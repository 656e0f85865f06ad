"""The cashier's and service manager's desk: a half-paid visit in the work-order and settlement
lists (`total`, `paid`, `outstanding`, and `?outstanding=true` for the money still owed), the
payments journal and the day report saying what each sum is (`taken`, `refunded`, `net`), and
the day report of one store of a group token (`store_id`), and the OEM's remittance by bank
transfer recorded after the cashier's day-end, apart from the drawer (`bank_receipts`)."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from fastapi.testclient import TestClient

from servicecore.demo import make_vin
from tests.e2e.test_money_api import confirmed_settlement
from tests.e2e.test_parts_api import get, head, post

Auth = Callable[..., dict[str, str]]
MONEY = ("total", "paid", "written_off", "expensed", "outstanding")


def _row(page: dict[str, Any], key: str, value: str) -> dict[str, Any]:
    [found] = [item for item in page["items"] if item[key] == value]
    return {k: found[k] for k in MONEY}


def test_a_half_paid_visit_shows_what_was_paid_and_is_owed_in_both_lists(
        client: TestClient, auth: Auth, store_id: str) -> None:
    cashier = auth("cashier", "cash-" + store_id, [store_id])
    wo_id, sid = confirmed_settlement(client, auth, store_id)  # the customer's bill: 900.00
    # Another visit, opened and not yet billed: nothing owed yet, nothing paid.
    waiting = post(client, "/work-orders", auth("advisor", "adv-" + store_id, [store_id]), {
        "store_id": store_id, "customer": {"name": "李娜", "phone": "13900000003"},
        "vehicle": {"vin": make_vin(random.Random("desk" + store_id)), "plate": "沪C12345"},
        "mileage": 1000,
        "complaints": ["oil service"]}, 201)["id"]
    paid = post(client, "/payments", cashier, {"work_order_id": wo_id, "method": "cash",
                                               "amount": "300.00"}, 201)
    after = paid["notification_id"]
    half = {"total": "900.00", "paid": "300.00", "written_off": "0.00", "expensed": "0.00",
            "outstanding": "600.00"}
    visits = get(client, "/work-orders", cashier, store_id=store_id, wait_for=after)
    assert _row(visits, "id", wo_id) == half
    assert _row(visits, "id", waiting) == {"total": None, "paid": "0.00", "written_off": None,
                                           "expensed": None, "outstanding": None}
    settlements = get(client, "/settlements", cashier, store_id=store_id, wait_for=after)
    assert _row(settlements, "id", sid) == half
    # The money still owed: the half-paid visit alone, in both lists.
    owed = get(client, "/work-orders", cashier, store_id=store_id, outstanding="true")
    assert [i["id"] for i in owed["items"]] == [wo_id] and owed["total"] == 1
    owed = get(client, "/settlements", cashier, store_id=store_id, outstanding="true")
    assert [i["id"] for i in owed["items"]] == [sid] and owed["total"] == 1
    settled = post(client, "/payments", cashier, {"work_order_id": wo_id, "method": "cash",
                                                  "amount": "600.00"}, 201)
    assert settled["settled"] is True
    after = settled["notification_id"]
    assert get(client, "/work-orders", cashier, store_id=store_id, outstanding="true",
               wait_for=after)["items"] == []
    assert get(client, "/settlements", cashier, store_id=store_id, outstanding="true",
               wait_for=after)["items"] == []
    clear = get(client, "/work-orders", cashier, store_id=store_id, outstanding="false")
    assert {i["id"] for i in clear["items"]} == {wo_id, waiting}
    assert _row(clear, "id", wo_id) == {**half, "paid": "900.00", "outstanding": "0.00"}
    # Not a yes or no: 422 naming the parameter, for both lists.
    for path in ("/work-orders", "/settlements"):
        bad = client.get(path, headers=cashier, params={"outstanding": "some"})
        assert bad.status_code == 422, bad.text
        assert [e["loc"] for e in bad.json()["errors"]] == [["query", "outstanding"]]


def test_the_journal_and_the_day_report_say_taken_refunded_and_net(
        client: TestClient, auth: Auth, store_id: str) -> None:
    cashier, manager = (auth(role, f"{who}-{store_id}", [store_id])
                        for role, who in (("cashier", "cash"), ("manager", "mgr")))
    wo_id, _ = confirmed_settlement(client, auth, store_id)
    cash = post(client, "/payments", cashier, {"work_order_id": wo_id, "method": "cash",
                                               "amount": "300.00"}, 201)
    post(client, "/payments", cashier, {"work_order_id": wo_id, "method": "alipay",
                                        "amount": "600.00", "provider_ref": "ALI-" + store_id},
         201)
    asked = post(client, "/refunds", cashier, {"work_order_id": wo_id,
                                               "payment_id": cash["payment_id"],
                                               "amount": "50.00", "reason": "goodwill",
                                               "kind": "payment_return"}, 201)
    decided = post(client, f"/refunds/{asked['refund_id']}/decision", manager,
                   {"approve": True})
    journal = get(client, "/payments", manager, store_id=store_id,
                  wait_for=decided["notification_id"])
    assert {k: journal[k] for k in ("taken", "refunded", "net")} == {
        "taken": "900.00", "refunded": "50.00", "net": "850.00"}
    assert journal["taken_by_method"] == {"alipay": "600.00", "cash": "300.00"}
    assert journal["refunded_by_method"] == {"alipay": "0.00", "cash": "50.00"}
    assert journal["net_by_method"] == {"alipay": "600.00", "cash": "250.00"}
    assert (journal["amount"], journal["by_method"]) == ("900.00", journal["taken_by_method"])
    day = journal["items"][0]["business_date"]
    report = get(client, f"/day-end/{day}", cashier)
    net = [(r["cashier_id"], r["method"], r["taken"], r["refunded"], r["net"])
           for r in report["net"] if r["store_id"] == store_id]
    who = "cash-" + store_id
    assert net == [(who, "alipay", "600.00", "0.00", "600.00"),
                   (who, "cash", "300.00", "50.00", "250.00")]
    # The cashier's day counts the same net figures.
    [mine] = [d for d in report["cashier_days"] if d["store_id"] == store_id]
    assert mine["totals"] == {method: figure for _, method, _, _, figure in net}


def test_the_day_report_of_one_store_of_a_group_token(
        client: TestClient, auth: Auth, store_id: str) -> None:
    other = store_id + "B"
    stores = [store_id, other]
    paid: dict[str, Any] = {}
    for store in stores:
        wo_id, _ = confirmed_settlement(client, auth, store)
        paid[store] = post(client, "/payments", auth("cashier", "cash-" + store, [store]), {
            "work_order_id": wo_id, "method": "cash", "amount": "100.00"}, 201)
        post(client, "/day-end", auth("cashier", "cash-" + store, [store]),
             {"store_id": store, "counted_cash": "100.00"})
    finance = auth("finance", "fin-" + store_id, stores)
    day = get(client, "/payments", finance, store_id=store_id,
              wait_for=head(client))["items"][0]["business_date"]
    url = f"/day-end/{day}"
    both = get(client, url, finance)
    assert {d["store_id"] for d in both["cashier_days"]} == set(stores)
    for store in stores:
        one = get(client, url, finance, store_id=store)
        for part in ("taken", "refunded", "net", "cashier_days", "chain_anchors"):
            assert {row["store_id"] for row in one[part]} <= {store}, (part, one[part])
        assert [(r["cashier_id"], r["taken"]) for r in one["taken"]] == [
            ("cash-" + store, "100.00")]
        assert [d["cashier_id"] for d in one["cashier_days"]] == ["cash-" + store]
        assert [a["cashier_id"] for a in one["chain_anchors"]] == ["cash-" + store]
    # A store the token does not cover: none of its figures.
    elsewhere = auth("finance", "fin-x", [store_id + "X"])
    nothing = get(client, url, elsewhere, store_id=store_id)
    assert [nothing[k] for k in ("taken", "refunded", "net", "cashier_days",
                                 "chain_anchors")] == [[], [], [], [], []]
    assert client.get(url, headers=elsewhere, params={
        "store_id": store_id, "as_of": day}).status_code == 404


def test_the_oems_remittance_is_recorded_after_the_day_end_and_shown_apart(
        client: TestClient, auth: Auth, store_id: str) -> None:
    cashier = auth("cashier", "cash-" + store_id, [store_id])
    wo_id, sid = confirmed_settlement(client, auth, store_id, warranty_labor=True)
    post(client, "/payments", cashier, {"work_order_id": wo_id, "method": "cash",
                                        "amount": "900.00"}, 201)
    closed = post(client, "/day-end", cashier, {"store_id": store_id, "counted_cash": "900.00"})
    # A remittance corrects no closed day: it is in none (422 naming the field, nothing stored).
    mark = head(client)
    wrong = client.post("/payments", headers=cashier, json={
        "work_order_id": wo_id, "bill": "warranty", "method": "bank_transfer",
        "amount": "1.00", "provider_ref": "VW-X-" + store_id,
        "correction_of": str(date.fromisoformat(closed["business_date"]) - timedelta(days=1)),
        "reason": "came in late"})
    assert wrong.status_code == 422 and wrong.json()["field"] == "correction_of"
    assert head(client) == mark
    # The OEM's transfer reaches the bank after the close: recorded all the same.
    remitted = post(client, "/payments", cashier, {
        "work_order_id": wo_id, "bill": "warranty", "method": "bank_transfer",
        "amount": "150.00", "provider_ref": "VW-REMIT-" + store_id}, 201)
    assert remitted["bills"]["warranty"]["outstanding"] == "0.00"
    report = get(client, f"/day-end/{closed['business_date']}", cashier, store_id=store_id,
                 wait_for=remitted["notification_id"])
    assert [(r["method"], r["taken"]) for r in report["taken"]] == [("cash", "900.00")]
    assert [(d["status"], d["totals"]) for d in report["cashier_days"]] == [
        ("closed", {"cash": "900.00"})]
    assert [(r["bill"], r["method"], r["amount"], r["payments"])
            for r in report["bank_receipts"]] == [("warranty", "bank_transfer", "150.00", 1)]
    journal = get(client, "/payments", auth("finance", "fin-" + store_id, [store_id]),
                  store_id=store_id)
    assert sorted((i["method"], i["bank_receipt"]) for i in journal["items"]) == [
        ("bank_transfer", True), ("cash", False)]
    assert get(client, f"/settlements/{sid}", cashier)["status"] == "settled"
