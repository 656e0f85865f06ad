"""One store's money, every desk's figures at once: a warranty visit's customer paying 900.00 in
cash, 100.00 of it paid back by bank transfer before the day-end; after the day-end the OEM
remitting its 150.00 by bank, 30.00 of it returned by bank; a body-shop visit's customer paying
in cash and the insurer remitting its bill less the 50.00 it cut, written off. The payments
journal (`taken`, `refunded`, `net`, `bank_refunded`), the day report (the drawer's net, the
bank receipts and bank refunds apart), the lists' `paid` and `outstanding`, each settlement's
bills and the analytics tables (payments, refunds, write-offs) all tell the same money."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient

from analytics.loader import AnalyticsLoader
from tests.e2e.test_analytics_refunds_api import (  # noqa: F401 - `loaders` is a fixture
    AS_THE_DRAWER,
    _as_the_journal,
    _journal,
    _loaded,
    _text,
    loaders,
)
from tests.e2e.test_bank_refunds_api import Auth, _refund, _staff
from tests.e2e.test_insurance_bill_api import PICC, body_shop_visit
from tests.e2e.test_money_api import confirmed_settlement
from tests.e2e.test_parts_api import get, post
from tests.integration.audit_support import new_vin


def _money(page: dict[str, Any], key: str, value: str) -> tuple[str, ...]:
    [row] = [item for item in page["items"] if item[key] == value]
    return tuple(row[k] for k in ("total", "paid", "written_off", "outstanding"))


def _sum(*amounts: str) -> str:
    return _text(sum((Decimal(a) for a in amounts), Decimal(0)))


def test_the_journal_the_day_report_the_lists_and_analytics_tell_the_same_money(
        client: TestClient, auth: Auth, store_id: str,
        loaders: tuple[AnalyticsLoader, ...]) -> None:  # noqa: F811
    cashier, manager, finance = _staff(auth, store_id)
    warranty_wo, warranty_sid = confirmed_settlement(client, auth, store_id, warranty_labor=True)
    body_wo = body_shop_visit(client, auth, store_id, vin=new_vin())
    body_sid = post(client, "/settlements", cashier, {"work_order_id": body_wo,
                                                      "insurance": PICC}, 201)["id"]
    bills = post(client, f"/settlements/{body_sid}/confirmation", cashier)["bills"]
    customer, insurer = bills["customer"]["total"], bills["insurance"]["total"]
    # The day: both customers pay in cash; 100.00 of the first goes back by transfer.
    cash = post(client, "/payments", cashier, {"work_order_id": warranty_wo, "method": "cash",
                                               "amount": "900.00"}, 201)
    post(client, "/payments", cashier, {"work_order_id": body_wo, "method": "cash",
                                        "amount": customer}, 201)
    _refund(client, cashier, manager, warranty_wo, cash["payment_id"], "100.00",
            payout_method="bank_transfer", payout_ref="TR-" + store_id)
    drawer = _sum("900.00", customer)
    day = post(client, "/day-end", cashier, {"store_id": store_id,
                                             "counted_cash": drawer})["business_date"]
    # After the day-end: the OEM's remittance, 30.00 of it back by bank; the insurer's, less
    # the 50.00 it cut, which the manager writes off.
    oem = post(client, "/payments", cashier, {
        "work_order_id": warranty_wo, "bill": "warranty", "method": "bank_transfer",
        "amount": "150.00", "provider_ref": "VW-R1-" + store_id}, 201)
    back = _refund(client, cashier, manager, warranty_wo, oem["payment_id"], "30.00",
                   payout_method="bank_transfer", payout_ref="BACK-" + store_id)
    remitted = _sum(insurer, "-50.00")
    post(client, "/payments", cashier, {
        "work_order_id": body_wo, "bill": "insurance", "method": "bank_transfer",
        "amount": remitted, "provider_ref": "PICC-R1-" + store_id}, 201)
    last = post(client, f"/settlements/{body_sid}/write-off", manager, {
        "kind": "insurer_short_paid", "amount": "50.00",
        "reason": "insurer cut the part"})["notification_id"]

    journal = get(client, "/payments", finance, store_id=store_id, wait_for=last)
    taken = _sum("900.00", customer, "150.00", remitted)
    assert (journal["taken"], journal["refunded"], journal["net"], journal["bank_refunded"]) == (
        taken, "130.00", _sum(taken, "-130.00"), "30.00")
    assert _journal(journal) == {
        "taken": {"bank_transfer": _sum("150.00", remitted), "cash": drawer},
        "refunded": {"bank_transfer": "30.00", "cash": "100.00"},
        "net": {"bank_transfer": _sum("120.00", remitted), "cash": _sum(drawer, "-100.00")},
        "bank_refunded": {"bank_transfer": "30.00", "cash": "0.00"}}

    report = get(client, f"/day-end/{day}", cashier, store_id=store_id, wait_for=last)
    [closed] = report["cashier_days"]
    assert (closed["status"], closed["counted_cash"], closed["totals"]) == (
        "closed", drawer, {"bank_transfer": "-100.00", "cash": drawer})
    assert closed["totals"] == {r["method"]: r["net"] for r in report["net"]}
    assert [(r["bill"], r["amount"], r["payments"]) for r in report["bank_receipts"]] == [
        ("insurance", remitted, 1), ("warranty", "150.00", 1)]
    assert [(r["bill"], r["method"], r["amount"]) for r in report["bank_refunds"]] == [
        ("warranty", "bank_transfer", "30.00")]
    # the drawer's net, the bank's receipts less its refunds: the journal's net, all one day
    assert _sum(*(r["net"] for r in report["net"]),
                *(r["amount"] for r in report["bank_receipts"]),
                *(f"-{r['amount']}" for r in report["bank_refunds"])) == journal["net"]

    warranty = ("1050.00", "920.00", "0.00", "130.00")
    body = (_sum(customer, insurer), _sum(customer, remitted), "50.00", "0.00")
    for path, key, ids in (("/work-orders", "id", (warranty_wo, body_wo)),
                           ("/settlements", "id", (warranty_sid, body_sid))):
        page = get(client, path, cashier, store_id=store_id, wait_for=last)
        assert (_money(page, key, ids[0]), _money(page, key, ids[1])) == (warranty, body), path
    assert _sum(warranty[1], body[1]) == journal["net"]
    owed = get(client, "/settlements", cashier, store_id=store_id, outstanding="true")
    assert [i["id"] for i in owed["items"]] == [warranty_sid]
    assert (back["bills"]["customer"]["outstanding"], back["bills"]["warranty"]["outstanding"]
            ) == ("100.00", "30.00")  # as the refund's answer said
    assert get(client, f"/settlements/{body_sid}", finance)["status"] == "settled"

    conn = _loaded(loaders)
    assert {m: _text(a) for m, a in conn.execute(AS_THE_DRAWER, [store_id]).fetchall()} == (
        closed["totals"])
    assert _as_the_journal(conn, store_id) == _journal(journal)
    bank = conn.execute("""SELECT bill, kind, sum(amount) FROM fact_payments
        WHERE store_id = ? AND bank GROUP BY ALL ORDER BY ALL""", [store_id]).fetchall()
    assert [(b, k, _text(a)) for b, k, a in bank] == [
        ("insurance", "payment", remitted), ("warranty", "payment", "150.00"),
        ("warranty", "refund", "-30.00")]
    written = conn.execute("""SELECT bill, kind, sum(amount) FROM fact_write_offs
        WHERE store_id = ? GROUP BY ALL""", [store_id]).fetchall()
    assert [(b, k, _text(a)) for b, k, a in written] == [
        ("insurance", "insurer_short_paid", body[2])]
