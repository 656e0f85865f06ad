"""The book a stocktake count was taken against: the count sheet's version of the stock item.

A clerk counts a shelf against the book as it stood when the count sheet was printed (the
item's `version`, its ETag). Parts go on leaving and arriving while the count is walked and
keyed in: an issue to a job recorded after the sheet took its units from both the shelf and the
book, so it is no difference between them. The count is therefore compared with the sheet's
book carried forward by the physical movements recorded since (receipts, issues, returns,
scrap, transfers, returns to the supplier), and a variance is what the shelf and the book
really differ by. Variances posted since are not carried forward: they corrected the book
towards the shelf, so a second count from the same sheet finds the difference already booked.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from domain.application import ServiceCore
from domain.common import InvalidInput, require
from domain.stock import StockItem

_OUT = (StockItem.Issued, StockItem.Scrapped, StockItem.TransferredOut)


def moved_since(app: ServiceCore, item: StockItem, as_of: int) -> dict[str, Decimal]:
    """Net units each lot took in (+) or gave out (-) by physical movements recorded after
    version `as_of` of the item, up to its version now; lots that did not move are absent."""
    require(1 <= as_of <= item.version, InvalidInput(
        f"{item.part_number} in {item.store_id} is at version {item.version}; a count sheet "
        f"cannot be of version {as_of}", field="as_of_version", version=item.version))
    if as_of == item.version:
        return {}
    return moved_by(app.events.get(item.id, gt=as_of, lte=item.version))


def moved_by(events: Iterable[Any]) -> dict[str, Decimal]:
    """Net units each lot took in (+) or gave out (-) by these events of a stock item."""
    moved: dict[str, Decimal] = defaultdict(Decimal)
    for event in events:
        for lot_id, qty in _movements(event):
            moved[lot_id] += qty
    return {lot_id: qty for lot_id, qty in moved.items() if qty}


def _movements(event: Any) -> list[tuple[str, Decimal]]:
    if isinstance(event, _OUT):
        return [(p["lot_id"], -Decimal(str(p["qty"]))) for p in event.picks]
    if isinstance(event, StockItem.ReturnedFromJob):
        return [(p["lot_id"], Decimal(str(p["qty"]))) for p in event.picks]
    if isinstance(event, StockItem.TransferredIn):
        return [(lot["lot_id"], Decimal(str(lot["qty"]))) for lot in event.lots]
    if isinstance(event, StockItem.Received):
        return [(event.lot_id, event.qty)]
    if isinstance(event, StockItem.ReturnedToSupplier):
        return [(event.lot_id, -event.qty)]
    return []  # a variance posted corrects the book, it moves nothing on the shelf
