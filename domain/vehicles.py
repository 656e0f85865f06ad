"""Vehicle commands: register, correct details, plate changes, owner changes, reminder outcomes,
and the maintenance plans per brand and model."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from domain.application import CommandResult, Decision, Request, ServiceCore, Session
from domain.appointment import Appointment
from domain.common import (
    IllegalTransition,
    InvalidInput,
    NotPermitted,
    require,
    require_group_store,
    require_reason,
)
from domain.customer import Customer
from domain.days import business_day, parse_day
from domain.prior_visits import import_prior_visit
from domain.vehicle import ServicePlan, Vehicle, check_details
from domain.vehicle_ids import normalise_plate, normalise_vin
from domain.work_orders import vehicle_id


def _text(value: str | None) -> str | None:
    return (value or "").strip() or None


class Vehicles:
    def __init__(self, app: ServiceCore, timezone: str = "Asia/Shanghai",
                 stores: Iterable[str] = ()) -> None:
        self.app = app
        self.zone = ZoneInfo(timezone)
        self.stores = frozenset(stores)  # the group's stores (`require_group_store`)

    def _on(self, request: Request, vin: str,
            act: Callable[[Session, Vehicle], dict[str, Any] | None]) -> CommandResult:
        number = normalise_vin(vin)

        def decide(session: Session) -> Decision:
            vehicle = session.target(Vehicle, vehicle_id(number), f"vehicle {number}")
            return Decision(vehicle, {"vin": number, **(act(session, vehicle) or {})})

        return self.app.execute(request, decide, (vehicle_id(number),))

    @staticmethod
    def _owner(session: Session, owner_id: UUID, field: str) -> Customer:
        """The registered owner the request names in its `field`, refused if erased."""
        owner = session.get(Customer, owner_id, "customer")
        require(not owner.erased, InvalidInput("that customer has been erased", field=field))
        return owner

    def register(self, request: Request, *, store_id: str, vin: str, plate: str | None = None,
                 brand: str | None = None, model: str | None = None, year: int | None = None,
                 sale_date: str | None = None, owner_id: UUID | None = None) -> CommandResult:
        """A car enters the store's records (a car seen on work orders may be registered too)."""
        require_group_store(self.stores, store_id)
        if not request.caller.may_use(store_id):
            raise NotPermitted(f"your token does not cover store {store_id}")
        number = normalise_vin(vin)
        plate_no = normalise_plate(plate) if plate else None
        sold = parse_day(sale_date, "sale date").isoformat() if sale_date else None
        check_details(brand, model, year, sold, business_day(request.caller.at, self.zone))

        def decide(session: Session) -> Decision:
            require(session.find(Vehicle, vehicle_id(number)) is None,
                    IllegalTransition(f"vehicle {number} is already registered"))
            if owner_id is not None:
                self._owner(session, owner_id, "owner_id")
            vehicle = Vehicle(audit=session.audit(store_id), vin=number, plate=plate_no,
                              brand=_text(brand), model=_text(model), year=year, sale_date=sold,
                              owner_id=owner_id)
            session.add(vehicle)
            return Decision(vehicle, {"vin": number})

        return self.app.execute(request, decide, (vehicle_id(number),))

    def correct_details(self, request: Request, vin: str, *, brand: str | None,
                        model: str | None, year: int | None, sale_date: str | None,
                        reason: str | None = None) -> CommandResult:
        sold = parse_day(sale_date, "sale date").isoformat() if sale_date else None
        today = business_day(request.caller.at, self.zone)
        return self._on(request, vin, lambda s, v: v.correct_details(
            s.audit(v.store_id), _text(brand), _text(model), year, sold, _text(reason), today))

    def change_plate(self, request: Request, vin: str, *, plate: str,
                     reason: str | None = None) -> CommandResult:
        plate_no = normalise_plate(plate)
        def act(session: Session, vehicle: Vehicle) -> dict[str, Any]:
            vehicle.change_plate(session.audit(vehicle.store_id), plate_no, _text(reason))
            return {"plate": plate_no}

        return self._on(request, vin, act)

    def change_owner(self, request: Request, vin: str, *, owner_id: UUID,
                     reason: str | None) -> CommandResult:
        """The car changed hands (sale, company car handed to a driver, inheritance)."""
        why = require_reason(reason, "changing a vehicle's owner")

        def act(session: Session, vehicle: Vehicle) -> dict[str, Any]:
            self._owner(session, owner_id, "customer_id")
            vehicle.change_owner(session.audit(vehicle.store_id), owner_id, why)
            return {"owner_id": str(owner_id)}

        return self._on(request, vin, act)

    def record_reminder(self, request: Request, vin: str, *, store_id: str, due_on: str,
                        outcome: str, channel: str | None = None, note: str | None = None,
                        appointment_id: UUID | None = None) -> CommandResult:
        """What came of a maintenance reminder: reminded, booked (an appointment) or declined.

        A car known only from its work orders is registered by its VIN in the same save.
        """
        require_group_store(self.stores, store_id)
        number = normalise_vin(vin)
        due = parse_day(due_on, "due date").isoformat()

        def decide(session: Session) -> Decision:
            vehicle = session.find(Vehicle, vehicle_id(number))
            if vehicle is None:
                if not session.caller.may_use(store_id):
                    raise NotPermitted(f"your token does not cover store {store_id}")
                vehicle = Vehicle(audit=session.audit(store_id), vin=number, plate=None,
                                  brand=None, model=None, year=None, sale_date=None,
                                  owner_id=None)
                session.add(vehicle)
            else:
                vehicle = session.get(Vehicle, vehicle.id, f"vehicle {number}")
            if appointment_id is not None:
                booked = session.get(Appointment, appointment_id, "appointment")
                require(booked.vehicle["vin"] == number,
                        InvalidInput("that appointment is for another vehicle",
                                     field="appointment_id"))
            vehicle.record_reminder(session.audit(vehicle.store_id), due, outcome, channel,
                                    _text(note), str(appointment_id) if appointment_id else None)
            return Decision(vehicle, {"vin": number, "due_on": due, "outcome": outcome})

        return self.app.execute(request, decide, (vehicle_id(number),))

    def import_prior_visit(self, request: Request, vin: str, *, store_id: str,
                           record: dict[str, Any]) -> CommandResult:
        """A visit of the previous system (domain/prior_visits.py), once per `source_ref`."""
        return import_prior_visit(self.app, request, vin=vin, store_id=store_id, record=record,
                                  zone=self.zone, stores=self.stores)

    def set_plan(self, request: Request, *, brand: str, model: str, months: int, km: int,
                 reason: str | None = None) -> CommandResult:
        """The maintenance interval of a model (model "*": every model of the brand)."""
        brand_key, model_key = ServicePlan.key(brand), ServicePlan.key(model)
        require(bool(brand_key and model_key), InvalidInput(
            "brand and model are required", field="model" if brand_key else "brand"))
        ServicePlan.check(months, km)
        plan_id = ServicePlan.create_id(brand_key, model_key)
        # a plan set before full-width letters were folded has its id from the older key
        legacy_id = ServicePlan.create_id(ServicePlan.legacy_key(brand),
                                          ServicePlan.legacy_key(model))

        def decide(session: Session) -> Decision:
            audit = session.audit(session.caller.stores[0])
            plan = session.find(ServicePlan, plan_id)
            if plan is None and legacy_id != plan_id:
                plan = session.find(ServicePlan, legacy_id)
            if plan is None:
                plan = ServicePlan(audit=audit, brand_key=brand_key, model_key=model_key,
                                   brand=brand.strip(), model=model.strip(), months=months, km=km)
                session.add(plan)
            else:
                plan.change(audit, months, km, _text(reason))
            return Decision(plan, {"brand": plan.brand, "model": plan.model,
                                   "months": months, "km": km})

        return self.app.execute(request, decide, tuple(dict.fromkeys((plan_id, legacy_id))))
