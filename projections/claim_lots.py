"""The stock behind a warranty claim's parts: per line, every issue to it and return from it
(the stock item's `Issued` / `ReturnedFromJob` events keyed by work order and line) and the
lots they leave on the car, net of returns, with supplier, delivery note, conformity
certificate and receipt time (a lot transferred in keeps its origin)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from uuid import UUID

from domain.stock import StockItem
from domain.unreadable_events import reading
from projections.evidence import Recorded, stamp, topics

LOT_DETAILS = ("supplier", "supplier_doc", "cert_ref", "received_at")
STOCK_EVENTS = topics(StockItem.Issued, StockItem.ReturnedFromJob, StockItem.Received,
                      StockItem.TransferredIn)


def lot_details(r: Recorded) -> list[dict[str, Any]]:
    """The lots a receipt or a transfer into the store made, with supplier and documents."""
    with reading(r.event) as e:
        if isinstance(e, StockItem.Received):
            return [{"lot_id": e.lot_id, "supplier": e.supplier, "supplier_doc": e.supplier_doc,
                     "cert_ref": e.cert_ref, "received_at": r.at.isoformat()}]
        if isinstance(e, StockItem.TransferredIn):
            return [{**{k: lot.get(k) for k in LOT_DETAILS}, "lot_id": lot["lot_id"],
                     "transferred_from": lot["origin_lot"], "transferred_at": r.at.isoformat()}
                    for lot in e.lots]
        return []


def claimed_lots(stock: dict[UUID, list[Recorded]], work_order_id: UUID,
          ) -> tuple[dict[str, dict[str, Any]], dict[str, list[Recorded]]]:
    """Per line: its stock movements and the lots they named, net of returns, with supplier;
    and per line the stock events that say so."""
    prefix = f"{work_order_id}:"
    lines: dict[str, dict[str, Any]] = {}
    used: dict[str, list[Recorded]] = {}
    for events in stock.values():
        wanted: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        for r in events:
            with reading(r.event) as e:
                if isinstance(e, StockItem.Issued | StockItem.ReturnedFromJob) \
                        and e.key.startswith(prefix):
                    sign = 1 if isinstance(e, StockItem.Issued) else -1
                    line_id = e.key[len(prefix):]
                    mine = lines.setdefault(line_id, {"movements": [], "lots": {}})
                    mine["movements"].append({
                        "movement": "issue" if sign > 0 else "return", **stamp(r),
                        "reason": getattr(e, "reason", None),
                        "lots": [{"lot_id": p["lot_id"], "qty": p["qty"]} for p in e.picks]})
                    for pick in e.picks:
                        lot = mine["lots"].setdefault(pick["lot_id"], {
                            "lot_id": pick["lot_id"], "qty": Decimal(0),
                            "supplier": pick["supplier"]})
                        lot["qty"] += sign * pick["qty"]
                        wanted.setdefault(pick["lot_id"], []).append((line_id, lot))
                    used.setdefault(line_id, []).append(r)
        for r in events:
            for details in lot_details(r):
                for line_id, lot in wanted.get(details["lot_id"], []):
                    lot.update(details)
                    used[line_id].append(r)
    return {line_id: {"movements": found["movements"],
                      "lots": [lot for lot in found["lots"].values() if lot["qty"] != 0]}
            for line_id, found in lines.items()}, used
