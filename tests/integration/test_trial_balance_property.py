"""The trial balance of any period balances: whatever balanced entries the journal holds, on
whatever days and stores, the balances brought forward, the period's movements and the
closing balances each total as much on the debit side as on the credit side, for the group
and for each store alone; each account's closing balance is its opening one plus the period's
movements, and is the next period's opening balance.

The query reads the journal of the real PostgreSQL: a temporary table of the same shape, which
shadows the finance view's in this session alone, holds the generated entries."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from projections.finance import FinanceView
from projections.trial_balance import trial_balance

START = date(2026, 1, 1)
STORES = ("S1", "S2")
ACCOUNTS = ("1001", "1122", "1405", "2202", "6001", "6401")
CENTS = st.integers(min_value=1, max_value=10_000_000).map(lambda n: Decimal(n) / 100)

# an entry: a store, a day, lines on one side and the one line that balances them on the other
ENTRY = st.tuples(st.sampled_from(STORES), st.integers(0, 90),
                  st.lists(st.tuples(st.sampled_from(ACCOUNTS), CENTS), min_size=1, max_size=4),
                  st.sampled_from(ACCOUNTS), st.booleans())
PERIOD = st.tuples(st.integers(0, 90), st.integers(0, 30), st.integers(0, 30))


@pytest.fixture(scope="module")
def conn(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute(f"CREATE TEMP TABLE journal ({FinanceView.tables['journal']})")
        yield connection


def _book(conn: psycopg.Connection[Any], entries: list[Any]) -> None:
    conn.execute("TRUNCATE journal")
    rows = []
    for n, (store, day, lines, other, debits) in enumerate(entries):
        posted = START + timedelta(days=day)
        total = sum((amount for _, amount in lines), Decimal(0))
        for line_no, (account, amount) in enumerate([*lines, (other, total)]):
            debit = (line_no < len(lines)) == debits
            rows.append((n, 0, line_no, store, posted, posted.strftime("%Y-%m"), account,
                         amount if debit else Decimal(0), Decimal(0) if debit else amount,
                         "generated", None))
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO journal VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, "
                        "%s)", rows)


def _balanced(found: dict[str, Any]) -> None:
    assert found["balanced"] is True, found
    for debit, credit in (("opening_debit", "opening_credit"), ("debit", "credit"),
                          ("closing_debit", "closing_credit")):
        assert found[debit] == found[credit], (debit, found)
    for row in found["accounts"]:
        closing = row["opening_debit"] - row["opening_credit"] + row["debit"] - row["credit"]
        assert row["closing_debit"] - row["closing_credit"] == closing, row
        assert min(row["opening_debit"], row["opening_credit"]) == 0, row  # one side each
        assert min(row["closing_debit"], row["closing_credit"]) == 0, row


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(entries=st.lists(ENTRY, max_size=25), period=PERIOD)
def test_every_period_balances_and_carries_into_the_next(
        conn: psycopg.Connection[Any], entries: list[Any], period: tuple[int, int, int]) -> None:
    _book(conn, entries)
    start, length, after = period
    first = START + timedelta(days=start)
    last = first + timedelta(days=length)
    group = trial_balance(conn, ["*"], date_from=first, date_to=last)
    _balanced(group)
    for store in STORES:
        _balanced(trial_balance(conn, ["*"], date_from=first, date_to=last, store_id=store))
    # The next period opens with what this one closed with, account by account.
    following = trial_balance(conn, ["*"], date_from=last + timedelta(days=1),
                              date_to=last + timedelta(days=1 + after))
    closed = {(r["store_id"], r["account"]): r["closing_debit"] - r["closing_credit"]
              for r in group["accounts"]}
    opened = {(r["store_id"], r["account"]): r["opening_debit"] - r["opening_credit"]
              for r in following["accounts"]}
    assert {k: v for k, v in closed.items() if v} == {k: v for k, v in opened.items() if v}
    # And the period's movements are the journal's lines of its days.
    in_period = [(s, START + timedelta(days=d), lines) for s, d, lines, _, _ in entries
                 if first <= START + timedelta(days=d) <= last]
    moved = sum((amount for _, _, lines in in_period for _, amount in lines), Decimal(0)) * 2
    assert group["debit"] + group["credit"] == moved
