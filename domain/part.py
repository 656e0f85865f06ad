"""The part master: one stream per part number, shared by every store of the dealer group.

Stock levels (minimum, reorder quantity) set here are the defaults a store's stock item starts
with; each store may set its own. List-price changes are events with who and why.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.ascii_width import ascii_width, code_form
from domain.common import Audit, IllegalTransition, InvalidInput, require, require_reason, stable_id
from domain.money import money, quantity
from domain.units import require_whole

CATEGORIES = ("maintenance", "brake", "engine", "transmission", "electrical", "ev", "body",
              "paint", "tyre", "accessory", "fluid", "other")
LEVEL_FIELDS = ("min_stock", "reorder_qty")
DETAIL_FIELDS = ("name", "unit", "category", "fitment", "min_stock", "reorder_qty",
                 "preferred_supplier", "barcode")


PART_NUMBER = re.compile(r"^[A-Z0-9][A-Z0-9._-]{0,39}$")


def normalise_part_number(value: str) -> str:
    """OEM part numbers as written, but without blanks and in upper case ("5Q0 698 151").

    Letters, digits, '.', '_' and '-' only: part numbers appear in URLs and in lot ids. Full-width
    ones (a Chinese input method's) are read as ASCII.
    """
    text = code_form(value)
    require(bool(PART_NUMBER.match(text)), InvalidInput(
        "a part number has 1 to 40 letters, digits, '.', '_' or '-'", part_number=text))
    return text


def part_details(data: dict[str, Any], *, partial: bool = False,
                 unit: str | None = None) -> dict[str, Any]:
    """Validated master fields (all of them, or only those given when `partial`); levels in
    whole pieces where the unit (the one given, else `unit`, the part's) is counted in them."""
    details: dict[str, Any] = {}
    given = {k: v for k, v in data.items() if k in DETAIL_FIELDS and v is not None}
    if not partial:
        for needed in ("name", "unit", "category"):
            require(bool(given.get(needed)), InvalidInput(f"{needed} is required"))
    for name, value in given.items():
        if name in ("name", "unit", "preferred_supplier", "barcode"):
            text = (ascii_width(str(value)) if name == "barcode" else str(value)).strip()
            require(bool(text) or name in ("preferred_supplier", "barcode"),
                    InvalidInput(f"{name} must not be blank"))
            details[name] = text or None
        elif name == "category":
            require(value in CATEGORIES,
                    InvalidInput(f"category must be one of {', '.join(CATEGORIES)}"))
            details[name] = value
        elif name == "fitment":
            fitment = value if isinstance(value, dict) else {}
            details[name] = {"brands": sorted({str(b).strip() for b in fitment.get("brands", [])
                                               if str(b).strip()}),
                             "models": sorted({str(m).strip() for m in fitment.get("models", [])
                                               if str(m).strip()})}
        else:  # min_stock, reorder_qty
            details[name] = quantity(value, name.replace("_", " "), places=3, allow_zero=True,
                                     field=name)
    in_force = details.get("unit") or unit
    for name in LEVEL_FIELDS:
        if in_force and name in details:
            require_whole(details[name], in_force, name)
    if not partial:
        details.setdefault("fitment", {"brands": [], "models": []})
        details.setdefault("min_stock", Decimal(0))
        details.setdefault("reorder_qty", Decimal(0))
        details.setdefault("preferred_supplier", None)
        details.setdefault("barcode", None)
    return details


def no_reason_given(state: dict[str, Any]) -> None:
    """A change stored before reasons were required gave none."""
    state["reason"] = None


class Part(Aggregate):
    """One part number in the master."""

    class Event(Aggregate.Event):
        audit: Audit

    class Registered(Event, Aggregate.Created):
        part_number: str
        details: dict[str, Any]
        list_price: Decimal

    class DetailsChanged(Event):
        """v2: `reason`, why (3+ characters); a v1 change gave none (None)."""

        class_version = 2
        changes: dict[str, Any]
        reason: str | None
        upcast_v1_v2 = staticmethod(no_reason_given)

    class PriceChanged(Event):
        old_price: Decimal
        new_price: Decimal
        reason: str

    @staticmethod
    def create_id(part_number: str) -> UUID:
        return stable_id("part", part_number)

    @classmethod
    def register(cls, audit: Audit, part_number: str, details: dict[str, Any],
                 list_price: object) -> Part:
        number = normalise_part_number(part_number)
        return cls(id=cls.create_id(number), audit=audit, part_number=number,
                   details=part_details(details), list_price=money(list_price, "list price", field="list_price"))

    @event(Registered)
    def __init__(self, audit: Audit, part_number: str, details: dict[str, Any],
                 list_price: Decimal, id: UUID | None = None) -> None:
        self.part_number = part_number
        self.details = dict(details)
        self.list_price = list_price

    def change_details(self, audit: Audit, data: dict[str, Any],
                       reason: str | None) -> dict[str, Any]:
        """The master fields given that differ, changed with the reason why (InvalidInput
        naming `reason` without one)."""
        changes = {k: v for k, v in part_details(data, partial=True,
                                                  unit=self.details["unit"]).items()
                   if self.details.get(k) != v}
        require(bool(changes), IllegalTransition("nothing to change"))
        self._details_changed(audit, changes,
                              require_reason(reason, "changing a part's master data"))
        return changes

    @event(DetailsChanged)
    def _details_changed(self, audit: Audit, changes: dict[str, Any],
                         reason: str | None) -> None:
        self.details.update(changes)

    def change_price(self, audit: Audit, new_price: object, reason: str | None) -> None:
        price = money(new_price, "list price", field="list_price")
        require(price != self.list_price, IllegalTransition(f"the list price is already {price}"))
        self._price_changed(audit, self.list_price, price,
                            require_reason(reason, "a list-price change"))

    @event(PriceChanged)
    def _price_changed(self, audit: Audit, old_price: Decimal, new_price: Decimal,
                       reason: str) -> None:
        self.list_price = new_price
