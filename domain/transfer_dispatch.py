"""A transfer leaving its sending store: shared by a transfer typed at the counter
(`Inventory.transfer`) and those sent from suggestions (domain/transfer_suggesting.py), each
noted as coming to the receiving store (domain/transfers_coming.py) in the same save."""

from __future__ import annotations

from uuid import UUID, uuid4

from domain.application import Session
from domain.money import quantity
from domain.stock import StockItem
from domain.stock_state import picks_cost
from domain.transfer import Transfer
from domain.transfers_coming import note_sent


def dispatch_transfer(session: Session, item: StockItem, to_store: str, qty: object,
                      reason: str | None, year: int, transfer_id: UUID | None = None) -> Transfer:
    """The units leave the sending store's item (FIFO) on a new transfer, numbered in the
    sender's series, in transit to `to_store`."""
    transfer_id = transfer_id or uuid4()
    audit = session.audit(item.store_id)
    number = session.next_number("transfer", "TR", item.store_id, year)
    picks = item.transfer_out(audit, str(transfer_id), to_store, qty, reason)
    transfer = Transfer(id=transfer_id, audit=audit, number=number, from_store=item.store_id,
                        to_store=to_store, part_number=item.part_number,
                        qty=quantity(qty, "transferred quantity", places=3, field="qty"),
                        picks=picks, cost=picks_cost(picks), reason=(reason or "").strip())
    session.add(transfer)
    note_sent(session, transfer)
    return transfer
