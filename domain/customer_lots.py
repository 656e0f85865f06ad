"""A loyal customer's used-up earnings, kept out of the customer (bounded state).

The customer keeps its loyalty lots in earning order; a lot whose points are all used (redeemed,
expired or taken back: `remaining` 0) still counts for its own visit: a refund of the visit
reads what the earning gave and took back, money paid again gives points back into it, and a
second earning for the reference is refused. Every command on the customer would otherwise copy,
snapshot and scan every earning of a lifetime. So before each save the customer keeps its last
`KEEP_USED_UP` used-up lots, and each older one goes to a stream of its own (`EarnedLot`, one
per customer and reference) in the same save (`Customer.LotsArchived`). A command that needs
one back — a refund on the visit, money paid again — brings the lot back into the customer
first (`Customer.LotRevived`, in its order of earning), and the same rule sends it out again
when it is used up. Archived, revived and archived again, every change of the lot goes through
the customer's stream, so two commands on it conflict there as before.

Redemptions likewise: the customer keeps its last `KEEP_REDEMPTIONS`, each older one is a
stream of its own (`RedeemedReference`, `Customer.RedemptionsArchived`), and a redemption of a
reference that has one is refused as a second redemption is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.common import Audit, stable_id
from domain.customer import Customer

if TYPE_CHECKING:
    from domain.session import Session

KEEP_USED_UP = 20
KEEP_REDEMPTIONS = 20  # the latest; an older reference's stream refuses it again
ARCHIVED_PER_SAVE = 50  # a customer stored with more goes on over its next saves


class EarnedLot(Aggregate):
    """One earning of a customer's points, as the customer last held it when it went out."""

    class Event(Aggregate.Event):
        audit: Audit

    class Archived(Event, Aggregate.Created):
        customer_id: UUID
        reference: str
        lot: dict[str, Any]

    class ArchivedAgain(Event):
        lot: dict[str, Any]

    class Revived(Event):
        """Back in the customer (`Customer.LotRevived`), in the same save."""

    @staticmethod
    def create_id(customer_id: UUID, reference: str) -> UUID:
        return stable_id("earned-lot", customer_id, reference)

    @event(Archived)
    def __init__(self, audit: Audit, customer_id: UUID, reference: str,
                 lot: dict[str, Any]) -> None:
        self.store_id = audit.store_id
        self.customer_id = customer_id
        self.reference = reference
        self.lot = lot
        self.out = True  # False: the customer holds it again

    @event(ArchivedAgain)
    def _archived_again(self, audit: Audit, lot: dict[str, Any]) -> None:
        self.lot = lot
        self.out = True

    @event(Revived)
    def _revived(self, audit: Audit) -> None:
        self.out = False


class RedeemedReference(Aggregate):
    """A redemption of a customer's points gone out of the customer: that it exists says the
    reference was redeemed (a second redemption of it is refused)."""

    class Archived(Aggregate.Created):
        audit: Audit
        customer_id: UUID
        reference: str
        redemption: dict[str, Any]

    @staticmethod
    def create_id(customer_id: UUID, reference: str) -> UUID:
        return stable_id("points-redeemed", customer_id, reference)

    @event(Archived)
    def __init__(self, audit: Audit, customer_id: UUID, reference: str,
                 redemption: dict[str, Any]) -> None:
        self.store_id = audit.store_id
        self.customer_id = customer_id
        self.reference = reference
        self.redemption = redemption


def redeemed_before(session: Session, customer: Customer, reference: str) -> bool:
    """Whether `reference` is among the customer's redemptions gone to their own streams."""
    return session.find(RedeemedReference,
                        RedeemedReference.create_id(customer.id, reference)) is not None


def _archive_redemptions(session: Session, customer: Customer, audit: Audit) -> None:
    held = list(customer.redemptions)
    going = held[:max(0, len(held) - KEEP_REDEMPTIONS)][:ARCHIVED_PER_SAVE]
    if not going:
        return
    for reference in going:
        session.add(RedeemedReference(audit=audit, customer_id=customer.id, reference=reference,
                                      redemption=dict(customer.redemptions[reference])))
    customer._redemptions_archived(audit, going)


def _archive(session: Session, customer: Customer, audit: Audit) -> None:
    _archive_redemptions(session, customer, audit)
    used_up = [lot for lot in customer.lots if int(lot["remaining"]) == 0]
    going = used_up[:max(0, len(used_up) - KEEP_USED_UP)][:ARCHIVED_PER_SAVE]
    if not going:
        return
    for lot in going:
        lot_id = EarnedLot.create_id(customer.id, lot["reference"])
        found = session.find(EarnedLot, lot_id)
        if found is None:
            session.add(EarnedLot(audit=audit, customer_id=customer.id,
                                  reference=lot["reference"], lot=dict(lot)))
        else:
            found._archived_again(audit, dict(lot))
    customer._lots_archived(audit, [lot["reference"] for lot in going])


def archive_used_up_lots(session: Session) -> None:
    """Before a command's save: each customer it changed keeps its last `KEEP_USED_UP`
    used-up lots; the older ones go to their `EarnedLot` streams in the same save."""
    for aggregate in list(session.aggregates.values()):
        if isinstance(aggregate, Customer) and aggregate.pending_events:
            _archive(session, aggregate, session.audit(aggregate.store_id))


def archived_lot(session: Session, customer: Customer, reference: str) -> EarnedLot | None:
    """The customer's earning `reference` when it is out of the customer, else None."""
    found = session.find(EarnedLot, EarnedLot.create_id(customer.id, reference))
    return found if found is not None and found.out else None


def earned_lot(session: Session, customer: Customer, reference: str) -> dict[str, Any] | None:
    """The customer's earning `reference`, held or out, unchanged (a second earning's check)."""
    held = customer.earned(reference)
    if held is not None:
        return held
    out = archived_lot(session, customer, reference)
    return out.lot if out is not None else None


def lot_back(session: Session, customer: Customer, reference: str) -> None:
    """Before a command changes the earning `reference`: bring it back into the customer."""
    if customer.earned(reference) is not None:
        return
    out = archived_lot(session, customer, reference)
    if out is not None:
        audit = session.audit(customer.store_id)
        out._revived(audit)
        customer._lot_revived(audit, dict(out.lot))
