"""A provider's reference (card slip, WeChat Pay or Alipay transaction id, transfer reference)
taken once per store and method.

A cashier who taps twice records the same terminal transaction twice; without an
Idempotency-Key nothing else would stop the second. The reservation (domain/taken_once.py) is a
stream named by (store, method, reference), created in the same save() as the payment: two
concurrent takers conflict on it, the retry sees the first and is refused. A refund is a
different thing: it names the payment it returns, never a new reference of money in.

A refund's payout reference (`payout_ref`, the transfer's or provider's reference of the money
going out) is taken once per store and payout method too (`RefundPayoutReference`, created in
the approval's save): the same reference on two refunds is most likely a keying error, and
auto-match, which pairs a statement's line of money out with the refund of its reference, could
not tell the two apart. Refunds approved before the reservation existed hold none.

A reference is kept as the provider prints it, whatever the keyboard sent
(`provider_reference`): full-width letters and digits (a Chinese input method's) as ASCII.
One typed in full width was kept as typed before, under a reservation of that form: a new
payment looks for the reservation of the reference as typed and of its full-width form too
(`PaymentReference.typed_before`), so that transaction is still refused a second time.
"""

from __future__ import annotations

from uuid import UUID

from eventsourcing.domain import event

from domain.ascii_width import ascii_width, full_width
from domain.common import Audit, IllegalTransition, stable_id
from domain.taken_once import TakenOnce


class ReferenceTaken(IllegalTransition):
    """The reference was recorded on an earlier payment (HTTP 409, naming that payment)."""


def provider_reference(value: str | None) -> str:
    """A provider's reference in the form kept: full-width read as ASCII, trimmed ("" for none)."""
    return ascii_width(value or "").strip()


class PaymentReference(TakenOnce):
    @staticmethod
    def create_id(store_id: str, method: str, reference: str) -> UUID:
        return stable_id("payment-reference", store_id, method, reference)

    @classmethod
    def typed_before(cls, store_id: str, method: str, typed: str) -> tuple[UUID, ...]:
        """The reservations a reference may have from before references were kept in ASCII:
        as typed (trimmed) and all in full width, where either differs from the kept form."""
        kept = provider_reference(typed)
        return tuple(cls.create_id(store_id, method, form)
                     for form in dict.fromkeys((typed.strip(), full_width(kept))) if form != kept)

    @event("Reserved")
    def __init__(self, audit: Audit, method: str, reference: str, payment_id: str,
                 settlement_id: UUID, work_order_number: str, id: UUID | None = None) -> None:
        self.store_id = audit.store_id
        self.method = method
        self.reference = reference
        self.payment_id = payment_id
        self.settlement_id = settlement_id
        self.work_order_number = work_order_number

    def refusal(self) -> ReferenceTaken:
        return taken(self.method, self.reference, self.payment_id, self.settlement_id,
                     self.work_order_number)


def taken(method: str, reference: str, payment_id: str, settlement_id: UUID,
          work_order_number: str) -> ReferenceTaken:
    return ReferenceTaken(
        f"{method} reference {reference} is already recorded on payment {payment_id} "
        f"(work order {work_order_number}); the same transaction is not taken twice",
        payment_id=payment_id, settlement_id=str(settlement_id),
        work_order_number=work_order_number)


class PayoutReferenceTaken(IllegalTransition):
    """The payout reference is another refund's (HTTP 409, naming that refund)."""


class RefundPayoutReference(TakenOnce):
    @staticmethod
    def create_id(store_id: str, method: str, reference: str) -> UUID:
        return stable_id("refund-payout-reference", store_id, method, reference)

    @event("Reserved")
    def __init__(self, audit: Audit, method: str, reference: str, refund_id: str,
                 settlement_id: UUID, work_order_number: str, id: UUID | None = None) -> None:
        self.store_id = audit.store_id
        self.method = method
        self.reference = reference
        self.refund_id = refund_id
        self.settlement_id = settlement_id
        self.work_order_number = work_order_number

    def refusal(self) -> PayoutReferenceTaken:
        return PayoutReferenceTaken(
            f"{self.method} payout reference {self.reference} is already the payout of refund "
            f"{self.refund_id} (work order {self.work_order_number}); two refunds do not go out "
            f"under one reference", refund_id=self.refund_id,
            settlement_id=str(self.settlement_id), work_order_number=self.work_order_number,
            field="payout_ref")
