"""Recording who read which customer's personal data (or which statement's payers), through
the normal save path."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from uuid import UUID

from domain.application import CommandResult, Decision, Request, ServiceCore, Session
from domain.data_access import DataAccess
from domain.request_target import redacted_endpoint

RECORDED_ROLES = frozenset({"auditor"})
StatementShown = tuple[str, Collection[int]]  # a statement's store, the lines whose payer showed
ENDPOINT_MAX = 500  # characters of the endpoint a read keeps


class PersonalDataReads:
    def __init__(self, app: ServiceCore) -> None:
        self.app = app

    def record(self, request: Request, *, shown: Mapping[UUID, str], endpoint: str,
               purpose: str, statements: Mapping[UUID, StatementShown] | None = None,
               ) -> CommandResult | None:
        """One `PersonalDataRead` per customer whose data an answer showed (`shown`: customer
        -> the store the data was read in) and per statement whose payers it showed
        (`statements`: statement -> its store and the lines whose payer was shown), all in one
        save; nothing for roles whose reads are not recorded, or when the answer showed
        nobody's personal data. The `endpoint` asked (`GET /work-orders?customer_phone=…`) is
        kept with its personal query values redacted: the event outlives an erasure."""
        statements = statements or {}
        if request.caller.role not in RECORDED_ROLES or not (shown or statements):
            return None
        endpoint = redacted_endpoint(endpoint)[:ENDPOINT_MAX]

        def decide(session: Session) -> Decision:
            reads = [DataAccess(audit=session.audit(shown[customer_id]), customer_id=customer_id,
                                endpoint=endpoint, purpose=purpose, statement_id=None,
                                statement_lines=[])
                     for customer_id in sorted(shown)]
            reads += [DataAccess(audit=session.audit(store_id), customer_id=None,
                                 endpoint=endpoint, purpose=purpose, statement_id=statement_id,
                                 statement_lines=sorted(lines))
                      for statement_id, (store_id, lines) in sorted(statements.items())]
            session.add(*reads)
            return Decision(reads[0], {"reads": [str(read.id) for read in reads]})

        return self.app.execute(request, decide)
