"""The vehicle, named by its VIN: plate history, owners over time, details, reminder outcomes.

Its id is `vehicle_id(vin)`, the id every work order's vehicle snapshot already carries, so a
car seen only on work orders and one registered here are the same stream of facts.
"""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.common import Audit, IllegalTransition, InvalidInput, require, require_reason, stable_id
from domain.payer_name import payer_name_key

REMINDER_OUTCOMES = ("reminded", "booked", "declined")
REMINDER_CHANNELS = ("phone", "sms", "wechat", "email", "in_person")
# Visits of the previous system one car's stream takes (decades of visits several times a
# year): the stream is loaded whole by every command on the car.
MAX_IMPORTED_VISITS = 300


class VehicleError(IllegalTransition):
    pass


def check_details(brand: str | None, model: str | None, year: int | None,
                  sale_date: str | None, today: date) -> None:
    if year is not None and not 1950 <= year <= today.year + 1:
        raise InvalidInput(f"model year {year} is not plausible", field="year")
    if sale_date is not None:
        sold = date.fromisoformat(sale_date)
        require(sold <= today, InvalidInput("the sale date is in the future",
                                            field="sale_date"))
        require(year is None or sold.year >= year - 1,
                InvalidInput("the sale date is before the model year", field="sale_date"))


class Vehicle(Aggregate):
    @staticmethod
    def create_id(vin: str) -> UUID:
        return stable_id("vehicle", vin)

    class Event(Aggregate.Event):
        audit: Audit

    class Registered(Event, Aggregate.Created):
        vin: str
        plate: str | None
        brand: str | None
        model: str | None
        year: int | None
        sale_date: str | None
        owner_id: UUID | None

    class DetailsCorrected(Event):
        brand: str | None
        model: str | None
        year: int | None
        sale_date: str | None
        reason: str | None

    class PlateChanged(Event):
        plate: str
        previous: str | None
        reason: str | None

    class OwnerChanged(Event):
        owner_id: UUID
        previous: UUID | None
        reason: str

    class ReminderRecorded(Event):
        due_on: str
        outcome: str
        channel: str | None
        note: str | None
        appointment_id: str | None

    class PriorVisitImported(Event):
        """A visit from the previous system (domain/prior_visit.py): never a work order."""

        source_ref: str
        date_in: str
        date_out: str | None
        mileage_in: int
        kind: str
        pay_type: str
        complaints: list[str]
        work: list[dict[str, Any]]
        parts: list[dict[str, Any]]
        totals: dict[str, str] | None

    @event(Registered)
    def __init__(self, audit: Audit, vin: str, plate: str | None, brand: str | None,
                 model: str | None, year: int | None, sale_date: str | None,
                 owner_id: UUID | None) -> None:
        self.store_id = audit.store_id
        self.vin = vin
        self.plate = plate
        self.brand = brand
        self.model = model
        self.year = year
        self.sale_date = sale_date
        self.owner_id = owner_id
        self.reminders: list[dict[str, Any]] = []

    def snapshot(self) -> dict[str, Any]:
        """The vehicle as a work order records it."""
        return {"vin": self.vin, "plate": self.plate, "brand": self.brand, "model": self.model,
                "year": self.year}

    def correct_details(self, audit: Audit, brand: str | None, model: str | None,
                        year: int | None, sale_date: str | None, reason: str | None,
                        today: date) -> None:
        check_details(brand, model, year, sale_date, today)
        if self.sale_date is not None and sale_date != self.sale_date:
            reason = require_reason(reason, "changing a recorded sale date")
        self._details_corrected(audit, brand, model, year, sale_date, reason)

    @event(DetailsCorrected)
    def _details_corrected(self, audit: Audit, brand: str | None, model: str | None,
                           year: int | None, sale_date: str | None, reason: str | None) -> None:
        self.brand, self.model, self.year, self.sale_date = brand, model, year, sale_date

    def change_plate(self, audit: Audit, plate: str, reason: str | None) -> None:
        require(plate != self.plate, VehicleError(f"the plate is already {plate}"))
        if self.plate is not None:  # a first plate is no change of how the car is known
            reason = require_reason(reason, "changing a vehicle's plate")
        self._plate_changed(audit, plate, self.plate, reason)

    @event(PlateChanged)
    def _plate_changed(self, audit: Audit, plate: str, previous: str | None,
                       reason: str | None) -> None:
        self.plate = plate

    def change_owner(self, audit: Audit, owner_id: UUID, reason: str) -> None:
        require(owner_id != self.owner_id, VehicleError("that customer already owns the vehicle"))
        self._owner_changed(audit, owner_id, self.owner_id, reason)

    @event(OwnerChanged)
    def _owner_changed(self, audit: Audit, owner_id: UUID, previous: UUID | None,
                       reason: str) -> None:
        self.owner_id = owner_id

    def record_reminder(self, audit: Audit, due_on: str, outcome: str, channel: str | None,
                        note: str | None, appointment_id: str | None) -> None:
        if outcome not in REMINDER_OUTCOMES:
            raise InvalidInput(f"outcome must be one of {', '.join(REMINDER_OUTCOMES)}",
                               field="outcome")
        if channel is not None and channel not in REMINDER_CHANNELS:
            raise InvalidInput(f"channel must be one of {', '.join(REMINDER_CHANNELS)}",
                               field="channel")
        require(outcome != "booked" or bool(appointment_id),
                InvalidInput("a booked reminder names the appointment",
                             field="appointment_id"))
        self._reminder_recorded(audit, due_on, outcome, channel, note, appointment_id)

    @event(ReminderRecorded)
    def _reminder_recorded(self, audit: Audit, due_on: str, outcome: str, channel: str | None,
                           note: str | None, appointment_id: str | None) -> None:
        self.reminders.append({"due_on": due_on, "outcome": outcome})

    def import_prior_visit(self, audit: Audit, record: dict[str, Any]) -> None:
        """A visit of the previous system, validated by `domain.prior_visit.prior_record`."""
        require(getattr(self, "imported_visits", 0) < MAX_IMPORTED_VISITS, VehicleError(
            f"vehicle {self.vin} holds {MAX_IMPORTED_VISITS} imported visits already"))
        self._prior_visit_imported(audit, **record)

    @event(PriorVisitImported)
    def _prior_visit_imported(self, audit: Audit, source_ref: str, date_in: str,
                              date_out: str | None, mileage_in: int, kind: str, pay_type: str,
                              complaints: list[str], work: list[dict[str, Any]],
                              parts: list[dict[str, Any]],
                              totals: dict[str, str] | None) -> None:
        self.imported_visits = getattr(self, "imported_visits", 0) + 1


class ServicePlan(Aggregate):
    """A model's maintenance interval: every `months` or `km`, whichever comes first.

    `model` "*" is the brand's plan for models without their own.
    """

    @staticmethod
    def key(text: str) -> str:
        """What a plan's brand or model is matched by, a car's as typed included: the key an
        OEM payer is grouped by (full-width as ASCII, spacing collapsed, case folded), so
        "Volkswagen", "volkswagen ", "VOLKSWAGEN" and "ＶＯＬＫＳＷＡＧＥＮ" are one brand."""
        return payer_name_key(text)

    @staticmethod
    def legacy_key(text: str) -> str:
        """The key plans were given before full-width letters were folded (spacing collapsed,
        case folded only). The ids of the plans set then come from it; it differs from `key`
        only for text that NFKC changes, such as full-width letters."""
        return " ".join(text.split()).casefold()

    @staticmethod
    def create_id(brand_key: str, model_key: str) -> UUID:
        return stable_id("service-plan", brand_key, model_key)

    class Event(Aggregate.Event):
        audit: Audit

    class Set(Event, Aggregate.Created):
        brand_key: str
        model_key: str
        brand: str
        model: str
        months: int
        km: int

    class Changed(Event):
        months: int
        km: int
        reason: str | None

    @event(Set)
    def __init__(self, audit: Audit, brand_key: str, model_key: str, brand: str, model: str,
                 months: int, km: int) -> None:
        self.brand, self.model, self.months, self.km = brand, model, months, km

    @staticmethod
    def check(months: int, km: int) -> None:
        require(1 <= months <= 60, InvalidInput("a service interval is 1-60 months",
                                                field="months"))
        require(500 <= km <= 100_000, InvalidInput("a service interval is 500-100,000 km",
                                                   field="km"))

    def change(self, audit: Audit, months: int, km: int, reason: str | None) -> None:
        self.check(months, km)
        require((months, km) != (self.months, self.km),
                VehicleError("the plan already says that"))
        self._changed(audit, months, km, reason)

    @event(Changed)
    def _changed(self, audit: Audit, months: int, km: int, reason: str | None) -> None:
        self.months, self.km = months, km
