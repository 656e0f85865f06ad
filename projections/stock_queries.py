"""Queries on the stock read model: stock, lots, journal, valuation, parts, alerts, transfers
(its purchase orders: projections/purchase_order_queries.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg

from domain.ascii_width import ascii_width
from projections.base import Reading, like_literal, page, page_of, read, rows
from projections.base import store_scope as _stores_clause
from projections.quantities import shown_quantities
from projections.transfer_suggestions import by_transfer

STOCK_READ_COLUMNS = """
    s.store_id, s.part_number, p.name, s.unit, s.on_hand, s.reserved,
           s.on_hand - s.reserved AS available, s.on_order,
           COALESCE(t.in_transit, 0) AS in_transit, round(s.value, 2) AS fifo_value,
           s.min_stock, s.reorder_qty, s.alert AS low_stock, s.last_movement_at, s.version"""
STOCK_FROM = """
    FROM stock s
    LEFT JOIN parts p USING (part_number)
    LEFT JOIN (SELECT to_store, part_number, sum(qty) AS in_transit FROM transfers
               WHERE status = 'in_transit' GROUP BY to_store, part_number) t
           ON t.to_store = s.store_id AND t.part_number = s.part_number"""
STOCK_SELECT = f"SELECT {STOCK_READ_COLUMNS} {STOCK_FROM}"


# A part only on its way to a store (sent by another, no stock item there yet) is listed for the
# receiving store too: nothing on hand, what is in transit, and the part's levels the item will
# start with; no alert and no `version` until the first receipt makes the item.
ARRIVING_SELECT = """
    SELECT a.store_id, a.part_number, p.name, p.unit, 0 AS on_hand, 0 AS reserved,
           0 AS available, 0 AS on_order, a.in_transit, 0.00 AS fifo_value, p.min_stock,
           p.reorder_qty, false AS low_stock, NULL::timestamptz AS last_movement_at,
           NULL::integer AS version
    FROM (SELECT to_store AS store_id, part_number, sum(qty) AS in_transit FROM transfers t
          WHERE status = 'in_transit' AND NOT EXISTS (SELECT FROM stock s
              WHERE s.store_id = t.to_store AND s.part_number = t.part_number)
          GROUP BY to_store, part_number) a
    LEFT JOIN parts p USING (part_number)"""


def _rows(conn: psycopg.Connection[Any], sql: str, params: Any) -> list[dict[str, Any]]:
    """A query's rows, their quantities shown one way (`projections.quantities`)."""
    return [shown_quantities(row) for row in rows(conn, sql, params)]


def _page(conn: psycopg.Connection[Any], sql: str, params: Any, *, order_by: str,
          limit: int | None, offset: int) -> dict[str, Any]:
    """A page of a query's rows, their quantities shown one way."""
    found = page(conn, sql, params, order_by=order_by, limit=limit, offset=offset)
    return {**found, "items": [shown_quantities(row) for row in found["items"]]}


def list_stock(conn: psycopg.Connection[Any], stores: Sequence[str], *,
               store_id: str | None = None, part_number: str | None = None,
               low_only: bool = False, limit: int = 50, offset: int = 0) -> dict[str, Any]:
    """The stock items of the caller's stores, and the parts only on their way to one of them
    (`ARRIVING_SELECT`), by store and part number."""
    held, held_params = _stock_filter(stores, "s", store_id, part_number, low_only)
    sides = [(f"SELECT count(*) FROM stock s WHERE {held}",
              f"{STOCK_SELECT} WHERE {held} ORDER BY s.store_id, s.part_number", held_params)]
    if not low_only:
        arriving, params = _stock_filter(stores, "a", store_id, part_number, False)
        sides.append((f"SELECT count(*) FROM ({ARRIVING_SELECT} WHERE {arriving}) a",
                      f"{ARRIVING_SELECT} WHERE {arriving} ORDER BY a.store_id, a.part_number",
                      params))
    counts = " + ".join(f"({count})" for count, _, _ in sides)
    total = _rows(conn, f"SELECT {counts} AS n", [p for *_, ps in sides for p in ps])[0]["n"]
    # Each side cut at the page's end in its own index order, then merged: the union sorted as
    # a whole read every item of the store for each page (5-10x slower).
    union = " UNION ALL ".join(f"({select} LIMIT %s)" for _, select, _ in sides)
    items = _rows(conn, f"SELECT * FROM ({union}) listed ORDER BY store_id, part_number "
                        "LIMIT %s OFFSET %s",
                  [*(p for *_, ps in sides for p in [*ps, offset + limit]), limit, offset])
    return {"total": total, "limit": limit, "offset": offset, "items": items}


def _stock_filter(stores: Sequence[str], alias: str, store_id: str | None,
                  part_number: str | None, low_only: bool) -> tuple[str, list[Any]]:
    where, params = _stores_clause(stores, f"{alias}.store_id")
    clauses = [where]
    if store_id:
        clauses.append(f"{alias}.store_id = %s")
        params.append(store_id)
    if part_number:
        clauses.append(f"{alias}.part_number = %s")
        params.append(part_number)
    if low_only:
        clauses.append(f"{alias}.alert")
    return " AND ".join(clauses), params


def get_stock(conn: psycopg.Connection[Any], stores: Sequence[str], store_id: str,
              part_number: str) -> dict[str, Any] | None:
    return read(conn, stock_item(stores, store_id, part_number))


LOT_FIELDS = ("lot_id", "supplier", "supplier_doc", "received_at", "unit_cost", "received_qty",
              "on_hand", "cert_ref", "po_ref", "origin_lot")
RESERVATION_FIELDS = ("key", "qty", "work_order_id", "line_id", "at")
# One statement (one round trip, one plan) for the item, its open lots and its reservations:
# each list comes back as one typed array per field (same values and types as plain rows), in
# the lists' order (a total one, so that every array of a list is in the same order).
# Exhausted lots (on hand 0) are left to `list_lots`: a busy part has thousands of them.
STOCK_ITEM_SELECT = f"""
    SELECT {STOCK_READ_COLUMNS}, l.*, r.* {STOCK_FROM}
    CROSS JOIN LATERAL (SELECT {", ".join(
        f"array_agg({f} ORDER BY received_at, lot_id) AS lot_{f}" for f in LOT_FIELDS)}
        FROM lots WHERE store_id = s.store_id AND part_number = s.part_number
        AND on_hand > 0) l
    CROSS JOIN LATERAL (SELECT {", ".join(
        f"array_agg({f} ORDER BY at, key) AS res_{f}" for f in RESERVATION_FIELDS)}
        FROM stock_reservations WHERE store_id = s.store_id AND part_number = s.part_number) r
    WHERE s.store_id = %s AND s.part_number = %s"""


def stock_item(stores: Sequence[str], store_id: str,
               part_number: str) -> Reading[dict[str, Any] | None]:
    """One store's stock of one part with its open lots and reservations (see `get_stock`)."""
    if "*" not in stores and store_id not in stores:
        return None
    [found] = yield [(STOCK_ITEM_SELECT, [store_id, part_number])]
    if not found:
        return None
    item = found[0]
    lots = [shown_quantities(lot) for lot in _listed(item, "lot_", LOT_FIELDS)]
    reservations = [shown_quantities(one) for one in _listed(item, "res_", RESERVATION_FIELDS)]
    return {**shown_quantities(item), "lots": lots, "reservations": reservations}


def incoming_transfers(stores: Sequence[str], store_id: str,
                       part_number: str) -> Reading[list[dict[str, Any]]]:
    """Transfers of the part on their way to a store (which may hold none of it yet)."""
    if "*" not in stores and store_id not in stores:
        return []
    [found] = yield [("""SELECT id, number, from_store, qty, sent_at FROM transfers
        WHERE to_store = %s AND part_number = %s AND status = 'in_transit'
        ORDER BY sent_at, number""", [store_id, part_number])]
    return [shown_quantities(row) for row in found]


def _listed(row: dict[str, Any], prefix: str, fields: Sequence[str]) -> list[dict[str, Any]]:
    """The rows a list's arrays hold (no rows: the arrays are NULL), taken out of `row`."""
    arrays = [row.pop(prefix + field) for field in fields]
    if arrays[0] is None:
        return []
    return [dict(zip(fields, values, strict=True)) for values in zip(*arrays, strict=True)]


LOT_STATES = {"open": "on_hand > 0", "exhausted": "on_hand <= 0", "all": "TRUE"}


def list_lots(conn: psycopg.Connection[Any], stores: Sequence[str], store_id: str,
              part_number: str, *, state: str = "all", limit: int = 100,
              offset: int = 0) -> dict[str, Any] | None:
    """One page of an item's lots in receipt order, open ones, exhausted ones or all (None:
    no such item for the caller)."""
    if "*" not in stores and store_id not in stores:
        return None
    if not _rows(conn, "SELECT 1 AS found FROM stock WHERE store_id = %s AND part_number = %s",
                 [store_id, part_number]):
        return None
    return _page(conn, f"""SELECT {", ".join(LOT_FIELDS)} FROM lots
        WHERE store_id = %s AND part_number = %s AND {LOT_STATES[state]}""",
                 [store_id, part_number], order_by="received_at, lot_id", limit=limit,
                 offset=offset)


LOT_MOVEMENTS = 500


def get_lot(conn: psycopg.Connection[Any], stores: Sequence[str], lot_id: str, *,
            limit: int = LOT_MOVEMENTS, offset: int = 0) -> dict[str, Any] | None:
    """A lot with its movements in the order they were booked, `limit` of them from `offset`
    (a bulk lot issued a little at a time has thousands), and `movements_count`, all of them."""
    where, params = _stores_clause(stores)
    found = _rows(conn, f"SELECT * FROM lots WHERE lot_id = %s AND {where}", [lot_id, *params])
    if not found:
        return None
    lot = found[0]
    lot["movements"] = _rows(conn, f"""SELECT at, type, qty, unit_cost, value, work_order_id,
        line_id, {NAMED_REFERENCE}, user_id, role, reason FROM stock_movements m
        WHERE lot_id = %s ORDER BY notification_id, seq LIMIT %s OFFSET %s""",
                             [lot_id, limit, offset])
    lot["movements_count"] = _rows(conn, """SELECT count(*) AS n FROM stock_movements
        WHERE lot_id = %s""", [lot_id])[0]["n"]
    return lot


# A transfer's movements hold its id as their reference; people know it by its TR number.
# Resolved as the rows are read (per row of a page), so rows written before keep working.
NAMED_REFERENCE = """CASE WHEN m.type IN ('transfer_out', 'transfer_in')
        THEN COALESCE((SELECT number FROM transfers WHERE id = m.reference::uuid), m.reference)
        ELSE m.reference END AS reference,
    CASE WHEN m.type IN ('transfer_out', 'transfer_in') THEN m.reference END AS transfer_id"""


MOVEMENT_FILTERS = {
    "store_id": "store_id = %s", "part_number": "part_number = %s", "lot_id": "lot_id = %s",
    "work_order_id": "work_order_id = %s", "supplier": "supplier = %s", "type": "type = %s",
    "at_from": "at >= %s", "at_to": "at < %s",
    # a stocktake's count id, a delivery note, a PO or a request; a transfer by its TR number
    # (`_references`: the list movements_reference_idx looks up)
    "reference": "(reference = ANY(%s) AND (reference = %s OR type IN ('transfer_out', "
                 "'transfer_in')))",
}


def _references(conn: psycopg.Connection[Any], reference: str) -> list[Any]:
    """The `reference` filter's parameters: the reference itself and the ids of the transfers
    it numbers (a transfer's movements hold its id), looked up first, so that the planner
    weighs the list itself (a list it cannot see, it guesses at, and it may then walk the
    whole journal in log order to fill a page)."""
    ids = [row["id"] for row in _rows(conn, "SELECT id::text AS id FROM transfers "
                                            "WHERE number = %s", [reference])]
    return [[reference, *ids], reference]


def list_movements(conn: psycopg.Connection[Any], stores: Sequence[str], *, limit: int = 100,
                   offset: int = 0, **filters: Any) -> dict[str, Any]:
    where, params = _stores_clause(stores)
    clauses = [where]
    for name, value in filters.items():
        if value is not None:
            clauses.append(MOVEMENT_FILTERS[name])
            params.extend(_references(conn, value) if name == "reference" else
                          [value] * MOVEMENT_FILTERS[name].count("%s"))
    clause = " AND ".join(clauses)
    # the exact values summed, rounded once: a part's whole journal is its item's value, as
    # the valuation and the ledger's 1405 hold it (rows rounded first drift a fen at a time)
    [counted] = _rows(conn, f"""SELECT count(*) AS n, COALESCE(round(sum(value), 2), 0) AS value
        FROM stock_movements WHERE {clause}""", params)
    total = counted["n"]
    items = _rows(conn, f"""SELECT notification_id, seq, at, store_id, part_number, type, qty,
        lot_id, unit_cost, round(value, 2) AS value, work_order_id, line_id, supplier,
        {NAMED_REFERENCE}, user_id, role, reason
        FROM (SELECT * FROM stock_movements WHERE {clause}
              ORDER BY notification_id DESC, seq LIMIT %s OFFSET %s) m
        ORDER BY notification_id DESC, seq""", [*params, limit, offset])
    return {"total": total, "limit": limit, "offset": offset, "items": items,
            "value": round(counted["value"], 2)}


def valuation(conn: psycopg.Connection[Any], stores: Sequence[str], *,
              store_id: str | None = None, limit: int = 200,
              offset: int = 0) -> dict[str, Any]:
    """One row per store, paged in memory: a count query would scan every stock row again.

    Stock in transit is the sending store's until the receiver books it in (its on-hand
    stock no longer holds it, the receiver's does not yet): `in_transit_value` at the cost it
    left with, and `total_value` = on hand + in transit, so the group's total stays the same
    across a transfer. `fifo_value` sums each item's value rounded to the fen (as the item
    shows it, and as the ledger's parts inventory, 1405, holds it)."""
    where, params = _stores_clause(stores, "s.store_id")
    if store_id:
        where += " AND s.store_id = %s"
        params.append(store_id)
    return page_of(_rows(conn, f"""SELECT s.store_id,
        count(*) FILTER (WHERE s.on_hand > 0) AS parts_in_stock, sum(s.on_hand) AS units,
        sum(round(s.value, 2)) AS fifo_value,
        count(*) FILTER (WHERE s.alert) AS low_stock_parts,
        COALESCE(t.units, 0) AS in_transit_units, round(COALESCE(t.value, 0), 2)
            AS in_transit_value, sum(round(s.value, 2)) + round(COALESCE(t.value, 0), 2)
            AS total_value
        FROM stock s LEFT JOIN (SELECT from_store, sum(qty) AS units, sum(cost) AS value
                                FROM transfers WHERE status = 'in_transit' GROUP BY from_store) t
               ON t.from_store = s.store_id
        WHERE {where} GROUP BY s.store_id, t.units, t.value ORDER BY s.store_id""", params),
                   limit=limit, offset=offset)


def search_parts(conn: psycopg.Connection[Any], q: str | None, *, limit: int = 50,
                 offset: int = 0) -> dict[str, Any]:
    """By part number (prefix, blanks ignored), barcode (exact) or name (contains)."""
    clause, params = part_search(q)
    total = _rows(conn, f"SELECT count(*) AS n FROM parts WHERE {clause}", params)[0]["n"]
    items = _rows(conn, f"""SELECT part_number, name, unit, category, fitment, list_price,
        min_stock, reorder_qty, preferred_supplier, barcode, version FROM parts WHERE {clause}
        ORDER BY part_number LIMIT %s OFFSET %s""", [*params, limit, offset])
    return {"total": total, "limit": limit, "offset": offset, "items": items}


def part_search(q: str | None) -> tuple[str, list[Any]]:
    """The WHERE clause of `search_parts`. Each arm has its index (parts_number_prefix_idx,
    parts_barcode_idx, and parts_name_trgm_idx where pg_trgm is installed; without it the
    name arm scans the part master)."""
    if not q:
        return "TRUE", []
    code = ascii_width(q)  # a part number or barcode typed in full width is the ASCII one
    number = "".join(code.split()).upper()
    return "(part_number LIKE %s OR barcode = %s OR lower(name) LIKE %s)", [
        like_literal(number) + "%", code.strip(), "%" + like_literal(q.strip().lower()) + "%"]


def get_part(conn: psycopg.Connection[Any], part_number: str) -> dict[str, Any] | None:
    found = _rows(conn, "SELECT * FROM parts WHERE part_number = %s", [part_number])
    return found[0] if found else None


def reorder_suggestions(conn: psycopg.Connection[Any], stores: Sequence[str], *,
                        store_id: str | None = None,
                        supplier: str | None = None, limit: int | None = 200,
                        offset: int = 0, after_transfers: bool = False) -> dict[str, Any]:
    """Parts below minimum once what is on order is counted: how much, from whom. With
    `after_transfers`, what transfers bring (`by_transfer`: in transit to the store, and what
    its sister stores would send it now) counts as coming too."""
    joined, params = by_transfer(stores) if after_transfers else (
        "CROSS JOIN LATERAL (SELECT 0 AS by_transfer) x", [])
    where, scope_params = _stores_clause(stores, "s.store_id")
    params += scope_params
    clauses = [where, "s.on_hand - s.reserved < s.min_stock",
               "s.on_hand - s.reserved + s.on_order + x.by_transfer < s.min_stock"]
    if store_id:
        clauses.append("s.store_id = %s")
        params.append(store_id)
    if supplier:
        clauses.append("p.preferred_supplier = %s")
        params.append(supplier)
    return _page(conn, f"""SELECT s.store_id, s.part_number, p.name, p.preferred_supplier,
        s.on_hand - s.reserved AS available, s.on_order, s.min_stock, s.reorder_qty,
        greatest(s.reorder_qty,
                 s.min_stock - (s.on_hand - s.reserved) - s.on_order - x.by_transfer)
            AS suggested_qty{", x.by_transfer" if after_transfers else ""}
        FROM stock s JOIN parts p USING (part_number) {joined}
        WHERE {' AND '.join(clauses)}""", params,
                 order_by="store_id, preferred_supplier NULLS LAST, part_number", limit=limit,
                 offset=offset)


def list_alerts(conn: psycopg.Connection[Any], stores: Sequence[str], *,
                include_cleared: bool = False, store_id: str | None = None,
                limit: int = 200, offset: int = 0) -> dict[str, Any]:
    where, params = _stores_clause(stores, "a.store_id")
    if store_id:
        where += " AND a.store_id = %s"
        params.append(store_id)
    state = "TRUE" if include_cleared else "a.open"
    return _page(conn, f"""SELECT a.store_id, a.part_number, p.name, a.open, a.raised_at,
        a.available AS available_when_raised, a.min_stock, a.cleared_at,
        a.cleared_available AS available_when_cleared,
        s.on_hand - s.reserved AS available_now, s.on_order
        FROM stock_alerts a JOIN stock s USING (store_id, part_number)
        LEFT JOIN parts p ON p.part_number = a.part_number
        WHERE {where} AND {state}""", params, order_by="raised_at DESC, store_id, part_number",
                 limit=limit, offset=offset)


def list_approvals(conn: psycopg.Connection[Any], stores: Sequence[str], *,
                   status: str | None = "awaiting_approval", store_id: str | None = None,
                   limit: int = 200, offset: int = 0) -> dict[str, Any]:
    where, params = _stores_clause(stores)
    if status:
        where += " AND status = %s"
        params.append(status)
    if store_id:
        where += " AND store_id = %s"
        params.append(store_id)
    found = _page(conn, f"SELECT * FROM stock_approvals WHERE {where}", params,
                  order_by="requested_at DESC, kind, store_id, part_number, ref", limit=limit,
                  offset=offset)
    found["items"] = [named(row) for row in found["items"]]
    return found


APPROVAL_ID = {"scrap": "request_id", "stocktake": "count_id"}


def named(row: dict[str, Any]) -> dict[str, Any]:
    """An approval under the name its command answers and its decision's path takes
    (`request_id` of a scrap, `count_id` of a stocktake); `ref` stays for clients that read
    it (deprecated)."""
    return {APPROVAL_ID[row["kind"]]: row["ref"], **row}


def list_transfers(conn: psycopg.Connection[Any], stores: Sequence[str], *,
                   status: str | None = None, store_id: str | None = None,
                   limit: int = 200, offset: int = 0) -> dict[str, Any]:
    """The transfers from or to the caller's stores (`store_id`: from or to that one), the
    latest sent first, each with its whole `days_in_transit` (sent to booked in, or to now
    while on its way); `cost` sums what every listed transfer carries at the cost it left
    with, not only the page's."""
    params: list[Any] = []
    if "*" in stores:
        where = "TRUE"
    else:
        where, params = "(from_store = ANY(%s) OR to_store = ANY(%s))", [list(stores)] * 2
    if status:
        where += " AND status = %s"
        params.append(status)
    if store_id:
        where += " AND (from_store = %s OR to_store = %s)"
        params += [store_id, store_id]
    found = _page(conn, f"""SELECT *, floor(extract(epoch FROM COALESCE(received_at, now())
        - sent_at) / 86400)::int AS days_in_transit FROM transfers WHERE {where}""", params,
                  order_by="sent_at DESC, id", limit=limit, offset=offset)
    [sums] = _rows(conn, f"SELECT COALESCE(sum(cost), 0) AS cost FROM transfers WHERE {where}",
                   params)
    found["cost"] = round(sums["cost"], 2)
    return found
