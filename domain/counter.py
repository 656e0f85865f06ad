"""Gap-free document numbers per store and calendar year (work orders, settlements, ...).

The counter is an aggregate saved in the same save() as the document it numbers: a rolled-back
save rolls the number back too, and two concurrent takers conflict on the counter's version.
"""

from __future__ import annotations

from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.common import Audit, stable_id


class DocumentCounter(Aggregate):
    @staticmethod
    def create_id(series: str, store_id: str, year: int) -> UUID:
        return stable_id("counter", series, store_id, year)

    @event("Started")
    def __init__(self, series: str, store_id: str, year: int, audit: Audit) -> None:
        self.series = series
        self.store_id = store_id
        self.year = year
        self.last = 0

    def take(self, audit: Audit, prefix: str) -> str:
        self._taken(audit, self.last + 1)
        return f"{prefix}-{self.store_id}-{self.year}-{self.last:06d}"

    @event("Taken")
    def _taken(self, audit: Audit, number: int) -> None:
        self.last = number
