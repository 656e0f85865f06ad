"""A provider's reference (card slip, WeChat Pay or Alipay transaction id, transfer reference)
taken once per store and method.

A cashier who taps twice records the same terminal transaction twice; without an
Idempotency-Key nothing else would stop the second. The reservation (domain/taken_once.py) is a
stream named by (store, method, reference), created in the same save() as the payment: two
concurrent takers conflict on it, the retry sees the first and is refused. A refund is a
different thing: it names the payment it returns, never a new reference.
"""

from __future__ import annotations

from uuid import UUID

from eventsourcing.domain import event

from domain.common import Audit, IllegalTransition, stable_id
from domain.taken_once import TakenOnce


class ReferenceTaken(IllegalTransition):
    """The reference was recorded on an earlier payment (HTTP 409, naming that payment)."""


class PaymentReference(TakenOnce):
    @staticmethod
    def create_id(store_id: str, method: str, reference: str) -> UUID:
        return stable_id("payment-reference", store_id, method, reference)

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
