"""What a visit's bills ask, what has been paid on it and what is still owed: the money columns
of the work-order list and the settlement list, read from the finance view's bills and
payments (`settlement_bills`, `payments`) as `GET /settlements/{id}` reads them, so the
cashier sees a half-paid visit in the lists, and `outstanding=true` finds the visits with
money still owed.

Per row: `total`, what the drafted bills ask after the credits a manager approved (their
totals less `allowances`); `paid`, every payment on the visit less what went back of it (a
deposit before the bills included); `written_off`, what a manager wrote off; `expensed`, the
internal bill booked to the store's own expense once settled; `outstanding`, total less paid
less expensed less written_off, as the settlement's bills count it. Before the settlement
drafts bills (or after a reversal, until it drafts again) `total`, `written_off`, `expensed`
and `outstanding` are null: nothing is billed yet; `paid` counts the deposits."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any
from uuid import UUID

import psycopg

from domain.money import CENT

# The internal bill is never paid: the settling's expense booking settles it.
EXPENSED = ("(CASE WHEN kind = 'internal' AND status = 'settled' THEN total - allowances "
            "ELSE 0 END)")
OUTSTANDING = f"total - allowances - paid - {EXPENSED} - written_off"  # a bill's
MONEY = ("total", "paid", "written_off", "expensed", "outstanding")
ZERO = Decimal(0)


def money_join(settlement_id: str) -> str:
    """The joins that give a row whose settlement id is the expression `settlement_id` its
    `billed` (bills) and `taken` (payments) columns."""
    return f"""LEFT JOIN LATERAL (SELECT sum(total - allowances) AS total,
            sum(written_off) AS written_off, sum({EXPENSED}) AS expensed,
            sum({OUTSTANDING}) AS outstanding
            FROM settlement_bills WHERE settlement_id = {settlement_id}) AS billed ON TRUE
        LEFT JOIN LATERAL (SELECT coalesce(sum(amount - refunded), 0) AS paid
            FROM payments WHERE settlement_id = {settlement_id}) AS taken ON TRUE"""


def owing(outstanding: bool | None, settlement_id: str) -> str | None:
    """The condition `?outstanding=` asks of a row whose settlement id is the expression
    `settlement_id`: true, money still owed on its bills; false, none (nothing billed yet
    included); None, no condition. Only such a filter reads every listed row's bills: a page
    reads its own rows' money alone (`with_money`)."""
    if outstanding is None:
        return None
    return (f"coalesce((SELECT sum({OUTSTANDING}) FROM settlement_bills "
            f"WHERE settlement_id = {settlement_id}), 0) {'>' if outstanding else '<='} 0")


def with_money(conn: psycopg.Connection[Any], items: list[dict[str, Any]],
               settlement_of: Callable[[dict[str, Any]], UUID]) -> list[dict[str, Any]]:
    """The page's rows, each with its visit's money (`MONEY`, amounts as strings with two
    decimals), read in one query for the page's settlements (`settlement_of` a row's)."""
    wanted = [settlement_of(item) for item in items]
    found = {row[0]: row[1:] for row in conn.execute(
        f"""SELECT s.id, billed.total, taken.paid, billed.written_off, billed.expensed,
            billed.outstanding FROM unnest(%s::uuid[]) AS s(id) {money_join("s.id")}""",
        (wanted,))} if wanted else {}
    for item, settlement_id in zip(items, wanted, strict=True):
        figures = found.get(settlement_id, (None, ZERO, None, None, None))
        item.update({key: None if value is None else str(Decimal(value).quantize(CENT))
                     for key, value in zip(MONEY, figures, strict=True)})
    return items
