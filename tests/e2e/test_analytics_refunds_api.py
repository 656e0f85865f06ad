"""The analyst's money is the cashier's and the finance desk's: `fact_payments` read one way
gives the day report's figures (a refund under the method it went out by, the bank's money
apart), read the other the payments journal's (`GET /payments`: taken, refunded and net by the
method each payment came in by, and `bank_refunded`). A cash payment paid back by transfer,
and an OEM's remittance whose overpaid part goes back by bank; both loaded set-based and in
Python alike."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from analytics.loader import AnalyticsLoader
from servicecore.container import Container
from tests.e2e.test_bank_refunds_api import _refund, _staff, cash_paid_back_by_transfer
from tests.e2e.test_money_api import confirmed_settlement
from tests.e2e.test_parts_api import get, post
from tests.integration.analytics_support import table_rows

Auth = Callable[..., dict[str, str]]

# the payments journal's figures: a refund under the method its payment came in by
AS_THE_JOURNAL = """
SELECT coalesce(r.method, p.method) AS method,
       coalesce(sum(p.amount) FILTER (WHERE p.kind <> 'refund'), 0) AS taken,
       coalesce(-sum(p.amount) FILTER (WHERE p.kind = 'refund'), 0) AS refunded,
       sum(p.amount) AS net,
       coalesce(-sum(p.amount) FILTER (WHERE p.kind = 'refund' AND p.bank), 0) AS bank_refunded
FROM fact_payments p
LEFT JOIN fact_refunds r ON p.kind = 'refund' AND r.refund_id = p.payment_id
WHERE p.store_id = ? GROUP BY ALL ORDER BY ALL"""
# the cashiers' days: every movement by the method the money moved by, the bank's apart
AS_THE_DRAWER = """
SELECT method, sum(amount) FROM fact_payments WHERE store_id = ? AND NOT bank
GROUP BY ALL ORDER BY ALL"""


@pytest.fixture
def loaders(container: Container, tmp_path: Path) -> Iterator[tuple[AnalyticsLoader, ...]]:
    """A set-based loader in small batches and one folding every event in Python, both at the
    log's head before the test stores its events."""
    sql = AnalyticsLoader(container.app, tmp_path / "sql.duckdb", batch_size=100_000)
    python = AnalyticsLoader(container.app, tmp_path / "python.duckdb", batch_size=100_000)
    python.source.set_based = frozenset()  # every event through its Python handler
    try:
        for loader in (sql, python):
            loader.catch_up()
        # the session's earlier events in one batch (in threes, the set-up grew with every
        # test before it), the test's own in threes
        sql.batch_size = 3
        yield sql, python
    finally:
        sql.close()
        python.close()


def _loaded(loaders: tuple[AnalyticsLoader, ...]) -> Any:
    """The tables caught up, the same rows either way; the set-based loader's connection."""
    sql, python = loaders
    for loader in loaders:
        loader.catch_up()
    for table in ("fact_payments", "fact_refunds"):
        assert table_rows(sql.conn, table) == table_rows(python.conn, table), table
    return sql.conn


def _text(amount: Decimal) -> str:
    return f"{amount:.2f}"


def _as_the_journal(conn: Any, store_id: str) -> dict[str, dict[str, str]]:
    rows = conn.execute(AS_THE_JOURNAL, [store_id]).fetchall()
    return {figure: {row[0]: _text(row[i]) for row in rows}
            for i, figure in enumerate(("taken", "refunded", "net", "bank_refunded"), 1)}


def _journal(journal: dict[str, Any]) -> dict[str, dict[str, str]]:
    return {figure: journal[f"{figure}_by_method"]
            for figure in ("taken", "refunded", "net", "bank_refunded")}


def test_a_cash_payment_paid_back_by_transfer_as_the_drawer_and_the_journal_count_it(
        client: TestClient, auth: Auth, store_id: str,
        loaders: tuple[AnalyticsLoader, ...]) -> None:
    journal, report = cash_paid_back_by_transfer(client, auth, store_id)
    conn = _loaded(loaders)
    [day] = report["cashier_days"]
    assert day["totals"] == {"bank_transfer": "-50.00", "cash": "300.00"}
    assert {m: _text(a) for m, a in conn.execute(AS_THE_DRAWER, [store_id]).fetchall()} == (
        day["totals"])
    assert _as_the_journal(conn, store_id) == _journal(journal) == {
        "taken": {"cash": "300.00"}, "refunded": {"cash": "50.00"}, "net": {"cash": "250.00"},
        "bank_refunded": {"cash": "0.00"}}
    rows = conn.execute("SELECT kind, method, amount, cashier, approved_by, bank FROM "
                        "fact_payments WHERE store_id = ? ORDER BY paid_at",
                        [store_id]).fetchall()
    assert rows == [
        ("payment", "cash", Decimal("300.00"), f"cash-{store_id}", None, False),
        ("refund", "bank_transfer", Decimal("-50.00"), f"cash-{store_id}", f"mgr-{store_id}",
         False)]
    assert conn.execute("SELECT method, payout_method, requested_by, decided_by, bank FROM "
                        "fact_refunds WHERE store_id = ?", [store_id]).fetchall() == [
        ("cash", "bank_transfer", f"cash-{store_id}", f"mgr-{store_id}", False)]


def test_a_remittance_paid_back_by_bank_is_the_banks_as_the_day_report_and_journal_say(
        client: TestClient, auth: Auth, store_id: str,
        loaders: tuple[AnalyticsLoader, ...]) -> None:
    cashier, manager, finance = _staff(auth, store_id)
    wo_id, _ = confirmed_settlement(client, auth, store_id, warranty_labor=True)
    post(client, "/payments", cashier, {"work_order_id": wo_id, "method": "cash",
                                        "amount": "900.00"}, 201)
    day = post(client, "/day-end", cashier, {"store_id": store_id,
                                             "counted_cash": "900.00"})["business_date"]
    post(client, "/payments", cashier, {
        "work_order_id": wo_id, "bill": "warranty", "method": "bank_transfer",
        "amount": "100.00", "provider_ref": "VW-R1-" + store_id}, 201)
    rest = post(client, "/payments", cashier, {
        "work_order_id": wo_id, "bill": "warranty", "method": "bank_transfer",
        "amount": "50.00", "provider_ref": "VW-R2-" + store_id}, 201)
    back = _refund(client, cashier, manager, wo_id, rest["payment_id"], "30.00",
                   payout_method="bank_transfer", payout_ref="BACK-" + store_id)
    journal = get(client, "/payments", finance, store_id=store_id,
                  wait_for=back["notification_id"])
    report = get(client, f"/day-end/{day}", cashier, store_id=store_id)
    conn = _loaded(loaders)
    assert {m: _text(a) for m, a in conn.execute(AS_THE_DRAWER, [store_id]).fetchall()} == (
        report["cashier_days"][0]["totals"]) == {"cash": "900.00"}
    assert _as_the_journal(conn, store_id) == _journal(journal) == {
        "taken": {"bank_transfer": "150.00", "cash": "900.00"},
        "refunded": {"bank_transfer": "30.00", "cash": "0.00"},
        "net": {"bank_transfer": "120.00", "cash": "900.00"},
        "bank_refunded": {"bank_transfer": "30.00", "cash": "0.00"}}
    bank = conn.execute("""
        SELECT bill, kind, method, sum(amount), count(*) FROM fact_payments
        WHERE store_id = ? AND bank GROUP BY ALL ORDER BY kind""", [store_id]).fetchall()
    assert [(b, m, _text(-a), n) for b, k, m, a, n in bank if k == "refund"] == [
        (r["bill"], r["method"], r["amount"], r["refunds"]) for r in report["bank_refunds"]]
    assert [(b, _text(a), n) for b, k, _, a, n in bank if k == "payment"] == [
        (r["bill"], r["amount"], r["payments"]) for r in report["bank_receipts"]]
    assert len(bank) == 2
    assert conn.execute("SELECT payout_method, requested_by, decided_by, bank FROM "
                        "fact_refunds WHERE store_id = ?", [store_id]).fetchall() == [
        ("bank_transfer", f"cash-{store_id}", f"mgr-{store_id}", True)]
