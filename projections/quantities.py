"""How a read shows a quantity: its digits and no more, whatever arithmetic made it.

A quantity is stored as the decimal it was written or summed as, so the same eight units
showed as "8" (received as 8) and "8.0" (lots of 5.5 and 2.5, or a transfer of 0.5 booked
out of 8.5), and "2.50" beside "2.5". Every stock read shows it one way: without trailing
zeros after the point, and without the point when whole ("8", "2.5", "0.125", "0"); so do
a work order's part lines (projections/work_order_doc.py) and a purchase order's lines
(projections/purchase_order_queries.py), which hold them as text.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from domain.money import shown_quantity

# The quantity fields of the stock reads (an item, its lots and reservations, the movement
# journal, the valuation, transfers, reorder suggestions, approvals); money is not among them.
QUANTITY_FIELDS = frozenset({
    "on_hand", "reserved", "available", "available_now", "on_order", "in_transit",
    "min_stock", "reorder_qty", "received_qty", "qty", "short_qty", "units",
    "in_transit_units", "suggested_qty", "by_transfer",
})
# A work order's part line's quantities: ordered, issued, held for it.
PART_LINE_QUANTITIES = ("qty", "issued_qty", "reserved_qty")


def shown_quantities(row: dict[str, Any]) -> dict[str, Any]:
    """`row` with each quantity field's decimal shown as `shown_quantity` shows it."""
    for field in QUANTITY_FIELDS.intersection(row):
        if isinstance(row[field], Decimal):
            row[field] = shown_quantity(row[field])
    return row


def shown_text(value: Any) -> str:
    """A quantity (a Decimal, or its text) as text, as `shown_quantity` shows it."""
    return str(shown_quantity(Decimal(str(value))))


def shown_texts(row: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    """`row` with each of `fields` it holds (not null) as `shown_text` shows it."""
    for field in fields:
        if row.get(field) is not None:
            row[field] = shown_text(row[field])
    return row
