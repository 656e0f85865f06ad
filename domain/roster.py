"""The store's roster of technicians: whom auto-dispatch considers."""

from __future__ import annotations

from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.common import Audit, IllegalTransition, require, stable_id


class Roster(Aggregate):
    @staticmethod
    def create_id(store_id: str) -> UUID:
        return stable_id("roster", store_id)

    class Event(Aggregate.Event):
        audit: Audit

    class Started(Event, Aggregate.Created):
        store_id: str

    class Joined(Event):
        user_id: str

    class Left(Event):
        user_id: str
        reason: str

    @event(Started)
    def __init__(self, audit: Audit, store_id: str) -> None:
        self.store_id = store_id
        self.members: list[str] = []

    def join(self, audit: Audit, user_id: str) -> None:
        if user_id not in self.members:
            self._joined(audit, user_id)

    @event(Joined)
    def _joined(self, audit: Audit, user_id: str) -> None:
        self.members.append(user_id)

    def leave(self, audit: Audit, user_id: str, reason: str) -> None:
        require(user_id in self.members,
                IllegalTransition(f"{user_id} is not on the roster of {self.store_id}"))
        self._left(audit, user_id, reason)

    @event(Left)
    def _left(self, audit: Audit, user_id: str, reason: str) -> None:
        self.members.remove(user_id)
