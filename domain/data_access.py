"""A read of personal data by an auditor, kept as a fact (PIPL accountability): one customer's
(name, phones, WeChat id), or the payers a bank statement names (the counterparty of its lines).

Each read is a stream of its own, created by its one `PersonalDataRead` event: recording it
loads nothing and can never conflict with another writer. One stream per customer would make
two auditors going through one fleet customer's visits race for its version, and one stream per
auditor and day would make the same auditor's parallel requests (a page loading the timeline
and the customer at once) race; either would turn reads into retried writes. The audit index
lists the reads per customer.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.common import Audit
from domain.request_target import redacted_endpoint


class DataAccess(Aggregate):
    class Event(Aggregate.Event):
        audit: Audit

    class PersonalDataRead(Event, Aggregate.Created):
        """v2 keeps the endpoint with the values of personal query parameters redacted
        (`GET /work-orders?customer_phone=[redacted]`, domain/request_target.py); a v1 read
        kept the query verbatim in its stored bytes, which cannot change, and is read
        redacted the same way. v3 names what was read: a customer (`customer_id`), or a
        statement (`statement_id`) and the lines whose payer was shown (`statement_lines`),
        the other side None / empty; a read before v3 was always a customer's."""

        class_version = 3
        customer_id: UUID | None
        statement_id: UUID | None
        statement_lines: list[int]
        endpoint: str
        purpose: str

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["endpoint"] = redacted_endpoint(state["endpoint"])

        @staticmethod
        def upcast_v2_v3(state: dict[str, Any]) -> None:
            state["statement_id"] = None
            state["statement_lines"] = []

    @event(PersonalDataRead)
    def __init__(self, audit: Audit, customer_id: UUID | None, endpoint: str, purpose: str,
                 statement_id: UUID | None = None,
                 statement_lines: list[int] | None = None) -> None:
        self.store_id = audit.store_id
        self.customer_id = customer_id
        self.statement_id = statement_id
        self.statement_lines = list(statement_lines or ())
        self.endpoint = endpoint
        self.purpose = purpose
