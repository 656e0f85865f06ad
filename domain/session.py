"""A command's envelope, its decision and answer, and the `Session` it decides in.

`ServiceCore.execute` (domain/application.py) runs the decision in a `Session`: the aggregates
it loaded or created there are saved together, in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate

from domain.common import Audit, Caller, InvalidInput, NotFound, StaleVersion
from domain.counter import DocumentCounter
from domain.technician import Technician

if TYPE_CHECKING:
    from domain.application import ServiceCore

A = TypeVar("A", bound=Aggregate)


@dataclass(frozen=True)
class Request:
    """A command's envelope: who asks, the request fingerprint, and an optional If-Match.

    `key_looked_up`: the caller has just looked the Idempotency-Key's stored answer up and
    found none (api/replays.py), so the command's first attempt does not read it again; a
    retry stored in between still answers what was stored, through the save's conflict on
    the key's record (`ServiceCore._execute`)."""

    caller: Caller
    request_hash: str | None = None
    expected_version: int | None = None
    key_looked_up: bool = field(default=False, compare=False)


@dataclass
class Decision:
    """What a command decided: the stream it is about and any extra answer fields."""

    stream: Aggregate
    answer: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CommandResult:
    body: dict[str, Any]
    notification_id: int | None
    replayed: bool = False


class Session:
    """One attempt at a command: the aggregates it loaded or created, saved together."""

    def __init__(self, app: ServiceCore, request: Request) -> None:
        self.app = app
        self.request = request
        self.caller = request.caller
        self.aggregates: dict[UUID, Aggregate] = {}
        # what a loaded aggregate was when loaded, where the app marks its kind (ServiceCore.mark)
        self.marks: dict[UUID, Any] = {}

    def audit(self, store_id: str) -> Audit:
        return self.caller.audit(store_id)

    def find(self, cls: type[A], aggregate_id: UUID) -> A | None:
        if aggregate_id in self.aggregates:
            found = self.aggregates[aggregate_id]
        else:
            try:
                found = self.app.repository.get(aggregate_id)
            except AggregateNotFoundError:
                return None
            mark = self.app.mark(found)
            if mark is not None:
                self.marks[aggregate_id] = mark
        if not isinstance(found, cls):
            return None
        self.aggregates[aggregate_id] = found
        return found

    def get(self, cls: type[A], aggregate_id: UUID, what: str | None = None) -> A:
        """Load an aggregate the caller may see; unknown or other stores' ids are 404."""
        found = self.find(cls, aggregate_id)
        store_id = getattr(found, "store_id", None)
        if found is None or (store_id is not None and not self.caller.may_use(store_id)):
            raise NotFound(f"{what or cls.__name__} {aggregate_id} not found")
        return found

    def target(self, cls: type[A], aggregate_id: UUID, what: str | None = None, *,
               ending: bool = False) -> A:
        """The command's own stream, checked against If-Match and, where its kind has one
        (`max_events`), against the length a stream of that kind may reach, unless the command
        is one that ends the stream's working life (`ending`: a delivery, a cancellation)."""
        found = self.get(cls, aggregate_id, what)
        limit: int | None = getattr(found, "max_events", None)
        if limit is not None and found.version >= limit and not ending:
            raise InvalidInput(f"{what or cls.__name__} holds at most {limit} events")
        expected = self.request.expected_version
        if expected is not None and found.version != expected:
            raise StaleVersion(
                f"version is {found.version}, If-Match said {expected}", current=found.version
            )
        return found

    def add(self, *aggregates: Aggregate) -> None:
        for aggregate in aggregates:
            self.aggregates[aggregate.id] = aggregate

    def next_number(self, series: str, prefix: str, store_id: str, year: int) -> str:
        counter_id = DocumentCounter.create_id(series, store_id, year)
        counter = self.find(DocumentCounter, counter_id)
        if counter is None:
            counter = DocumentCounter(series=series, store_id=store_id, year=year,
                                      audit=self.audit(store_id))
            self.add(counter)
        return counter.take(self.audit(store_id), prefix)

    def technician(self, user_id: str, store_id: str) -> Technician:
        found = self.find(Technician, Technician.create_id(user_id))
        if found is None:
            found = Technician(user_id=user_id, store_id=store_id, audit=self.audit(store_id))
            self.add(found)
        return found
