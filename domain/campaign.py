"""The OEM's recall and service campaigns: one stream per campaign number.

An OEM brand announces a campaign: a safety recall (召回) or a service campaign, its number
("RC2026-01"), a title, the remedy (the labor op codes and parts it is done with, where the
OEM names them), the days it runs and the VINs it covers. The VINs come in chunks of at most
`MAX_VINS_PER_IMPORT` (a recall covers tens of thousands of cars): each import records only the
VINs not already listed, so the same file imported twice records nothing the second time, and
a VIN once listed stays listed. A closed campaign takes no VINs and no changes.

The number names the campaign across brands: a work-order line carries only `campaign_no`
(domain/work_order_lines.py), and that alone must tell which campaign it did.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.ascii_width import code_form
from domain.common import Audit, IllegalTransition, InvalidInput, require, stable_id
from domain.days import plain_day
from domain.labor_operation import normalise_op_code
from domain.vehicle_ids import normalise_vin

CAMPAIGN_NO = re.compile(r"^[A-Z0-9][A-Z0-9._-]{0,39}$")
KINDS = ("safety_recall", "service_campaign")
MAX_TITLE = 200
MAX_BRAND = 40
MAX_REMEDY_ITEMS = 50
MAX_VINS_PER_IMPORT = 5000


class CampaignError(IllegalTransition):
    pass


def campaign_number(value: object) -> str:
    """The number as kept: full-width as ASCII, no blanks, upper case; letters, digits and
    '.', '_', '-' (at most 40: it names the campaign in a URL path)."""
    number = code_form(value)
    require(bool(CAMPAIGN_NO.match(number)), InvalidInput(
        "a campaign number has 1 to 40 letters, digits, '.', '_' or '-'",
        field="campaign_no"))
    return number


def campaign_number_or_none(value: object) -> str | None:
    """The number as kept, or None for a value no campaign number can be (a line's campaign
    typed otherwise names no campaign of the master)."""
    try:
        return campaign_number(value)
    except InvalidInput:
        return None


def text_of(value: object, field: str, most: int) -> str:
    text = value.strip() if isinstance(value, str) else ""
    require(bool(text), InvalidInput(f"{field} must not be blank", field=field))
    require(len(text) <= most, InvalidInput(f"{field} is at most {most} characters",
                                            field=field))
    return text


def kind_of(value: object) -> str:
    require(value in KINDS, InvalidInput(f"kind is one of {', '.join(KINDS)}", field="kind"))
    return str(value)


def day_of(value: object, field: str) -> date:
    found = value if isinstance(value, date) else plain_day(str(value))
    require(found is not None, InvalidInput(f"{field} is a day YYYY-MM-DD", field=field))
    assert isinstance(found, date)
    return found


def remedy_of(op_codes: Iterable[object] = (), parts: Iterable[object] = ()) -> dict[str, Any]:
    """The op codes and part numbers the remedy is done with (either may be empty), each once,
    in the order given."""
    codes = list(dict.fromkeys(normalise_op_code(c) for c in op_codes))
    numbers = list(dict.fromkeys(code_form(p) for p in parts))
    require(all(numbers) and all(len(n) <= 40 for n in numbers), InvalidInput(
        "a part number of the remedy has 1 to 40 characters", field="remedy.parts"))
    require(len(codes) <= MAX_REMEDY_ITEMS and len(numbers) <= MAX_REMEDY_ITEMS, InvalidInput(
        f"a remedy names at most {MAX_REMEDY_ITEMS} op codes and parts", field="remedy"))
    return {"op_codes": codes, "parts": numbers}


def vins_of(values: Iterable[object]) -> list[str]:
    """The VINs of one import, each valid and once, in the order given; at least one and at
    most `MAX_VINS_PER_IMPORT` (a larger list is sent in chunks)."""
    given = list(values)
    require(0 < len(given) <= MAX_VINS_PER_IMPORT, InvalidInput(
        f"an import holds 1 to {MAX_VINS_PER_IMPORT} VINs (send a longer list in chunks)",
        field="vins"))
    kept = []
    for n, value in enumerate(given):
        try:
            kept.append(normalise_vin(value if isinstance(value, str) else ""))
        except InvalidInput as refused:
            raise InvalidInput(f"VIN {n + 1} of the import: {refused}",
                               field=f"vins.{n}") from refused
    return list(dict.fromkeys(kept))


class Campaign(Aggregate):
    """One recall or service campaign of an OEM brand, and the VINs it covers."""

    class Event(Aggregate.Event):
        audit: Audit

    class Registered(Event, Aggregate.Created):
        campaign_no: str
        brand: str
        title: str
        kind: str
        remedy: dict[str, Any]
        starts_on: str  # YYYY-MM-DD
        ends_on: str | None

    class VinsListed(Event):
        """The VINs an import added (those it named that were not listed yet)."""

        vins: list[str]

    class Closed(Event):
        reason: str

    @staticmethod
    def create_id(campaign_no: str) -> UUID:
        return stable_id("campaign", campaign_no)

    @event(Registered)
    def __init__(self, audit: Audit, campaign_no: str, brand: str, title: str, kind: str,
                 remedy: Mapping[str, Any], starts_on: str, ends_on: str | None,
                 id: UUID | None = None) -> None:
        self.campaign_no = campaign_no
        self.brand = brand
        self.title = title
        self.kind = kind
        self.remedy = dict(remedy)
        self.starts_on = starts_on
        self.ends_on = ends_on
        self.vins: set[str] = set()
        self.closed = False

    @staticmethod
    def check_days(starts_on: date, ends_on: date | None) -> None:
        require(ends_on is None or ends_on >= starts_on, InvalidInput(
            "a campaign ends on or after the day it starts", field="ends_on"))

    def _open(self, doing: str) -> None:
        require(not self.closed, CampaignError(
            f"campaign {self.campaign_no} is closed: it takes no {doing}",
            campaign_no=self.campaign_no))

    def list_vins(self, audit: Audit, vins: Iterable[str]) -> list[str]:
        """Record the VINs not listed yet (none: nothing is recorded); the ones added."""
        self._open("VINs")
        new = [vin for vin in vins if vin not in self.vins]
        if new:
            self._vins_listed(audit, new)
        return new

    @event(VinsListed)
    def _vins_listed(self, audit: Audit, vins: list[str]) -> None:
        self.vins.update(vins)

    def close(self, audit: Audit, reason: str) -> None:
        self._open("closing again")
        self._closed(audit, reason)

    @event(Closed)
    def _closed(self, audit: Audit, reason: str) -> None:
        self.closed = True
