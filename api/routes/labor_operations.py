"""/labor-operations: a store's labor-operation master (register and change: the manager role;
read: every role). An operation is named by its store and op code: `store_id` in the body of
a command, in the query of a read; a store the token does not cover reads as unknown (404)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, Field

from api.as_of import AsOf, found_then, requested_moment
from api.auth import Principal
from api.booleans import Boolean
from api.deps import (
    Command,
    Ctx,
    IdFilter,
    Offset,
    StoreQuery,
    WaitFor,
    command,
    reader,
    wait_for_projection,
)
from api.histories import stream_history
from api.json_bodies import JsonBodyRoute
from api.numbers import Number, NumberOrNone, Plain, WholeOrNone
from api.paging import HistoryPage, Limit, PageOf
from api.replays import answered_by
from api.schemas import REASON, Body, CommandAccepted, Skill, example
from domain.application import CommandResult
from domain.common import NotFound
from domain.labor_operation import MAX_DESCRIPTION, LaborOperation, op_code_or_none
from domain.labor_operations import LaborOperations
from projections.labor_operations import get_operation, list_operations
from projections.master_as_of import labor_operation_as_of

router = APIRouter(prefix="/labor-operations", tags=["labor operations"],
                   route_class=JsonBodyRoute)
VIEW = "labor_operations"
Reader = Annotated[Principal, Depends(reader("labor_operations.read"))]
ManageCmd = Annotated[Command, Depends(command("labor_operations.manage"))]
Auditor = Annotated[Principal, Depends(reader("labor_operations.audit"))]
OpCode = Annotated[str, Path(min_length=1, max_length=30, pattern=r"^[^\x00-\x1f\x7f]+$",
                             description="the op code (kept upper case, without blanks)")]
StoreId = Annotated[str, Field(min_length=1, max_length=20, description="the store")]


class RatesIn(Body):
    model_config = example({"customer": "300.00", "warranty": "180.00",
                            "insurance": "260.00", "internal": "150.00"})

    customer: NumberOrNone = Field(default=None, ge=0, le=100_000,
                                   description="CNY per hour, VAT-inclusive")
    warranty: NumberOrNone = Field(default=None, ge=0, le=100_000,
                                   description="the OEM's warranty labor rate")
    insurance: NumberOrNone = Field(default=None, ge=0, le=100_000,
                                    description="the rate agreed with insurers")
    internal: NumberOrNone = Field(default=None, ge=0, le=100_000,
                                   description="the store's own work")


class LaborOperationIn(Body):
    model_config = example({
        "store_id": "S01", "op_code": "BRK-PAD", "description": "replace front brake pads",
        "flat_rate_hours": "1.5", "rates": {"customer": "300.00", "warranty": "180.00",
                                            "insurance": "260.00", "internal": "150.00"},
        "skill": "chassis", "level": 1})

    store_id: StoreId
    op_code: str = Field(min_length=1, max_length=30, description=(
        "letters, digits, '.', '_', '-'; kept upper case without blanks"))
    description: str = Field(min_length=1, max_length=MAX_DESCRIPTION)
    flat_rate_hours: Number = Field(gt=0, le=1000, description="the labor time guide's hours")
    rates: RatesIn = Field(description="the hourly rate of each pay type (all four)")
    skill: Skill | None = Field(default=None, description=(
        "the skill it needs, with `level`; default: what the op code's prefix names"))
    level: WholeOrNone = Field(default=None, ge=1, le=5)


class LaborOperationChange(Body):
    model_config = example({"store_id": "S01", "flat_rate_hours": "1.8",
                            "rates": {"customer": "320.00"},
                            "reason": "2026 labor time guide"})

    store_id: StoreId
    description: str | None = Field(default=None, min_length=1, max_length=MAX_DESCRIPTION)
    flat_rate_hours: NumberOrNone = Field(default=None, gt=0, le=1000)
    rates: RatesIn | None = Field(default=None, description="the rates that change")
    skill: Skill | None = None
    level: WholeOrNone = Field(default=None, ge=1, le=5)
    active: Boolean | None = Field(default=None, description=(
        "false: withdrawn (a labor line with it is refused), true: sold again"))
    reason: str = Field(min_length=1, max_length=500, description=REASON)


class LaborOperationOut(BaseModel):
    id: str
    store_id: str
    op_code: str
    description: str
    flat_rate_hours: str
    rates: dict[str, str] = Field(description="pay type -> CNY per hour, VAT-inclusive")
    skill: str | None
    level: int | None
    active: bool
    registered_at: datetime
    updated_at: datetime
    updated_by: str
    last_reason: str | None = Field(description="why it last changed")
    version: int
    as_of: datetime | None = Field(default=None, description=(
        "with `?as_of=`: the moment the operation was replayed to (absent otherwise)"))


class LaborOperationPage(PageOf[LaborOperationOut]):
    """One page of the master, by store and op code."""


def _rates(rates: RatesIn | None) -> dict[str, Any] | None:
    return None if rates is None else {k: v for k, v in rates.model_dump().items()
                                       if v is not None}


def _registered(result: CommandResult, *, cmd: Command, body: LaborOperationIn,
                **_: Any) -> dict[str, Any]:
    cmd.response.headers["Location"] = (f"/labor-operations/{result.body['op_code']}"
                                        f"?store_id={body.store_id}")
    return cmd.accepted(result)


@router.post("", response_model=CommandAccepted, status_code=201)
@answered_by(_registered)
def register_operation(body: LaborOperationIn, cmd: ManageCmd, ctx: Ctx) -> Any:
    return LaborOperations(ctx.app, ctx.work_orders.stores).register(
        cmd.envelope, store_id=body.store_id, op_code=body.op_code,
        description=body.description, flat_rate_hours_=body.flat_rate_hours,
        rates=_rates(body.rates), skill=body.skill, level=body.level)


@router.patch("/{op_code}", response_model=CommandAccepted)
def change_operation(op_code: OpCode, body: LaborOperationChange, cmd: ManageCmd,
                     ctx: Ctx) -> Any:
    """The fields given change (a rate of `rates` each), with the reason; the lines already
    on work orders keep the price they were added with."""
    changes = {**body.model_dump(exclude={"store_id", "reason", "rates"}),
               "rates": _rates(body.rates)}
    return cmd.accepted(LaborOperations(ctx.app, ctx.work_orders.stores).change(
        cmd.envelope, body.store_id, op_code, changes, reason=body.reason))


@router.get("", response_model=LaborOperationPage)
def find_operations(ctx: Ctx, principal: Reader, store_id: IdFilter = None,
                    q: str | None = Query(default=None, max_length=100, description=(
                        "an op code's beginning or a word of the description")),
                    active: bool | None = None,
                    limit: Annotated[int, Query(ge=1, le=500), Plain] = 100,
                    offset: Offset = 0, wait_for: WaitFor = None) -> Any:
    wait_for_projection(ctx, VIEW, wait_for)
    with ctx.pool.connection() as conn:
        return list_operations(conn, principal.stores, store_id=store_id, q=q, active=active,
                               limit=limit, offset=offset)


@router.get("/{op_code}", response_model=LaborOperationOut, response_model_exclude_unset=True)
def operation_detail(op_code: OpCode, ctx: Ctx, principal: Reader, store_id: StoreQuery,
                     as_of: AsOf = None, wait_for: WaitFor = None) -> Any:
    """The store's operation; with `as_of` (a moment, or a day: its end in the store's time
    zone) as it stood then — flat-rate hours, rates, skill, active — replayed from its events
    (404 before it was registered; `wait_for` does not apply)."""
    moment = requested_moment(as_of, ctx)
    if moment is not None:
        code = op_code_or_none(op_code)
        doc = None if code is None else labor_operation_as_of(
            ctx.app, LaborOperation.create_id(store_id, code), moment)
        return found_then(doc, principal, f"labor operation {op_code} of store {store_id}",
                          moment)
    wait_for_projection(ctx, VIEW, wait_for)
    with ctx.pool.connection() as conn:
        found = get_operation(conn, principal.stores, store_id, op_code)
    if found is None:
        raise NotFound(f"labor operation {op_code} is not in store {store_id}'s master",
                       op_code=op_code, store_id=store_id)
    return found


@router.get("/{op_code}/history", response_model=HistoryPage)
def operation_history(op_code: OpCode, ctx: Ctx, principal: Auditor, store_id: StoreQuery,
                      limit: Limit = 500, offset: Offset = 0) -> Any:
    """Every change to the store's operation (hours, rates, skill, description, deactivation):
    who, when, why, and the fields changed."""
    refusal = f"labor operation {op_code} is not in store {store_id}'s master"
    code = op_code_or_none(op_code)
    if code is None:
        raise NotFound(refusal, op_code=op_code, store_id=store_id)
    return stream_history(ctx, LaborOperation.create_id(store_id, code), "LaborOperation",
                          principal.stores, refusal, limit=limit, offset=offset).page
