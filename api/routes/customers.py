"""/customers: registration, details, consent, tags, loyalty points, one-key lookup, the
customer 360, history, and erasure on request (PIPL)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query

from api.auth import Principal
from api.deps import Command, Ctx, Offset, TagName, WaitFor, command, reader, wait_for_projection
from api.schemas import CommandAccepted, HistoryEntry, ReasonIn
from api.schemas_crm import (
    ConsentIn,
    CustomerDetailsIn,
    CustomerRegisterIn,
    PointsEarnIn,
    PointsRedeemIn,
    TagIn,
)
from domain.common import NotFound
from projections import audit
from projections.customer_queries import customer_360, find_customers

router = APIRouter(prefix="/customers", tags=["customers"])
VIEW = "customers"
Reader = Annotated[Principal, Depends(reader("customers.read"))]
RegisterCmd = Annotated[Command, Depends(command("customers.register"))]


@router.post("", response_model=CommandAccepted, status_code=201)
def register_customer(body: CustomerRegisterIn, cmd: RegisterCmd, ctx: Ctx) -> Any:
    result = ctx.customers.register(cmd.envelope, **body.model_dump())
    cmd.response.headers["Location"] = f"/customers/{result.body['id']}"
    return cmd.accepted(result)


@router.post("/{customer_id}/details", response_model=CommandAccepted)
def change_details(customer_id: UUID, body: CustomerDetailsIn, cmd: RegisterCmd,
                   ctx: Ctx) -> Any:
    return cmd.accepted(ctx.customers.change_details(cmd.envelope, customer_id,
                                                     **body.model_dump()))


@router.post("/{customer_id}/consents", response_model=CommandAccepted)
def consent(customer_id: UUID, body: ConsentIn, cmd: RegisterCmd, ctx: Ctx) -> Any:
    """Consent to be contacted on a channel, given or withdrawn."""
    return cmd.accepted(ctx.customers.set_consent(cmd.envelope, customer_id, **body.model_dump()))


@router.post("/{customer_id}/tags", response_model=CommandAccepted)
def tag(customer_id: UUID, body: TagIn, cmd: RegisterCmd, ctx: Ctx) -> Any:
    return cmd.accepted(ctx.customers.tag(cmd.envelope, customer_id, tag=body.tag))


@router.post("/{customer_id}/tags/{tag}/removal", response_model=CommandAccepted)
def untag(customer_id: UUID, tag: TagName, body: ReasonIn, cmd: RegisterCmd, ctx: Ctx) -> Any:
    return cmd.accepted(ctx.customers.untag(cmd.envelope, customer_id, tag=tag,
                                            reason=body.reason))


@router.post("/{customer_id}/points/earned", response_model=CommandAccepted)
def earn_points(customer_id: UUID, body: PointsEarnIn,
                cmd: Annotated[Command, Depends(command("points.earn"))], ctx: Ctx) -> Any:
    """Points on a paid customer amount (once per reference)."""
    return cmd.accepted(ctx.customers.earn_points(cmd.envelope, customer_id, body.paid_amount,
                                                  body.reference))


@router.post("/{customer_id}/points/redemption", response_model=CommandAccepted)
def redeem_points(customer_id: UUID, body: PointsRedeemIn,
                  cmd: Annotated[Command, Depends(command("points.redeem"))], ctx: Ctx) -> Any:
    """Spend points as a payment; the answer says what they are worth in CNY."""
    return cmd.accepted(ctx.customers.redeem_points(cmd.envelope, customer_id, body.points,
                                                    body.reference))


@router.post("/{customer_id}/points/expiry", response_model=CommandAccepted)
def expire_points(customer_id: UUID,
                  cmd: Annotated[Command, Depends(command("points.expire"))], ctx: Ctx) -> Any:
    return cmd.accepted(ctx.customers.expire_points(cmd.envelope, customer_id))


@router.post("/{customer_id}/erasure", response_model=CommandAccepted)
def erase_customer(customer_id: UUID, body: ReasonIn,
                   cmd: Annotated[Command, Depends(command("customers.erase"))], ctx: Ctx) -> Any:
    """Shred the customer's key: personal fields read as erased, every other fact stays."""
    return cmd.accepted(ctx.customers.erase(cmd.envelope, customer_id, reason=body.reason))


@router.get("")
def lookup(ctx: Ctx, principal: Reader,
           q: Annotated[str | None, Query(max_length=100,
                                          description="phone, plate, VIN or name")] = None,
           tag: Annotated[str | None, Query(max_length=30)] = None,
           limit: Annotated[int, Query(ge=1, le=200)] = 20,
           offset: Offset = 0, wait_for: WaitFor = None) -> Any:
    """One-key lookup: a phone (or its last digits), a plate (current or former), a VIN, or
    the start of a name; optionally by tag (manual, or vip / fleet / frequent)."""
    wait_for_projection(ctx, VIEW, wait_for)
    today = datetime.now(ZoneInfo(ctx.timezone)).date()
    with ctx.pool.connection() as conn:
        return find_customers(conn, principal.stores, q=q, tag=tag, rules=ctx.tag_rules,
                              today=today, limit=limit, offset=offset)


@router.get("/{customer_id}")
def customer_detail(customer_id: UUID, ctx: Ctx, principal: Reader,
                    wait_for: WaitFor = None) -> Any:
    """The customer 360: vehicles, visits, spend, open work orders, complaints, points."""
    wait_for_projection(ctx, VIEW, wait_for)
    today = datetime.now(ZoneInfo(ctx.timezone)).date()
    with ctx.pool.connection() as conn:
        found = customer_360(conn, customer_id, principal.stores, rules=ctx.tag_rules,
                             today=today)
    if found is None:
        raise NotFound(f"customer {customer_id} not found")
    return found


@router.get("/{customer_id}/history", response_model=list[HistoryEntry])
def customer_history(customer_id: UUID, ctx: Ctx,
                     principal: Annotated[Principal, Depends(reader("customers.history"))]) -> Any:
    """Every event of the customer with actor, time and reason; personal fields opened with
    the customer's key, or shown as erased."""
    entries = audit.history(ctx.app, customer_id)
    if not entries or not entries[0]["event"].startswith("Customer.") or (
        "*" not in principal.stores and entries[0]["actor"].get("store_id") not in principal.stores
    ):
        raise NotFound(f"customer {customer_id} not found")
    for entry in entries:
        entry["changes"] = _opened(ctx, customer_id, entry["changes"])
    return entries


def _opened(ctx: Ctx, customer_id: UUID, value: Any) -> Any:
    if isinstance(value, str) and value.startswith("pii1:"):
        return ctx.app.personal_data.open(customer_id, value)
    if isinstance(value, dict):
        return {k: _opened(ctx, customer_id, v) for k, v in value.items()}
    if isinstance(value, list):
        return [_opened(ctx, customer_id, v) for v in value]
    return value
