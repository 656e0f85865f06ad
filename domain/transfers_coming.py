"""What is on its way to a store of one part: the transfers sent to it and not yet booked in.

A stock item holds what a store has and has ordered, not what its sister stores have sent it;
the stock view knows that, but a moment late. The transfer suggestions' command decides how
much a store still needs on what is coming to it, so that figure lives here, in a stream of
its own per store and part that every dispatch to the store (typed at the counter or sent from
suggestions) and every receipt of such a transfer changes in the same save as the transfer.
Two commands that would both send the store the same need both change this stream: the second
to save conflicts on its version and is decided again on what the first sent.

Transfers sent before this stream was kept are not in it; `in_transit_to` counts those from the
transfers themselves (the ids the stock view lists as in transit).
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.common import Audit, stable_id
from domain.session import Session
from domain.transfer import Transfer

ZERO = Decimal(0)


class TransfersComing(Aggregate):
    """The open transfers of one part to one store (`coming`: transfer id → quantity)."""

    class Event(Aggregate.Event):
        audit: Audit

    class Started(Event, Aggregate.Created):
        store_id: str
        part_number: str

    class TransferSent(Event):
        transfer_id: str
        from_store: str
        qty: Decimal

    class TransferArrived(Event):
        transfer_id: str

    @staticmethod
    def create_id(store_id: str, part_number: str) -> UUID:
        return stable_id("transfers-coming", store_id, part_number)

    @event(Started)
    def __init__(self, audit: Audit, store_id: str, part_number: str) -> None:
        self.store_id = store_id
        self.part_number = part_number
        self.coming: dict[str, Decimal] = {}

    @property
    def total(self) -> Decimal:
        return sum(self.coming.values(), ZERO)

    @event(TransferSent)
    def _sent(self, audit: Audit, transfer_id: str, from_store: str, qty: Decimal) -> None:
        self.coming[transfer_id] = qty

    @event(TransferArrived)
    def _arrived(self, audit: Audit, transfer_id: str) -> None:
        del self.coming[transfer_id]


def coming_stream(store_id: str, part_number: str) -> UUID:
    return TransfersComing.create_id(store_id, part_number)


def _coming(session: Session, store_id: str, part_number: str) -> TransfersComing | None:
    return session.find(TransfersComing, coming_stream(store_id, part_number))


def _started(session: Session, store_id: str, part_number: str) -> TransfersComing:
    """The store's transfers coming of the part, started in the session where it has none:
    a command that decides on there being none and one that sends the first transfer there
    both make it, so they conflict as on any other version."""
    coming = _coming(session, store_id, part_number)
    if coming is None:
        coming = TransfersComing(audit=session.audit(store_id), store_id=store_id,
                                 part_number=part_number)
        session.add(coming)
    return coming


def note_sent(session: Session, transfer: Transfer) -> None:
    """The transfer is on its way to its receiving store (in the dispatch's save)."""
    coming = _started(session, transfer.to_store, transfer.part_number)
    coming._sent(session.audit(transfer.from_store), str(transfer.id), transfer.from_store,
                 transfer.qty)


def note_arrived(session: Session, transfer: Transfer) -> None:
    """The receiving store booked the transfer in (in the receipt's save); one sent before
    this stream was kept is not in it, and nothing is recorded."""
    coming = _coming(session, transfer.to_store, transfer.part_number)
    if coming is not None and str(transfer.id) in coming.coming:
        coming._arrived(session.audit(transfer.to_store), str(transfer.id))


def in_transit_to(session: Session, store_id: str, part_number: str,
                  listed: Iterable[UUID] = ()) -> Decimal:
    """What is on its way to the store: its open transfers as this stream holds them, and of
    those the view lists (`listed`) that the stream does not hold (sent before it was kept, or
    booked in since), those the transfer itself says are still in transit.

    The stream is taken into the session (started where there is none yet), so the command's
    save conflicts with any other change to it since; the command is to send the store
    something (or fail). Load it before the receiver's stock item: a receipt saved in between
    then counts twice (in transit and on hand: the store is sent less), never not at all."""
    held = _started(session, store_id, part_number).coming
    total = sum(held.values(), ZERO)
    for transfer_id in dict.fromkeys(listed):
        if str(transfer_id) in held:
            continue
        transfer = session.find(Transfer, transfer_id)
        if (transfer is not None and transfer.status == "in_transit"
                and transfer.to_store == store_id and transfer.part_number == part_number):
            total += transfer.qty
    return total
