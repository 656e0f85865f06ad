"""The stock view's batch: rows folded in memory and written once, and what its handlers share."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from domain.money import round_money
from domain.part import Part
from domain.purchase_order import PurchaseOrder
from domain.stock import StockItem
from projections.batch_rows import insert_rows
from projections.purchase_order_queries import open_value
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


def over_delivery(event: PurchaseOrder.LineReceived) -> dict[str, str]:
    """The reason a receipt above what was outstanding was accepted (nothing on the others)."""
    return {"over_delivery_reason": event.over_delivery_reason} \
        if event.over_delivery_reason else {}


def money_sum(values: Iterable[str | None]) -> str:
    """The sum of the amounts known (a receipt without a recorded cost adds nothing)."""
    return str(sum((Decimal(v) for v in values if v is not None), Decimal("0.00")))


def part_value(column: str, value: Any) -> Any:
    """A value of the parts table as a statement takes it (fitment is jsonb)."""
    return Jsonb(value) if column == "fitment" else value


class StockChanges:
    """The changes the stock view's handlers share: part master updates, journal rows,
    lot picks, reservations, approvals and purchase-order documents."""

    # the part master

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

    def _drop_hold(self, batch: Batch, row: dict[str, Any], key: str) -> None:
        """The reservation `key` released whole, whatever it holds (none: nothing)."""
        found = batch.conn.execute(
            f"""SELECT qty FROM {batch.t('stock_reservations')}
                WHERE store_id = %s AND part_number = %s AND key = %s""",
            (row["store_id"], row["part_number"], key)).fetchone()
        if found is not None:
            self._unreserve(batch, row, key, found[0])

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

    # purchase orders

    def _order_doc(self, batch: Batch, order_id: UUID) -> dict[str, Any]:
        row = batch.conn.execute(f"SELECT doc FROM {batch.t('purchase_orders')} WHERE id = %s",
                                 (order_id,)).fetchone()
        assert row is not None, f"purchase order {order_id} unknown to the read model"
        return row[0]  # type: ignore[no-any-return]

    def _save_order(self, batch: Batch, event: PurchaseOrder.Event, doc: dict[str, Any]) -> None:
        batch.conn.execute(
            f"""INSERT INTO {batch.t('purchase_orders')} VALUES (%s, %s, %s, %s, %s, %s, %s, %s,
                %s, %s, %s) ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status,
                updated_at = EXCLUDED.updated_at, version = EXCLUDED.version,
                doc = EXCLUDED.doc, expected_on = EXCLUDED.expected_on,
                open_value = EXCLUDED.open_value""",
            (event.originator_id, doc["number"], doc["store_id"], doc["supplier"],
             doc["status"], doc["created"]["at"], event.audit.at, event.originator_version,
             Jsonb(doc, dumps=dumps), doc["expected_on"], open_value(doc)))
