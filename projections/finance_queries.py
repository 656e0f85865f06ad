"""Queries on the finance read model: settlements, payments, day-end, ledger, statements."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar, cast
from uuid import UUID

import psycopg

from domain.money import CENT
from domain.reconciliation import METHODS_BY_SOURCE
from projections.base import page as _page
from projections.base import rows as _rows
from projections.insurers import insurer_of
from projections.visit_money import EXPENSED, OUTSTANDING, owing, with_money

T = TypeVar("T")


# Every amount of money the finance view answers with: columns, sums, and the keys of the
# bills' JSON (quantities and VAT rates are not money: `qty`, `vat_rate`).
AMOUNTS = frozenset({
    "amount", "tendered", "change", "refunded", "paid", "outstanding", "billed", "revenue",
    "vat", "parts_cost", "gross_profit", "debit", "credit", "balance", "taken",
    "expected_cash", "counted_cash", "variance", "gross", "discount", "net", "cost", "labor",
    "parts", "unit_price", "total", "allowances", "expensed", "written_off", "bank_refunded",
    # the trial balance's balances brought forward and carried (projections.trial_balance)
    "opening_debit", "opening_credit", "closing_debit", "closing_credit",
    # receivables by age (projections.receivables)
    "days_0_30", "days_31_60", "days_61_90", "days_over_90"})


def _cents(value: Any) -> Any:
    """An amount as every answer shows it, with two decimals ("0.00", "12.50")."""
    if isinstance(value, Decimal):
        return value.quantize(CENT)
    if isinstance(value, str):
        try:
            return Decimal(value).quantize(CENT)
        except InvalidOperation:
            return value
    return value  # None, or a count (a page's `total`)


def shown(doc: T) -> T:
    """`doc` with each amount in it (by `AMOUNTS`; a cashier day's `totals` by method) at two
    decimals. The tables keep what was written: numeric defaults and sums of no rows are "0",
    and rows written before amounts were checked at the edge may hold another scale."""
    return cast(T, _shown(doc))


def _shown(doc: Any) -> Any:
    if isinstance(doc, list):
        return [_shown(item) for item in doc]
    if not isinstance(doc, dict):
        return doc
    out: dict[str, Any] = {}
    for key, value in doc.items():
        if key in AMOUNTS and not isinstance(value, dict | list | bool):
            out[key] = _cents(value)
        elif key == "totals" and isinstance(value, dict):
            out[key] = {method: _cents(amount) for method, amount in value.items()}
        else:
            out[key] = _shown(value)
    return out


def _scope(stores: Sequence[str], column: str = "store_id") -> tuple[list[str], list[Any]]:
    return ([], []) if "*" in stores else ([f"{column} = ANY(%s)"], [list(stores)])


def _where(stores: Sequence[str], filters: dict[str, tuple[str, Any]],
           column: str = "store_id") -> tuple[str, list[Any]]:
    clauses, params = _scope(stores, column)
    for clause, value in filters.values():
        if value is not None:
            clauses.append(clause)
            params.append(value)
    return " AND ".join(clauses) or "TRUE", params


def list_settlements(conn: psycopg.Connection[Any], stores: Sequence[str], *,
                     store_id: str | None = None, status: str | None = None,
                     number: str | None = None, outstanding: bool | None = None,
                     limit: int = 50, offset: int = 0) -> dict[str, Any]:
    """Settlements of the stores (or `store_id`'s), newest change first; `number` matches a
    current or a reversed number; each with what its bills ask, were paid and still owe
    (projections.visit_money), `outstanding` narrowing to those owed money (or not)."""
    where, params = _where(stores, {"store_id": ("store_id = %s", store_id),
                                    "status": ("status = %s", status),
                                    "number": ("numbers @> ARRAY[%s]::text[]", number)})
    owed = owing(outstanding, "s.id")
    found = shown(_page(conn, f"""SELECT id, work_order_id, work_order_number, store_id,
        customer_id, status, number, numbers, revenue, vat, parts_cost, confirmed_at,
        settled_at, version FROM settlements s WHERE {where}{f" AND {owed}" if owed else ""}""",
                        params, order_by="updated_at DESC, id", limit=limit, offset=offset))
    with_money(conn, found["items"], lambda row: row["id"])
    return found


def name_insurers(conn: psycopg.Connection[Any], bill_status: list[dict[str, Any]]) -> None:
    """On the insurance bill of `bill_status`, the master's insurer its typed name resolves to
    now (`insurer`; None: no insurer holds the name), as the live read and the `as_of` replay
    show it alike."""
    for bill in bill_status:
        if bill["kind"] == "insurance":
            bill["insurer"] = insurer_of(conn, bill["payer"].get("insurer"))


def get_settlement(conn: psycopg.Connection[Any], stores: Sequence[str],
                   settlement_id: UUID) -> dict[str, Any] | None:
    where, params = _where(stores, {})
    found = _rows(conn, f"SELECT * FROM settlements WHERE id = %s AND {where}",
                  [settlement_id, *params])
    if not found:
        return None
    doc = found[0]
    # The internal bill is never paid: the settling's expense booking settles it.
    doc["bill_status"] = _rows(conn, f"""SELECT kind, payer, total, allowances, paid,
        {EXPENSED} AS expensed, written_off, {OUTSTANDING} AS outstanding,
        invoice_no FROM settlement_bills WHERE settlement_id = %s ORDER BY kind""",
                               [settlement_id])
    name_insurers(conn, doc["bill_status"])
    doc["payments"] = _rows(conn, """SELECT payment_id, bill, kind, method, amount, tendered,
        change, provider_ref, business_date, cashier, correction_of, refunded, statement_id,
        bank_receipt, bank_refunded FROM payments WHERE settlement_id = %s ORDER BY at""",
                            [settlement_id])
    doc["refunds"] = _rows(conn, "SELECT * FROM refunds WHERE settlement_id = %s "
                                 "ORDER BY requested_at", [settlement_id])
    return shown(doc)


def list_refunds(conn: psycopg.Connection[Any], stores: Sequence[str], *,
                 store_id: str | None = None, status: str | None = None,
                 date_from: date | None = None, date_to: date | None = None, limit: int = 50,
                 offset: int = 0) -> dict[str, Any]:
    """Refunds of the caller's stores (or `store_id`'s), the longest waiting first: with
    `status=requested` the manager's queue of decisions; with `date_from` / `date_to` those
    paid out on those business days (an approved refund's day). Each with its visit (work
    order id and number, from the settlement) and the payment it returns (bill and method)."""
    where, params = _where(stores, {"store_id": ("r.store_id = %s", store_id),
                                    "status": ("r.status = %s", status),
                                    "from": ("r.business_date >= %s", date_from),
                                    "to": ("r.business_date <= %s", date_to)}, "r.store_id")
    return shown(_page(conn, f"""SELECT r.refund_id, r.status, r.kind, r.store_id,
        r.settlement_id, s.work_order_id, s.work_order_number, r.payment_id, p.bill,
        p.method, r.amount, r.reason, r.red_invoice_number, r.requested_by, r.requested_at,
        r.decided_by, r.decided_at, r.decision_reason, r.business_date, r.payout_method,
        r.bank_refund FROM refunds r JOIN settlements s ON s.id = r.settlement_id
        LEFT JOIN payments p ON p.payment_id = r.payment_id WHERE {where}""", params,
                       order_by="r.requested_at, r.refund_id", limit=limit, offset=offset))


def waiting_refunds(conn: psycopg.Connection[Any], store_id: str,
                    cashier: str) -> list[tuple[UUID, str]]:
    """The refunds `cashier` asked for in the store still waiting for a manager's decision
    (settlement, refund id), the longest waiting first: what a day-end close proposes to
    re-check (domain/settlement_cashier.py)."""
    rows = conn.execute("""SELECT settlement_id, refund_id FROM refunds WHERE store_id = %s
        AND requested_by = %s AND status = 'requested' ORDER BY requested_at, refund_id
        LIMIT 100""", (store_id, cashier)).fetchall()
    return [(row[0], row[1]) for row in rows]


def settlement_of_refund(conn: psycopg.Connection[Any], refund_id: str) -> UUID | None:
    """The settlement a refund id was requested on (None: this view has not seen it)."""
    row = conn.execute("SELECT settlement_id FROM refunds WHERE refund_id = %s",
                       (refund_id,)).fetchone()
    return row[0] if row else None


def ledger(conn: psycopg.Connection[Any], stores: Sequence[str], *, month: str,
           account: str | None = None, store_id: str | None = None, limit: int = 500,
           offset: int = 0) -> dict[str, Any]:
    """The journal lines of a month in booking order, with `debit` and `credit` summed over
    every line the filters list (not only the page's)."""
    where, params = _where(stores, {"month": ("month = %s", month),
                                    "account": ("account = %s", account),
                                    "store": ("store_id = %s", store_id)})
    found = _page(conn, f"""SELECT posted_on, store_id, account, debit, credit, memo,
        settlement_id, notification_id, entry_no, line_no FROM journal WHERE {where}""",
                  params, order_by="notification_id, entry_no, line_no", limit=limit,
                  offset=offset)
    [sums] = _rows(conn, f"""SELECT COALESCE(sum(debit), 0) AS debit,
        COALESCE(sum(credit), 0) AS credit FROM journal WHERE {where}""", params)
    return shown({**found, **sums})


def gross_profit(conn: psycopg.Connection[Any], stores: Sequence[str], *,
                 by: str = "work_order", limit: int = 200, offset: int = 0) -> dict[str, Any]:
    """Revenue without VAT less the FIFO cost of the parts, per settled work order or vehicle.

    Labor cost (technicians' hourly cost × clocked hours) is not deducted here.
    """
    where, params = _where(stores, {}, "s.store_id")
    if by == "vehicle":
        return shown(_page(conn, f"""SELECT w.vin, min(w.plate) AS plate, count(*) AS visits,
            sum(s.revenue) AS revenue, sum(s.parts_cost) AS parts_cost,
            sum(s.revenue - s.parts_cost) AS gross_profit
            FROM settlements s JOIN wo_view w ON w.id = s.work_order_id
            WHERE {where} AND s.status = 'settled' GROUP BY w.vin""", params,
                           order_by="gross_profit DESC, vin", limit=limit, offset=offset))
    return shown(_page(conn, f"""SELECT s.work_order_id, s.work_order_number, s.number,
        s.store_id, s.revenue, s.parts_cost, s.revenue - s.parts_cost AS gross_profit,
        s.settled_at FROM settlements s WHERE {where} AND s.status = 'settled'""", params,
                       order_by="settled_at DESC, work_order_id", limit=limit, offset=offset))


def follow_ups(conn: psycopg.Connection[Any], stores: Sequence[str], *, today: date,
               overdue_only: bool = False, status: str | None = None,
               work_order_id: UUID | None = None, limit: int = 200,
               offset: int = 0) -> dict[str, Any]:
    where, params = _where(stores, {"status": ("status = %s", status),
                                    "work_order_id": ("work_order_id = %s", work_order_id)})
    if overdue_only:
        where += " AND status = 'open' AND due_on < %s"
        params.append(today)
    return _page(conn, f"""SELECT *, (status = 'open' AND due_on < %s) AS overdue
        FROM follow_ups WHERE {where}""", [today, *params], order_by="due_on, id",
                 limit=limit, offset=offset)


def complaints(conn: psycopg.Connection[Any], stores: Sequence[str], *,
               status: str | None = None, work_order_id: UUID | None = None,
               limit: int = 200, offset: int = 0) -> dict[str, Any]:
    where, params = _where(stores, {"status": ("status = %s", status),
                                    "work_order_id": ("work_order_id = %s", work_order_id)})
    return _page(conn, f"SELECT * FROM complaints WHERE {where}", params,
                 order_by="opened_at DESC, id", limit=limit, offset=offset)


UNMATCHED_PAYMENTS = 500
UNMATCHED_REFUNDS = 500


def statement(conn: psycopg.Connection[Any], stores: Sequence[str], statement_id: UUID, *,
              payments_limit: int = UNMATCHED_PAYMENTS, payments_offset: int = 0,
              refunds_limit: int = UNMATCHED_REFUNDS,
              refunds_offset: int = 0) -> dict[str, Any] | None:
    """Matched and unmatched on both sides: the statement's lines and the store's payments of
    the statement's methods over its dates that no statement matched yet, `payments_limit` of
    them from `payments_offset` (`unmatched_payments_count`, all of them: a store that has not
    reconciled for months has thousands); the same for the approved refunds paid out by those
    methods (`unmatched_refunds`, the money going out)."""
    where, params = _where(stores, {})
    found = _rows(conn, f"SELECT * FROM statements WHERE id = %s AND {where}",
                  [statement_id, *params])
    if not found:
        return None
    doc = found[0]
    lines = _rows(conn, """SELECT * FROM statement_lines WHERE statement_id = %s
        ORDER BY line_no""", [statement_id])
    sort_lines(conn, doc, lines)
    methods = list(METHODS_BY_SOURCE.get(doc["source"], ()))
    unmatched = refunds = {"total": 0, "items": []}
    if lines:
        window = [doc["store_id"], methods, min(ln["date"] for ln in lines),
                  max(ln["date"] for ln in lines)]
        unmatched = _page(conn, """SELECT payment_id, settlement_id, bill, method, amount,
            provider_ref, business_date, cashier FROM payments
            WHERE store_id = %s AND method = ANY(%s) AND statement_id IS NULL
            AND business_date BETWEEN %s::date - 7 AND %s::date + 7""", window,
                          order_by="business_date, payment_id", limit=payments_limit,
                          offset=payments_offset)
        refunds = _page(conn, f"""SELECT * FROM ({UNMATCHED_REFUND_ROWS}) r
            WHERE store_id = %s AND method = ANY(%s)
            AND business_date BETWEEN %s::date - 7 AND %s::date + 7""", window,
                        order_by="business_date, refund_id", limit=refunds_limit,
                        offset=refunds_offset)
    doc["unmatched_payments"] = unmatched["items"]
    doc["unmatched_payments_count"] = unmatched["total"]
    doc["unmatched_refunds"] = refunds["items"]
    doc["unmatched_refunds_count"] = refunds["total"]
    return shown(doc)


def sort_lines(conn: psycopg.Connection[Any], doc: dict[str, Any],
               lines: list[dict[str, Any]]) -> None:
    """The statement's lines in `doc` by state (`matched`, `explained`, `unmatched_lines`),
    each with the earlier statement that holds it too (`imported_before`)."""
    earlier = imported_before(conn, doc["id"])
    for line in lines:
        line["imported_before"] = earlier.get(line["line_no"])
    doc["matched"] = [ln for ln in lines if ln["payment_id"] or ln["refund_id"]]
    doc["explained"] = [ln for ln in lines if ln["explained_kind"]]
    doc["unmatched_lines"] = [ln for ln in lines if not (
        ln["payment_id"] or ln["refund_id"] or ln["explained_kind"])]


# Approved refunds no statement line matched yet, with the method they went out by (said on
# approval, else the payment's): what a line of money out may be matched to.
UNMATCHED_REFUND_ROWS = """SELECT r.refund_id, r.settlement_id, r.store_id, p.bill, r.kind,
    coalesce(r.payout_method, p.method) AS method, r.amount, r.payout_ref,
    r.business_date, r.decided_by FROM refunds r JOIN payments p ON p.payment_id = r.payment_id
    WHERE r.status = 'approved' AND r.statement_id IS NULL"""


def imported_before(conn: psycopg.Connection[Any], statement_id: UUID) -> dict[int, Any]:
    """The statement's lines that an earlier statement of the same account already holds (same
    date, amount and reference: the bank's transaction), by line number, with where: a file
    whose period overlaps one imported before. Such a line is kept, not refused (the file's
    other lines are new); a payment is reconciled once, so it never counts twice."""
    found = _rows(conn, """
        SELECT DISTINCT ON (l.line_no) l.line_no, o.statement_id, o.line_no AS other_line
        FROM statement_lines l
        JOIN statements s ON s.id = l.statement_id
        JOIN statement_lines o ON o.store_id = l.store_id AND o.reference = l.reference
          AND o.amount = l.amount AND o.date = l.date AND o.statement_id <> l.statement_id
        JOIN statements os ON os.id = o.statement_id AND os.source = s.source
          AND os.account = s.account AND os.imported_at < s.imported_at
        WHERE l.statement_id = %s AND l.reference <> ''
        ORDER BY l.line_no, os.imported_at, o.statement_id, o.line_no""", [statement_id])
    return {row["line_no"]: {"statement_id": row["statement_id"], "line_no": row["other_line"]}
            for row in found}


def match_proposals(conn: psycopg.Connection[Any], statement_id: UUID) -> list[dict[str, Any]]:
    """Unmatched lines of money in and unreconciled payments, taken by a method the
    statement's source carries, with the same reference and amount, paired one to one (the
    n-th such line with the n-th such payment); lines of money out:
    `projections.refund_proposals`."""
    source = conn.execute("SELECT source FROM statements WHERE id = %s",
                          (statement_id,)).fetchone()
    methods = list(METHODS_BY_SOURCE.get(source[0], ())) if source else []
    return _rows(conn, """
        WITH l AS (
            SELECT line_no, store_id, reference, amount, row_number() OVER (
                PARTITION BY reference, amount ORDER BY line_no) AS n
            FROM statement_lines WHERE statement_id = %(s)s AND amount > 0 AND payment_id IS NULL
              AND refund_id IS NULL AND explained_kind IS NULL),
        p AS (
            SELECT settlement_id, payment_id, store_id, provider_ref, amount, row_number() OVER (
                PARTITION BY provider_ref, amount ORDER BY at, payment_id) AS n
            FROM payments WHERE statement_id IS NULL AND provider_ref IS NOT NULL
              AND method = ANY(%(methods)s)
              AND store_id = (SELECT store_id FROM statements WHERE id = %(s)s))
        SELECT l.line_no, p.settlement_id, p.payment_id FROM l JOIN p
          ON p.provider_ref = l.reference AND p.amount = l.amount AND p.n = l.n
        ORDER BY l.line_no""", {"s": statement_id, "methods": methods})


def cashier_days(conn: psycopg.Connection[Any], stores: Sequence[str], *, date_from: date,
                 date_to: date, store_id: str | None = None, limit: int = 200,
                 offset: int = 0) -> dict[str, Any]:
    """Each cashier's day from `date_from` to `date_to`, the latest day first: open or closed,
    its totals, expected and counted cash, variance and reason, who closed it and when."""
    where, params = _where(stores, {"store": ("store_id = %s", store_id)})
    return shown(_page(conn, f"""SELECT business_date, store_id, cashier_id, status, totals,
        expected_cash, counted_cash, variance, reason, closed_at, closed_by FROM cashier_days
        WHERE {where} AND business_date BETWEEN %s AND %s""", [*params, date_from, date_to],
                       order_by="business_date DESC, store_id, cashier_id", limit=limit,
                       offset=offset))
