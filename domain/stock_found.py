"""Units a stocktake finds of a lot used up long ago: the lot's record, from the item's events.

A stock item keeps only its last used-up lots (domain/stock_lots.py). When a count finds units of
an older one (a returned unit found on a shelf), the lot is known all the same: its receipt (or
transfer in) is an event of the item's own stream, recorded when the lot was taken in, with its
unit cost, supplier, delivery note, certificate and receipt time. The count books the units
into that lot, at that cost: the auditor can follow them to the delivery they came with, and the
cost basis is the lot's own, not an estimate. Finding that event is a count's rare cost, never a
receipt's or an issue's: on PostgreSQL the database picks out the receipts and transfers in whose
stored state names the lot (a busy part's stream has hundreds of thousands of events, and
decoding them all would hold the count for seconds, each retry on a version conflict again);
elsewhere (in memory, or a state stored encrypted or compressed) the stream is read in order.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from eventsourcing.domain import DomainEventProtocol
from eventsourcing.utils import get_topic

from domain.application import ServiceCore
from domain.stock import StockItem

TAKEN_IN = (get_topic(StockItem.Received), get_topic(StockItem.TransferredIn))


def _taken_in(app: ServiceCore, item: StockItem, wanted: set[str]
              ) -> Iterable[DomainEventProtocol[Any]]:
    """The item's events that may have taken one of the `wanted` lots in, in order."""
    select = getattr(app.recorder, "select_events_holding", None)
    mapper = app.mapper
    if select is None or mapper.cipher is not None or mapper.compressor is not None:
        return app.events.get(item.id, lte=item.version)
    # each lot id as the stored state spells it: a JSON string, quotes included
    needles = [mapper.transcoder.encode(lot_id) for lot_id in sorted(wanted)]
    stored = select(item.id, topics=TAKEN_IN, needles=needles, lte=item.version)
    return (mapper.to_domain_event(event) for event in stored)


def lot_records(app: ServiceCore, item: StockItem, lot_ids: Iterable[str]) -> dict[str, Any]:
    """The record of each lot named that the item took in, as the event that took it in says
    it (the item's state holds the same fields for the lots it keeps)."""
    wanted, found = set(lot_ids), {}
    if not wanted:
        return {}
    for event in _taken_in(app, item, wanted):
        if isinstance(event, StockItem.Received) and event.lot_id in wanted:
            found[event.lot_id] = {
                "lot_id": event.lot_id, "unit_cost": event.unit_cost,
                "supplier": event.supplier, "supplier_doc": event.supplier_doc,
                "received_at": event.audit.at.isoformat(), "cert_ref": event.cert_ref,
                "received_qty": event.qty, "po_ref": event.po_ref, "origin_lot": None}
        elif isinstance(event, StockItem.TransferredIn):
            for lot in event.lots:
                if lot["lot_id"] in wanted:
                    found[lot["lot_id"]] = {
                        "lot_id": lot["lot_id"], "unit_cost": lot["unit_cost"],
                        "supplier": lot["supplier"], "supplier_doc": lot["supplier_doc"],
                        "received_at": lot["received_at"], "cert_ref": lot.get("cert_ref"),
                        "received_qty": lot["qty"], "po_ref": None,
                        "origin_lot": lot.get("origin_lot")}
        if len(found) == len(wanted):
            break
    return found
