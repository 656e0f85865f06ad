"""The units a part's quantity is counted in where a document names the part: the one its
line was given, the part master's, and the store's stock item's (opened with the master's,
which may have changed since). A line's quantity is checked against each (domain/units.py),
so a line takes no quantity its issue or receipt would refuse; a part known to none of them
(not in the master, no unit given) keeps any quantity."""

from __future__ import annotations

from domain.application import Session
from domain.part import Part, normalise_part_number
from domain.stock import StockItem


def part_units(session: Session, store_id: str, part_number: str,
               given: str | None = None) -> list[str]:
    """The units known for `part_number` at `store_id`: the stock item's, the master's, the
    `given` one (each once, in that order)."""
    number = normalise_part_number(part_number)
    item = session.find(StockItem, StockItem.create_id(store_id, number))
    part = session.find(Part, Part.create_id(number))
    found = [item.unit if item else None, part.details["unit"] if part else None,
             (given or "").strip() or None]
    return list(dict.fromkeys(unit for unit in found if unit))
