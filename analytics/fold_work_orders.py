"""The fold's handlers of work orders (their settlements, payments and refunds:
`analytics.fold_settlements`)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any

from analytics.fold import Fold, ignore, on
from domain.money import vat_included
from domain.payer_name import payer_name_key
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
        discount_labor(labor, NOTHING)
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
        discount_labor(row, row["discount"])


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


@on(WorkOrder.ComebackMarked)
def _comeback_marked(fold: Fold, e: WorkOrder.ComebackMarked, n: int) -> None:
    _wo(fold, e)["comeback_of"] = str(e.earlier_work_order_id)


@on(WorkOrder.ComebackMarkWithdrawn)
def _comeback_mark_withdrawn(fold: Fold, e: WorkOrder.ComebackMarkWithdrawn, n: int) -> None:
    _wo(fold, e)["comeback_of"] = None


# facts the analytic tables do not carry (they stay in the event store)
ignore(WorkOrder.CompensationRecorded, WorkOrder.SettlementConfirmed, WorkOrder.JobAdded,
       WorkOrder.Diagnosed, WorkOrder.JobClosed,
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


def discount_labor(row: dict[str, Any], discount: Decimal) -> None:
    """Labor sales after settlement discounts, without the VAT inside them."""
    net = row["gross"] - discount
    row.update(discount=discount, net_ex_vat=net - vat_included(net, row["vat_rate"]))
