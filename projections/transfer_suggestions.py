"""Transfer suggestions: for a store's parts below their minimum, which sister stores can spare
how many units, by the rules of domain/transfer_plan.py.

Read from the stock view (stock items, lots, transfers in transit: what the purchase-order
suggestions read) and, for what a donor's own work orders wait for, the parts-demand view.
Donors are the stores the caller's token covers (a token of every store: all of them); the
list proposes, the command re-checks each donor on its stock item.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any
from uuid import UUID

import psycopg

from domain.stock_state import fifo_picks, picks_cost
from domain.transfer_plan import ZERO, need, plan
from projections.base import page, rows, store_scope

# Units the approved part lines of a store's open work orders still lack beyond what they hold
# (back orders, special orders), jobs past QC left out as on the parts desk.
WAITING = """COALESCE((SELECT sum(greatest(w.qty - w.issued_qty - w.reserved_qty, 0))
    FROM parts_demand w JOIN parts_demand_jobs j
      ON j.work_order_id = w.work_order_id AND j.job_no = w.job_no
    WHERE w.store_id = d.store_id AND w.part_number = d.part_number
      AND w.status = 'approved' AND w.qty > w.issued_qty AND NOT j.passed), 0)"""
SPARE = f"greatest(d.on_hand - d.reserved - d.min_stock - {WAITING}, 0)"
ARRIVING = """(SELECT part_number, sum(qty) AS in_transit FROM transfers
    WHERE status = 'in_transit' AND to_store = %s GROUP BY part_number)"""


IN_TRANSIT_TO_S = """COALESCE((SELECT sum(t.qty) FROM transfers t WHERE t.status = 'in_transit'
    AND t.to_store = s.store_id AND t.part_number = s.part_number), 0)"""


def by_transfer(stores: Sequence[str]) -> tuple[str, list[Any]]:
    """Joins giving each stock row `s` what transfers bring it, `x.by_transfer`: what is in
    transit to it, and what the token's other stores would send it now (its suggestion's
    `covered`: its need, or all they spare where that is less); with the join's parameters."""
    scope, params = store_scope(stores, "d.store_id")
    return f"""CROSS JOIN LATERAL (SELECT {IN_TRANSIT_TO_S} AS in_transit,
          COALESCE((SELECT sum({SPARE}) FROM stock d WHERE d.part_number = s.part_number
                    AND d.store_id <> s.store_id AND {scope}), 0) AS spare) c
        CROSS JOIN LATERAL (SELECT c.in_transit + least(c.spare, CASE WHEN short.qty > 0
            THEN greatest(s.reorder_qty, short.qty) ELSE 0 END) AS by_transfer
          FROM (SELECT s.min_stock - (s.on_hand - s.reserved) - s.on_order - c.in_transit
                AS qty) short) x""", params


def _donors(scope: str) -> str:
    return f"""SELECT d.store_id, d.part_number, d.on_hand - d.reserved AS available,
        d.min_stock, {WAITING} AS waiting, {SPARE} AS spare
        FROM stock d WHERE d.store_id <> %s AND {scope}"""


def transfer_suggestions(conn: psycopg.Connection[Any], stores: Sequence[str], *, to_store: str,
                         part_numbers: Sequence[str] | None = None, limit: int | None = 200,
                         offset: int = 0) -> dict[str, Any]:
    """The parts `to_store` is short of that a sister store can spare, by part number: its
    figures, `need`, the donors that send (`donors`: store, spare, qty, FIFO value of what
    would leave) and `covered`, what they send in all."""
    if "*" not in stores and to_store not in stores:
        return {"total": 0, "limit": limit, "offset": offset, "items": []}
    scope, scope_params = store_scope(stores, "d.store_id")
    clauses = ["s.store_id = %s",
               "s.on_hand - s.reserved + s.on_order + COALESCE(t.in_transit, 0) < s.min_stock"]
    params: list[Any] = [to_store, to_store]
    if part_numbers is not None:
        clauses.append("s.part_number = ANY(%s)")
        params.append(list(part_numbers))
    sql = f"""SELECT s.part_number, p.name, s.unit, s.on_hand - s.reserved AS available,
        s.on_order, COALESCE(t.in_transit, 0) AS in_transit, s.min_stock, s.reorder_qty
        FROM stock s LEFT JOIN parts p USING (part_number) LEFT JOIN {ARRIVING} t
          USING (part_number)
        WHERE {" AND ".join(clauses)} AND EXISTS (SELECT FROM ({_donors(scope)}) d
          WHERE d.part_number = s.part_number AND d.spare > 0)"""
    found = page(conn, sql, [*params, to_store, *scope_params], order_by="part_number",
                 limit=limit, offset=offset)
    found["items"] = _planned(conn, to_store, scope, scope_params, found["items"])
    return found


def _planned(conn: psycopg.Connection[Any], to_store: str, scope: str, scope_params: list[Any],
             items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if not items:
        return []
    donors: dict[str, list[dict[str, Any]]] = {}
    for row in rows(conn, f"SELECT * FROM ({_donors(scope)}) d WHERE d.spare > 0 "
                          "AND d.part_number = ANY(%s)",
                    [to_store, *scope_params, [item["part_number"] for item in items]]):
        donors.setdefault(row["part_number"], []).append(row)
    for item in items:
        item["need"] = need(item["available"], item["on_order"], item["in_transit"],
                            item["min_stock"], item["reorder_qty"])
        offered = {d["store_id"]: d for d in donors.get(item["part_number"], [])}
        sends = plan(item["need"], ((s, d["spare"]) for s, d in offered.items()))
        item["donors"] = [{"store_id": store_id, "available": offered[store_id]["available"],
                           "min_stock": offered[store_id]["min_stock"],
                           "waiting": offered[store_id]["waiting"],
                           "spare": offered[store_id]["spare"], "qty": qty}
                          for store_id, qty in sends]
        item["covered"] = sum((qty for _, qty in sends), ZERO)
    _value_moves(conn, [(d, item["part_number"]) for item in items for d in item["donors"]])
    return items


def _value_moves(conn: psycopg.Connection[Any], moves: list[tuple[dict[str, Any], str]]) -> None:
    """Each donor's `fifo_value`: what its quantity would leave at, its open lots taken in
    receipt order."""
    lots: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for lot in rows(conn, """SELECT store_id, part_number, lot_id, on_hand, unit_cost, supplier
            FROM lots WHERE (store_id, part_number) IN (SELECT * FROM unnest(%s::text[],
            %s::text[])) AND on_hand > 0 ORDER BY received_at, lot_id""",
                    [[d["store_id"] for d, _ in moves], [pn for _, pn in moves]]):
        lots.setdefault((lot["store_id"], lot["part_number"]), []).append(lot)
    for donor, part_number in moves:
        held = lots.get((donor["store_id"], part_number), [])
        # the lots hold at least what is available; never more than they hold is valued
        qty = min(donor["qty"], sum((lot["on_hand"] for lot in held), ZERO))
        donor["fifo_value"] = picks_cost(fifo_picks(held, qty))


def coming_and_waiting(conn: psycopg.Connection[Any], to_store: str, numbers: Sequence[str]
                       ) -> tuple[dict[str, list[UUID]], dict[tuple[str, str], Decimal]]:
    """What the command re-checks beside the aggregates, as the views show it now: per part
    the transfers in transit to `to_store` (the command counts those its store's transfers
    coming do not hold from the transfers themselves: domain/transfers_coming.py), per
    (store, part) what the store's work orders wait for."""
    listed = rows(conn, """SELECT part_number, id FROM transfers WHERE status = 'in_transit'
        AND to_store = %s AND part_number = ANY(%s) ORDER BY part_number, id""",
                  [to_store, list(numbers)])
    waiting = rows(conn, f"""SELECT d.store_id, d.part_number, {WAITING} AS waiting FROM stock d
        WHERE d.part_number = ANY(%s) AND d.store_id <> %s""", [list(numbers), to_store])
    coming: dict[str, list[UUID]] = {}
    for row in listed:
        coming.setdefault(row["part_number"], []).append(row["id"])
    return (coming, {(row["store_id"], row["part_number"]): row["waiting"] for row in waiting})
