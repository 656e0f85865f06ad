"""A statement's page lists the store's payments no statement matched yet over its dates: a
store that has not reconciled for months has thousands, and all of them were listed."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

from fastapi.testclient import TestClient

from projections.finance_queries import UNMATCHED_PAYMENTS, statement
from servicecore.container import Container

Auth = Callable[..., dict[str, str]]


def test_a_statements_unmatched_payments_come_a_page_at_a_time(container: Container,
                                                               store_id: str) -> None:
    """Rows written straight into the read model in one transaction, rolled back after."""
    statement_id, day, count = uuid.uuid4(), date(2026, 3, 31), UNMATCHED_PAYMENTS + 30
    with container.pool.connection() as conn, conn.transaction(force_rollback=True):
        conn.execute("""INSERT INTO statements (id, store_id, source, account, imported_at,
            imported_by) VALUES (%s, %s, 'alipay', 'ALI-1', now(), 'fin-1')""",
                     (statement_id, store_id))
        conn.execute("""INSERT INTO statement_lines (statement_id, line_no, store_id, source,
            date, amount, reference, counterparty) VALUES (%s, 1, %s, 'alipay', %s, '10.00',
            'A1', '陈静')""", (statement_id, store_id, day))
        for n in range(count):
            conn.execute("""INSERT INTO payments (payment_id, settlement_id, store_id,
                work_order_number, bill, kind, method, amount, change, business_date, cashier,
                at) VALUES (%s, %s, %s, 'WO-1', 'customer', 'payment', 'alipay', '10.00', 0,
                %s, 'cash-1', %s)""",
                         (f"P-{store_id}-{n:04d}", uuid.uuid4(), store_id,
                          day - timedelta(days=n % 7), datetime.now(UTC)))
        first = statement(conn, [store_id], statement_id)
        last = statement(conn, [store_id], statement_id, payments_limit=1000,
                         payments_offset=count - 4)
    assert first is not None and last is not None
    assert first["unmatched_payments_count"] == last["unmatched_payments_count"] == count
    assert len(first["unmatched_payments"]) == UNMATCHED_PAYMENTS
    days = [p["business_date"] for p in first["unmatched_payments"]]
    assert days == sorted(days) and days[0] == day - timedelta(days=6)
    assert len(last["unmatched_payments"]) == 4
    assert [ln["line_no"] for ln in first["unmatched_lines"]] == [1]


def test_a_statement_page_is_bounded(client: TestClient, auth: Auth) -> None:
    finance = auth("finance", "fin-1")
    response = client.get(f"/reconciliation/statements/{uuid.uuid4()}", headers=finance,
                          params={"payments_limit": 1001})
    assert response.status_code == 422, response.text
    assert [e["loc"] for e in response.json()["errors"]] == [["query", "payments_limit"]]
    assert client.get(f"/reconciliation/statements/{uuid.uuid4()}", headers=finance,
                      params={"payments_limit": 5}).status_code == 404
