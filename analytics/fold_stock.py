"""The fold's handlers of stock movements and of the part master."""

from __future__ import annotations

from typing import Any

from analytics.fold import Fold, ignore, on
from domain.part import Part
from domain.stock import StockItem

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


# -- part master ------------------------------------------------------------------------------

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
