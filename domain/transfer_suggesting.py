"""Send the transfers the suggestion list proposes: one command, one save, one transfer per part
and donor store, each in transit at once (a transfer's first state), or none at all.

The list (projections/transfer_suggestions.py) proposes; this command re-checks every line on the
aggregates: the receiving store still needs that much of the part (its item's available and
on order, and what is coming to it: its open transfers, domain/transfers_coming.py), and each
donor can still spare its quantity (its item's available and minimum, and what the parts-demand
view shows its own work orders waiting for). A line that no longer holds is 409 naming the part
(and the donor), and nothing is sent.

Every transfer sent changes the streams a second command for the same need would decide on —
the receiver's transfers coming, each donor's stock item —, so of two commands deciding at once
the second to save conflicts and is decided again on what the first sent: nothing is sent twice,
however late the views are.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any
from uuid import UUID

from domain.application import CommandResult, Decision, Request, Session
from domain.common import (
    IllegalTransition,
    InvalidInput,
    NotPermitted,
    require,
    require_group_store,
)
from domain.counter import DocumentCounter
from domain.inventory import Inventory
from domain.inventory_desk import existing_stock, stock_stream
from domain.money import quantity
from domain.part import normalise_part_number
from domain.transfer_dispatch import dispatch_transfer
from domain.transfer_plan import ZERO, need, spare
from domain.transfers_coming import coming_stream, in_transit_to

# One command loads and changes the stock items of every part's receiver and donors.
MAX_SUGGESTED_PARTS = 500


class TransferPlanChanged(IllegalTransition):
    """The stock a suggested transfer was planned on has changed since (HTTP 409)."""


def require_plan_size(parts: int) -> None:
    require(parts <= MAX_SUGGESTED_PARTS, InvalidInput(
        f"transfers are sent from suggestions for at most {MAX_SUGGESTED_PARTS} parts at a time "
        f"({parts} proposed): name the ones to send in lines", limit=MAX_SUGGESTED_PARTS,
        count=parts))


def send_suggested(inventory: Inventory, request: Request, *, to_store: str,
                   lines: Sequence[Mapping[str, Any]], in_transit: Mapping[str, Iterable[UUID]],
                   waiting: Mapping[tuple[str, str], Decimal],
                   reason: str | None = None) -> CommandResult:
    """Send `lines` ({part_number, from_store, qty}) to `to_store`. `in_transit` (part → the
    transfers to the store the stock view lists as in transit: those sent before the store's
    transfers coming were kept count from them) and `waiting` ((donor, part) → units its work
    orders wait for) are the read models' figures at the time of the call."""
    require(bool(lines), InvalidInput(f"nothing to transfer to {to_store}"))
    require(request.caller.may_use(to_store),
            NotPermitted(f"your token does not cover store {to_store}"))
    parts: dict[str, list[tuple[str, Decimal]]] = {}
    for n, line in enumerate(lines):
        number = normalise_part_number(str(line["part_number"]))
        qty = quantity(line["qty"], "transferred quantity", places=3, field=f"lines[{n}].qty")
        parts.setdefault(number, []).append((str(line["from_store"]), qty))
    require_plan_size(len(parts))
    donors = sorted({store for sends in parts.values() for store, _ in sends})
    require_group_store(inventory.stores, to_store, *donors)
    for number, sends in parts.items():
        stores = [store for store, _ in sends]
        require(len(set(stores)) == len(stores) and to_store not in stores, InvalidInput(
            f"{number}: each donor once, none of them {to_store}", part_number=number))
    why = (reason or "").strip() or f"suggested transfer: {to_store} below its minimum"
    year = request.caller.at.astimezone(inventory.zone).year

    def decide(session: Session) -> Decision:
        sent: list[dict[str, Any]] = []
        transfers = []
        for number, sends in parts.items():
            coming = in_transit_to(session, to_store, number, in_transit.get(number, ()))
            receiver = existing_stock(session, to_store, number)
            needed = need(receiver.available, receiver.on_order_total, coming,
                          receiver.min_stock, receiver.reorder_qty)
            asked = sum((qty for _, qty in sends), ZERO)
            require(asked <= needed, TransferPlanChanged(
                f"{to_store} needs {needed} of {number} now, not {asked}", part_number=number,
                needed=str(needed)))
            for from_store, qty in sends:
                item = existing_stock(session, from_store, number)
                can = spare(item.available, item.min_stock,
                            waiting.get((from_store, number), ZERO))
                require(qty <= can, TransferPlanChanged(
                    f"{from_store} can spare {can} of {number} now, not {qty}",
                    part_number=number, from_store=from_store, spare=str(can)))
                transfer = dispatch_transfer(session, item, to_store, qty, why, year)
                transfers.append(transfer)
                sent.append({"transfer_id": str(transfer.id), "number": transfer.number,
                             "from_store": from_store, "part_number": number,
                             "qty": str(qty), "cost": str(transfer.cost)})
        return Decision(transfers[0], {"to_store": to_store, "status": "in_transit",
                                       "transfers": sent})

    streams = [stock_stream(to_store, number) for number in parts]
    streams += [coming_stream(to_store, number) for number in parts]
    streams += [stock_stream(store, number) for number, sends in parts.items()
                for store, _ in sends]
    streams += [DocumentCounter.create_id("transfer", store, year) for store in donors]
    return inventory.app.execute(request, decide, streams)
