"""Parts read models: master, stock per store and part, lots, the movement journal, purchase
orders, transfers, alerts and approvals waiting for a manager.

A batch is folded in memory (stock rows and lots are loaded once per batch, then written back
with one upsert each) and the journal is appended with COPY, so catching up costs a handful of
statements per batch rather than per event.

The batch and what the handlers share: `projections.stock_batch`; the queries:
`projections.stock_queries`.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from functools import singledispatchmethod
from typing import Any

import psycopg

from domain.ascii_width import ascii_width
from domain.part import Part
from domain.purchase_order import PurchaseOrder
from domain.stock import StockItem
from domain.stock_state import count_hold, count_loss, scrap_hold
from domain.transfer import Transfer
from projections.base import Index, ReadModel
from projections.purchase_order_doc import order_doc
from projections.stock_batch import (
    PART_COLUMNS,
    ZERO,
    Batch,
    StockChanges,
    work_order_of,
)


def ascii_barcode(barcode: str | None) -> str | None:
    """A barcode in its ASCII form: one given in full width before barcodes were read as ASCII
    (domain/ascii_width.py) is found by the code scanned or typed either way."""
    return ascii_width(barcode) if barcode else barcode


class StockView(StockChanges, ReadModel):
    name = "stock"
    # 2: a purchase order's receipts carry their unit cost and cost variance; 3: barcodes in
    # their ASCII form (`ascii_barcode`); 4: a purchase order's lines say whether each is an
    # emergency purchase (`emergency`); 5: a purchase order's expected delivery day and open
    # value (`expected_on`, `open_value`); 6: a scrap request waiting for a manager is listed
    # among the item's reservations (`scrap:<request id>`), as the units it holds; 7: a cleared
    # alert keeps what was available when it was raised (`cleared_available` beside it), and a
    # count waiting for a manager holds what it found missing (`count:<count id>`)
    revision = 7
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
            updated_at timestamptz NOT NULL, version integer NOT NULL, doc jsonb NOT NULL,
            expected_on date, open_value numeric NOT NULL""",
        "transfers": """
            id uuid PRIMARY KEY, number text NOT NULL, from_store text NOT NULL,
            to_store text NOT NULL, part_number text NOT NULL, qty numeric NOT NULL,
            cost numeric NOT NULL, status text NOT NULL, reason text,
            sent_at timestamptz NOT NULL, sent_by text NOT NULL,
            received_at timestamptz, received_by text, version integer NOT NULL,
            short_qty numeric""",
        "stock_alerts": """
            store_id text NOT NULL, part_number text NOT NULL, open boolean NOT NULL,
            raised_at timestamptz NOT NULL, available numeric NOT NULL,
            min_stock numeric NOT NULL, cleared_at timestamptz, cleared_available numeric,
            PRIMARY KEY (store_id, part_number)""",
        "stock_approvals": """
            kind text NOT NULL, store_id text NOT NULL, part_number text NOT NULL,
            ref text NOT NULL, status text NOT NULL, qty numeric, value numeric NOT NULL,
            detail jsonb NOT NULL, reason text, requested_by text NOT NULL,
            requested_at timestamptz NOT NULL, decided_by text, decided_at timestamptz,
            decision_reason text, PRIMARY KEY (kind, store_id, part_number, ref)""",
    }
    # Columns added since the tables were first made (null on older rows: no transfer before
    # arrived short).
    added_columns = (("transfers", "short_qty numeric"),)
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
        # /stock/movements?reference=: a stocktake's, a delivery note's or a transfer's rows
        # among years of the store's journal
        Index("stock_movements", "movements_reference_idx", "(reference)"),
        Index("purchase_orders", "purchase_orders_store_idx", "(store_id, status, created_at)"),
        # the overdue ones: the supplier has them and the day they were expected is past
        Index("purchase_orders", "purchase_orders_expected_idx",
              "(store_id, expected_on) WHERE status IN ('sent', 'partly_received')"),
        Index("transfers", "transfers_to_idx", "(to_store, status)"),
        Index("transfers", "transfers_number_idx", "(number)"),
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
            d["preferred_supplier"], ascii_barcode(d["barcode"]), event.audit.at,
            event.originator_version),
            strict=True))

    @on.register
    def _part_changed(self, event: Part.DetailsChanged, batch: Batch, n: int) -> None:
        changes = event.changes
        if "barcode" in changes:
            changes = {**changes, "barcode": ascii_barcode(changes["barcode"])}
        self._change_part(batch, event, changes)

    @on.register
    def _price_changed(self, event: Part.PriceChanged, batch: Batch, n: int) -> None:
        self._change_part(batch, event, {"list_price": event.new_price})

    # stock items

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
        self._hold(batch, event, event.key, event.qty)

    def _hold(self, batch: Batch, event: StockItem.Event, key: str, qty: Decimal) -> None:
        """Units held: for a work-order line, or for a scrap request until a manager decides
        (`scrap:<request id>`, no work order), each a reservation of the item."""
        row = self._row(batch, event)
        row["reserved"] += qty
        work_order_id, line_id = work_order_of(key)
        batch.conn.execute(
            f"""INSERT INTO {batch.t('stock_reservations')} VALUES (%s, %s, %s, %s, %s, %s, %s)
                ON CONFLICT (store_id, part_number, key) DO UPDATE SET qty = EXCLUDED.qty""",
            (row["store_id"], row["part_number"], key, qty, work_order_id, line_id,
             event.audit.at))

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

    @on.register
    def _scrap_requested(self, event: StockItem.ScrapRequested, batch: Batch, n: int) -> None:
        self._hold(batch, event, scrap_hold(event.request_id), event.qty)
        self._approval(batch, event, "scrap", event.request_id, event.qty, event.value,
                       {"lot_id": event.lot_id}, event.reason)

    @on.register
    def _scrap_rejected(self, event: StockItem.ScrapRejected, batch: Batch, n: int) -> None:
        self._unreserve(batch, self._row(batch, event), scrap_hold(event.request_id), event.qty)
        self._decided(batch, event, "scrap", event.request_id, "rejected", event.reason)

    @on.register
    def _scrapped(self, event: StockItem.Scrapped, batch: Batch, n: int) -> None:
        row = self._row(batch, event)
        self._unreserve(batch, row, scrap_hold(event.request_id), event.from_reserved)
        self._picks(batch, event, n, row, "scrap", event.picks, -1, reference=event.request_id,
                    reason=event.reason)
        if event.approved_by is not None:
            self._decided(batch, event, "scrap", event.request_id, "approved", None)

    @on.register
    def _counted(self, event: StockItem.Counted, batch: Batch, n: int) -> None:
        if event.needs_approval and count_loss(event.lines) > 0:
            self._hold(batch, event, count_hold(event.count_id), count_loss(event.lines))
        if event.needs_approval:
            self._approval(batch, event, "stocktake", event.count_id, None, event.value,
                           {"lines": event.lines}, event.reason)

    @on.register
    def _count_rejected(self, event: StockItem.CountRejected, batch: Batch, n: int) -> None:
        self._drop_hold(batch, self._row(batch, event), count_hold(event.count_id))
        self._decided(batch, event, "stocktake", event.count_id, "rejected", event.reason)

    @on.register
    def _variance(self, event: StockItem.VariancePosted, batch: Batch, n: int) -> None:
        self._drop_hold(batch, self._row(batch, event), count_hold(event.count_id))
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
            f"""INSERT INTO {batch.t('stock_alerts')} VALUES (%s, %s, true, %s, %s, %s, NULL, NULL)
                ON CONFLICT (store_id, part_number) DO UPDATE SET open = true,
                raised_at = EXCLUDED.raised_at, available = EXCLUDED.available,
                min_stock = EXCLUDED.min_stock, cleared_at = NULL, cleared_available = NULL""",
            (row["store_id"], row["part_number"], event.audit.at, event.available,
             event.min_stock))

    @on.register
    def _alert_cleared(self, event: StockItem.LowStockAlertCleared, batch: Batch, n: int) -> None:
        row = self._row(batch, event)
        row["alert"] = False
        batch.conn.execute(
            f"""UPDATE {batch.t('stock_alerts')} SET open = false, cleared_at = %s,
                cleared_available = %s WHERE store_id = %s AND part_number = %s""",
            (event.audit.at, event.available, row["store_id"], row["part_number"]))

    # purchase orders: one document per order (projections/purchase_order_doc.py)

    @on.register
    def _purchase_order(self, event: PurchaseOrder.Event, batch: Batch, n: int) -> None:
        before = None if isinstance(event, PurchaseOrder.Drafted) \
            else self._order_doc(batch, event.originator_id)
        self._save_order(batch, event, order_doc(before, event))

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
    def _transfer_short(self, event: Transfer.ReceivedShort, batch: Batch, n: int) -> None:
        batch.conn.execute(
            f"""UPDATE {batch.t('transfers')} SET short_qty = %s, version = %s WHERE id = %s""",
            (event.qty, event.originator_version, event.originator_id))

    @on.register
    def _transfer_received(self, event: Transfer.Received, batch: Batch, n: int) -> None:
        batch.conn.execute(
            f"""UPDATE {batch.t('transfers')} SET status = 'received', received_at = %s,
                received_by = %s, version = %s WHERE id = %s""",
            (event.audit.at, event.audit.user_id, event.originator_version,
             event.originator_id))
