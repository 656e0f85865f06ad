"""A purchase order's document: lines with what was received and at what cost, and the
order's stamps (drafted, sent, closed, cancelled), folded from its events.

The stock view stores it as the order's `doc` (projections/stock.py), and
`GET /purchase-orders/{id}?as_of=` folds the events up to a moment through the same function,
so the order then and the order now answer alike.
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from domain.application import ServiceCore
from domain.purchase_order import PurchaseOrder
from projections.audit import folded_as_of
from projections.purchase_order_queries import with_outstanding
from projections.stock_batch import money_sum, over_delivery, receipt_cost
from projections.work_orders import dumps


def _stamp(event: Any) -> dict[str, Any]:
    return {"by": event.audit.user_id, "role": event.audit.role,
            "at": event.audit.at.isoformat()}


def _plain(value: Any) -> Any:
    """JSON types only, as the stored document holds them (amounts as strings)."""
    return json.loads(dumps(value))


def order_doc(doc: dict[str, Any] | None, event: PurchaseOrder.Event) -> dict[str, Any]:
    """The document after `event` (`doc`: before it; None before the order was drafted)."""
    if isinstance(event, PurchaseOrder.Drafted):
        doc = {"id": str(event.originator_id), "number": event.number,
               "store_id": event.audit.store_id, "supplier": event.supplier,
               "source": event.source, "status": "draft", "expected_on": event.expected_on,
               "expected_changes": [],
               "lines": [_plain(line) for line in event.lines],
               "created": _stamp(event), "sent": None, "closed": None, "cancelled": None}
    else:
        assert doc is not None, f"purchase order {event.originator_id} was never drafted"
        _change(doc, event)
    doc["version"] = event.originator_version
    doc["updated_at"] = event.audit.at.isoformat()
    return doc


def _change(doc: dict[str, Any], event: PurchaseOrder.Event) -> None:
    if isinstance(event, PurchaseOrder.LineAdded):
        doc["lines"].append(_plain(event.line))
    elif isinstance(event, PurchaseOrder.ExpectedDateChanged):
        doc["expected_on"] = event.expected_on
        doc["expected_changes"].append({"expected_on": event.expected_on,
                                        "previous": event.previous, "reason": event.reason,
                                        **_stamp(event)})
    elif isinstance(event, PurchaseOrder.Sent):
        doc.update(status="sent", sent=_stamp(event))
    elif isinstance(event, PurchaseOrder.LineReceived):
        line = next(ln for ln in doc["lines"] if ln["line_no"] == event.line_no)
        line["received_qty"] = str(Decimal(line["received_qty"]) + event.qty)
        line["receipts"].append({"lot_id": event.lot_id, "qty": str(event.qty),
                                 "supplier_doc": event.supplier_doc,
                                 **receipt_cost(event, Decimal(line["unit_cost"])),
                                 **over_delivery(event), **_stamp(event)})
        line["cost_variance"] = money_sum(r.get("cost_variance") for r in line["receipts"])
        doc["cost_variance"] = money_sum(ln.get("cost_variance") for ln in doc["lines"])
        done = all(Decimal(ln["received_qty"]) >= Decimal(ln["qty"]) for ln in doc["lines"])
        doc["status"] = "received" if done else "partly_received"
    elif isinstance(event, PurchaseOrder.Closed):
        doc.update(status="closed", closed={"reason": event.reason,
                                            "short": _plain({"s": event.short})["s"],
                                            **_stamp(event)})
    elif isinstance(event, PurchaseOrder.Cancelled):
        doc.update(status="cancelled", cancelled={"reason": event.reason, **_stamp(event)})


def purchase_order_as_of(app: ServiceCore, order_id: UUID, at: datetime,
                         zone: ZoneInfo) -> dict[str, Any] | None:
    """The order as it stood at `at`, as the current detail shows it (each line's
    `outstanding_qty` and `over_delivered_qty`, its `open_value`, and `overdue` on the store's
    day then, in `zone`, included), with `as_of`; None before it was drafted, or when the
    stream is not a purchase order."""
    doc = folded_as_of(app, order_id, at, PurchaseOrder.Event, order_doc)
    if doc is None:
        return None
    return {**with_outstanding(doc, at.astimezone(zone).date()), "as_of": at.isoformat()}
