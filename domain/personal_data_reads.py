"""Recording who read which customer's personal data, through the normal save path."""

from __future__ import annotations

from collections.abc import Mapping
from uuid import UUID

from domain.application import CommandResult, Decision, Request, ServiceCore, Session
from domain.data_access import DataAccess
from domain.request_target import redacted_endpoint

RECORDED_ROLES = frozenset({"auditor"})
ENDPOINT_MAX = 500  # characters of the endpoint a read keeps


class PersonalDataReads:
    def __init__(self, app: ServiceCore) -> None:
        self.app = app

    def record(self, request: Request, *, shown: Mapping[UUID, str], endpoint: str,
               purpose: str) -> CommandResult | None:
        """One `PersonalDataRead` per customer whose data an answer showed (`shown`: customer
        -> the store the data was read in), all in one save; nothing for roles whose reads are
        not recorded, or when the answer showed nobody's personal data. The `endpoint` asked
        (`GET /work-orders?customer_phone=…`) is kept with its personal query values
        redacted: the event outlives an erasure."""
        if request.caller.role not in RECORDED_ROLES or not shown:
            return None
        endpoint = redacted_endpoint(endpoint)[:ENDPOINT_MAX]

        def decide(session: Session) -> Decision:
            reads = [DataAccess(audit=session.audit(shown[customer_id]), customer_id=customer_id,
                                endpoint=endpoint, purpose=purpose)
                     for customer_id in sorted(shown)]
            session.add(*reads)
            return Decision(reads[0], {"reads": [str(read.id) for read in reads]})

        return self.app.execute(request, decide)
