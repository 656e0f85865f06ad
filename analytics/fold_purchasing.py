"""The fold's handlers of the parts fill rate's unfilled demand: lost sales (and their voiding),
and the lines of purchase orders (an emergency line is an emergency purchase)."""

from __future__ import annotations

from typing import Any

from analytics.fold import Fold, ignore, on
from domain.lost_sale import LostSale
from domain.purchase_order import PurchaseOrder

LINES = "fact_purchase_order_lines"


@on(LostSale.Recorded)
def _lost_sale(fold: Fold, e: LostSale.Recorded, n: int) -> None:
    fold.put("fact_lost_sales", {
        "notification_id": n, "lost_sale_id": str(e.originator_id),
        "recorded_at": e.audit.at, "store_id": e.store_id, "part_number": e.part_number,
        "qty": e.qty, "reason": e.reason,
        "work_order_id": None if e.work_order_id is None else str(e.work_order_id),
        "customer_id": None if e.customer_id is None else str(e.customer_id)})


@on(LostSale.Voided)
def _lost_sale_voided(fold: Fold, e: LostSale.Voided, n: int) -> None:
    """A wrong entry: its row stays, marked, and no figure counts it (analytics/fill_rate.py)."""
    row = fold.touch("fact_lost_sales", str(e.originator_id))
    if row is not None:
        row["voided_at"] = e.audit.at


def _put_line(fold: Fold, e: Any, order: dict[str, Any], line: dict[str, Any]) -> None:
    fold.put(LINES, {**order, "line_no": line["line_no"], "part_number": line["part_number"],
                     "qty": line["qty"], "unit_cost": line["unit_cost"],
                     "emergency": bool(line.get("emergency")), "added_at": e.audit.at})


@on(PurchaseOrder.Drafted)
def _drafted(fold: Fold, e: PurchaseOrder.Drafted, n: int) -> None:
    order = {"purchase_order_id": str(e.originator_id), "number": e.number,
             "store_id": e.audit.store_id, "supplier": e.supplier, "status": "draft"}
    for line in e.lines:
        _put_line(fold, e, order, line)


def _lines(fold: Fold, e: Any) -> list[dict[str, Any]]:
    """The order's rows (preloaded for the batch: analytics/loader.py), each marked as
    changed."""
    return fold.where(LINES, str(e.originator_id))


@on(PurchaseOrder.LineAdded)
def _line_added(fold: Fold, e: PurchaseOrder.LineAdded, n: int) -> None:
    first = _lines(fold, e)[0]
    order = {k: first[k] for k in ("purchase_order_id", "number", "store_id", "supplier",
                                   "status")}
    _put_line(fold, e, order, e.line)


@on(PurchaseOrder.Sent)
def _sent(fold: Fold, e: PurchaseOrder.Sent, n: int) -> None:
    for row in _lines(fold, e):
        row.update(status="sent", sent_at=e.audit.at)


@on(PurchaseOrder.Cancelled)
def _cancelled(fold: Fold, e: PurchaseOrder.Cancelled, n: int) -> None:
    for row in _lines(fold, e):
        row.update(status="cancelled")


# receipts, closing and the expected delivery day change no line's demand: the stock
# movements and the stock view carry them
ignore(PurchaseOrder.LineReceived, PurchaseOrder.Closed, PurchaseOrder.ExpectedDateChanged)
