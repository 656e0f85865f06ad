"""Incremental loading of the DuckDB analytic tables from the event log.

A batch of notifications is folded in memory (rows of keyed facts are fetched once per batch),
then written with Arrow — delete-and-insert for keyed rows, insert for growing facts — together
with the position, in one DuckDB transaction. Rebuilding loads the same code from event 0 into a
fresh file, so rebuild and incremental loading give the same tables.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import pyarrow as pa

from analytics.events import Event, EventSource, json_ready
from analytics.publish import Publisher, snapshot_path, transaction
from analytics.schema import BY_NAME, POSITION_COMMENTS, POSITION_DDL, TABLES, Table
from analytics.set_based import SET_BASED, SHARED, SetBased
from domain.application import ServiceCore
from domain.customer import Customer
from domain.follow_up import FollowUp
from domain.money import vat_included
from domain.part import Part
from domain.settlement import Settlement, bill_totals
from domain.stock import StockItem
from domain.technician import Technician
from domain.work_order import WorkOrder

log = logging.getLogger(__name__)
HOUR = Decimal("0.0001")
SHANGHAI = ZoneInfo("Asia/Shanghai")
FOLLOW_SECONDS = 0.5  # the pause of `run` once a batch has reached the head of the log
# Bump when what the fold writes changes (an event newly folded, a figure computed otherwise):
# the loader's first start of that version reloads every table from event 0.
REVISION = 1


def _arrow_type(sql_type: str) -> pa.DataType:
    if sql_type.startswith("DECIMAL"):
        precision, scale = (int(x) for x in sql_type[8:-1].split(","))
        return pa.decimal128(precision, scale)
    return {"VARCHAR": pa.string(), "INTEGER": pa.int32(), "BIGINT": pa.int64(),
            "TIMESTAMPTZ": pa.timestamp("us", tz="UTC"), "DATE": pa.date32(),
            "BOOLEAN": pa.bool_()}[sql_type]


SCHEMAS = {t.name: pa.schema([(c, _arrow_type(ty)) for c, ty in t.columns]) for t in TABLES}
COLUMNS = {t.name: tuple(t.column_names) for t in TABLES}
# what `Fold` reads of a row: instants as naive UTC (DuckDB makes a zone-aware datetime of a
# TIMESTAMPTZ at three times the cost; Arrow writes a naive one back as UTC)
SELECTED = {t.name: ", ".join(f"timezone('UTC', {c})" if ty == "TIMESTAMPTZ" else c
                              for c, ty in t.columns) for t in TABLES}


def _money(value: Any) -> Decimal | None:
    return None if value is None else Decimal(value).quantize(Decimal("0.01"))


@dataclass
class Fold:
    """One batch: keyed rows (fetched once) and new rows of growing facts.

    `preload` fetches every row of a table whose first key column has one of the given values
    and remembers the values, so that a row it did not find is known to be absent without
    asking DuckDB again; rows are indexed by their first key column for `where`.
    """

    conn: duckdb.DuckDBPyConnection
    rows: dict[str, dict[tuple[Any, ...], dict[str, Any] | None]] = field(default_factory=dict)
    by_first: dict[str, dict[Any, set[tuple[Any, ...]]]] = field(default_factory=dict)
    loaded: dict[str, set[Any]] = field(default_factory=dict)
    absent: dict[str, set[tuple[Any, ...]]] = field(default_factory=dict)  # not in DuckDB
    changed: dict[str, set[tuple[Any, ...]]] = field(default_factory=dict)
    appends: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    seqs: dict[int, int] = field(default_factory=dict)
    payments: dict[str, dict[str, Any]] = field(default_factory=dict)  # refunded: method, bill
    current: int = 0  # the notification id of the event being applied
    zone: ZoneInfo = SHANGHAI

    def seq(self, notification_id: int) -> int:
        """0, 1, 2 … for the rows one event adds to a growing fact."""
        self.seqs[notification_id] = self.seqs.get(notification_id, -1) + 1
        return self.seqs[notification_id]

    def _remember(self, table: str, key: tuple[Any, ...], row: dict[str, Any] | None) -> None:
        self.rows.setdefault(table, {})[key] = row
        if row is not None:
            self.by_first.setdefault(table, {}).setdefault(key[0], set()).add(key)

    def preload(self, table: str, values: Iterable[Any]) -> None:
        """Every row whose first key column is one of `values` (one query)."""
        spec = BY_NAME[table]
        loaded = self.loaded.setdefault(table, set())
        wanted = sorted({v for v in values if v is not None} - loaded)
        if not wanted:
            return
        first = spec.key[0]
        found = self.conn.execute(
            f"SELECT {SELECTED[table]} FROM {table} WHERE {first} IN "
            f"(SELECT unnest(?::VARCHAR[]))", [wanted]).fetchall()
        cache = self.rows.setdefault(table, {})
        names = COLUMNS[table]
        for values_row in found:
            row = dict(zip(names, values_row, strict=True))
            key = tuple(row[k] for k in spec.key)
            if key not in cache:  # a row this batch already holds is newer
                self._remember(table, key, row)
        loaded.update(wanted)

    def get(self, table: str, *key: Any) -> dict[str, Any] | None:
        cache = self.rows.setdefault(table, {})
        if key not in cache:
            if key[0] in self.loaded.get(table, ()):
                self.absent.setdefault(table, set()).add(key)
                return None  # preloaded: not there
            spec = BY_NAME[table]
            where = " AND ".join(f"{k} = ?" for k in spec.key)
            # fetchall, not fetchone: an unfinished result keeps the connection busy
            found = self.conn.execute(
                f"SELECT {SELECTED[table]} FROM {table} WHERE {where}", list(key)).fetchall()
            self._remember(table, key, dict(zip(spec.column_names, found[0], strict=True))
                           if found else None)
            if not found:
                self.absent.setdefault(table, set()).add(key)
        return cache[key]

    def put(self, table: str, row: dict[str, Any]) -> dict[str, Any]:
        spec = BY_NAME[table]
        full = {c: row.get(c) for c in COLUMNS[table]}
        key = tuple(full[k] for k in spec.key)
        cache = self.rows.setdefault(table, {})
        if (cache[key] is None) if key in cache else key[0] in self.loaded.get(table, ()):
            self.absent.setdefault(table, set()).add(key)  # a new row: nothing to delete
        self._remember(table, key, full)
        self._changed(table, key, full)
        return full

    def _changed(self, table: str, key: tuple[Any, ...], row: dict[str, Any]) -> None:
        self.changed.setdefault(table, set()).add(key)
        row["last_notification_id"] = self.current

    def touch(self, table: str, *key: Any) -> dict[str, Any] | None:
        """The row, marked as changed (callers update it in place)."""
        row = self.get(table, *key)
        if row is not None:
            self._changed(table, key, row)
        return row

    def where(self, table: str, first: Any, **match: Any) -> list[dict[str, Any]]:
        """Cached rows of a keyed table whose first key column is `first` and that match the
        given values (after a preload of `first`)."""
        found = []
        cache = self.rows[table]
        for key in self.by_first.get(table, {}).get(first, ()):
            row = cache[key]
            if row is not None and all(row[k] == v for k, v in match.items()):
                self._changed(table, key, row)
                found.append(row)
        return found

    def append(self, table: str, row: dict[str, Any]) -> None:
        self.appends.setdefault(table, []).append(row)

    def write(self) -> None:
        for table, keys in self.changed.items():
            spec = BY_NAME[table]
            rows = [self.rows[table][k] for k in keys if self.rows[table].get(k) is not None]
            if not rows:
                continue
            arrow = pa.Table.from_pylist(rows, schema=SCHEMAS[table])
            self.conn.register("batch_rows", arrow)
            if keys - self.absent.get(table, set()):  # rows of earlier batches change
                match = " AND ".join(f"t.{k} = b.{k}" for k in spec.key)
                self.conn.execute(f"DELETE FROM {table} t WHERE EXISTS "
                                  f"(SELECT 1 FROM batch_rows b WHERE {match})")
            self.conn.execute(f"INSERT INTO {table} SELECT * FROM batch_rows")
            self.conn.unregister("batch_rows")
        for table, added in self.appends.items():
            if added:
                self.conn.register("batch_rows",
                                   pa.Table.from_pylist(added, schema=SCHEMAS[table]))
                self.conn.execute(f"INSERT INTO {table} SELECT * FROM batch_rows")
                self.conn.unregister("batch_rows")


Handler = Callable[[Fold, Any, int], None]
HANDLERS: dict[str, Handler] = {}  # by the event's qualified name, e.g. WorkOrder.Opened
IGNORED: set[str] = set()  # known, and left out on purpose


def on(*classes: type) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        for cls in classes:
            HANDLERS[cls.__qualname__] = handler
        return handler

    return register


def ignore(*classes: type) -> None:
    """Events the analytic tables deliberately leave out: like those of areas without a
    handler, their state is not even fetched (the position moves past them)."""
    IGNORED.update(cls.__qualname__ for cls in classes)


def on_name(*qualnames: str) -> Callable[[Handler], Handler]:
    """For event classes that another area may not have yet (matched by qualified name)."""

    def register(handler: Handler) -> Handler:
        for name in qualnames:
            HANDLERS[name] = handler
        return handler

    return register


# -- work orders ------------------------------------------------------------------------------

def _wo(fold: Fold, event: Any) -> dict[str, Any]:
    row = fold.touch("fact_work_orders", str(event.originator_id))
    assert row is not None, f"{type(event).__qualname__} before WorkOrder.Opened"
    return row


@on(WorkOrder.Opened)
def _opened(fold: Fold, e: WorkOrder.Opened, n: int) -> None:
    v, store = e.vehicle, e.audit.store_id
    fold.put("fact_work_orders", {
        "work_order_id": str(e.originator_id), "number": e.number, "store_id": store,
        "kind": e.kind, "customer_id": str(e.customer_id), "vehicle_id": v.get("vehicle_id"),
        "vin": v.get("vin"), "brand": v.get("brand"), "model": v.get("model"),
        "year": v.get("year"), "complaint": e.complaints[0] if e.complaints else None,
        "appointment_id": e.appointment_id, "status": "opened", "opened_at": e.audit.at,
        "mileage_in": e.mileage})
    fold.put("dim_vehicle", {"vehicle_id": v.get("vehicle_id"), "vin": v.get("vin"),
                             "brand": v.get("brand"), "model": v.get("model"),
                             "year": v.get("year")})
    if fold.get("dim_store", store) is None:
        fold.put("dim_store", {"store_id": store, "first_seen": e.audit.at})
    if fold.get("dim_customer", str(e.customer_id)) is None:
        fold.put("dim_customer", {"customer_id": str(e.customer_id), "kind": None,
                                  "first_seen": e.audit.at, "erased": False})


@on(WorkOrder.CheckedIn)
def _checked_in(fold: Fold, e: WorkOrder.CheckedIn, n: int) -> None:
    _wo(fold, e).update(status="checked_in", checked_in_at=e.audit.at,
                        mileage_in=e.details["mileage_in"])


def _line_row(e: Any, line: dict[str, Any], store_id: str) -> tuple[str, dict[str, Any]]:
    base = {"work_order_id": str(e.originator_id), "line_id": line["line_id"],
            "store_id": store_id, "pay_type": line["pay_type"], "status": line["status"],
            "gross": _money(line["gross"]), "added_at": e.audit.at,
            "approved_at": e.audit.at if line["status"] == "approved" else None}
    if line["kind"] == "labor":
        labor = {**base, "job_no": line["job_no"], "op_code": line["op_code"],
                 "hours_sold": line["hours"], "rate": line["unit_price"],
                 "vat": _money(line["vat"]), "vat_rate": line["vat_rate"]}
        _discount_labor(labor, Decimal("0.00"))
        return "fact_labor_lines", labor
    return "fact_part_lines", {**base, "part_number": line["part_number"], "qty": line["qty"],
                               "issued_qty": Decimal(0), "unit_price": line["unit_price"],
                               "cost": Decimal("0.00"), "supply": line.get("supply")}


@on(WorkOrder.LineAdded)
def _line_added(fold: Fold, e: WorkOrder.LineAdded, n: int) -> None:
    store = _wo(fold, e)["store_id"]
    fold.put(*_line_row(e, e.line, store))


@on(WorkOrder.LinesCarriedOver)
def _carried(fold: Fold, e: WorkOrder.LinesCarriedOver, n: int) -> None:
    store = _wo(fold, e)["store_id"]
    for line in e.lines:
        fold.put(*_line_row(e, line, store))


def _line(fold: Fold, e: Any, line_id: str) -> dict[str, Any]:
    for table in ("fact_labor_lines", "fact_part_lines"):
        row = fold.touch(table, str(e.originator_id), line_id)
        if row is not None:
            return row
    raise LookupError(f"line {line_id} of {e.originator_id} not loaded")


@on(WorkOrder.LineRepriced)
def _repriced(fold: Fold, e: WorkOrder.LineRepriced, n: int) -> None:
    row = _line(fold, e, e.line_id)
    row.update(gross=e.gross, **({"rate": e.unit_price, "vat": e.vat} if "rate" in row
                                 else {"unit_price": e.unit_price}))
    if "net_ex_vat" in row:
        _discount_labor(row, row["discount"])


@on(WorkOrder.LineAuthorized)
def _authorized(fold: Fold, e: WorkOrder.LineAuthorized, n: int) -> None:
    _line(fold, e, e.line_id).update(status=e.decision, approved_at=e.audit.at)


@on(WorkOrder.JobDispatched)
def _dispatched(fold: Fold, e: WorkOrder.JobDispatched, n: int) -> None:
    wo = _wo(fold, e)
    wo["status"] = "in_progress"
    for row in fold.where("fact_labor_lines", str(e.originator_id), job_no=e.job_no):
        row["technician_id"] = e.technician_id
    if fold.get("dim_technician", e.technician_id) is None:
        fold.put("dim_technician", {"technician_id": e.technician_id,
                                    "store_id": wo["store_id"]})


@on(WorkOrder.ClockedOn)
def _clocked_on(fold: Fold, e: WorkOrder.ClockedOn, n: int) -> None:
    wo = _wo(fold, e)
    if wo["first_clock_on_at"] is None:
        wo["first_clock_on_at"] = e.audit.at


@on(WorkOrder.ClockedOff)
def _clocked_off(fold: Fold, e: WorkOrder.ClockedOff, n: int) -> None:
    store = _wo(fold, e)["store_id"]
    fold.append("fact_clock_punches", {
        "work_order_id": str(e.originator_id), "job_no": e.job_no,
        "technician_id": e.technician_id, "store_id": store,
        "clock_on_at": e.audit.at - timedelta(seconds=e.seconds), "clock_off_at": e.audit.at,
        "hours": (Decimal(e.seconds) / 3600).quantize(HOUR), "notification_id": n})


@on(WorkOrder.JobCompleted)
def _completed(fold: Fold, e: WorkOrder.JobCompleted, n: int) -> None:
    _wo(fold, e)
    for row in fold.where("fact_labor_lines", str(e.originator_id), job_no=e.job_no):
        row["completed_at"] = e.audit.at


@on(WorkOrder.ReadyForSettlement)
def _ready(fold: Fold, e: WorkOrder.ReadyForSettlement, n: int) -> None:
    _wo(fold, e).update(status="ready_for_settlement", ready_at=e.audit.at)


@on(WorkOrder.BackInProgress)
def _back(fold: Fold, e: WorkOrder.BackInProgress, n: int) -> None:
    _wo(fold, e).update(status="in_progress")


@on(WorkOrder.Cancelled)
def _cancelled(fold: Fold, e: WorkOrder.Cancelled, n: int) -> None:
    _wo(fold, e).update(status="cancelled", cancelled_at=e.audit.at)


@on(WorkOrder.PartSupply)
def _supply(fold: Fold, e: WorkOrder.PartSupply, n: int) -> None:
    row = _line(fold, e, e.line_id)
    if row["supply"] is None:  # how the demand was met at approval (a later reservation
        row["supply"] = e.supply  # of a back order does not make it filled from stock)


@on(WorkOrder.PartsIssued, WorkOrder.PartsReturned)
def _issued(fold: Fold, e: Any, n: int) -> None:
    sign = 1 if e.qualname == "WorkOrder.PartsIssued" else -1
    row = _line(fold, e, e.line_id)
    row["issued_qty"] += sign * e.qty
    row["cost"] += sign * e.cost


@on(WorkOrder.LineWithdrawn)
def _withdrawn(fold: Fold, e: WorkOrder.LineWithdrawn, n: int) -> None:
    row = _line(fold, e, e.line_id)
    row.update(qty=e.qty, gross=e.gross, status="declined" if e.qty == 0 else row["status"])


@on(WorkOrder.LinesMoved)
def _moved(fold: Fold, e: WorkOrder.LinesMoved, n: int) -> None:
    for line_id in e.line_ids:
        _line(fold, e, line_id)["status"] = "moved"


# facts the analytic tables do not carry (they stay in the event store)
ignore(WorkOrder.SettlementConfirmed, WorkOrder.JobAdded, WorkOrder.Diagnosed,
       WorkOrder.QualityChecked)


@on(WorkOrder.Settled)
def _wo_settled(fold: Fold, e: WorkOrder.Settled, n: int) -> None:
    _wo(fold, e).update(status="settled", settled_at=e.audit.at, customer_total=e.customer_total)


@on(WorkOrder.SettlementReversed)
def _wo_reversed(fold: Fold, e: WorkOrder.SettlementReversed, n: int) -> None:
    _wo(fold, e).update(status="ready_for_settlement", settled_at=None, customer_total=None)


@on(WorkOrder.Delivered)
def _delivered(fold: Fold, e: WorkOrder.Delivered, n: int) -> None:
    _wo(fold, e).update(status="delivered", delivered_at=e.audit.at, mileage_out=e.mileage_out)


@on(WorkOrder.Closed)
def _closed(fold: Fold, e: WorkOrder.Closed, n: int) -> None:
    _wo(fold, e).update(status="closed", closed_at=e.audit.at)


# -- settlements and payments ------------------------------------------------------------------

def _settlement(fold: Fold, e: Any) -> dict[str, Any]:
    row = fold.touch("fact_settlements", str(e.originator_id))
    assert row is not None
    return row


@on(Settlement.Opened)
def _s_opened(fold: Fold, e: Settlement.Opened, n: int) -> None:
    fold.put("fact_settlements", {"settlement_id": str(e.originator_id),
                                  "work_order_id": str(e.work_order_id),
                                  "store_id": e.audit.store_id, "status": "open"})


def _bill_figures(row: dict[str, Any], bills: dict[str, Any]) -> None:
    """The settlement's figures from its bills, stored (`Event.stored`) or decoded."""
    text = json_ready(bills)  # every amount as the text the JSON copy holds
    lines = [ln for b in text.values() for ln in b["lines"]]
    row.update(
        revenue=sum((Decimal(ln["net"]) - Decimal(ln["vat"]) for ln in lines), Decimal(0)),
        vat=sum((Decimal(ln["vat"]) for ln in lines), Decimal(0)),
        parts_cost=sum((Decimal(ln["cost"]) for ln in lines), Decimal(0)),
        discount=sum((Decimal(ln["discount"]) for ln in lines), Decimal(0)),
        **{f"{kind}_total": _decimal(text[kind]["total"]) if kind in text else None
           for kind in ("customer", "warranty", "insurance", "internal")},
        bills_json=json.dumps(text), allowances=Decimal("0.00"))


def _decimal(value: Any) -> Decimal | None:
    return None if value is None else Decimal(value)


@on(Settlement.Drafted)
def _s_drafted(fold: Fold, e: Event, n: int) -> None:
    row = _settlement(fold, e)
    row["status"] = "draft"
    _bill_figures(row, e.stored("bills"))  # not decoded: read as text, summed as Decimals
    _reset_discounts(fold, row["work_order_id"])


@on(Settlement.DiscountGiven)
def _s_discount(fold: Fold, e: Settlement.DiscountGiven, n: int) -> None:
    row = _settlement(fold, e)
    bills = {kind: _decimal_bill(bill) for kind, bill in json.loads(row["bills_json"]).items()}
    bill = bills[e.bill]
    for line in bill["lines"]:
        line["discount"] += e.allocation.get(line["line_id"], Decimal(0))
    bill_totals(bill)
    _bill_figures(row, bills)
    for line_id, amount in e.allocation.items():
        labor = fold.touch("fact_labor_lines", row["work_order_id"], line_id)
        if labor is not None:
            _discount_labor(labor, labor["discount"] + amount)


BILL_AMOUNTS = ("gross", "discount", "labor", "parts", "vat", "total", "cost")
LINE_AMOUNTS = ("gross", "discount", "net", "vat", "cost", "vat_rate", "qty", "unit_price")


def _decimal_bill(bill: dict[str, Any]) -> dict[str, Any]:
    """A bill read back from its JSON copy, with every amount a Decimal again."""
    return {**{k: Decimal(v) if k in BILL_AMOUNTS and v is not None else v
               for k, v in bill.items()},
            "lines": [{k: Decimal(v) if k in LINE_AMOUNTS and v is not None else v
                       for k, v in line.items()} for line in bill["lines"]]}


def _discount_labor(row: dict[str, Any], discount: Decimal) -> None:
    """Labor sales after settlement discounts, without the VAT inside them."""
    net = row["gross"] - discount
    row.update(discount=discount, net_ex_vat=net - vat_included(net, row["vat_rate"]))


def _reset_discounts(fold: Fold, work_order_id: str) -> None:
    for labor in fold.where("fact_labor_lines", work_order_id):
        _discount_labor(labor, Decimal("0.00"))


@on(Settlement.Confirmed)
def _s_confirmed(fold: Fold, e: Settlement.Confirmed, n: int) -> None:
    _settlement(fold, e).update(status="confirmed", number=e.number, confirmed_at=e.audit.at)


@on(Settlement.Settled)
def _s_settled(fold: Fold, e: Settlement.Settled, n: int) -> None:
    _settlement(fold, e).update(status="settled", settled_at=e.audit.at)


@on(Settlement.Reversed)
def _s_reversed(fold: Fold, e: Settlement.Reversed, n: int) -> None:
    _reset_discounts(fold, _settlement(fold, e)["work_order_id"])
    _settlement(fold, e).update(
        status="open", number=None, settled_at=None, confirmed_at=None, revenue=None, vat=None,
        parts_cost=None, discount=None, customer_total=None, warranty_total=None,
        insurance_total=None, internal_total=None, bills_json=None, allowances=None)


@on(Settlement.PaymentTaken)
def _s_paid(fold: Fold, e: Settlement.PaymentTaken, n: int) -> None:
    p = e.payment
    fold.append("fact_payments", {
        "notification_id": n, "payment_id": p["payment_id"],
        "settlement_id": str(e.originator_id), "store_id": e.audit.store_id, "kind": p["kind"],
        "bill": p["bill"], "method": p["method"], "amount": p["amount"], "paid_at": e.audit.at,
        "business_date": date.fromisoformat(p["business_date"]), "cashier": p["cashier"]})


def _payment(fold: Fold, payment_id: str) -> dict[str, Any]:
    for row in fold.appends.get("fact_payments", []):
        if row["payment_id"] == payment_id:
            return row
    assert payment_id in fold.payments, payment_id
    return fold.payments[payment_id]


@on(Settlement.RefundRequested)
def _r_requested(fold: Fold, e: Settlement.RefundRequested, n: int) -> None:
    payment = _payment(fold, e.payment_id)
    fold.put("fact_refunds", {
        "refund_id": e.refund_id, "settlement_id": str(e.originator_id),
        "payment_id": e.payment_id, "store_id": e.audit.store_id, "method": payment["method"],
        "bill": payment["bill"], "amount": e.amount, "status": "requested",
        "requested_at": e.audit.at, "kind": _refund_kind(e)})


def _refund_kind(e: Any) -> str:
    """A refund's kind; one stored before refunds had kinds (read as stored, not upcast)
    returned a payment."""
    return getattr(e, "kind", "payment_return")


@on(Settlement.RefundApproved, Settlement.RefundRejected)
def _r_decided(fold: Fold, e: Any, n: int) -> None:
    row = fold.touch("fact_refunds", e.refund_id)
    assert row is not None
    approved = e.qualname == "Settlement.RefundApproved"
    row.update(status="approved" if approved else "rejected", decided_at=e.audit.at)
    if approved and _refund_kind(e) == "credit":  # the settlement's revenue carries it
        settlement = _settlement(fold, e)
        postings = e.entry["postings"]
        settlement.update(
            revenue=settlement["revenue"] - sum((Decimal(p["debit"]) for p in postings
                                                 if p["account"] == "6003"), Decimal(0)),
            vat=settlement["vat"] - sum((Decimal(p["debit"]) for p in postings
                                         if p["account"] == "2221"), Decimal(0)),
            allowances=(settlement.get("allowances") or Decimal(0)) + row["amount"])
    if approved:
        fold.append("fact_payments", {
            "notification_id": n, "payment_id": e.refund_id, "settlement_id": row["settlement_id"],
            "store_id": row["store_id"], "kind": "refund", "bill": row["bill"],
            "method": row["method"], "amount": -row["amount"], "paid_at": e.audit.at,
            "business_date": date.fromisoformat(e.business_date), "cashier": e.audit.user_id})


# kept in the event store and the finance read model
ignore(Settlement.InvoiceRecorded, Settlement.PaymentReconciled)


# -- stock ------------------------------------------------------------------------------------

def _item(fold: Fold, e: Any) -> dict[str, Any]:
    row = fold.get("dim_stock_item", str(e.originator_id))
    assert row is not None
    return row


def _movement(fold: Fold, e: Any, n: int, kind: str, picks: list[dict[str, Any]], sign: int,
              key: str | None = None, reference: str | None = None) -> None:
    item = _item(fold, e)
    work_order_id = key.partition(":")[0] if key and ":" in key else None
    for pick in picks:
        qty = pick["qty"] * sign
        fold.append("fact_stock_movements", {
            "notification_id": n, "seq": fold.seq(n),
            "moved_at": e.audit.at, "store_id": item["store_id"],
            "part_number": item["part_number"], "type": kind, "qty": qty, "lot_id": pick.get("lot_id"),
            "unit_cost": pick.get("unit_cost"),
            "value": qty * pick["unit_cost"] if pick.get("unit_cost") is not None else None,
            "supplier": pick.get("supplier"), "work_order_id": work_order_id,
            "reference": reference})


@on(StockItem.Opened)
def _stock_opened(fold: Fold, e: StockItem.Opened, n: int) -> None:
    fold.put("dim_stock_item", {"stock_item_id": str(e.originator_id), "store_id": e.store_id,
                                "part_number": e.part_number})


@on(StockItem.Received)
def _received(fold: Fold, e: StockItem.Received, n: int) -> None:
    _movement(fold, e, n, "receipt", [{"lot_id": e.lot_id, "qty": e.qty,
                                       "unit_cost": e.unit_cost, "supplier": e.supplier}], 1,
              reference=e.po_ref or e.supplier_doc)


@on(StockItem.Issued)
def _stock_issued(fold: Fold, e: StockItem.Issued, n: int) -> None:
    _movement(fold, e, n, "issue", e.picks, -1, key=e.key)


@on(StockItem.ReturnedFromJob)
def _stock_returned(fold: Fold, e: StockItem.ReturnedFromJob, n: int) -> None:
    _movement(fold, e, n, "return_from_job", e.picks, 1, key=e.key)


@on(StockItem.Scrapped)
def _scrapped(fold: Fold, e: StockItem.Scrapped, n: int) -> None:
    _movement(fold, e, n, "scrap", e.picks, -1, reference=e.request_id)


@on(StockItem.TransferredOut)
def _out(fold: Fold, e: StockItem.TransferredOut, n: int) -> None:
    _movement(fold, e, n, "transfer_out", e.picks, -1, reference=e.transfer_id)


@on(StockItem.TransferredIn)
def _in(fold: Fold, e: StockItem.TransferredIn, n: int) -> None:
    _movement(fold, e, n, "transfer_in", e.lots, 1, reference=e.transfer_id)


@on(StockItem.ReturnedToSupplier)
def _to_supplier(fold: Fold, e: StockItem.ReturnedToSupplier, n: int) -> None:
    _movement(fold, e, n, "return_to_supplier", [{
        "lot_id": e.lot_id, "qty": e.qty, "unit_cost": e.unit_cost, "supplier": e.supplier}], -1,
        reference=e.reference)


@on(StockItem.VariancePosted)
def _variance(fold: Fold, e: StockItem.VariancePosted, n: int) -> None:
    _movement(fold, e, n, "stocktake_variance", e.adjustments, 1, reference=e.count_id)
    item = _item(fold, e)
    for seq, adjustment in enumerate(e.adjustments):
        fold.append("fact_stocktake_variances", {
            "notification_id": n, "seq": seq, "counted_at": e.audit.at,
            "store_id": item["store_id"],
            "part_number": item["part_number"], "count_id": e.count_id,
            "lot_id": adjustment["lot_id"], "qty": adjustment["qty"],
            "unit_cost": adjustment["unit_cost"],
            "value": adjustment["qty"] * adjustment["unit_cost"]})


# no on-hand change: the stock read model and the event store carry these
ignore(StockItem.LevelsSet, StockItem.Ordered, StockItem.OrderClosed, StockItem.Reserved,
       StockItem.Released, StockItem.ScrapRequested, StockItem.ScrapRejected, StockItem.Counted,
       StockItem.CountRejected, StockItem.LowStockAlertRaised, StockItem.LowStockAlertCleared)


# -- part master, customers, follow-ups -------------------------------------------------------

@on(Part.Registered)
def _part(fold: Fold, e: Part.Registered, n: int) -> None:
    d = e.details
    fold.put("dim_part", {"part_id": str(e.originator_id), "part_number": e.part_number,
                          "name": d["name"], "category": d["category"], "unit": d["unit"],
                          "list_price": e.list_price,
                          "preferred_supplier": d.get("preferred_supplier")})


@on(Part.DetailsChanged, Part.PriceChanged)
def _part_changed(fold: Fold, e: Any, n: int) -> None:
    row = fold.touch("dim_part", str(e.originator_id))
    assert row is not None
    if e.qualname == "Part.PriceChanged":
        row["list_price"] = e.new_price
    else:
        row.update({k: v for k, v in e.changes.items()
                    if k in ("name", "category", "unit", "preferred_supplier")})


@on(Customer.Registered)
def _customer(fold: Fold, e: Customer.Registered, n: int) -> None:
    row = fold.touch("dim_customer", str(e.originator_id))
    if row is None:
        fold.put("dim_customer", {"customer_id": str(e.originator_id), "kind": e.kind,
                                  "first_seen": e.audit.at, "erased": False})
    else:
        row["kind"] = e.kind


@on(Customer.Erased)
def _erased(fold: Fold, e: Customer.Erased, n: int) -> None:
    row = fold.touch("dim_customer", str(e.originator_id))
    if row is not None:
        row["erased"] = True


@on(FollowUp.Scheduled)
def _scheduled(fold: Fold, e: FollowUp.Scheduled, n: int) -> None:
    fold.put("fact_follow_ups", {"follow_up_id": str(e.originator_id),
                                 "work_order_id": str(e.work_order_id),
                                 "store_id": e.audit.store_id,
                                 "due_on": date.fromisoformat(e.due_on)})


@on(FollowUp.Completed)
def _followed_up(fold: Fold, e: FollowUp.Completed, n: int) -> None:
    row = fold.touch("fact_follow_ups", str(e.originator_id))
    assert row is not None
    row.update(csi=e.csi, completed_at=e.audit.at, complaint=e.complaint_id is not None)


# -- appointments (matched by name: the appointment area may not exist in older logs) -----------

@on_name("Appointment.Booked")
def _booked(fold: Fold, e: Any, n: int) -> None:
    day = getattr(e, "day", None)
    fold.put("fact_appointments", {
        "appointment_id": str(e.originator_id), "store_id": e.audit.store_id,
        "day": date.fromisoformat(str(day)) if day else e.audit.at.astimezone(fold.zone).date(),
        "status": "booked", "booked_at": e.audit.at})


def _appointment_status(status: str) -> Handler:
    def handler(fold: Fold, e: Any, n: int) -> None:
        row = fold.touch("fact_appointments", str(e.originator_id))
        if row is None:
            return
        row["status"] = status
        day = getattr(e, "day", None) or getattr(e, "new_day", None)
        if status == "booked" and day:
            row["day"] = date.fromisoformat(str(day))
        work_order_id = getattr(e, "work_order_id", None)
        if work_order_id:
            row["work_order_id"] = str(work_order_id)

    return handler


for _name, _status in (("Appointment.Rescheduled", "booked"), ("Appointment.Cancelled",
                       "cancelled"), ("Appointment.NoShow", "no_show"),
                       ("Appointment.MarkedNoShow", "no_show"),
                       ("Appointment.Arrived", "arrived")):
    HANDLERS[_name] = _appointment_status(_status)


# -- technicians: shifts and attendance give the hours available --------------------------------

@on(Technician.Registered)
def _technician(fold: Fold, e: Any, n: int) -> None:
    fold.put("dim_technician_stream", {"stream_id": str(e.originator_id),
                                       "technician_id": e.user_id,
                                       "store_id": e.audit.store_id})


def _technician_of(fold: Fold, e: Any) -> dict[str, Any]:
    row = fold.get("dim_technician_stream", str(e.originator_id))
    assert row is not None, "technician event before Technician.Registered"
    return row


@on(Technician.Named)
def _named(fold: Fold, e: Technician.Named, n: int) -> None:
    tech = _technician_of(fold, e)
    row = fold.touch("dim_technician", tech["technician_id"])
    if row is None:
        fold.put("dim_technician", {"technician_id": tech["technician_id"],
                                    "store_id": tech["store_id"], "name": e.name})
    else:
        row["name"] = e.name


@on_name("Technician.ShiftsPlanned")
def _shifts(fold: Fold, e: Any, n: int) -> None:
    tech = _technician_of(fold, e)
    for shift in e.shifts:
        hours = Decimal(str(shift["hours"]))
        fold.put("fact_attendance", {
            "technician_id": tech["technician_id"], "store_id": tech["store_id"],
            "day": date.fromisoformat(shift["day"]), "planned_hours": hours,
            "available_hours": hours, "status": "planned"})


@on_name("Technician.ShiftCancelled")
def _shift_cancelled(fold: Fold, e: Any, n: int) -> None:
    row = fold.touch("fact_attendance", _technician_of(fold, e)["technician_id"],
                     date.fromisoformat(e.day))
    if row is not None:
        row.update(available_hours=Decimal(0), status="cancelled")


@on_name("Technician.AttendanceRecorded")
def _attendance(fold: Fold, e: Any, n: int) -> None:
    row = fold.touch("fact_attendance", _technician_of(fold, e)["technician_id"],
                     date.fromisoformat(e.day))
    if row is None:
        return
    hours = {"absent": Decimal(0), "partial": e.hours}.get(e.status, row["planned_hours"])
    row.update(available_hours=hours, status=e.status)


# -- the loader -------------------------------------------------------------------------------

# Positions of the log per batch. Each batch costs some 15 DuckDB statements besides its
# events (preloads, delete-and-insert per table, the position, the commit): catching up in
# batches of 25,000 takes two fifths less CPU than in batches of 5,000, for ~80 MB more
# memory at the peak (bench/README "Analytics"); a loader following the log reads what is new.
BATCH_SIZE = 25_000
# DuckDB's threads for the loader's connection: a batch's statements each handle a few
# thousand rows, where a second thread cost more CPU in waking and handing over than it saved
# (bench/README "Loading faster, fourth step")
DUCKDB_THREADS = 1


class AnalyticsLoader:
    """Owns the DuckDB file (one writer process); publishes read-only snapshots."""

    def __init__(self, app: ServiceCore, path: Path, *, batch_size: int = BATCH_SIZE,
                 publish_every: float = 10.0, zone: str = "Asia/Shanghai",
                 revision: int = REVISION) -> None:
        self.app = app
        self.revision = revision
        self.zone = ZoneInfo(zone)  # the stores' day, where a date is made from an instant
        self.path = Path(path)
        self.batch_size = batch_size
        self.publish_every = publish_every
        self.processed = 0
        self.published_at = 0.0
        self.published_position = -1
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = duckdb.connect(str(self.path), config={"threads": DUCKDB_THREADS})
        create(self.conn, revision)
        self.lock = threading.Lock()
        self.source = EventSource(app, sorted(HANDLERS), SET_BASED, SHARED)
        self.publisher = Publisher(self.conn, self.path)

    @property
    def snapshot_path(self) -> Path:
        return snapshot_path(self.path)

    def position(self) -> int:
        found = self.conn.execute("SELECT position FROM analytics_position").fetchone()
        return int(found[0]) if found else 0

    def written_by(self) -> int:
        """The revision of the fold that wrote the tables (1 for a file from before
        revisions: the only one there was)."""
        found = self.conn.execute("SELECT revision FROM analytics_position").fetchone()
        return int(found[0]) if found and found[0] is not None else 1

    def reload_if_revised(self) -> bool:
        """Tables an earlier (or later) revision of the fold wrote are loaded again from event
        0 into a fresh file, which then takes this one's place; meanwhile readers in this
        process read the old tables, readers elsewhere the snapshot published last. Answers
        whether it reloaded."""
        with self.lock:
            written_by, position = self.written_by(), self.position()
            if written_by == self.revision or position == 0:
                self.conn.execute("UPDATE analytics_position SET revision = ?", [self.revision])
                return False
        log.warning("analytics: the tables were written by revision %d of the fold, this "
                    "version's is %d; loading them again from event 0", written_by,
                    self.revision)
        fresh, figures = load_fresh(self.app, self.path, batch_size=self.batch_size,
                                    zone=self.zone.key, revision=self.revision)
        with self.lock:
            self.conn.close()
            into_place(fresh, self.path)
            self.conn = duckdb.connect(str(self.path), config={"threads": DUCKDB_THREADS})
            self.publisher = Publisher(self.conn, self.path)  # its first copies are whole
        self.publish(force=True)
        log.info("analytics reloaded: %d events in %.1f s", figures["events"],
                 figures["seconds"])
        return True

    def run_batch(self) -> int:
        """Load the next batch; the number of events of the log it moved past (0: none new)."""
        with self.lock, _no_cyclic_gc():
            covered = self._load_batch()  # its objects are freed before the collector runs
            self.processed += covered
            return covered

    def _load_batch(self) -> int:
        position = self.position()
        events, raw, reached, covered = self.source.read(position, self.batch_size)
        if reached <= position:
            return 0
        with transaction(self.conn), SetBased(self.conn, raw) as set_based:
            set_based.before_fold()
            fold = Fold(self.conn, zone=self.zone)
            _preload(fold, events)
            for event in events:
                fold.current = event.notification_id
                HANDLERS[event.qualname](fold, event, event.notification_id)
            fold.write()
            set_based.after_write()
            self.conn.execute("UPDATE analytics_position SET position = ?", [reached])
        return covered

    def catch_up(self) -> int:
        total = 0
        while count := self.run_batch():
            total += count
        return total

    def publish(self, force: bool = False) -> bool:
        """Bring the snapshot readers in other processes open up to date (analytics.publish:
        two files taking turns, changed rows only; a whole copy when it must)."""
        position = self.position()
        due = force or time.monotonic() - self.published_at >= self.publish_every
        if not due or (position == self.published_position and not force):
            return False
        with self.lock:
            self.publisher.publish(position)
        self.published_at = time.monotonic()
        self.published_position = position
        return True

    def run(self, stop: threading.Event, max_age: float = 60.0) -> None:
        """Follow the log; publish a snapshot whenever it changed (and at least every max_age).

        Once a batch has reached the head of the log (it was not full), the next one waits
        half a second, as after an empty one: readers see the published snapshot only, so
        loading each event as it comes would add nothing they can see, while many small
        DuckDB transactions cost the serving processes' CPU. A full batch is followed at once.

        A failed batch raises (nothing of it is kept): the supervisor starts the loader again.
        """
        self.reload_if_revised()
        with self.lock:
            log.info("analytics loader following the log from position %d", self.position())
        while not stop.is_set():
            count = self.run_batch()
            self.publish(force=time.monotonic() - self.published_at >= max_age)
            if count < self.batch_size:
                stop.wait(FOLLOW_SECONDS)
        self.publish(force=True)

    def close(self) -> None:
        self.conn.close()


@contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """A batch makes hundreds of thousands of small dicts that live until it ends: without
    the cycle collector running over them again and again, decoding takes a third of the time.
    They hold no cycles, so reference counting frees them; they must be gone before the block
    ends (the first collection after it would otherwise walk them all once more)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _preload(fold: Fold, events: list[Event]) -> None:
    """Fetch the keyed rows a batch will touch in one query per table."""
    ids: dict[str, set[str]] = {}
    kinds: dict[str, list[Event]] = {}  # the events of the kinds looked into below
    for e in events:  # one pass over the batch
        ids.setdefault(e.aggregate, set()).add(e.originator_id)
        if e.qualname in PRELOADING:
            kinds.setdefault(e.qualname, []).append(e)

    def of(qualname: str) -> list[Event]:
        return kinds.get(qualname, [])

    wo_ids = ids.get("WorkOrder", set())
    fold.preload("fact_work_orders", wo_ids)
    fold.preload("fact_labor_lines", wo_ids)
    fold.preload("fact_part_lines", wo_ids)
    fold.preload("fact_settlements", ids.get("Settlement", ()))
    settled = {str(e.work_order_id) for e in of("Settlement.Opened")} | {
        row["work_order_id"] for row in fold.rows.get("fact_settlements", {}).values() if row}
    fold.preload("fact_labor_lines", settled)
    fold.preload("dim_stock_item", ids.get("StockItem", ()))
    opened = of("WorkOrder.Opened")
    fold.preload("dim_store", {e.audit.store_id for e in opened})
    fold.preload("dim_customer", {str(e.customer_id) for e in opened} | ids.get("Customer", set()))
    fold.preload("dim_technician", {e.technician_id for e in of("WorkOrder.JobDispatched")})
    fold.preload("dim_technician_stream", ids.get("Technician", ()))
    fold.preload("fact_follow_ups", ids.get("FollowUp", ()))
    fold.preload("fact_appointments", ids.get("Appointment", ()))
    fold.preload("dim_part", ids.get("Part", ()))
    fold.preload("fact_refunds", {e.refund_id for q in REFUND_DECISIONS for e in of(q)})
    refunded = sorted({e.payment_id for e in of("Settlement.RefundRequested")})
    if refunded:  # a payment taken in this batch is found in its appends (looked at first)
        fold.payments.update((p, {"method": m, "bill": b}) for p, m, b in fold.conn.execute(
            "SELECT payment_id, method, bill FROM fact_payments WHERE payment_id IN "
            "(SELECT unnest(?::VARCHAR[]))", [refunded]).fetchall())


REFUND_DECISIONS = ("Settlement.RefundApproved", "Settlement.RefundRejected")
PRELOADING = frozenset(("Settlement.Opened", "WorkOrder.Opened", "WorkOrder.JobDispatched",
                        "Settlement.RefundRequested", *REFUND_DECISIONS))


def create(conn: duckdb.DuckDBPyConnection, revision: int = REVISION) -> None:
    """The tables, and their data dictionary as comments; a file made before a column was
    added (at the end) gets it, NULL, and every file gets the current comments. Only what
    differs is changed, in one transaction (some 250 statements one by one, each its own
    commit, took a fifth of a second on every start). A new file is of `revision`."""
    with transaction(conn):
        conn.execute(";\n".join([*(t.ddl() for t in TABLES), POSITION_DDL]))
        found = _dictionary(conn)
        changes: list[str] = []
        for table in TABLES:
            changes += [f"ALTER TABLE {table.name} ADD COLUMN {column} {sql_type}"
                        for column, sql_type in table.columns
                        if (table.name, column) not in found]
            wanted = [table.about, *(meaning for _, _, meaning in table.fields)]
            said = [found.get((table.name, None)),
                    *(found.get((table.name, c)) for c in table.column_names)]
            changes += [statement for statement, meaning, comment
                        in zip(table.comments(), wanted, said, strict=True) if comment != meaning]
        if ("analytics_position", "revision") not in found:  # a file from before revisions
            changes.append("ALTER TABLE analytics_position ADD COLUMN revision INTEGER")
        conn.execute(";\n".join([*changes, *POSITION_COMMENTS]))
        if conn.execute("SELECT count(*) FROM analytics_position").fetchone() == (0,):
            conn.execute("INSERT INTO analytics_position VALUES (0, ?)", [revision])


def _dictionary(conn: duckdb.DuckDBPyConnection) -> dict[tuple[str, str | None], str | None]:
    """The comment of every column, and of every table (column None), of the open file."""
    where = "WHERE database_name = current_database() AND schema_name = 'main' AND NOT internal"
    columns = conn.execute(
        f"SELECT table_name, column_name, comment FROM duckdb_columns() {where}").fetchall()
    tables = conn.execute(f"SELECT table_name, comment FROM duckdb_tables() {where}").fetchall()
    return {**{(t, c): comment for t, c, comment in columns},
            **{(t, None): comment for t, comment in tables}}


def rebuild(app: ServiceCore, path: Path, *, batch_size: int = BATCH_SIZE,
            progress: Callable[[int, int], None] | None = None,
            zone: str = "Asia/Shanghai") -> dict[str, float]:
    """Load everything from event 0 into a fresh file, then move it into place.

    `progress(done, total)` is called after every batch with the position reached and the head
    of the log (notification ids).
    """
    fresh, figures = load_fresh(app, path, batch_size=batch_size, progress=progress, zone=zone)
    into_place(fresh, path)
    return figures


def load_fresh(app: ServiceCore, path: Path, *, batch_size: int = BATCH_SIZE,
               progress: Callable[[int, int], None] | None = None,
               zone: str = "Asia/Shanghai", revision: int = REVISION
               ) -> tuple[Path, dict[str, float]]:
    """Everything from event 0 loaded into a fresh file beside `path` (closed, checkpointed):
    the file and the figures."""
    started = time.perf_counter()
    fresh = path.with_name(path.stem + "-rebuild.duckdb")
    fresh.unlink(missing_ok=True)
    loader = AnalyticsLoader(app, fresh, batch_size=batch_size, zone=zone, revision=revision)
    head = app.recorder.max_notification_id() or 0
    try:
        events = 0
        while count := loader.run_batch():
            events += count
            if progress is not None:
                position = loader.position()
                progress(position, max(head, position))
        if progress is not None:
            progress(loader.position(), loader.position())
        loader.conn.execute("CHECKPOINT")
    finally:
        loader.close()
    seconds = time.perf_counter() - started
    return fresh, {"events": events, "seconds": seconds,
                   "events_per_second": events / seconds if seconds else 0.0}


def into_place(fresh: Path, path: Path) -> None:
    """A file `load_fresh` made takes the place of `path` (no connection may hold it)."""
    os.replace(fresh, path)
    Path(str(fresh) + ".wal").unlink(missing_ok=True)


def table_names() -> list[str]:
    return [t.name for t in TABLES]


def describe(table: Table) -> str:
    return ", ".join(f"{c} {t}" for c, t in table.columns)
