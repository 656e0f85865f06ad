"""The trial balance of a period (科目余额表), per store and account, read off the journal.

Each row carries the balance brought forward from before the period (`opening_debit` or
`opening_credit`: the side it stands on), the period's movements (`debit`, `credit`, and their
difference as `balance`, as the monthly trial balance always showed it) and the balance at the
period's end (`closing_debit` or `closing_credit`). Days are the journal's `posted_on`, the
store's business day. An account is listed when it has a balance brought forward or a movement
in the period. Every entry balances, and each store's entries do (domain/ledger.py), so the
totals of each pair are equal for any period and any store: `balanced` says they are.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

import psycopg

from domain.days import month_days
from domain.ledger import ACCOUNTS
from projections.base import rows as _rows
from projections.finance_queries import _scope, shown

ZERO = Decimal(0)
PAIRS = (("opening_debit", "opening_credit"), ("debit", "credit"),
         ("closing_debit", "closing_credit"))


def sides(net: Decimal) -> tuple[Decimal, Decimal]:
    """A balance (debit less credit) on the side it stands on: (debit, credit)."""
    return (net, ZERO) if net >= 0 else (ZERO, -net)


def account_row(store_id: str, account: str, opening: Decimal, debit: Decimal,
                credit: Decimal) -> dict[str, Any]:
    """One account of one store: its net `opening` balance and the period's movements."""
    opening_debit, opening_credit = sides(opening)
    closing_debit, closing_credit = sides(opening + debit - credit)
    return {"store_id": store_id, "account": account, "name": ACCOUNTS.get(account, account),
            "opening_debit": opening_debit, "opening_credit": opening_credit,
            "debit": debit, "credit": credit, "balance": debit - credit,
            "closing_debit": closing_debit, "closing_credit": closing_credit}


def totals(rows: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Each column summed over `rows`, and whether each pair balances."""
    listed = list(rows)
    sums = {column: sum((row[column] for row in listed), ZERO)
            for pair in PAIRS for column in pair}
    return {**sums, "balanced": all(sums[d] == sums[c] for d, c in PAIRS)}


def trial_balance(conn: psycopg.Connection[Any], stores: Sequence[str], *,
                  month: str | None = None, date_from: date | None = None,
                  date_to: date | None = None, store_id: str | None = None) -> dict[str, Any]:
    """The caller's stores' accounts (or `store_id`'s) over a `month`'s days, or from
    `date_from` to `date_to`, both included, with the totals."""
    if month is not None:
        date_from, date_to = month_days(month)
    assert date_from is not None and date_to is not None, "a month, or two days"
    clauses, params = _scope(stores)
    if store_id is not None:
        clauses.append("store_id = %s")
        params.append(store_id)
    where = " AND ".join([*clauses, "posted_on <= %s"])
    found = _rows(conn, f"""SELECT store_id, account,
        COALESCE(sum(debit - credit) FILTER (WHERE posted_on < %s), 0) AS opening,
        COALESCE(sum(debit) FILTER (WHERE posted_on >= %s), 0) AS debit,
        COALESCE(sum(credit) FILTER (WHERE posted_on >= %s), 0) AS credit
        FROM journal WHERE {where} GROUP BY store_id, account
        HAVING COALESCE(sum(debit - credit) FILTER (WHERE posted_on < %s), 0) <> 0
            OR count(*) FILTER (WHERE posted_on >= %s) > 0
        ORDER BY store_id, account""",
                  [date_from, date_from, date_from, *params, date_to, date_from, date_from])
    accounts = [account_row(r["store_id"], r["account"], r["opening"], r["debit"],
                            r["credit"]) for r in found]
    return shown({"month": month, "date_from": date_from.isoformat(),
                  "date_to": date_to.isoformat(), "store_id": store_id,
                  "accounts": accounts, **totals(accounts)})
