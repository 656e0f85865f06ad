"""/vehicles: register, correct details, plate and owner changes; lookup and the vehicle file
(plate and owner history, mileage readings, visits, next service due, reminders)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from api.auth import Principal
from api.deps import Command, Ctx, Offset, Vin, WaitFor, command, reader, wait_for_projection
from api.paging import HistoryPage, Limit, Page
from api.schemas import CommandAccepted
from api.schemas_crm import OwnerIn, PlateIn, VehicleDetailsIn, VehicleRegisterIn
from domain.common import NotFound
from domain.vehicle_ids import normalise_vin
from domain.work_orders import vehicle_id
from projections import audit
from projections.base import page_of
from projections.customer_queries import find_vehicles, vehicle_detail

router = APIRouter(prefix="/vehicles", tags=["vehicles"])
VIEW = "customers"
Reader = Annotated[Principal, Depends(reader("vehicles.read"))]
ManageCmd = Annotated[Command, Depends(command("vehicles.manage"))]


def _day(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


@router.post("", response_model=CommandAccepted, status_code=201)
def register_vehicle(body: VehicleRegisterIn, cmd: ManageCmd, ctx: Ctx) -> Any:
    result = ctx.vehicles.register(cmd.envelope, **body.model_dump(exclude={"sale_date"}),
                                   sale_date=_day(body.sale_date))
    cmd.response.headers["Location"] = f"/vehicles/{result.body['vin']}"
    return cmd.accepted(result)


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
def vehicles(ctx: Ctx, principal: Reader,
             q: Annotated[str | None, Query(max_length=20, description="VIN (or its start) "
                                                                     "or plate")] = None,
             limit: Annotated[int, Query(ge=1, le=200)] = 20,
             offset: Offset = 0, wait_for: WaitFor = None) -> Any:
    wait_for_projection(ctx, VIEW, wait_for)
    with ctx.pool.connection() as conn:
        return find_vehicles(conn, principal.stores, q=q, limit=limit, offset=offset)


@router.get("/{vin}")
def vehicle(vin: Vin, ctx: Ctx, principal: Reader, wait_for: WaitFor = None) -> Any:
    wait_for_projection(ctx, VIEW, wait_for)
    with ctx.pool.connection() as conn:
        found = vehicle_detail(conn, vehicle_id(normalise_vin(vin)), principal.stores)
    if found is None:
        raise NotFound(f"vehicle {vin} not found")
    return found


@router.get("/{vin}/history", response_model=HistoryPage,
            dependencies=[Depends(reader("customers.history"))])
def vehicle_history(vin: Vin, ctx: Ctx,
                    limit: Limit = 500, offset: Offset = 0) -> Any:
    entries = audit.history(ctx.app, vehicle_id(normalise_vin(vin)))
    if not entries:
        raise NotFound(f"vehicle {vin} has no registered history")
    return page_of(entries, limit=limit, offset=offset)
