"""The customer as the owner of personal data: registered with sealed fields, erasable."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.common import Audit, IllegalTransition, require


class CustomerError(IllegalTransition):
    pass


class Customer(Aggregate):
    """Personal fields are sealed tokens (see domain.pii); `erased` marks a shredded key."""

    class Event(Aggregate.Event):
        audit: Audit

    class Registered(Event, Aggregate.Created):
        kind: str
        sealed: dict[str, Any]

    class Erased(Event):
        reason: str

    @event(Registered)
    def __init__(self, id: UUID, audit: Audit, kind: str, sealed: dict[str, Any]) -> None:
        self.store_id = audit.store_id
        self.kind = kind
        self.sealed = sealed
        self.erased = False

    def erase(self, audit: Audit, reason: str) -> None:
        require(not self.erased, CustomerError("customer is already erased"))
        self._erased(audit, reason)

    @event(Erased)
    def _erased(self, audit: Audit, reason: str) -> None:
        self.erased = True
