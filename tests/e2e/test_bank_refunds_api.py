"""The OEM's remittance paid back through the bank: after the cashier's day-end the OEM remits
in part, then the rest, and the overpaid part goes back to the OEM by bank transfer. The
refund is the bank's, as the remittance was: the closed day never refuses it, its totals and
counted cash stay, the day report shows it apart (`bank_refunds`), the refund queue and the
payments journal mark it (`bank_refund`, `bank_refunded`), and the bill owes it again. A
cashier's refund paid out by another method than its payment's counts in the day report by
the method it went out by, as the cashier's day does."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient

from tests.e2e.test_money_api import confirmed_settlement
from tests.e2e.test_parts_api import get, head, post

Auth = Callable[..., dict[str, str]]


def _staff(auth: Auth, store_id: str) -> tuple[dict[str, str], ...]:
    return tuple(auth(role, f"{who}-{store_id}", [store_id]) for role, who in (
        ("cashier", "cash"), ("manager", "mgr"), ("finance", "fin")))


def _refund(client: TestClient, cashier: dict[str, str], manager: dict[str, str], wo_id: str,
            payment_id: str, amount: str, **payout: str) -> dict[str, Any]:
    asked = post(client, "/refunds", cashier, {"work_order_id": wo_id, "payment_id": payment_id,
                                               "amount": amount, "reason": "overpaid",
                                               "kind": "payment_return"}, 201)
    decided = post(client, f"/refunds/{asked['refund_id']}/decision", manager,
                   {"approve": True, **payout})
    return {**asked, **decided}


def test_an_overpaid_remittance_goes_back_by_bank_after_the_day_end(
        client: TestClient, auth: Auth, store_id: str) -> None:
    cashier, manager, finance = _staff(auth, store_id)
    wo_id, sid = confirmed_settlement(client, auth, store_id, warranty_labor=True)
    post(client, "/payments", cashier, {"work_order_id": wo_id, "method": "cash",
                                        "amount": "900.00"}, 201)
    closed = post(client, "/day-end", cashier, {"store_id": store_id, "counted_cash": "900.00"})
    day = closed["business_date"]
    # After the close the OEM remits in part, then the rest.
    first = post(client, "/payments", cashier, {
        "work_order_id": wo_id, "bill": "warranty", "method": "bank_transfer",
        "amount": "100.00", "provider_ref": "VW-R1-" + store_id}, 201)
    assert first["bills"]["warranty"]["outstanding"] == "50.00"
    rest = post(client, "/payments", cashier, {
        "work_order_id": wo_id, "bill": "warranty", "method": "bank_transfer",
        "amount": "50.00", "provider_ref": "VW-R2-" + store_id}, 201)
    # 30.00 of it was more than the OEM owed: back by bank transfer, the day long closed.
    back = _refund(client, cashier, manager, wo_id, rest["payment_id"], "30.00",
                   payout_method="bank_transfer", payout_ref="BACK-" + store_id)
    assert back["refund_status"] == "approved"
    assert back["bills"]["warranty"]["outstanding"] == "30.00"
    report = get(client, f"/day-end/{day}", cashier, store_id=store_id,
                 wait_for=back["notification_id"])
    assert [(d["status"], d["totals"], d["counted_cash"]) for d in report["cashier_days"]] == [
        ("closed", {"cash": "900.00"}, "900.00")]
    assert (report["refunded"], [(r["method"], r["net"]) for r in report["net"]]) == (
        [], [("cash", "900.00")])
    assert [(r["bill"], r["method"], r["amount"], r["refunds"])
            for r in report["bank_refunds"]] == [("warranty", "bank_transfer", "30.00", 1)]
    assert [(r["bill"], r["amount"], r["payments"]) for r in report["bank_receipts"]] == [
        ("warranty", "150.00", 2)]
    refunds = get(client, "/refunds", finance, store_id=store_id)["items"]
    assert [(r["refund_id"], r["payout_method"], r["bank_refund"]) for r in refunds] == [
        (back["refund_id"], "bank_transfer", True)]
    journal = get(client, "/payments", finance, store_id=store_id)
    assert (journal["refunded"], journal["bank_refunded"]) == ("30.00", "30.00")
    assert journal["bank_refunded_by_method"] == {"bank_transfer": "30.00", "cash": "0.00"}
    assert sorted((i["amount"], i["bank_refunded"]) for i in journal["items"]) == [
        ("100.00", "0.00"), ("50.00", "30.00"), ("900.00", "0.00")]
    history = get(client, f"/day-end/{day}/history", manager, store_id=store_id,
                  cashier="cash-" + store_id)
    assert [e["event"] for e in history["items"]] == ["CashierDay.Opened", "CashierDay.MoneyIn",
                                                     "CashierDay.Closed"]
    visit = get(client, f"/settlements/{sid}", finance)
    assert visit["status"] == "settled"
    assert [(p["amount"], p["bank_receipt"], p["bank_refunded"]) for p in visit["payments"]] == [
        ("900.00", False, "0.00"), ("100.00", True, "0.00"), ("50.00", True, "30.00")]
    assert [r["bank_refund"] for r in visit["refunds"]] == [True]
    # the settlement replayed to now shows the same flags as the live page
    replayed = get(client, f"/settlements/{sid}", finance,
                   as_of=datetime.now(UTC).isoformat())
    assert replayed["payments"] == visit["payments"]
    assert [r["bank_refund"] for r in replayed["refunds"]] == [True]
    # The bank's statement: both remittances in, the return out; auto-match pairs all three.
    csv = "date,amount,reference,counterparty\n" + "".join(
        f"{day},{amount},{ref}-{store_id},一汽-大众\n"
        for amount, ref in (("100.00", "VW-R1"), ("50.00", "VW-R2"), ("-30.00", "BACK")))
    stmt = post(client, "/reconciliation/statements", finance, {
        "store_id": store_id, "source": "bank", "account": "工行 1002", "csv": csv}, 201)["id"]
    matched = client.post(f"/reconciliation/statements/{stmt}/auto-match", headers=finance,
                          params={"wait_for": head(client)}, json={}).json()
    assert (matched["matched"], matched["remaining"]) == (3, 0), matched
    page = get(client, f"/reconciliation/statements/{stmt}", finance, wait_for=head(client))
    assert page["unmatched_lines"] == [] and page["unmatched_refunds"] == []
    assert sorted((ln["line_no"], ln["payment_id"], ln["refund_id"])
                  for ln in page["matched"]) == [(1, first["payment_id"], None),
                                                 (2, rest["payment_id"], None),
                                                 (3, None, back["refund_id"])]
    # The OEM owes the 30.00 again; the books: the bank holds 120.00, the drawer 900.00.
    [oem] = get(client, "/receivables", finance, kind="warranty", store_id=store_id)["items"]
    assert [(b["paid"], b["outstanding"]) for b in oem["open_bills"]] == [("120.00", "30.00")]
    trial = get(client, "/ledger/trial-balance", finance, month=day[:7], store_id=store_id)
    balances = {a["account"]: a["balance"] for a in trial["accounts"]}
    assert trial["balanced"] is True
    assert (balances["1001"], balances["1002"], balances["1123"]) == (
        "900.00", "120.00", "30.00")


def cash_paid_back_by_transfer(client: TestClient, auth: Auth,
                               store_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A visit's 300.00 taken in cash, 50.00 of it paid back by bank transfer: the payments
    journal (read by finance, once it holds the refund) and that day's report."""
    cashier, manager, finance = _staff(auth, store_id)
    wo_id, _ = confirmed_settlement(client, auth, store_id)
    cash = post(client, "/payments", cashier, {"work_order_id": wo_id, "method": "cash",
                                               "amount": "300.00"}, 201)
    back = _refund(client, cashier, manager, wo_id, cash["payment_id"], "50.00",
                   payout_method="bank_transfer", payout_ref="TR-" + store_id)
    journal = get(client, "/payments", finance, store_id=store_id,
                  wait_for=back["notification_id"])
    day = journal["items"][0]["business_date"]
    return journal, get(client, f"/day-end/{day}", cashier, store_id=store_id)


def test_a_cash_payment_paid_back_by_transfer_counts_as_the_cashiers_day_does(
        client: TestClient, auth: Auth, store_id: str) -> None:
    _, report = cash_paid_back_by_transfer(client, auth, store_id)
    assert [(r["method"], r["refunded"]) for r in report["refunded"]] == [
        ("bank_transfer", "50.00")]
    [mine] = report["cashier_days"]
    assert mine["totals"] == {"bank_transfer": "-50.00", "cash": "300.00"}
    assert mine["totals"] == {r["method"]: r["net"] for r in report["net"]}
    assert report["bank_refunds"] == []  # a customer's money: the cashier's day's
