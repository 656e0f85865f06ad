"""A lost sale: a part asked for at the parts counter or the service desk that the store could
not (or the customer would not) supply — one stream per request, never changed afterwards.

The part number need not be in the part master: a part the dealer group has never stocked (the
`not_stocked` reason) has no master record, and the lost sale is exactly the evidence for
adding one. The number is kept in the master's spelling (`normalise_part_number`) so that the
lost sales of a part and its approved lines count together. Parts fill rate (DOMAIN.md) counts
each one as a line of demand that went unfilled.

A wrong entry (a clerk's typo: the wrong part, a quantity ten times too big, a request that
was in fact filled) is voided by a manager with a reason: the stream keeps the entry and says
it was voided, by whom, when and why; the lists show it as voided and no count of lost demand
or fill rate counts it. Once only.
"""

from __future__ import annotations

from decimal import Decimal
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.common import (
    Audit,
    IllegalTransition,
    InvalidInput,
    NotPermitted,
    require,
    require_reason,
)
from domain.money import naming, quantity
from domain.part import normalise_part_number

REASONS = ("not_stocked", "out_of_stock", "price", "customer_declined_wait")
MAX_NOTE = 500


def lost_sale_reason(value: object) -> str:
    text = str(value or "").strip()
    require(text in REASONS, InvalidInput(
        f"reason must be one of {', '.join(REASONS)}", field="reason"))
    return text


def lost_sale_note(value: object) -> str | None:
    text = str(value or "").strip()
    require(len(text) <= MAX_NOTE, InvalidInput(
        f"a note holds at most {MAX_NOTE} characters", field="note"))
    return text or None


class LostSaleError(IllegalTransition):
    """A lost sale cannot do that in its state (HTTP 409)."""


class LostSale(Aggregate):
    """One part request the store did not fill."""

    class Event(Aggregate.Event):
        audit: Audit

    class Recorded(Event, Aggregate.Created):
        store_id: str
        part_number: str
        qty: Decimal
        reason: str
        work_order_id: UUID | None
        customer_id: UUID | None
        note: str | None

    class Voided(Event):
        """A wrong entry taken out of the figures by a manager, with the reason."""

        reason: str

    @classmethod
    def record(cls, audit: Audit, *, part_number: object, qty: object, reason: object,
               work_order_id: UUID | None = None, customer_id: UUID | None = None,
               note: object = None, id: UUID | None = None) -> LostSale:
        """Validated once, here; the store is the audit's (where it was asked for)."""
        with naming("part_number"):
            number = normalise_part_number(str(part_number or ""))
        return cls(audit=audit, store_id=audit.store_id, part_number=number,
                   qty=quantity(qty, "quantity asked for", places=3, field="qty"),
                   reason=lost_sale_reason(reason), work_order_id=work_order_id,
                   customer_id=customer_id, note=lost_sale_note(note), id=id)

    @event(Recorded)
    def __init__(self, audit: Audit, store_id: str, part_number: str, qty: Decimal,
                 reason: str, work_order_id: UUID | None, customer_id: UUID | None,
                 note: str | None, id: UUID | None = None) -> None:
        self.store_id = store_id
        self.part_number = part_number
        self.qty = qty
        self.reason = reason
        self.work_order_id = work_order_id
        self.customer_id = customer_id
        self.note = note
        self.voided: dict[str, object] | None = None

    def void(self, audit: Audit, reason: str | None) -> None:
        """A manager's, with a reason (3+ characters, else 422); a second void is 409."""
        require(audit.role == "manager", NotPermitted("voiding a lost sale needs a manager"))
        why = require_reason(reason, "voiding a lost sale")
        require(self.voided is None, LostSaleError("the lost sale was voided already",
                                                   lost_sale_status="voided"))
        self._voided(audit, why)

    @event(Voided)
    def _voided(self, audit: Audit, reason: str) -> None:
        self.voided = {"by": audit.user_id, "at": audit.at, "reason": reason}
