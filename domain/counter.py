"""Gap-free document numbers per store and calendar year (work orders, settlements, purchase
orders, transfers).

The counter is an aggregate saved in the same save() as the document it numbers: a rolled-back
save rolls the number back too, and two concurrent takers conflict on the counter's version.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.ascii_width import ascii_width
from domain.common import Audit, InvalidInput, stable_id

KINDS = {"WO": "work_order", "SET": "settlement", "PO": "purchase_order", "TR": "transfer"}
_NUMBER = re.compile(r"(?P<prefix>[A-Za-z]+)-(?P<store>\S{1,20})-(?P<year>\d{4})-(?P<seq>\d{6,9})")


@dataclass(frozen=True)
class DocumentNumber:
    """A number people read, as `take` writes it: WO-S01-2026-000123."""

    prefix: str
    store_id: str
    year: int
    seq: int

    @property
    def kind(self) -> str:
        return KINDS.get(self.prefix, self.prefix.lower())

    def __str__(self) -> str:
        return f"{self.prefix}-{self.store_id}-{self.year}-{self.seq:06d}"


def parse_number(text: str, prefixes: tuple[str, ...] = tuple(KINDS)) -> DocumentNumber:
    """A work-order, settlement, purchase-order or transfer number (surrounding blanks ignored,
    the prefix in any case, full-width read as ASCII), or InvalidInput."""
    found = _NUMBER.fullmatch(ascii_width(text).strip())
    if found is None or found["prefix"].upper() not in prefixes:
        examples = " or ".join(f"{p}-S01-2026-000123" for p in prefixes)
        raise InvalidInput(f"{text!r} is not a document number such as {examples}")
    return DocumentNumber(found["prefix"].upper(), found["store"], int(found["year"]),
                          int(found["seq"]))


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
        return str(DocumentNumber(prefix, self.store_id, self.year, self.last))

    @event("Taken")
    def _taken(self, audit: Audit, number: int) -> None:
        self.last = number
