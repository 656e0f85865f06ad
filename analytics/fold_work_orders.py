"""The fold's handlers of work orders and of their settlements, payments and refunds."""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any

from analytics.events import Event, json_ready
from analytics.fold import Fold, ignore, on
from domain.insurer import insurer_key
from domain.money import vat_included
from domain.payer_name import payer_name_key
from domain.settlement import Settlement
from domain.settlement_bills import bill_totals
from domain.work_order import WorkOrder

HOUR = Decimal("0.0001")
CENT = Decimal("0.01")
NOTHING = Decimal("0.00")  # Decimals do not change: one for every row
ZERO = Decimal(0)


# A brand's or model's key, once per typing (a store sees a few hundred, not one per visit)
_cached_key = lru_cache(maxsize=4096)(payer_name_key)


def _key(typed: str | None) -> str | None:
    """The key a brand or model is compared by (the payer key); None where none was typed."""
    return _cached_key(typed) if typed else None


def _money(value: Any) -> Decimal | None:
    return None if value is None else Decimal(value).quantize(CENT)


# -- work orders ------------------------------------------------------------------------------

def _wo(fold: Fold, event: Any) -> dict[str, Any]:
    row = fold.touch("fact_work_orders", str(event.originator_id))
    assert row is not None, f"{type(event).__qualname__} before WorkOrder.Opened"
    return row


@on(WorkOrder.Opened)
def _opened(fold: Fold, e: WorkOrder.Opened, n: int) -> None:
    v, store = e.vehicle, e.audit.store_id
    keys = {"brand_key": _key(v.get("brand")), "model_key": _key(v.get("model"))}
    fold.put("fact_work_orders", {
        "work_order_id": str(e.originator_id), "number": e.number, "store_id": store,
        "kind": e.kind, "customer_id": str(e.customer_id), "vehicle_id": v.get("vehicle_id"),
        "vin": v.get("vin"), "brand": v.get("brand"), "model": v.get("model"),
        "year": v.get("year"), "complaint": e.complaints[0] if e.complaints else None,
        "appointment_id": e.appointment_id, "status": "opened", "opened_at": e.audit.at,
        "mileage_in": e.mileage, **keys})
    fold.put("dim_vehicle", {"vehicle_id": v.get("vehicle_id"), "vin": v.get("vin"),
                             "brand": v.get("brand"), "model": v.get("model"),
                             "year": v.get("year"), **keys})
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
        _discount_labor(labor, NOTHING)
        return "fact_labor_lines", labor
    return "fact_part_lines", {**base, "part_number": line["part_number"], "qty": line["qty"],
                               "issued_qty": ZERO, "unit_price": line["unit_price"],
                               "cost": NOTHING, "supply": line.get("supply")}


def _put_line(fold: Fold, e: Any, line: dict[str, Any], store_id: str) -> None:
    """A new line; labor on a job already dispatched is its technician's, as the workshop's
    `/technicians/kpi` credits it (also when the job had no labor line at its dispatch)."""
    table, row = _line_row(e, line, store_id)
    if table == "fact_labor_lines":
        job = fold.get("dim_job", str(e.originator_id), row["job_no"])
        row["technician_id"] = None if job is None else job["technician_id"]
    fold.put(table, row)


@on(WorkOrder.LineAdded)
def _line_added(fold: Fold, e: WorkOrder.LineAdded, n: int) -> None:
    _put_line(fold, e, e.line, _wo(fold, e)["store_id"])


@on(WorkOrder.LinesCarriedOver)
def _carried(fold: Fold, e: WorkOrder.LinesCarriedOver, n: int) -> None:
    store = _wo(fold, e)["store_id"]
    for line in e.lines:
        _put_line(fold, e, line, store)


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
    fold.put("dim_job", {"work_order_id": str(e.originator_id), "job_no": e.job_no,
                         "technician_id": e.technician_id, "dispatched_at": e.audit.at})
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


@on(WorkOrder.QualityChecked)
def _quality_checked(fold: Fold, e: WorkOrder.QualityChecked, n: int) -> None:
    if not e.passed:
        return
    _wo(fold, e)
    for row in fold.where("fact_labor_lines", str(e.originator_id), job_no=e.job_no):
        row["passed_at"] = e.audit.at


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
ignore(WorkOrder.CompensationRecorded, WorkOrder.SettlementConfirmed, WorkOrder.JobAdded,
       WorkOrder.Diagnosed,
       WorkOrder.SerialsRecorded, WorkOrder.EvidenceAdded,
       WorkOrder.EvidenceWithdrawn, WorkOrder.CompletionCertified)


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
    net = vat = cost = discount = ZERO  # the lines' sums, each amount read once
    for bill in text.values():
        for ln in bill["lines"]:
            net += Decimal(ln["net"])
            vat += Decimal(ln["vat"])
            cost += Decimal(ln["cost"])
            discount += Decimal(ln["discount"])
    insurer = (text["insurance"].get("payer") or {}).get("insurer") \
        if "insurance" in text else None
    row.update(
        revenue=net - vat, vat=vat, parts_cost=cost, discount=discount,
        **{f"{kind}_total": _decimal(text[kind]["total"]) if kind in text else None
           for kind in ("customer", "warranty", "insurance", "internal")},
        bills_json=json.dumps(text), allowances=NOTHING, insurer=insurer,
        insurer_key=insurer_key(insurer) if insurer else None)


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


BILL_AMOUNTS = ("gross", "discount", "labor", "parts", "vat", "total", "cost", "deductible")
LINE_AMOUNTS = ("gross", "discount", "net", "vat", "cost", "vat_rate", "qty", "unit_price",
                "deductible")


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
        _discount_labor(labor, NOTHING)


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
        insurance_total=None, internal_total=None, bills_json=None, allowances=None,
        insurer=None, insurer_key=None)


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


# kept in the event store and the finance read model; an insurer's assessment reaches the
# tables through the bills it shapes (the customer's deductible and excess lines, the
# insurer's lines net of them: Settlement.Drafted); a receivable written off moves no money
# and no revenue (a claim loss: domain/receivable_adjustment.py)
ignore(Settlement.InvoiceRecorded, Settlement.PaymentReconciled, Settlement.InsuranceAssessed,
       Settlement.RefundReconciled, Settlement.RefundReconciliationWithdrawn,
       Settlement.PaymentReconciliationWithdrawn, Settlement.ReceivableWrittenOff,
       Settlement.WriteOffReversed)
# a charge to account (挂账) reaches the tables through the Settlement.Settled it comes with;
# its due day is the finance read model's
ignore(Settlement.ChargedToAccount)
