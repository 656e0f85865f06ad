"""The daily cash report (`GET /day-end/{date}`) from the finance view: what each cashier took
and refunded per method and what is left net, the bank receipts of the day (outside any
cashier's day), and the cashier days themselves."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import psycopg

from projections.base import rows as _rows
from projections.finance_queries import _where, shown

ZERO = Decimal(0)


def daily_cash(conn: psycopg.Connection[Any], stores: Sequence[str], day: date,
               until: datetime | None = None,
               replayed: Callable[[UUID], dict[str, Any] | None] | None = None
               ) -> dict[str, Any]:
    """Per cashier and method: taken, refunded (by the method it went out by), net (each row
    naming its cashier as `cashier_id`, as the cashier days do, and as `cashier`, as it did
    first); the bank receipts valued that day (remittances in no cashier's day: per store,
    bill and method) and the bank refunds approved that day (bank receipts paid back by bank,
    in no cashier's day: per store, bill and method); and the day-end state. With `until` (an
    `as_of`): the payments taken and the refunds approved by then (their business time), and
    each cashier's day as `replayed` (its stream up to then: a day opened later is left out)."""
    where, params = _where(stores, {"until": ("p.at <= %s", until)}, "p.store_id")
    taken = _rows(conn, f"""SELECT p.store_id, p.cashier, p.cashier AS cashier_id, p.method,
        sum(p.amount) AS taken, count(*) AS payments FROM payments p
        WHERE {where} AND p.business_date = %s AND NOT p.bank_receipt
        GROUP BY 1, 2, 4 ORDER BY 1, 2, 4""", [*params, day])
    receipts = _rows(conn, f"""SELECT p.store_id, p.bill, p.method, sum(p.amount) AS amount,
        count(*) AS payments FROM payments p
        WHERE {where} AND p.business_date = %s AND p.bank_receipt
        GROUP BY 1, 2, 3 ORDER BY 1, 2, 3""", [*params, day])
    where_r, params_r = _where(stores, {"until": ("r.decided_at <= %s", until)}, "r.store_id")
    refunded = _rows(conn, f"""SELECT r.store_id, r.requested_by AS cashier,
        r.requested_by AS cashier_id, coalesce(r.payout_method, p.method) AS method,
        sum(r.amount) AS refunded FROM refunds r JOIN payments p USING (payment_id)
        WHERE {where_r} AND r.status = 'approved' AND r.business_date = %s
        AND NOT r.bank_refund GROUP BY 1, 2, 4 ORDER BY 1, 2, 4""", [*params_r, day])
    bank_refunds = _rows(conn, f"""SELECT r.store_id, p.bill, r.payout_method AS method,
        sum(r.amount) AS amount, count(*) AS refunds FROM refunds r JOIN payments p
        USING (payment_id) WHERE {where_r} AND r.status = 'approved'
        AND r.business_date = %s AND r.bank_refund
        GROUP BY 1, 2, 3 ORDER BY 1, 2, 3""", [*params_r, day])
    where_d, params_d = _where(stores, {})
    net = _net(taken, refunded)
    days = _rows(conn, f"""SELECT id, store_id, cashier_id, status, totals, expected_cash,
        counted_cash, variance, reason, closed_at, closed_by FROM cashier_days
        WHERE {where_d} AND business_date = %s ORDER BY store_id, cashier_id""",
                 [*params_d, day])
    if replayed is not None:
        days = [then for row in days if (then := replayed(row["id"])) is not None]
    return shown({"business_date": day.isoformat(), "taken": taken, "refunded": refunded,
                  "net": net, "bank_receipts": receipts, "bank_refunds": bank_refunds,
                  "cashier_days": [{k: v for k, v in d.items() if k != "id"} for d in days]})


def _net(taken: list[dict[str, Any]],
         refunded: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per store, cashier and method of the day: `taken`, `refunded` and `net` (taken less
    refunded), as a cashier day's `totals` count it."""
    rows: dict[tuple[str, str, str], dict[str, Any]] = {}
    for row in (*taken, *refunded):
        key = (row["store_id"], row["cashier"], row["method"])
        one = rows.setdefault(key, {"store_id": key[0], "cashier": key[1], "cashier_id": key[1],
                                    "method": key[2], "taken": ZERO, "refunded": ZERO})
        one["taken"] += row.get("taken", ZERO)
        one["refunded"] += row.get("refunded", ZERO)
    for one in rows.values():
        one["net"] = one["taken"] - one["refunded"]
    return [rows[key] for key in sorted(rows)]
