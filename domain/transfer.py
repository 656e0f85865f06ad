"""A transfer of one part between two stores: out of the sender, in transit, into the receiver.

The sender's stock item and the transfer are saved together when the parts leave; the
receiver's stock item and the transfer when they arrive. While in transit the units belong to
neither store's on-hand stock, and the transfer says where they are.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.common import Audit, IllegalTransition, require

STATUSES = ("in_transit", "received")


class Transfer(Aggregate):
    class Event(Aggregate.Event):
        audit: Audit

    class Dispatched(Event, Aggregate.Created):
        number: str
        from_store: str
        to_store: str
        part_number: str
        qty: Decimal
        picks: list[dict[str, Any]]
        cost: Decimal
        reason: str

    class Received(Event):
        lot_ids: list[str]

    class ReceivedShort(Event):
        """Fewer units arrived than were sent: the rest were counted short at the receiving
        store under `count_id` (the transfer's number)."""

        qty: Decimal
        count_id: str
        reason: str

    @event(Dispatched)
    def __init__(self, audit: Audit, number: str, from_store: str, to_store: str,
                 part_number: str, qty: Decimal, picks: list[dict[str, Any]], cost: Decimal,
                 reason: str, id: UUID | None = None) -> None:
        self.number = number
        self.store_id = from_store
        self.from_store = from_store
        self.to_store = to_store
        self.part_number = part_number
        self.qty = qty
        self.picks = [dict(p) for p in picks]
        self.cost = cost
        self.status = "in_transit"
        self.short_qty = Decimal(0)

    def check_receivable(self, audit: Audit) -> None:
        require(self.status == "in_transit",
                IllegalTransition(f"transfer {self.number} is already {self.status}"))
        require(audit.store_id == self.to_store,
                IllegalTransition(f"transfer {self.number} goes to {self.to_store}"))

    def receive(self, audit: Audit, lot_ids: list[str]) -> None:
        """Booked in at the receiving store as these lots."""
        self.check_receivable(audit)
        self._received(audit, lot_ids)

    @event(Received)
    def _received(self, audit: Audit, lot_ids: list[str]) -> None:
        self.status = "received"
        self.lot_ids = list(lot_ids)

    def record_short(self, audit: Audit, qty: Decimal, count_id: str, reason: str) -> None:
        """The units that did not arrive, as the receiving store counted them short."""
        require(self.status == "received" and 0 < qty <= self.qty,
                IllegalTransition(f"transfer {self.number} cannot be {qty} short"))
        self._received_short(audit, qty, count_id, reason)

    @event(ReceivedShort)
    def _received_short(self, audit: Audit, qty: Decimal, count_id: str, reason: str) -> None:
        self.short_qty = qty
