"""Parts read models: master, stock per store and part, lots, the movement journal, purchase
orders, transfers, alerts and approvals waiting for a manager.

A batch is folded in memory (stock rows and lots are loaded once per batch, then written back
with one upsert each) and the journal is appended with COPY, so catching up costs a handful of
statements per batch rather than per event.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import singledispatchmethod
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from domain.money import round_money
from domain.part import Part
from domain.purchase_order import PurchaseOrder
from domain.stock import StockItem
from domain.transfer import Transfer
from projections.base import Index, Reading, ReadModel, like_literal, page_of, read
from projections.base import page as _page
from projections.base import rows as _rows
from projections.base import store_scope as _stores_clause
from projections.batch_rows import insert_rows
from projections.work_orders import dumps

ZERO = Decimal(0)
MOVEMENT_COLUMNS = (
    "notification_id", "seq", "at", "store_id", "part_number", "type", "qty", "lot_id",
    "unit_cost", "value", "work_order_id", "line_id", "supplier", "reference", "user_id",
    "role", "reason",
)
STOCK_COLUMNS = (
    "id", "store_id", "part_number", "unit", "on_hand", "reserved", "on_order", "value", "min_stock",
    "reorder_qty", "alert", "on_order_refs", "last_movement_at", "version",
)
PART_COLUMNS = (
    "part_number", "id", "name", "unit", "category", "fitment", "list_price", "min_stock",
    "reorder_qty", "preferred_supplier", "barcode", "updated_at", "version",
)
LOT_COLUMNS = (
    "lot_id", "store_id", "part_number", "supplier", "supplier_doc", "received_at", "unit_cost",
    "received_qty", "on_hand", "cert_ref", "po_ref", "origin_lot",
)


def work_order_of(key: str) -> tuple[UUID | None, str | None]:
    """Stock keys of work-order lines are "<work order id>:<line id>"."""
    head, _, line_id = key.partition(":")
    try:
        return UUID(head), line_id or None
    except ValueError:
        return None, None


@dataclass
class Batch:
    """What one batch changes, folded in memory before it is written."""

    conn: psycopg.Connection[Any]
    suffix: str
    stock: dict[UUID, dict[str, Any]] = field(default_factory=dict)
    lots: dict[str, dict[str, Any]] = field(default_factory=dict)
    movements: list[tuple[Any, ...]] = field(default_factory=list)
    seqs: dict[int, int] = field(default_factory=dict)
    changed_stock: set[UUID] = field(default_factory=set)
    changed_lots: set[str] = field(default_factory=set)
    parts: dict[UUID, dict[str, Any]] = field(default_factory=dict)  # registered in this batch

    def t(self, table: str) -> str:
        return table + self.suffix

    def preload(self, item_ids: set[UUID]) -> None:
        """The stock rows of the batch's items, in one query."""
        if not item_ids:
            return
        # prepare=False: a generic plan of `= ANY($1)` compares every row with every id
        with self.conn.cursor(row_factory=dict_row) as cur:
            rows = cur.execute(f"SELECT * FROM {self.t('stock')} WHERE id = ANY(%s)",
                               (list(item_ids),), prepare=False).fetchall()
        self.stock.update({r["id"]: r for r in rows})

    def new_stock_row(self, event: StockItem.Opened) -> dict[str, Any]:
        self.stock[event.originator_id] = {
            "id": event.originator_id, "store_id": event.store_id,
            "part_number": event.part_number, "unit": event.unit, "on_hand": ZERO,
            "reserved": ZERO, "on_order": ZERO, "value": ZERO, "min_stock": event.min_stock,
            "reorder_qty": event.reorder_qty, "alert": False, "on_order_refs": {},
            "last_movement_at": None, "version": event.originator_version}
        self.changed_stock.add(event.originator_id)
        return self.stock[event.originator_id]

    def stock_row(self, event: StockItem.Event) -> dict[str, Any]:
        row = self.stock[event.originator_id]
        row["version"] = event.originator_version
        self.changed_stock.add(event.originator_id)
        return row

    def seq(self, notification_id: int) -> int:
        self.seqs[notification_id] = self.seqs.get(notification_id, -1) + 1
        return self.seqs[notification_id]

    def lot(self, lot_id: str) -> dict[str, Any]:
        if lot_id not in self.lots:
            with self.conn.cursor(row_factory=dict_row) as cur:
                row = cur.execute(f"SELECT * FROM {self.t('lots')} WHERE lot_id = %s",
                                  (lot_id,)).fetchone()
            assert row is not None, f"lot {lot_id} unknown to the read model"
            self.lots[lot_id] = row
        self.changed_lots.add(lot_id)
        return self.lots[lot_id]

    def flush(self) -> None:
        if self.changed_stock:
            rows = [tuple(Jsonb(v, dumps=dumps) if c == "on_order_refs" else v
                          for c, v in ((c, self.stock[k][c]) for c in STOCK_COLUMNS))
                    for k in self.changed_stock]
            updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in STOCK_COLUMNS[2:])
            with self.conn.cursor() as cur:
                cur.executemany(
                    f"""INSERT INTO {self.t('stock')} ({', '.join(STOCK_COLUMNS)})
                        VALUES ({', '.join(['%s'] * len(STOCK_COLUMNS))})
                        ON CONFLICT (id) DO UPDATE SET {updates}""", rows)
        if self.changed_lots:
            rows = [tuple(self.lots[k][c] for c in LOT_COLUMNS) for k in self.changed_lots]
            with self.conn.cursor() as cur:
                cur.executemany(
                    f"""INSERT INTO {self.t('lots')} ({', '.join(LOT_COLUMNS)})
                        VALUES ({', '.join(['%s'] * len(LOT_COLUMNS))})
                        ON CONFLICT (lot_id) DO UPDATE SET on_hand = EXCLUDED.on_hand""", rows)
        insert_rows(self.conn, self.t("stock_movements"), MOVEMENT_COLUMNS, self.movements)
        insert_rows(self.conn, self.t("parts"), PART_COLUMNS,
                    [tuple(part_value(c, row[c]) for c in PART_COLUMNS)
                     for row in self.parts.values()])


def receipt_cost(event: PurchaseOrder.LineReceived, ordered: Decimal) -> dict[str, str | None]:
    """What a receipt was booked in at, and against the ordered cost: per unit and in all
    (None: a receipt from before its cost was recorded)."""
    if event.unit_cost is None:
        return {"unit_cost": None, "unit_cost_variance": None, "cost_variance": None}
    per_unit = event.unit_cost - ordered
    return {"unit_cost": str(event.unit_cost), "unit_cost_variance": str(per_unit),
            "cost_variance": str(round_money(per_unit * event.qty))}


def money_sum(values: Iterable[str | None]) -> str:
    """The sum of the amounts known (a receipt without a recorded cost adds nothing)."""
    return str(sum((Decimal(v) for v in values if v is not None), Decimal("0.00")))


def part_value(column: str, value: Any) -> Any:
    """A value of the parts table as a statement takes it (fitment is jsonb)."""
    return Jsonb(value) if column == "fitment" else value


class StockView(ReadModel):
    name = "stock"
    handles = (StockItem.Event, Part.Event, PurchaseOrder.Event, Transfer.Event)
    tables = {  # noqa: RUF012
        "parts": """
            part_number text PRIMARY KEY, id uuid NOT NULL UNIQUE, name text NOT NULL, unit text NOT NULL,
            category text NOT NULL, fitment jsonb NOT NULL, list_price numeric NOT NULL,
            min_stock numeric NOT NULL, reorder_qty numeric NOT NULL, preferred_supplier text,
            barcode text, updated_at timestamptz NOT NULL, version integer NOT NULL""",
        "stock": """
            id uuid PRIMARY KEY, store_id text NOT NULL, part_number text NOT NULL, unit text NOT NULL,
            on_hand numeric NOT NULL, reserved numeric NOT NULL, on_order numeric NOT NULL,
            value numeric NOT NULL, min_stock numeric NOT NULL, reorder_qty numeric NOT NULL,
            alert boolean NOT NULL, on_order_refs jsonb NOT NULL,
            last_movement_at timestamptz, version integer NOT NULL,
            UNIQUE (store_id, part_number)""",
        "lots": """
            lot_id text PRIMARY KEY, store_id text NOT NULL, part_number text NOT NULL,
            supplier text NOT NULL, supplier_doc text, received_at timestamptz NOT NULL,
            unit_cost numeric NOT NULL, received_qty numeric NOT NULL, on_hand numeric NOT NULL,
            cert_ref text, po_ref text, origin_lot text""",
        "stock_movements": """
            notification_id bigint NOT NULL, seq integer NOT NULL, at timestamptz NOT NULL,
            store_id text NOT NULL, part_number text NOT NULL, type text NOT NULL,
            qty numeric NOT NULL, lot_id text, unit_cost numeric, value numeric,
            work_order_id uuid, line_id text, supplier text, reference text,
            user_id text NOT NULL, role text NOT NULL, reason text,
            PRIMARY KEY (notification_id, seq)""",
        "stock_reservations": """
            store_id text NOT NULL, part_number text NOT NULL, key text NOT NULL,
            qty numeric NOT NULL, work_order_id uuid, line_id text, at timestamptz NOT NULL,
            PRIMARY KEY (store_id, part_number, key)""",
        "purchase_orders": """
            id uuid PRIMARY KEY, number text NOT NULL, store_id text NOT NULL,
            supplier text NOT NULL, status text NOT NULL, created_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL, version integer NOT NULL, doc jsonb NOT NULL""",
        "transfers": """
            id uuid PRIMARY KEY, number text NOT NULL, from_store text NOT NULL,
            to_store text NOT NULL, part_number text NOT NULL, qty numeric NOT NULL,
            cost numeric NOT NULL, status text NOT NULL, reason text,
            sent_at timestamptz NOT NULL, sent_by text NOT NULL,
            received_at timestamptz, received_by text, version integer NOT NULL""",
        "stock_alerts": """
            store_id text NOT NULL, part_number text NOT NULL, open boolean NOT NULL,
            raised_at timestamptz NOT NULL, available numeric NOT NULL,
            min_stock numeric NOT NULL, cleared_at timestamptz,
            PRIMARY KEY (store_id, part_number)""",
        "stock_approvals": """
            kind text NOT NULL, store_id text NOT NULL, part_number text NOT NULL,
            ref text NOT NULL, status text NOT NULL, qty numeric, value numeric NOT NULL,
            detail jsonb NOT NULL, reason text, requested_by text NOT NULL,
            requested_at timestamptz NOT NULL, decided_by text, decided_at timestamptz,
            decision_reason text, PRIMARY KEY (kind, store_id, part_number, ref)""",
    }
    indexes = (
        Index("parts", "parts_name_idx", "(lower(name) text_pattern_ops)"),
        Index("parts", "parts_barcode_idx", "(barcode)"),
        # the part search (search_parts): number prefix, barcode, name substring
        Index("parts", "parts_number_prefix_idx", "(part_number text_pattern_ops)"),
        Index("parts", "parts_name_trgm_idx", "USING gin (lower(name) gin_trgm_ops)",
              extension="pg_trgm"),
        Index("stock", "stock_part_idx", "(part_number)"),
        Index("stock", "stock_alert_idx", "(store_id) WHERE alert"),
        Index("lots", "lots_part_idx", "(store_id, part_number, received_at)"),
        # the stock detail lists open lots only: an item's exhausted thousands are not read
        Index("lots", "lots_open_idx", "(store_id, part_number, received_at, lot_id) "
                                       "WHERE on_hand > 0"),
        Index("lots", "lots_supplier_idx", "(supplier)"),
        Index("stock_movements", "movements_part_idx", "(store_id, part_number, at)"),
        Index("stock_movements", "movements_at_idx", "(store_id, at)"),
        Index("stock_movements", "movements_lot_idx", "(lot_id)"),
        Index("stock_movements", "movements_wo_idx", "(work_order_id)"),
        Index("stock_movements", "movements_supplier_idx", "(supplier, at)"),
        Index("purchase_orders", "purchase_orders_store_idx", "(store_id, status, created_at)"),
        Index("transfers", "transfers_to_idx", "(to_store, status)"),
        Index("stock_approvals", "stock_approvals_open_idx", "(store_id, status)"),
    )

    def apply(self, conn: psycopg.Connection[Any], events: Sequence[tuple[int, Any]],
              suffix: str = "") -> None:
        mine = [(n, e) for n, e in events
                if isinstance(e, StockItem.Event | Part.Event | PurchaseOrder.Event
                              | Transfer.Event)]
        if not mine:
            return
        batch = Batch(conn, suffix)
        batch.preload({e.originator_id for _, e in mine if isinstance(e, StockItem.Event)
                       and not isinstance(e, StockItem.Opened)})
        for notification_id, event in mine:
            self.on(event, batch, notification_id)
        batch.flush()

    # -- one handler per event type ----------------------------------------------------------

    @singledispatchmethod
    def on(self, event: Any, batch: Batch, n: int) -> None:
        raise NotImplementedError(type(event).__qualname__)

    # the part master

    # New parts are written with the batch (one COPY for a catalogue's thousands, not one
    # INSERT each); a change to a part registered in the same batch changes its row there.

    @on.register
    def _part_registered(self, event: Part.Registered, batch: Batch, n: int) -> None:
        d = event.details
        batch.parts[event.originator_id] = dict(zip(PART_COLUMNS, (
            event.part_number, event.originator_id, d["name"], d["unit"], d["category"],
            d["fitment"], event.list_price, d["min_stock"], d["reorder_qty"],
            d["preferred_supplier"], d["barcode"], event.audit.at, event.originator_version),
            strict=True))

    @on.register
    def _part_changed(self, event: Part.DetailsChanged, batch: Batch, n: int) -> None:
        self._change_part(batch, event, event.changes)

    @on.register
    def _price_changed(self, event: Part.PriceChanged, batch: Batch, n: int) -> None:
        self._change_part(batch, event, {"list_price": event.new_price})

    @staticmethod
    def _change_part(batch: Batch, event: Part.Event, changes: dict[str, Any]) -> None:
        versioned = {**changes, "updated_at": event.audit.at,
                     "version": event.originator_version}
        new = batch.parts.get(event.originator_id)
        if new is not None:
            new.update(versioned)
            return
        values = {k: part_value(k, v) for k, v in versioned.items()}
        sets = ", ".join(f"{k} = %({k})s" for k in values)
        batch.conn.execute(f"UPDATE {batch.t('parts')} SET {sets} WHERE id = %(id)s",
                           {**values, "id": event.originator_id})

    # stock items

    @staticmethod
    def _row(batch: Batch, event: StockItem.Event) -> dict[str, Any]:
        return batch.stock_row(event)

    def _move(self, batch: Batch, event: StockItem.Event, n: int, row: dict[str, Any],
              kind: str, qty: Decimal, *, lot_id: str | None = None,
              unit_cost: Decimal | None = None, key: str | None = None,
              supplier: str | None = None, reference: str | None = None,
              reason: str | None = None) -> None:
        work_order_id, line_id = work_order_of(key) if key else (None, None)
        value = qty * unit_cost if unit_cost is not None else None
        batch.movements.append((
            n, batch.seq(n), event.audit.at, row["store_id"],
            row["part_number"], kind, qty, lot_id, unit_cost, value, work_order_id, line_id,
            supplier, reference, event.audit.user_id, event.audit.role, reason))
        row["last_movement_at"] = event.audit.at

    def _picks(self, batch: Batch, event: StockItem.Event, n: int, row: dict[str, Any],
               kind: str, picks: list[dict[str, Any]], sign: int, **more: Any) -> None:
        for pick in picks:
            qty = pick["qty"] * sign
            lot = batch.lot(pick["lot_id"])
            lot["on_hand"] += qty
            row["on_hand"] += qty
            row["value"] += qty * pick["unit_cost"]
            self._move(batch, event, n, row, kind, qty, lot_id=pick["lot_id"],
                       unit_cost=pick["unit_cost"], supplier=lot["supplier"], **more)

    @on.register
    def _opened(self, event: StockItem.Opened, batch: Batch, n: int) -> None:
        batch.new_stock_row(event)

    @on.register
    def _levels(self, event: StockItem.LevelsSet, batch: Batch, n: int) -> None:
        self._row(batch, event).update(min_stock=event.min_stock, reorder_qty=event.reorder_qty)

    @on.register
    def _ordered(self, event: StockItem.Ordered, batch: Batch, n: int) -> None:
        row = self._row(batch, event)
        row["on_order_refs"] = {**row["on_order_refs"], event.order_ref: str(event.qty)}
        row["on_order"] += event.qty

    @on.register
    def _order_closed(self, event: StockItem.OrderClosed, batch: Batch, n: int) -> None:
        row = self._row(batch, event)
        refs = dict(row["on_order_refs"])
        row["on_order"] -= Decimal(refs.pop(event.order_ref, "0"))
        row["on_order_refs"] = refs

    @on.register
    def _received(self, event: StockItem.Received, batch: Batch, n: int) -> None:
        row = self._row(batch, event)
        batch.lots[event.lot_id] = {
            "lot_id": event.lot_id, "store_id": row["store_id"],
            "part_number": row["part_number"], "supplier": event.supplier,
            "supplier_doc": event.supplier_doc, "received_at": event.audit.at,
            "unit_cost": event.unit_cost, "received_qty": event.qty, "on_hand": event.qty,
            "cert_ref": event.cert_ref, "po_ref": event.po_ref, "origin_lot": None}
        batch.changed_lots.add(event.lot_id)
        row["on_hand"] += event.qty
        row["value"] += event.qty * event.unit_cost
        refs = dict(row["on_order_refs"])
        if event.po_ref in refs:
            left = Decimal(refs[event.po_ref]) - event.qty
            row["on_order"] -= min(Decimal(refs[event.po_ref]), event.qty)
            if left > 0:
                refs[event.po_ref] = str(left)
            else:
                del refs[event.po_ref]
            row["on_order_refs"] = refs
        self._move(batch, event, n, row, "receipt", event.qty, lot_id=event.lot_id,
                   unit_cost=event.unit_cost, supplier=event.supplier,
                   reference=event.po_ref or event.supplier_doc)

    @on.register
    def _reserved(self, event: StockItem.Reserved, batch: Batch, n: int) -> None:
        row = self._row(batch, event)
        row["reserved"] += event.qty
        work_order_id, line_id = work_order_of(event.key)
        batch.conn.execute(
            f"""INSERT INTO {batch.t('stock_reservations')} VALUES (%s, %s, %s, %s, %s, %s, %s)
                ON CONFLICT (store_id, part_number, key) DO UPDATE SET qty = EXCLUDED.qty""",
            (row["store_id"], row["part_number"], event.key, event.qty, work_order_id, line_id,
             event.audit.at))

    def _unreserve(self, batch: Batch, row: dict[str, Any], key: str, qty: Decimal) -> None:
        if qty <= 0:
            return
        row["reserved"] -= qty
        batch.conn.execute(
            f"""UPDATE {batch.t('stock_reservations')} SET qty = qty - %s
                WHERE store_id = %s AND part_number = %s AND key = %s""",
            (qty, row["store_id"], row["part_number"], key))
        batch.conn.execute(
            f"""DELETE FROM {batch.t('stock_reservations')}
                WHERE store_id = %s AND part_number = %s AND key = %s AND qty <= 0""",
            (row["store_id"], row["part_number"], key))

    @on.register
    def _released(self, event: StockItem.Released, batch: Batch, n: int) -> None:
        self._unreserve(batch, self._row(batch, event), event.key, event.qty)

    @on.register
    def _issued(self, event: StockItem.Issued, batch: Batch, n: int) -> None:
        row = self._row(batch, event)
        self._unreserve(batch, row, event.key, event.from_reserved)
        self._picks(batch, event, n, row, "issue", event.picks, -1, key=event.key)

    @on.register
    def _returned(self, event: StockItem.ReturnedFromJob, batch: Batch, n: int) -> None:
        self._picks(batch, event, n, self._row(batch, event), "return_from_job", event.picks, 1,
                    key=event.key, reason=event.reason)

    def _approval(self, batch: Batch, event: StockItem.Event, kind: str, ref: str,
                  qty: Decimal | None, value: Decimal, detail: dict[str, Any],
                  reason: str) -> None:
        row = self._row(batch, event)
        batch.conn.execute(
            f"""INSERT INTO {batch.t('stock_approvals')} (kind, store_id, part_number, ref,
                status, qty, value, detail, reason, requested_by, requested_at)
                VALUES (%s, %s, %s, %s, 'awaiting_approval', %s, %s, %s, %s, %s, %s)
                ON CONFLICT (kind, store_id, part_number, ref) DO UPDATE SET
                status = 'awaiting_approval', qty = EXCLUDED.qty, value = EXCLUDED.value,
                detail = EXCLUDED.detail, reason = EXCLUDED.reason,
                requested_by = EXCLUDED.requested_by, requested_at = EXCLUDED.requested_at,
                decided_by = NULL, decided_at = NULL, decision_reason = NULL""",
            (kind, row["store_id"], row["part_number"], ref, qty, value,
             Jsonb(detail, dumps=dumps), reason, event.audit.user_id, event.audit.at))

    def _decided(self, batch: Batch, event: StockItem.Event, kind: str, ref: str, status: str,
                 reason: str | None) -> None:
        row = self._row(batch, event)
        batch.conn.execute(
            f"""UPDATE {batch.t('stock_approvals')} SET status = %s, decided_by = %s,
                decided_at = %s, decision_reason = %s
                WHERE kind = %s AND store_id = %s AND part_number = %s AND ref = %s""",
            (status, event.audit.user_id, event.audit.at, reason, kind, row["store_id"],
             row["part_number"], ref))

    @on.register
    def _scrap_requested(self, event: StockItem.ScrapRequested, batch: Batch, n: int) -> None:
        row = self._row(batch, event)
        row["reserved"] += event.qty
        self._approval(batch, event, "scrap", event.request_id, event.qty, event.value,
                       {"lot_id": event.lot_id}, event.reason)

    @on.register
    def _scrap_rejected(self, event: StockItem.ScrapRejected, batch: Batch, n: int) -> None:
        self._row(batch, event)["reserved"] -= event.qty
        self._decided(batch, event, "scrap", event.request_id, "rejected", event.reason)

    @on.register
    def _scrapped(self, event: StockItem.Scrapped, batch: Batch, n: int) -> None:
        row = self._row(batch, event)
        row["reserved"] -= event.from_reserved
        self._picks(batch, event, n, row, "scrap", event.picks, -1, reference=event.request_id,
                    reason=event.reason)
        if event.approved_by is not None:
            self._decided(batch, event, "scrap", event.request_id, "approved", None)

    @on.register
    def _counted(self, event: StockItem.Counted, batch: Batch, n: int) -> None:
        if event.needs_approval:
            self._approval(batch, event, "stocktake", event.count_id, None, event.value,
                           {"lines": event.lines}, event.reason)

    @on.register
    def _count_rejected(self, event: StockItem.CountRejected, batch: Batch, n: int) -> None:
        self._decided(batch, event, "stocktake", event.count_id, "rejected", event.reason)

    @on.register
    def _variance(self, event: StockItem.VariancePosted, batch: Batch, n: int) -> None:
        self._picks(batch, event, n, self._row(batch, event), "stocktake_variance",
                    event.adjustments, 1, reference=event.count_id, reason=event.reason)
        if event.approved_by is not None:
            self._decided(batch, event, "stocktake", event.count_id, "approved", None)

    @on.register
    def _transferred_out(self, event: StockItem.TransferredOut, batch: Batch, n: int) -> None:
        self._picks(batch, event, n, self._row(batch, event), "transfer_out", event.picks, -1,
                    reference=event.transfer_id, reason=event.reason)

    @on.register
    def _transferred_in(self, event: StockItem.TransferredIn, batch: Batch, n: int) -> None:
        row = self._row(batch, event)
        for lot in event.lots:
            batch.lots[lot["lot_id"]] = {
                "lot_id": lot["lot_id"], "store_id": row["store_id"],
                "part_number": row["part_number"], "supplier": lot["supplier"],
                "supplier_doc": lot["supplier_doc"], "received_at": lot["received_at"],
                "unit_cost": lot["unit_cost"], "received_qty": lot["qty"], "on_hand": ZERO,
                "cert_ref": lot["cert_ref"], "po_ref": None, "origin_lot": lot["origin_lot"]}
        self._picks(batch, event, n, row, "transfer_in", event.lots, 1,
                    reference=event.transfer_id)

    @on.register
    def _to_supplier(self, event: StockItem.ReturnedToSupplier, batch: Batch, n: int) -> None:
        pick = {"lot_id": event.lot_id, "qty": event.qty, "unit_cost": event.unit_cost}
        self._picks(batch, event, n, self._row(batch, event), "return_to_supplier", [pick], -1,
                    reference=event.reference, reason=event.reason)

    @on.register
    def _alert_raised(self, event: StockItem.LowStockAlertRaised, batch: Batch, n: int) -> None:
        row = self._row(batch, event)
        row["alert"] = True
        batch.conn.execute(
            f"""INSERT INTO {batch.t('stock_alerts')} VALUES (%s, %s, true, %s, %s, %s, NULL)
                ON CONFLICT (store_id, part_number) DO UPDATE SET open = true,
                raised_at = EXCLUDED.raised_at, available = EXCLUDED.available,
                min_stock = EXCLUDED.min_stock, cleared_at = NULL""",
            (row["store_id"], row["part_number"], event.audit.at, event.available,
             event.min_stock))

    @on.register
    def _alert_cleared(self, event: StockItem.LowStockAlertCleared, batch: Batch, n: int) -> None:
        row = self._row(batch, event)
        row["alert"] = False
        batch.conn.execute(
            f"""UPDATE {batch.t('stock_alerts')} SET open = false, cleared_at = %s,
                available = %s WHERE store_id = %s AND part_number = %s""",
            (event.audit.at, event.available, row["store_id"], row["part_number"]))

    # purchase orders

    def _order_doc(self, batch: Batch, order_id: UUID) -> dict[str, Any]:
        row = batch.conn.execute(f"SELECT doc FROM {batch.t('purchase_orders')} WHERE id = %s",
                                 (order_id,)).fetchone()
        assert row is not None, f"purchase order {order_id} unknown to the read model"
        return row[0]  # type: ignore[no-any-return]

    def _save_order(self, batch: Batch, event: PurchaseOrder.Event, doc: dict[str, Any]) -> None:
        doc["version"] = event.originator_version
        doc["updated_at"] = event.audit.at.isoformat()
        batch.conn.execute(
            f"""INSERT INTO {batch.t('purchase_orders')} VALUES (%s, %s, %s, %s, %s, %s, %s, %s,
                %s) ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status,
                updated_at = EXCLUDED.updated_at, version = EXCLUDED.version,
                doc = EXCLUDED.doc""",
            (event.originator_id, doc["number"], doc["store_id"], doc["supplier"],
             doc["status"], doc["created"]["at"], event.audit.at, event.originator_version,
             Jsonb(doc, dumps=dumps)))

    @staticmethod
    def _stamp(event: Any) -> dict[str, Any]:
        return {"by": event.audit.user_id, "role": event.audit.role,
                "at": event.audit.at.isoformat()}

    @on.register
    def _po_drafted(self, event: PurchaseOrder.Drafted, batch: Batch, n: int) -> None:
        doc = {"id": str(event.originator_id), "number": event.number,
               "store_id": event.audit.store_id, "supplier": event.supplier,
               "source": event.source, "status": "draft",
               "lines": [json.loads(dumps(line)) for line in event.lines],
               "created": self._stamp(event), "sent": None, "closed": None, "cancelled": None}
        self._save_order(batch, event, doc)

    @on.register
    def _po_line_added(self, event: PurchaseOrder.LineAdded, batch: Batch, n: int) -> None:
        doc = self._order_doc(batch, event.originator_id)
        doc["lines"].append(json.loads(dumps(event.line)))
        self._save_order(batch, event, doc)

    @on.register
    def _po_sent(self, event: PurchaseOrder.Sent, batch: Batch, n: int) -> None:
        doc = self._order_doc(batch, event.originator_id)
        doc.update(status="sent", sent=self._stamp(event))
        self._save_order(batch, event, doc)

    @on.register
    def _po_received(self, event: PurchaseOrder.LineReceived, batch: Batch, n: int) -> None:
        doc = self._order_doc(batch, event.originator_id)
        line = next(ln for ln in doc["lines"] if ln["line_no"] == event.line_no)
        line["received_qty"] = str(Decimal(line["received_qty"]) + event.qty)
        line["receipts"].append({"lot_id": event.lot_id, "qty": str(event.qty),
                                 "supplier_doc": event.supplier_doc,
                                 **receipt_cost(event, Decimal(line["unit_cost"])),
                                 **self._stamp(event)})
        line["cost_variance"] = money_sum(r.get("cost_variance") for r in line["receipts"])
        doc["cost_variance"] = money_sum(ln.get("cost_variance") for ln in doc["lines"])
        done = all(Decimal(ln["received_qty"]) >= Decimal(ln["qty"]) for ln in doc["lines"])
        doc["status"] = "received" if done else "partly_received"
        self._save_order(batch, event, doc)

    @on.register
    def _po_closed(self, event: PurchaseOrder.Closed, batch: Batch, n: int) -> None:
        doc = self._order_doc(batch, event.originator_id)
        doc.update(status="closed", closed={"reason": event.reason,
                                            "short": json.loads(dumps({"s": event.short}))["s"],
                                            **self._stamp(event)})
        self._save_order(batch, event, doc)

    @on.register
    def _po_cancelled(self, event: PurchaseOrder.Cancelled, batch: Batch, n: int) -> None:
        doc = self._order_doc(batch, event.originator_id)
        doc.update(status="cancelled", cancelled={"reason": event.reason, **self._stamp(event)})
        self._save_order(batch, event, doc)

    # transfers

    @on.register
    def _transfer_sent(self, event: Transfer.Dispatched, batch: Batch, n: int) -> None:
        batch.conn.execute(
            f"""INSERT INTO {batch.t('transfers')} (id, number, from_store, to_store,
                part_number, qty, cost, status, reason, sent_at, sent_by, version)
                VALUES (%s, %s, %s, %s, %s, %s, %s, 'in_transit', %s, %s, %s, %s)""",
            (event.originator_id, event.number, event.from_store, event.to_store,
             event.part_number, event.qty, event.cost, event.reason, event.audit.at,
             event.audit.user_id, event.originator_version))

    @on.register
    def _transfer_received(self, event: Transfer.Received, batch: Batch, n: int) -> None:
        batch.conn.execute(
            f"""UPDATE {batch.t('transfers')} SET status = 'received', received_at = %s,
                received_by = %s, version = %s WHERE id = %s""",
            (event.audit.at, event.audit.user_id, event.originator_version,
             event.originator_id))


# -- queries --------------------------------------------------------------------------------





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


def list_stock(conn: psycopg.Connection[Any], stores: Sequence[str], *,
               store_id: str | None = None, part_number: str | None = None,
               low_only: bool = False, limit: int = 50, offset: int = 0) -> dict[str, Any]:
    where, params = _stores_clause(stores, "s.store_id")
    clauses = [where]
    if store_id:
        clauses.append("s.store_id = %s")
        params.append(store_id)
    if part_number:
        clauses.append("s.part_number = %s")
        params.append(part_number)
    if low_only:
        clauses.append("s.alert")
    clause = " AND ".join(clauses)
    total = _rows(conn, f"SELECT count(*) AS n FROM stock s WHERE {clause}", params)[0]["n"]
    items = _rows(conn, f"{STOCK_SELECT} WHERE {clause} ORDER BY s.store_id, s.part_number "
                        "LIMIT %s OFFSET %s", [*params, limit, offset])
    return {"total": total, "limit": limit, "offset": offset, "items": items}


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
    lots = _listed(item, "lot_", LOT_FIELDS)
    reservations = _listed(item, "res_", RESERVATION_FIELDS)
    return {**item, "lots": lots, "reservations": reservations}


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


def get_lot(conn: psycopg.Connection[Any], stores: Sequence[str],
            lot_id: str) -> dict[str, Any] | None:
    where, params = _stores_clause(stores)
    found = _rows(conn, f"SELECT * FROM lots WHERE lot_id = %s AND {where}", [lot_id, *params])
    if not found:
        return None
    lot = found[0]
    lot["movements"] = _rows(conn, f"""SELECT at, type, qty, unit_cost, value, work_order_id,
        line_id, {NAMED_REFERENCE}, user_id, role, reason FROM stock_movements m
        WHERE lot_id = %s ORDER BY notification_id, seq""", [lot_id])
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
}


def list_movements(conn: psycopg.Connection[Any], stores: Sequence[str], *, limit: int = 100,
                   offset: int = 0, **filters: Any) -> dict[str, Any]:
    where, params = _stores_clause(stores)
    clauses = [where]
    for name, value in filters.items():
        if value is not None:
            clauses.append(MOVEMENT_FILTERS[name])
            params.append(value)
    clause = " AND ".join(clauses)
    total = _rows(conn, f"SELECT count(*) AS n FROM stock_movements WHERE {clause}",
                  params)[0]["n"]
    items = _rows(conn, f"""SELECT notification_id, seq, at, store_id, part_number, type, qty,
        lot_id, unit_cost, round(value, 2) AS value, work_order_id, line_id, supplier,
        {NAMED_REFERENCE}, user_id, role, reason
        FROM (SELECT * FROM stock_movements WHERE {clause}
              ORDER BY notification_id DESC, seq LIMIT %s OFFSET %s) m
        ORDER BY notification_id DESC, seq""", [*params, limit, offset])
    return {"total": total, "limit": limit, "offset": offset, "items": items}


def valuation(conn: psycopg.Connection[Any], stores: Sequence[str], *, limit: int = 200,
              offset: int = 0) -> dict[str, Any]:
    """One row per store, paged in memory: a count query would scan every stock row again.

    Stock in transit is the sending store's until the receiver books it in (its on-hand
    stock no longer holds it, the receiver's does not yet): `in_transit_value` at the cost it
    left with, and `total_value` = on hand + in transit, so the group's total stays the same
    across a transfer."""
    where, params = _stores_clause(stores, "s.store_id")
    return page_of(_rows(conn, f"""SELECT s.store_id,
        count(*) FILTER (WHERE s.on_hand > 0) AS parts_in_stock, sum(s.on_hand) AS units,
        round(sum(s.value), 2) AS fifo_value, count(*) FILTER (WHERE s.alert) AS low_stock_parts,
        COALESCE(t.units, 0) AS in_transit_units, round(COALESCE(t.value, 0), 2)
            AS in_transit_value, round(sum(s.value) + COALESCE(t.value, 0), 2) AS total_value
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
    number = "".join(q.split()).upper()
    return "(part_number LIKE %s OR barcode = %s OR lower(name) LIKE %s)", [
        like_literal(number) + "%", q.strip(), "%" + like_literal(q.strip().lower()) + "%"]


def get_part(conn: psycopg.Connection[Any], part_number: str) -> dict[str, Any] | None:
    found = _rows(conn, "SELECT * FROM parts WHERE part_number = %s", [part_number])
    return found[0] if found else None


def reorder_suggestions(conn: psycopg.Connection[Any], stores: Sequence[str], *,
                        store_id: str | None = None,
                        supplier: str | None = None, limit: int | None = 200,
                        offset: int = 0) -> dict[str, Any]:
    """Parts below minimum once what is on order is counted: how much, from whom."""
    where, params = _stores_clause(stores, "s.store_id")
    clauses = [where, "s.on_hand - s.reserved < s.min_stock",
               "s.on_hand - s.reserved + s.on_order < s.min_stock"]
    if store_id:
        clauses.append("s.store_id = %s")
        params.append(store_id)
    if supplier:
        clauses.append("p.preferred_supplier = %s")
        params.append(supplier)
    return _page(conn, f"""SELECT s.store_id, s.part_number, p.name, p.preferred_supplier,
        s.on_hand - s.reserved AS available, s.on_order, s.min_stock, s.reorder_qty,
        greatest(s.reorder_qty, s.min_stock - (s.on_hand - s.reserved) - s.on_order)
            AS suggested_qty
        FROM stock s JOIN parts p USING (part_number) WHERE {' AND '.join(clauses)}""", params,
                 order_by="store_id, preferred_supplier NULLS LAST, part_number", limit=limit,
                 offset=offset)


def list_alerts(conn: psycopg.Connection[Any], stores: Sequence[str], *,
                include_cleared: bool = False, limit: int = 200,
                offset: int = 0) -> dict[str, Any]:
    where, params = _stores_clause(stores, "a.store_id")
    state = "TRUE" if include_cleared else "a.open"
    return _page(conn, f"""SELECT a.store_id, a.part_number, p.name, a.open, a.raised_at,
        a.available AS available_when_raised, a.min_stock, a.cleared_at,
        s.on_hand - s.reserved AS available_now, s.on_order
        FROM stock_alerts a JOIN stock s USING (store_id, part_number)
        LEFT JOIN parts p ON p.part_number = a.part_number
        WHERE {where} AND {state}""", params, order_by="raised_at DESC, store_id, part_number",
                 limit=limit, offset=offset)


def list_approvals(conn: psycopg.Connection[Any], stores: Sequence[str], *,
                   status: str | None = "awaiting_approval", limit: int = 200,
                   offset: int = 0) -> dict[str, Any]:
    where, params = _stores_clause(stores)
    if status:
        where += " AND status = %s"
        params.append(status)
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


def list_orders(conn: psycopg.Connection[Any], stores: Sequence[str], *,
                status: str | None = None, supplier: str | None = None,
                limit: int = 50, offset: int = 0) -> dict[str, Any]:
    where, params = _stores_clause(stores)
    clauses = [where]
    if status:
        clauses.append("status = %s")
        params.append(status)
    if supplier:
        clauses.append("supplier = %s")
        params.append(supplier)
    clause = " AND ".join(clauses)
    total = _rows(conn, f"SELECT count(*) AS n FROM purchase_orders WHERE {clause}",
                  params)[0]["n"]
    items = _rows(conn, f"""SELECT id, number, store_id, supplier, status, created_at,
        updated_at, version FROM purchase_orders WHERE {clause}
        ORDER BY created_at DESC LIMIT %s OFFSET %s""", [*params, limit, offset])
    return {"total": total, "limit": limit, "offset": offset, "items": items}


def get_order(conn: psycopg.Connection[Any], stores: Sequence[str],
              order_id: UUID) -> dict[str, Any] | None:
    where, params = _stores_clause(stores)
    found = _rows(conn, f"SELECT doc FROM purchase_orders WHERE id = %s AND {where}",
                  [order_id, *params])
    return found[0]["doc"] if found else None


def list_transfers(conn: psycopg.Connection[Any], stores: Sequence[str], *,
                   status: str | None = None, limit: int = 200,
                   offset: int = 0) -> dict[str, Any]:
    params: list[Any] = []
    if "*" in stores:
        where = "TRUE"
    else:
        where, params = "(from_store = ANY(%s) OR to_store = ANY(%s))", [list(stores)] * 2
    if status:
        where += " AND status = %s"
        params.append(status)
    return _page(conn, f"SELECT * FROM transfers WHERE {where}", params,
                 order_by="sent_at DESC, id", limit=limit, offset=offset)
