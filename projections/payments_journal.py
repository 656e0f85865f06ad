"""The payments journal (`GET /payments`) from the finance view: the payments a period took
and the refunds it paid out, each dated by its own business day, as the day report
(`projections.day_report`) and the analytic `fact_payments` date them.

A refund paid out on day D2 of a payment taken on D1 is D2's money: a period's `refunded` is
what its approved refunds paid out (whatever day their payments were taken), its `net` what
it took less that. By method, a refund counts under the method its payment came in by (the
day report counts it by the method it went out by)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

import psycopg

from projections.base import page as _page
from projections.base import rows as _rows
from projections.finance_queries import _cents, _where, shown

ZERO = Decimal(0)
# Who paid a refund out, as `fact_payments.cashier` names them: a refund from a drawer left
# its requester's day; a bank refund left the bank, recorded by the manager who approved it
# with the transfer's reference.
PAID_OUT_BY = "CASE WHEN r.bank_refund THEN r.decided_by ELSE r.requested_by END"
FIGURES = ("taken", "refunded", "net", "bank_refunded")


def payments_journal(conn: psycopg.Connection[Any], stores: Sequence[str], *,
                     date_from: date | None = None, date_to: date | None = None,
                     method: str | None = None, cashier: str | None = None,
                     store_id: str | None = None, limit: int = 200,
                     offset: int = 0) -> dict[str, Any]:
    """The payments taken from `date_from` to `date_to`, the latest business day first (each
    with what went back of it since, `refunded` and `bank_refunded`, whenever that was), and
    the period's sums over every payment and refund the filters list (not only the page's):
    `taken` (what the payments took), `refunded` (what the refunds approved in the period paid
    out, dated by their own business day) and `net` (taken less refunded), in all and by the
    method the payment came in by (`taken_by_method`, …); `amount` and `by_method` are
    `taken`'s, by their first names. `bank_refunded`: of `refunded`, the bank receipts paid
    back by bank (in no cashier's day). `cashier` names who took a payment and who paid a
    refund out (`PAID_OUT_BY`)."""
    where, params = _where(stores, {
        "from": ("business_date >= %s", date_from), "to": ("business_date <= %s", date_to),
        "method": ("method = %s", method), "cashier": ("cashier = %s", cashier),
        "store": ("store_id = %s", store_id)})
    found = _page(conn, f"SELECT * FROM payments WHERE {where}", params,
                  order_by="business_date DESC, at DESC, payment_id", limit=limit,
                  offset=offset)
    taken = _rows(conn, f"""SELECT method, sum(amount) AS taken FROM payments
        WHERE {where} GROUP BY method""", params)
    where_r, params_r = _where(stores, {
        "from": ("r.business_date >= %s", date_from), "to": ("r.business_date <= %s", date_to),
        "method": ("p.method = %s", method), "cashier": (f"{PAID_OUT_BY} = %s", cashier),
        "store": ("r.store_id = %s", store_id)}, "r.store_id")
    refunded = _rows(conn, f"""SELECT p.method, sum(r.amount) AS refunded,
        coalesce(sum(r.amount) FILTER (WHERE r.bank_refund), 0) AS bank_refunded
        FROM refunds r JOIN payments p USING (payment_id)
        WHERE {where_r} AND r.status = 'approved' GROUP BY p.method""", params_r)
    sums = _by_method(taken, refunded)
    for figure in FIGURES:
        found[f"{figure}_by_method"] = {m: _cents(row[figure]) for m, row in sums.items()}
        found[figure] = _cents(sum((row[figure] for row in sums.values()), ZERO))
    found["by_method"], found["amount"] = found["taken_by_method"], found["taken"]
    return shown(found)


def _by_method(taken: list[dict[str, Any]],
               refunded: list[dict[str, Any]]) -> dict[str, dict[str, Decimal]]:
    """Per method (in order), the period's `FIGURES`: a method that only paid out is listed
    with nothing taken, one that only took with nothing refunded."""
    sums: dict[str, dict[str, Decimal]] = {}
    for row in (*taken, *refunded):
        one = sums.setdefault(row["method"], dict.fromkeys(FIGURES, ZERO))
        for figure in ("taken", "refunded", "bank_refunded"):
            one[figure] += row.get(figure, ZERO)
    for one in sums.values():
        one["net"] = one["taken"] - one["refunded"]
    return dict(sorted(sums.items()))
