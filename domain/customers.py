"""Customer commands that concern personal data (erasure on request, PIPL)."""

from __future__ import annotations

from uuid import UUID

from domain.application import CommandResult, Decision, Request, ServiceCore, Session
from domain.common import require_reason
from domain.customer import Customer


class Customers:
    def __init__(self, app: ServiceCore) -> None:
        self.app = app

    def erase(self, request: Request, customer_id: UUID, *, reason: str) -> CommandResult:
        """Record the erasure, then shred the key: events stay, personal fields read as erased."""
        reason = require_reason(reason, "erasing a customer")

        def decide(session: Session) -> Decision:
            customer = session.target(Customer, customer_id, "customer")
            customer.erase(session.audit(customer.store_id), reason)
            return Decision(customer, {})

        result = self.app.execute(request, decide, (customer_id,))
        self.app.personal_data.keys.delete_key(customer_id)
        return result
