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

from decimal import Decimal
from typing import Any

from domain.money import CENT

# The internal bill is never paid: the settling's expense booking settles it.
EXPENSED = ("(CASE WHEN kind = 'internal' AND status = 'settled' THEN total - allowances "
            "ELSE 0 END)")
MONEY = ("total", "paid", "written_off", "expensed", "outstanding")


def money_join(settlement_id: str) -> str:
    """The joins that give a row whose settlement id is the expression `settlement_id` its
    `billed` (bills) and `taken` (payments) columns; `MONEY_COLUMNS` selects them."""
    return f"""LEFT JOIN LATERAL (SELECT sum(total - allowances) AS total,
            sum(written_off) AS written_off, sum({EXPENSED}) AS expensed,
            sum(total - allowances - paid - {EXPENSED} - written_off) AS outstanding
            FROM settlement_bills WHERE settlement_id = {settlement_id}) AS billed ON TRUE
        LEFT JOIN LATERAL (SELECT coalesce(sum(amount - refunded), 0) AS paid
            FROM payments WHERE settlement_id = {settlement_id}) AS taken ON TRUE"""


MONEY_COLUMNS = ("billed.total, taken.paid, billed.written_off, billed.expensed, "
                 "billed.outstanding")


def owing(outstanding: bool | None) -> str | None:
    """The condition `?outstanding=` asks for: true, money still owed on the bills; false,
    none (nothing billed yet included); None, no condition."""
    if outstanding is None:
        return None
    return f"coalesce(billed.outstanding, 0) {'>' if outstanding else '<='} 0"


def money_shown(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each row's money columns as every answer shows amounts: strings with two decimals."""
    for item in items:
        for key in MONEY:
            value = item.get(key)
            if isinstance(value, Decimal):
                item[key] = str(value.quantize(CENT))
    return items
