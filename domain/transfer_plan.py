"""Which sister stores send how much of a part to a store below its minimum (自动调拨).

The rules, shared by the suggestion list (projections/transfer_suggestions.py) and the command
that sends what it proposes (domain/transfer_suggesting.py):

- a store is short of a part when what it has and what is coming — available + on order + in
  transit to it — is below its minimum; it needs as much as a reorder would bring: its reorder
  quantity, or the shortfall where that is more (the purchase-order suggestion's quantity, with
  what is in transit counted as coming);
- a donor's spare is what it may send and still keep its own floor: available (on hand less
  its reservations for work orders and pending scrap) less its minimum less what its own open
  work orders still wait for (approved part lines' units neither issued nor reserved: back
  orders and special orders), never below 0. What is on order or in transit to the donor is
  not counted: it has not arrived;
- the donors with the most spare send first (the store id breaks a tie), each at most its
  spare, until the need is covered: never more than needed in all.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

ZERO = Decimal(0)


def need(available: Decimal, on_order: Decimal, in_transit: Decimal, min_stock: Decimal,
         reorder_qty: Decimal) -> Decimal:
    """What a store needs of a part: 0 unless available + on order + in transit is below the
    minimum; then the reorder quantity, or the shortfall where that is more."""
    short = min_stock - available - on_order - in_transit
    if short <= 0:
        return ZERO
    return max(reorder_qty, short)


def spare(available: Decimal, min_stock: Decimal, waiting: Decimal) -> Decimal:
    """What a donor can send and still hold its minimum and what its own work orders wait for."""
    return max(available - min_stock - waiting, ZERO)


def plan(needed: Decimal, donors: Iterable[tuple[str, Decimal]]) -> list[tuple[str, Decimal]]:
    """(store, qty) per donor that sends: the most spare first, none more than its spare, all
    together at most `needed`."""
    sends: list[tuple[str, Decimal]] = []
    left = needed
    for store_id, can in sorted(donors, key=lambda d: (-d[1], d[0])):
        if left <= 0:
            break
        take = min(can, left)
        if take > 0:
            sends.append((store_id, take))
            left -= take
    return sends
