"""The stock valuation as it stood at a moment (`GET /stock/valuation?as_of=`).

Every change of an item's on-hand units and value is a journal row carrying the same quantity
and the same value (`qty * unit_cost`, unrounded: projections/stock.py), so an item's figures
at a moment are its figures now less the rows stamped after it. One statement reads the items
and the journal in one snapshot; it costs the store's items and the rows since the moment (a
month-end close reads a month of movements, not years of them), not the whole journal.

Stock in transit then is what the store had sent by the moment and was not booked in by it,
at the cost it left with. A store is listed once it had a movement by the moment.

Whether an item's low-stock alert was raised then is told by its latest alert (the stock view
keeps when it was raised and cleared) when that was raised by the moment; an item whose latest
alert was raised after it (it may have had others before) is replayed to the moment
(`stock_as_of`): a few items, those whose alert was raised since.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg

from domain.application import ServiceCore
from domain.stock import StockItem
from projections.base import page_of, rows
from projections.base import store_scope as _stores_clause
from projections.quantities import shown_quantities
from projections.stock_as_of import stock_as_of

VALUATION_AS_OF = """
WITH later AS (
    SELECT store_id, part_number, sum(qty) AS qty, sum(value) AS value
    FROM stock_movements WHERE at > %(at)s AND {journal} GROUP BY store_id, part_number),
items AS (
    SELECT s.store_id, s.id, s.on_hand - COALESCE(l.qty, 0) AS on_hand,
           s.value - COALESCE(l.value, 0) AS value,
           CASE WHEN a.raised_at IS NULL THEN false WHEN a.raised_at > %(at)s THEN NULL
                ELSE a.cleared_at IS NULL OR a.cleared_at > %(at)s END AS alert
    FROM stock s LEFT JOIN later l USING (store_id, part_number)
    LEFT JOIN stock_alerts a USING (store_id, part_number) WHERE {scope}),
sent AS (
    SELECT from_store, sum(qty) AS units, sum(cost) AS value FROM transfers
    WHERE sent_at <= %(at)s AND (received_at IS NULL OR received_at > %(at)s)
    GROUP BY from_store)
SELECT i.store_id,
    count(*) FILTER (WHERE i.on_hand > 0) AS parts_in_stock, sum(i.on_hand) AS units,
    sum(round(i.value, 2)) AS fifo_value,
    count(*) FILTER (WHERE i.alert) AS low_stock_parts,
    COALESCE(t.units, 0) AS in_transit_units, round(COALESCE(t.value, 0), 2)
        AS in_transit_value, sum(round(i.value, 2)) + round(COALESCE(t.value, 0), 2)
        AS total_value,
    array_agg(i.id) FILTER (WHERE i.alert IS NULL) AS alerts_since
FROM items i LEFT JOIN sent t ON t.from_store = i.store_id
GROUP BY i.store_id, t.units, t.value
HAVING EXISTS (SELECT FROM stock_movements m WHERE m.store_id = i.store_id
               AND m.at <= %(at)s)
ORDER BY i.store_id"""


def valuation_as_of(conn: psycopg.Connection[Any], app: ServiceCore, stores: Sequence[str],
                    at: datetime, *, store_id: str | None = None, limit: int = 200,
                    offset: int = 0) -> dict[str, Any]:
    """The valuation's page (`projections.stock_queries.valuation`) as it stood at `at`."""
    scope, scope_params = _stores_clause(stores, "store_id")
    params: dict[str, Any] = {"at": at}
    if scope_params:
        scope, params["stores"] = "store_id = ANY(%(stores)s)", scope_params[0]
    if store_id:
        scope += " AND store_id = %(store_id)s"
        params["store_id"] = store_id
    # the journal's rows since the moment found per store (movements_at_idx), also for a
    # token of every store: by time alone the whole journal would be read
    journal = scope if scope != "TRUE" else \
        "store_id = ANY(ARRAY(SELECT DISTINCT store_id FROM stock))"
    found = rows(conn, VALUATION_AS_OF.format(scope=scope, journal=journal), params)
    for row in found:
        row["low_stock_parts"] += sum(_alerted(app, item_id, at)
                                      for item_id in row.pop("alerts_since") or ())
    return {**page_of([shown_quantities(row) for row in found], limit=limit, offset=offset),
            "as_of": at.isoformat()}


def _alerted(app: ServiceCore, item_id: UUID, at: datetime) -> bool:
    """Whether the stock item's low-stock alert was raised at `at`, from its events."""
    item, _ = stock_as_of(app, item_id, at)
    return isinstance(item, StockItem) and bool(item.alert_raised)
