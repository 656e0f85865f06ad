"""A customer's account (挂账): the credit terms from the customers view, the charged bills
and what they still have open from the finance view."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

import psycopg

from domain.money import CENT
from projections.base import rows as _rows
from projections.finance_queries import shown

OPEN_CHARGES_DEFAULT = 200  # open charges a page of the account lists (at most 1,000)
_OPEN_CHARGES = """FROM settlement_bills b JOIN settlements s ON s.id = b.settlement_id
        WHERE b.kind = 'customer' AND b.payer_key = %(customer)s AND b.status = 'settled'
            AND b.due_on IS NOT NULL
            AND b.total - b.allowances - b.paid - b.written_off <> 0"""


def customer_account(conn: psycopg.Connection[Any], stores: Sequence[str], customer_id: UUID,
                     today: date, limit: int = OPEN_CHARGES_DEFAULT,
                     offset: int = 0) -> dict[str, Any] | None:
    """Terms, open balance, overdue amount and the open charges, oldest due first, `limit` of
    them from `offset` (`open_charges_count` counts them all; the balance and what is overdue
    sum them all in the database: a fleet that pays late has thousands open) (None: no such
    customer in the token's stores)."""
    found = _rows(conn, "SELECT store_id, credit_terms FROM customers WHERE id = %s",
                  (customer_id,))
    if not found or ("*" not in stores and found[0]["store_id"] not in stores):
        return None
    params = {"customer": str(customer_id), "today": today, "limit": limit, "offset": offset}
    [sums] = _rows(conn, f"""SELECT count(*) AS n,
            COALESCE(sum(b.total - b.allowances - b.paid - b.written_off), 0) AS balance,
            COALESCE(sum(b.total - b.allowances - b.paid - b.written_off)
                     FILTER (WHERE b.due_on < %(today)s), 0) AS overdue
        {_OPEN_CHARGES}""", params)
    charges = _rows(conn, f"""SELECT b.settlement_id, s.number AS settlement_number,
            s.work_order_number, b.total - b.allowances AS charged, b.paid,
            b.total - b.allowances - b.paid - b.written_off AS outstanding, b.due_on,
            greatest(%(today)s::date - b.due_on, 0) AS days_overdue
        {_OPEN_CHARGES}
        ORDER BY b.due_on, s.number, b.settlement_id LIMIT %(limit)s OFFSET %(offset)s""",
                    params)
    balance = Decimal("0.00") + Decimal(sums["balance"])
    terms = found[0]["credit_terms"]
    available = None if terms is None else max(Decimal(terms["limit"]) - balance,
                                               Decimal("0.00"))
    for c in charges:
        c["charged"] = _cents(c["charged"])
        c["due_on"] = c["due_on"].isoformat()
    return shown({"customer_id": str(customer_id), "credit_terms": terms,
                  "on": today.isoformat(), "balance": balance,
                  "overdue": _cents(sums["overdue"]),
                  "available": None if available is None else _cents(available),
                  "open_charges": charges, "open_charges_count": sums["n"]})


def _cents(value: Any) -> str:
    return str(Decimal(value).quantize(CENT))


_CHARGED_1122 = """FROM journal j JOIN settlements s ON s.id = j.settlement_id
        JOIN settlement_bills b ON b.settlement_id = j.settlement_id AND b.kind = 'customer'
        WHERE j.account = '1122' AND b.payer_key = %(customer)s AND b.due_on IS NOT NULL"""


def account_statement(conn: psycopg.Connection[Any], stores: Sequence[str], customer_id: UUID,
                      month: str, limit: int, offset: int) -> dict[str, Any] | None:
    """The month's statement of the account (对账单): what the customer owed at its start,
    each charge and payment booked on a visit charged to the account in the month (customer
    receivable, 1122, in the ledger's order) with the balance after it, and what was owed at
    its end. Read off the ledger, so it agrees with the trial balance (None: no such customer
    in the token's stores)."""
    found = _rows(conn, "SELECT store_id FROM customers WHERE id = %s", (customer_id,))
    if not found or ("*" not in stores and found[0]["store_id"] not in stores):
        return None
    args = {"customer": str(customer_id), "month": month, "limit": limit, "offset": offset}
    [totals] = _rows(conn, f"""SELECT
            coalesce(sum(j.debit - j.credit) FILTER (WHERE j.month < %(month)s), 0)
                AS opening_balance,
            coalesce(sum(j.debit) FILTER (WHERE j.month = %(month)s), 0) AS charged,
            coalesce(sum(j.credit) FILTER (WHERE j.month = %(month)s), 0) AS paid,
            count(*) FILTER (WHERE j.month = %(month)s) AS total
        {_CHARGED_1122} AND j.month <= %(month)s""", args)
    lines = _rows(conn, f"""SELECT posted_on, settlement_number, work_order_number, memo,
            debit, credit, balance FROM (
            SELECT j.posted_on, s.number AS settlement_number, s.work_order_number, j.memo,
                j.debit, j.credit, j.month, j.notification_id, j.entry_no, j.line_no,
                sum(j.debit - j.credit) OVER (ORDER BY j.notification_id, j.entry_no,
                                                       j.line_no) AS balance
            {_CHARGED_1122} AND j.month <= %(month)s) ordered
        WHERE month = %(month)s ORDER BY notification_id, entry_no, line_no
        LIMIT %(limit)s OFFSET %(offset)s""", args)
    for line in lines:
        line.update(posted_on=line["posted_on"].isoformat(),
                    **{k: _cents(line[k]) for k in ("debit", "credit", "balance")})
    opening, charged, paid = (Decimal(totals[k]) for k in ("opening_balance", "charged", "paid"))
    return {"customer_id": str(customer_id), "month": month, "opening_balance": _cents(opening),
            "charged": _cents(charged), "paid": _cents(paid),
            "closing_balance": _cents(opening + charged - paid),
            "items": lines, "total": totals["total"], "limit": limit, "offset": offset}
