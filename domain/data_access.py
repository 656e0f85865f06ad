"""A read of one customer's personal data by an auditor, kept as a fact (PIPL accountability).

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
        redacted the same way."""

        class_version = 2
        customer_id: UUID
        endpoint: str
        purpose: str

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["endpoint"] = redacted_endpoint(state["endpoint"])

    @event(PersonalDataRead)
    def __init__(self, audit: Audit, customer_id: UUID, endpoint: str, purpose: str) -> None:
        self.store_id = audit.store_id
        self.customer_id = customer_id
        self.endpoint = endpoint
        self.purpose = purpose
