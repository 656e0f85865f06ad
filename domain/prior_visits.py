"""Importing a visit of the previous system onto a vehicle's record (domain/prior_visit.py).

A VIN not on file is registered by its VIN alone in the same save (as a reminder's is): a
migration brings the cars the new system has never seen, and their details can be corrected
afterwards. Importing a `source_ref` the store has taken changes nothing and answers the first
import (`already_imported` true); the same reference for another car is a 409.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from zoneinfo import ZoneInfo

from domain.application import CommandResult, Decision, Request, ServiceCore, Session
from domain.common import IllegalTransition, NotPermitted, require_group_store
from domain.days import business_day
from domain.prior_visit import PriorVisitRef, prior_record
from domain.vehicle import Vehicle
from domain.vehicle_ids import normalise_vin
from domain.work_orders import vehicle_id


def _answer(ref: PriorVisitRef, already: bool) -> dict[str, Any]:
    return {"vin": ref.vin, "store_id": ref.store_id, "source_ref": ref.source_ref,
            "imported_at": ref.imported_at, "imported_by": ref.imported_by,
            "already_imported": already}


def _vehicle(session: Session, vin: str, store_id: str) -> Vehicle:
    found = session.find(Vehicle, vehicle_id(vin))
    if found is not None:
        return session.get(Vehicle, found.id, f"vehicle {vin}")
    vehicle = Vehicle(audit=session.audit(store_id), vin=vin, plate=None, brand=None,
                      model=None, year=None, sale_date=None, owner_id=None)
    session.add(vehicle)
    return vehicle


def import_prior_visit(app: ServiceCore, request: Request, *, vin: str, store_id: str,
                       record: dict[str, Any], zone: ZoneInfo,
                       stores: Iterable[str] = ()) -> CommandResult:
    """Validate the record, then save it on the vehicle with its reference, once."""
    require_group_store(stores, store_id)
    if not request.caller.may_use(store_id):
        raise NotPermitted(f"your token does not cover store {store_id}")
    number = normalise_vin(vin)
    kept = prior_record(record, business_day(request.caller.at, zone))
    ref_id = PriorVisitRef.create_id(store_id, kept["source_ref"])

    def decide(session: Session) -> Decision:
        taken = session.find(PriorVisitRef, ref_id)
        if taken is not None:
            if taken.vin != number:
                raise IllegalTransition(
                    f"{kept['source_ref']} was imported for vehicle {taken.vin} already",
                    field="source_ref")
            return Decision(taken, _answer(taken, True))
        vehicle = _vehicle(session, number, store_id)
        audit = session.audit(store_id)
        vehicle.import_prior_visit(audit, kept)
        ref = PriorVisitRef(audit=audit, store_id=store_id, source_ref=kept["source_ref"],
                            vin=number)
        session.add(ref)
        return Decision(ref, _answer(ref, False))

    return app.execute(request, decide, (vehicle_id(number), ref_id))
