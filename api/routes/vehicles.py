"""/vehicles: register, correct details, plate and owner changes; lookup and the vehicle file
(plate and owner history, mileage readings, visits, next service due, reminders)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query

from api.as_of import AsOf, found_then, requested_moment
from api.auth import Principal
from api.deps import Command, Ctx, Offset, Vin, WaitFor, command, reader, wait_for_projection
from api.histories import stream_history
from api.json_bodies import JsonBodyRoute
from api.numbers import Plain
from api.paging import HistoryPage, Limit, Page
from api.pii_reads import VEHICLE_FIELDS, PiiReader, pii_reader, shows_personal_data
from api.replays import answered_by, located
from api.schemas import CommandAccepted
from api.schemas_crm import OwnerIn, PlateIn, VehicleDetailsIn, VehicleRegisterIn
from api.schemas_history import PriorVisitIn
from domain.common import NotFound
from domain.vehicle_ids import normalise_vin
from domain.work_orders import vehicle_id
from projections.crm_as_of import vehicle_as_of
from projections.customer_queries import (
    find_vehicles,
    vehicle_detail,
    vehicle_section,
    vehicle_store,
)

router = APIRouter(prefix="/vehicles", tags=["vehicles"], route_class=JsonBodyRoute)
VIEW = "customers"
# The lookup and the file show owners' names: an auditor's read of them is recorded.
Reader = Annotated[PiiReader, Depends(pii_reader("vehicles.read"))]
ManageCmd = Annotated[Command, Depends(command("vehicles.manage"))]
ImportCmd = Annotated[Command, Depends(command("vehicles.import_history"))]
# the vehicle file's lists, a page at a time (same roles as the file; no owner names in them)
ListReader = Annotated[Principal, Depends(reader("vehicles.read"))]
ListLimit = Annotated[int, Query(ge=1, le=500, description="at most this many items"), Plain]


def _day(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


@router.post("", response_model=CommandAccepted, status_code=201)
@answered_by(located("/vehicles/{vin}"))
def register_vehicle(body: VehicleRegisterIn, cmd: ManageCmd, ctx: Ctx) -> Any:
    return ctx.vehicles.register(cmd.envelope, **body.model_dump(exclude={"sale_date"}),
                                 sale_date=_day(body.sale_date))


@router.post("/{vin}/details", response_model=CommandAccepted)
def correct_details(vin: Vin, body: VehicleDetailsIn, cmd: ManageCmd, ctx: Ctx) -> Any:
    return cmd.accepted(ctx.vehicles.correct_details(
        cmd.envelope, vin, **body.model_dump(exclude={"sale_date"}),
        sale_date=_day(body.sale_date)))


@router.post("/{vin}/plate", response_model=CommandAccepted)
def change_plate(vin: Vin, body: PlateIn, cmd: ManageCmd, ctx: Ctx) -> Any:
    return cmd.accepted(ctx.vehicles.change_plate(cmd.envelope, vin, plate=body.plate,
                                                  reason=body.reason))


@router.post("/{vin}/owner", response_model=CommandAccepted)
def change_owner(vin: Vin, body: OwnerIn, cmd: ManageCmd, ctx: Ctx) -> Any:
    return cmd.accepted(ctx.vehicles.change_owner(cmd.envelope, vin, owner_id=body.customer_id,
                                                  reason=body.reason))


@router.get("", response_model=Page)
def vehicles(ctx: Ctx, reading: Reader,
             q: Annotated[str | None, Query(max_length=20, description="VIN (or its start) "
                                                                     "or plate")] = None,
             limit: Annotated[int, Query(ge=1, le=200), Plain] = 20,
             offset: Offset = 0, wait_for: WaitFor = None) -> Any:
    """The vehicles by VIN (or its start) or plate; each one's `owner_name` for the roles that
    may read customers' personal data (advisor, manager, cashier, auditor), null for the
    others."""
    wait_for_projection(ctx, VIEW, wait_for)
    with ctx.pool.connection() as conn:
        found = find_vehicles(conn, reading.stores, q=q, limit=limit, offset=offset)
    for found_vehicle in found["items"]:
        reading.masked(found_vehicle, VEHICLE_FIELDS)
    reading.record(_owners_shown((v["owner_id"], v["owner_name"], v["store_id"])
                                 for v in found["items"]), "vehicle lookup")
    return found


@router.get("/{vin}")
def vehicle(vin: Vin, ctx: Ctx, reading: Reader, as_of: AsOf = None,
            wait_for: WaitFor = None) -> Any:
    """The vehicle file: of its visits, prior visits, mileage readings and reminder outcomes
    at most 50 each, with `<list>_count` counting them all (`/{vin}/visits` and the other
    lists page through them); with `as_of` (a moment, or a day: its end in the store's time zone)
    the registered vehicle as it stood then, replayed from its events: plate, details, the
    owner and the owners and plates until then (404 before the registration, as outside the
    token's stores; `wait_for` does not apply). The owners' names (`owner_name`, each
    owner's `name`) for the roles that may read customers' personal data (advisor, manager,
    cashier, auditor), null for the others."""
    moment = requested_moment(as_of, ctx)
    if moment is not None:
        doc = found_then(vehicle_as_of(ctx.app, vehicle_id(normalise_vin(vin)), moment,
                                       reading.opener()),
                         reading.principal, f"vehicle {vin}", moment)
        _record_owners(reading, doc, "vehicle file as of a moment")
        return doc
    wait_for_projection(ctx, VIEW, wait_for)
    with ctx.pool.connection() as conn:
        found = vehicle_detail(conn, vehicle_id(normalise_vin(vin)), reading.stores)
    if found is None:
        raise NotFound(f"vehicle {vin} not found")
    _record_owners(reading, found, "vehicle file")
    return found


def _record_owners(reading: PiiReader, found: dict[str, Any], purpose: str) -> None:
    """Record the read of the owners' names the file shows (the current one and each); a
    role that may not read them is shown them null, and nothing is recorded."""
    reading.masked(found, VEHICLE_FIELDS)
    store = found["store_id"]
    reading.record(_owners_shown([(found["owner_id"], found["owner_name"], store)] + [
        (o.get("customer_id"), o.get("name"), store) for o in found.get("owners") or ()]),
        purpose)


def _owners_shown(owners: Iterable[tuple[Any, str | None, str]]) -> list[tuple[UUID, str]]:
    """The owners whose names an answer shows, from (owner id, name, the vehicle's store),
    once each."""
    shown = {UUID(str(owner)): str(store) for owner, name, store in owners
             if owner and shows_personal_data(name)}
    return list(shown.items())


@router.get("/{vin}/history", response_model=HistoryPage)
def vehicle_history(vin: Vin, ctx: Ctx, principal: Annotated[
        Principal, Depends(reader("customers.history"))],
                    limit: Limit = 500, offset: Offset = 0) -> Any:
    """The registered vehicle's events, in the store that registered it (else 404, as the
    vehicle file)."""
    return stream_history(ctx, vehicle_id(normalise_vin(vin)), "Vehicle", principal.stores,
                          f"vehicle {vin} has no registered history", limit=limit,
                          offset=offset).page


def _vehicle_list(vin: str, section: str, ctx: Ctx, principal: Principal, limit: int,
                  offset: int, wait_for: int | None) -> dict[str, Any]:
    """One page of a list of the vehicle file, in the file's order; a vehicle not on file in
    the token's stores is 404, as its file."""
    wait_for_projection(ctx, VIEW, wait_for)
    car = vehicle_id(normalise_vin(vin))
    with ctx.pool.connection() as conn:
        store = vehicle_store(conn, car)
        if store is None or not principal.sees(store):
            raise NotFound(f"vehicle {vin} not found")
        return vehicle_section(conn, car, section, limit=limit, offset=offset)


@router.get("/{vin}/visits", response_model=Page)
def vehicle_visits(vin: Vin, ctx: Ctx, principal: ListReader, limit: ListLimit = 50,
                   offset: Offset = 0, wait_for: WaitFor = None) -> Any:
    """The car's visits (work orders), newest first, a page at a time: the file shows the
    first 50 and `visits_count`."""
    return _vehicle_list(vin, "visits", ctx, principal, limit, offset, wait_for)


@router.get("/{vin}/mileage-readings", response_model=Page)
def vehicle_mileage_readings(vin: Vin, ctx: Ctx, principal: ListReader,
                             limit: ListLimit = 50, offset: Offset = 0,
                             wait_for: WaitFor = None) -> Any:
    """The car's odometer readings, newest first, a page at a time: the file shows the first
    50 (the latest) and `mileage_readings_count`."""
    return _vehicle_list(vin, "mileage_readings", ctx, principal, limit, offset, wait_for)


@router.get("/{vin}/reminders", response_model=Page)
def vehicle_reminders(vin: Vin, ctx: Ctx, principal: ListReader, limit: ListLimit = 50,
                      offset: Offset = 0, wait_for: WaitFor = None) -> Any:
    """The outcomes of the car's service reminders, newest first, a page at a time: the file
    shows the first 50 (the latest) and `reminders_count`."""
    return _vehicle_list(vin, "reminders", ctx, principal, limit, offset, wait_for)


@router.get("/{vin}/prior-visits", response_model=Page)
def vehicle_prior_visits(vin: Vin, ctx: Ctx, principal: ListReader, limit: ListLimit = 50,
                         offset: Offset = 0, wait_for: WaitFor = None) -> Any:
    """The visits imported from the previous system, latest first, a page at a time: the
    file shows the first 50 and `prior_visits_count`."""
    return _vehicle_list(vin, "prior_visits", ctx, principal, limit, offset, wait_for)


@router.post("/{vin}/prior-visits", response_model=CommandAccepted, status_code=201)
def import_prior_visit(vin: Vin, body: PriorVisitIn, cmd: ImportCmd, ctx: Ctx) -> Any:
    """A visit from the previous system onto the vehicle's record (go-live migration; a
    manager's): shown in the vehicle file apart from the work orders, `imported: true` with
    its `source_ref`, and counted by the odometer check and the next service due. A VIN not on
    file is registered by its VIN alone in the same save. The same `source_ref` of the store
    again stores nothing and answers the first import (`already_imported: true`); the same
    reference for another vehicle is a 409, as a car's 301st imported visit."""
    record = body.model_dump(mode="json", exclude={"store_id"})
    return cmd.accepted(ctx.vehicles.import_prior_visit(cmd.envelope, vin, store_id=body.store_id,
                                                        record=record))
