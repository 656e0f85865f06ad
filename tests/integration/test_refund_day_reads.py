"""The refunds paid out on a store's day are found by an index of their days
(`refunds_day_idx`, store and `business_date`), as the day report, the payments journal and
`GET /refunds?date_from=&date_to=` ask for them; without it each of them read every refund of
every store (two years of refunds, one day asked: all of them read).

The refunds and payments are temporary tables of the finance view's shape and indexes, which
shadow the view's in this session alone; the planner may scan a test's small table whole
where it would not scan years of refunds, so the plan is taken with sequential scans off and
the rows the scans of `refunds` read are counted (as tests/e2e/test_big_history_reads.py
does)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
import pytest

from projections.day_report import daily_cash
from projections.finance import FinanceView
from projections.finance_queries import list_refunds
from projections.payments_journal import payments_journal
from tests.e2e.test_big_history_reads import _Recorded

START = date(2025, 1, 1)
DAYS = 730  # two years, a refund a day in each store
TABLES = ("refunds", "payments", "settlements", "cashier_days")


@pytest.fixture(scope="module")
def conn(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(database_url, autocommit=True) as connection:
        for table in TABLES:
            connection.execute(f"CREATE TEMP TABLE {table} ({FinanceView.tables[table]})")
            for index in FinanceView.indexes:
                if index.table == table:
                    connection.execute(
                        f"CREATE INDEX {index.name} ON {table} {index.definition}")
        payments, refunds, settlements = [], [], []
        at = datetime(2025, 1, 1, tzinfo=UTC)
        for n in range(DAYS):
            day = START + timedelta(days=n)
            for store in ("S1", "S2"):
                settlement, payment = uuid.uuid4(), f"P-{store}-{n}"
                settlements.append((settlement, store, f"WO-{store}-{n}"))
                payments.append((payment, settlement, store, f"WO-{store}-{n}", day, at))
                refunds.append((f"R-{store}-{n}", settlement, store, payment, day, at))
        with connection.cursor() as cur:
            cur.executemany(
                "INSERT INTO settlements (id, store_id, work_order_id, work_order_number, "
                "customer_id, status, bills, updated_at, version) VALUES (%s, %s, "
                "gen_random_uuid(), %s, gen_random_uuid(), 'settled', '[]', now(), 1)",
                settlements)
            cur.executemany(
                "INSERT INTO payments (payment_id, settlement_id, store_id, work_order_number, "
                "bill, kind, method, amount, change, business_date, cashier, at) VALUES "
                "(%s, %s, %s, %s, 'customer', 'payment', 'cash', 100, 0, %s, 'c1', %s)",
                payments)
            cur.executemany(
                "INSERT INTO refunds (refund_id, settlement_id, store_id, payment_id, amount, "
                "status, reason, requested_by, requested_at, decided_by, decided_at, "
                "business_date, payout_method) VALUES (%s, %s, %s, %s, 10, 'approved', "
                "'goodwill', 'c1', %s::date, 'm1', %s::date, %s, 'cash')",
                [(r, s, st, p, d, d, d) for r, s, st, p, d, _ in refunds])
        connection.execute("ANALYZE refunds; ANALYZE payments; ANALYZE settlements")
        yield connection


def _refunds_read(plan: dict[str, Any]) -> int:
    """The rows a plan's scans of `refunds` read: returned and put aside by their filters."""
    read = 0
    if plan.get("Relation Name") == "refunds":
        read += (plan["Actual Rows"] + plan.get("Rows Removed by Filter", 0)
                 + plan.get("Rows Removed by Index Recheck", 0)) * plan["Actual Loops"]
    return read + sum(_refunds_read(child) for child in plan.get("Plans", ()))


def _read(conn: psycopg.Connection[Any], statements: list[tuple[str, Any]]) -> list[int]:
    with conn.transaction():
        conn.execute("SET LOCAL enable_seqscan = off")
        return [_refunds_read(conn.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}",
                                           params).fetchone()[0][0]["Plan"])  # type: ignore[index]
                for sql, params in statements]


DAY = START + timedelta(days=400)


def test_the_refunds_paid_out_on_a_day_read_that_days_refunds_alone(
        conn: psycopg.Connection[Any]) -> None:
    recorded = _Recorded(conn)
    found = list_refunds(recorded, ["S1", "S2"], store_id="S1", date_from=DAY,  # type: ignore[arg-type]
                         date_to=DAY)
    assert [r["refund_id"] for r in found["items"]] == ["R-S1-400"]
    reads = _read(conn, recorded.statements)  # the page and its count
    assert len(reads) == 2 and all(read <= 1 for read in reads), reads


def test_the_day_report_and_the_journal_read_the_days_refunds_alone(
        conn: psycopg.Connection[Any]) -> None:
    recorded = _Recorded(conn)
    report = daily_cash(recorded, ["S1"], DAY)  # type: ignore[arg-type]
    assert [r["refunded"] for r in report["refunded"]] == [Decimal(10)]
    journal = _Recorded(conn)
    found = payments_journal(journal, ["S1"], date_from=DAY, date_to=DAY)  # type: ignore[arg-type]
    assert found["refunded"] == Decimal("10.00")
    reads = _read(conn, [s for s in recorded.statements + journal.statements
                         if "refunds" in s[0]])
    assert len(reads) == 3 and all(read <= 1 for read in reads), reads
