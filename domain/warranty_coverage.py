"""The OEM's base warranty: is the car still covered on the day it came in?

A car is covered for `years` from its sale (delivery to the first owner, the vehicle's
`sale_date`) and up to `km` on its odometer (taken as 0 at the sale), whichever ends first
(DOMAIN.md: at least 3 years / 60,000 km). The anniversary day itself is still covered
(a car sold on 15 March 2023 is covered through 15 March 2026), and so is a reading of
exactly `km`. The day is the store's calendar day the car came in (check-in, else opening)
and the reading its mileage in: the failure is reported then, whenever the line is written.

Without a sale date on file the shop cannot count the coverage: nothing is refused, and the
claim package warns (projections/claim_checks.py). A warranty line of a car beyond its
coverage is refused unless it carries the OEM's goodwill or prior-authorisation reference
(`warranty.authorization_ref`), which is what the OEM pays such a repair against, or a
recall or service campaign number (`warranty.campaign_no`): a recall is done free on any car.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from domain.application import Session
from domain.common import InvalidInput
from domain.days import add_months
from domain.vehicle import Vehicle
from domain.work_order import WorkOrder


@dataclass(frozen=True)
class WarrantyTerms:
    years: int = 3
    km: int = 60_000


class OutOfCoverage(InvalidInput):
    """A warranty line for a car beyond the base warranty, without goodwill (HTTP 422)."""

    kind = "out-of-warranty-coverage"


@dataclass(frozen=True)
class Coverage:
    """The base warranty of one visit: the car's sale date (None: not on file), the day it
    came in and its mileage in, against the terms."""

    terms: WarrantyTerms
    sale_date: date | None
    day_in: date
    mileage_in: int

    @property
    def covered_until(self) -> date | None:
        if self.sale_date is None:
            return None
        return add_months(self.sale_date, 12 * self.terms.years)

    @property
    def beyond(self) -> list[str]:
        """Which limits the visit is past (`years`, `km`); none while the sale date is
        unknown, since coverage is counted from it."""
        if self.sale_date is None:
            return []
        until = self.covered_until
        return [*(["years"] if until is not None and self.day_in > until else []),
                *(["km"] if self.mileage_in > self.terms.km else [])]

    def age(self) -> dict[str, int] | None:
        """Whole years since the sale and days since its last anniversary, and all days."""
        if self.sale_date is None:
            return None
        years = self.day_in.year - self.sale_date.year
        while years > 0 and add_months(self.sale_date, 12 * years) > self.day_in:
            years -= 1
        years = max(years, 0)
        return {"years": years,
                "days": (self.day_in - add_months(self.sale_date, 12 * years)).days,
                "total_days": (self.day_in - self.sale_date).days}

    def facts(self) -> dict[str, Any]:
        """What a refusal and the claim's problem show: plain JSON values."""
        until = self.covered_until
        return {"sale_date": self.sale_date.isoformat() if self.sale_date else None,
                "day_in": self.day_in.isoformat(), "age": self.age(),
                "mileage_in": self.mileage_in,
                "covered_until": until.isoformat() if until else None,
                "limits": {"years": self.terms.years, "km": self.terms.km},
                "beyond": self.beyond}

    def why(self) -> str:
        age = self.age()
        parts = []
        if "years" in self.beyond and age is not None:
            parts.append(f"it came in on {self.day_in.isoformat()}, {age['years']} years and "
                         f"{age['days']} days after its sale on {self.sale_date}, past the "
                         f"{self.terms.years} years that ended on {self.covered_until}")
        if "km" in self.beyond:
            parts.append(f"its mileage in, {self.mileage_in:,} km, is beyond "
                         f"{self.terms.km:,} km")
        return "; ".join(parts)


def coverage(terms: WarrantyTerms, sale_date: str | date | None, day_in: date,
             mileage_in: int) -> Coverage:
    sold = date.fromisoformat(sale_date) if isinstance(sale_date, str) else sale_date
    return Coverage(terms, sold, day_in, int(mileage_in))


def visit_coverage(session: Session, wo: WorkOrder, terms: WarrantyTerms,
                   zone: ZoneInfo) -> Coverage:
    """The visit's base warranty: the car's sale date on file, the store's day it came in
    (check-in, else opening) and its mileage in."""
    car = session.find(Vehicle, Vehicle.create_id(wo.vehicle["vin"]))
    came_in = wo.checked_in_at or wo.opened_at
    return coverage(terms, car.sale_date if car else None,
                    came_in.astimezone(zone).date(), wo.mileage)


def goodwill_ref(warranty: Mapping[str, Any] | None) -> str | None:
    """What the OEM pays the line against beyond the base warranty, if it has one (not
    blank): its goodwill or prior-authorisation reference, else its recall or service
    campaign number (a recall is the OEM's whatever the car's age or mileage)."""
    for field in ("authorization_ref", "campaign_no"):
        ref = (warranty or {}).get(field)
        if ref is not None and str(ref).strip():
            return str(ref).strip()
    return None


def check_covered(line: Mapping[str, Any], covered: Coverage) -> None:
    """Refuse a warranty line beyond the base warranty that carries no goodwill reference."""
    if line["pay_type"] != "warranty" or not covered.beyond \
            or goodwill_ref(line.get("warranty")):
        return
    raise OutOfCoverage(
        f"the car is out of the OEM's base warranty ({covered.terms.years} years / "
        f"{covered.terms.km:,} km from its sale): {covered.why()}. A warranty line for it "
        "needs the OEM's goodwill or prior-authorisation reference "
        "(warranty.authorization_ref) or its recall campaign (warranty.campaign_no); else put "
        "it on another pay type",
        field="warranty.authorization_ref", job_no=line["job_no"], **covered.facts())
