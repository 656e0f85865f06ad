"""The trial balance of a past period reads the journal up to the period's end, not the years
booked after it: the balance brought forward needs every line before the period, nothing
after it does. Without an index on the day (`posted_on`) the query read every line of the
store's journal to keep those up to the period's end (two years booked, January asked: all
of them read).

The journal is a temporary table of the finance view's shape and indexes, which shadows the
view's in this session alone; the planner may scan a test's small table whole where it would
not scan years of lines, so the plan is taken with sequential scans off and the rows its
scans read are counted (as tests/e2e/test_big_history_reads.py does)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import psycopg
import pytest

from projections.finance import FinanceView
from projections.trial_balance import trial_balance
from tests.e2e.test_big_history_reads import _explained, _Recorded

START = date(2026, 1, 1)
DAYS = 730  # two years, an entry a day in each store


@pytest.fixture(scope="module")
def conn(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute(f"CREATE TEMP TABLE journal ({FinanceView.tables['journal']})")
        for index in FinanceView.indexes:
            if index.table == "journal":
                connection.execute(f"CREATE INDEX {index.name} ON journal {index.definition}")
        rows = []
        for n in range(DAYS):
            posted = START + timedelta(days=n)
            for store in ("S1", "S2"):
                amount = Decimal(100 + n)
                rows += [(n, store == "S2", line, store, posted, posted.strftime("%Y-%m"),
                          account, amount * (line == 0), amount * (line == 1), "cash sale", None)
                         for line, account in enumerate(("1001", "6001"))]
        with connection.cursor() as cur:
            cur.executemany("INSERT INTO journal VALUES (%s, %s::int, %s, %s, %s, %s, %s, %s, "
                            "%s, %s, %s)", rows)
        connection.execute("ANALYZE journal")
        yield connection


def _lines_up_to(conn: psycopg.Connection[Any], store: str, day: date) -> int:
    found = conn.execute("SELECT count(*) FROM journal WHERE store_id = %s AND posted_on <= %s",
                         (store, day)).fetchone()
    assert found is not None
    return int(found[0])


@pytest.mark.parametrize("period", [{"month": "2026-01"},
                                    {"date_from": date(2026, 3, 1),
                                     "date_to": date(2026, 8, 31)}])
def test_a_past_periods_trial_balance_reads_no_line_booked_after_it(
        conn: psycopg.Connection[Any], period: dict[str, Any]) -> None:
    recorded = _Recorded(conn)
    found = trial_balance(recorded, ["S1", "S2"], store_id="S1", **period)  # type: ignore[arg-type]
    end = date.fromisoformat(found["date_to"])
    days = (end - START).days + 1
    # January: 31 days of 100.00 + n on the cash account, nothing brought forward
    cash = next(row for row in found["accounts"] if row["account"] == "1001")
    begun = (date.fromisoformat(found["date_from"]) - START).days
    assert cash["opening_debit"] == sum(Decimal(100 + n) for n in range(begun))
    assert cash["debit"] == sum(Decimal(100 + n) for n in range(begun, days))
    assert found["balanced"]

    [read] = _explained(conn, recorded.statements)
    # the store's lines up to the period's end, and no more: two years are booked
    assert read == _lines_up_to(conn, "S1", end) == 2 * days
    assert read < _lines_up_to(conn, "S1", START + timedelta(days=DAYS))
