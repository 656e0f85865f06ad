"""Queries on the stock view's purchase orders: the list (with `?overdue=`) and one order.

An order is `overdue` when the supplier has it (sent, or partly received) and the day it was
expected to deliver (`expected_on`) is before the store's today; its `open_value` is what it
still owes at the ordered cost: per line, ordered less received (none once received in
full, closed or cancelled) times the line's unit cost, each line taken to the fen once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

import psycopg

from domain.money import round_money
from projections.base import rows as _rows
from projections.base import store_scope as _stores_clause
from projections.quantities import shown_texts

OWED = ("draft", "sent", "partly_received")  # the supplier still owes what is outstanding
LATE = ("sent", "partly_received")  # the supplier has the order: it can be late
ZERO = Decimal(0)
ORDER_LINE_QUANTITIES = ("qty", "received_qty", "outstanding_qty", "over_delivered_qty")


def open_value(doc: dict[str, Any]) -> Decimal:
    """What the order still owes at its ordered cost (see the module doc)."""
    if doc["status"] not in OWED:
        return round_money(ZERO)
    return sum((round_money(max(Decimal(ln["qty"]) - Decimal(ln["received_qty"]), ZERO)
                            * Decimal(ln["unit_cost"])) for ln in doc["lines"]),
               round_money(ZERO))


def is_overdue(status: str, expected_on: str | None, today: date) -> bool:
    return status in LATE and expected_on is not None and date.fromisoformat(expected_on) < today


def list_orders(conn: psycopg.Connection[Any], stores: Sequence[str], *, today: date,
                store_id: str | None = None, status: str | None = None,
                supplier: str | None = None, overdue: bool | None = None, limit: int = 50,
                offset: int = 0) -> dict[str, Any]:
    """The purchase orders of the caller's stores (or `store_id`'s), the newest first, each
    with its `expected_on`, `overdue` on `today` (the store's day) and `open_value`;
    `overdue` true lists the overdue ones alone, false the others. The page's `open_value`
    sums every order the filters list, not only the page's."""
    where, params = _stores_clause(stores)
    clauses = [where]
    if store_id:
        clauses.append("store_id = %s")
        params.append(store_id)
    if status:
        clauses.append("status = %s")
        params.append(status)
    if supplier:
        clauses.append("supplier = %s")
        params.append(supplier)
    late = "(status = ANY(%s) AND expected_on < %s)"
    if overdue is not None:
        clauses.append(late if overdue else f"NOT COALESCE({late}, false)")
        params += [list(LATE), today]
    clause = " AND ".join(clauses)
    [sums] = _rows(conn, f"""SELECT count(*) AS n, COALESCE(sum(open_value), 0) AS open_value
        FROM purchase_orders WHERE {clause}""", params)
    items = _rows(conn, f"""SELECT id, number, store_id, supplier, status, expected_on,
        COALESCE({late}, false) AS overdue, open_value, created_at, updated_at, version
        FROM purchase_orders WHERE {clause}
        ORDER BY created_at DESC, id LIMIT %s OFFSET %s""",
                  [list(LATE), today, *params, limit, offset])
    return {"total": sums["n"], "limit": limit, "offset": offset, "items": items,
            "open_value": round_money(sums["open_value"])}


def get_order(conn: psycopg.Connection[Any], stores: Sequence[str], order_id: UUID,
              today: date) -> dict[str, Any] | None:
    where, params = _stores_clause(stores)
    found = _rows(conn, f"SELECT doc FROM purchase_orders WHERE id = %s AND {where}",
                  [order_id, *params])
    return with_outstanding(found[0]["doc"], today) if found else None


def with_outstanding(doc: dict[str, Any], today: date) -> dict[str, Any]:
    """Each line's `outstanding_qty`: what the supplier still owes (ordered − received) while
    the order is open — the back-order the clerk chases —, 0 once it is closed or cancelled;
    and its `over_delivered_qty`: what was received above the order (0 if nothing); the
    order's `open_value` and whether it is `overdue` on `today` (the store's day). Its
    quantities are shown as every quantity read shows them (projections/quantities.py)."""
    still_owed = doc["status"] in OWED
    for line in doc["lines"]:
        owed = Decimal(line["qty"]) - Decimal(line["received_qty"])
        line["outstanding_qty"] = str(max(owed, ZERO)) if still_owed else "0"
        line["over_delivered_qty"] = str(max(-owed, ZERO))
        shown_texts(line, ORDER_LINE_QUANTITIES)
        for receipt in line.get("receipts", []):
            shown_texts(receipt, ("qty",))
    for short in (doc.get("closed") or {}).get("short", []):
        shown_texts(short, ("qty",))
    doc.setdefault("expected_on", None)
    doc.setdefault("expected_changes", [])
    doc["open_value"] = str(open_value(doc))
    doc["overdue"] = is_overdue(doc["status"], doc["expected_on"], today)
    return doc
