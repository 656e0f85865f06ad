"""/customers: registration, details, consent, tags, loyalty points, one-key lookup, the
customer 360, history, and erasure on request (PIPL)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from uuid import UUID
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query

from api.as_of import AsOf, found_then, requested_moment
from api.context import ApiContext
from api.deps import (
    Command,
    Ctx,
    Offset,
    TagName,
    WaitFor,
    command,
    wait_for_projection,
    wait_for_views,
)
from api.grievance_reads import opened
from api.histories import stream_history
from api.json_bodies import JsonBodyRoute
from api.numbers import Plain
from api.paging import HistoryPage, Limit, Page
from api.pii_reads import PiiReader, pii_reader, shows_personal_data
from api.replays import answered_by, located
from api.schemas import CommandAccepted, ReasonIn
from api.schemas_crm import (
    ConsentIn,
    CustomerDetailsIn,
    CustomerRegisterIn,
    PointsEarnIn,
    PointsRedeemIn,
    TagIn,
)
from domain.application import CommandResult
from domain.common import NotFound
from projections.crm_as_of import customer_as_of
from projections.customer_queries import (
    SECTION_ITEMS,
    customer_360,
    customer_section,
    customer_store,
    find_customers,
)
from projections.grievances import customer_grievances

router = APIRouter(prefix="/customers", tags=["customers"], route_class=JsonBodyRoute)
VIEW = "customers"
GRIEVANCES = "grievances"  # the complaint cases' view, which the 360 reads too
Reader = Annotated[PiiReader, Depends(pii_reader("customers.read"))]
RegisterCmd = Annotated[Command, Depends(command("customers.register"))]


@router.post("", response_model=CommandAccepted, status_code=201)
@answered_by(located("/customers/{id}"))
def register_customer(body: CustomerRegisterIn, cmd: RegisterCmd, ctx: Ctx) -> Any:
    return ctx.customers.register(cmd.envelope, **body.model_dump())


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


def _erased(result: CommandResult, *, cmd: Command, ctx: ApiContext, customer_id: UUID,
            **_: Any) -> dict[str, Any]:
    if result.replayed:  # its first attempt may have been cut off before the key went
        ctx.customers.shred_key(customer_id)
    return cmd.accepted(result)


@router.post("/{customer_id}/erasure", response_model=CommandAccepted)
@answered_by(_erased)
def erase_customer(customer_id: UUID, body: ReasonIn,
                   cmd: Annotated[Command, Depends(command("customers.erase"))], ctx: Ctx) -> Any:
    """Shred the customer's key: personal fields read as erased, every other fact stays."""
    return ctx.customers.erase(cmd.envelope, customer_id, reason=body.reason)


@router.get("", response_model=Page)
def lookup(ctx: Ctx, reading: Reader,
           q: Annotated[str | None, Query(max_length=100,
                                          description="phone, plate, VIN or name")] = None,
           tag: Annotated[str | None, Query(max_length=30)] = None,
           limit: Annotated[int, Query(ge=1, le=200), Plain] = 20,
           offset: Offset = 0, wait_for: WaitFor = None) -> Any:
    """One-key lookup: a phone (or its last digits), a plate (current or former), a VIN, or
    the start of a name; optionally by tag (manual, or vip / fleet / frequent)."""
    wait_for_projection(ctx, VIEW, wait_for)
    today = ctx.today()
    with ctx.pool.connection() as conn:
        found = find_customers(conn, reading.stores, q=q, tag=tag, rules=ctx.tag_rules,
                               today=today, limit=limit, offset=offset)
    reading.record(_shown(found["items"]), "customer lookup")
    return found


@router.get("/{customer_id}")
def customer_detail(customer_id: UUID, ctx: Ctx, reading: Reader, as_of: AsOf = None,
                    wait_for: WaitFor = None) -> Any:
    """The customer 360: vehicles, visits, spend, open work orders, complaints, complaint
    cases (`grievances`: the customer's words and the resolution opened), points; with
    `as_of` (a moment, or a day: its end in the store's time zone) the customer as they stood
    then, replayed from their events: details, consent per channel, tags set by hand, points
    (404 before the registration, as outside the token's stores; `wait_for` does not apply).
    An erased customer's personal fields read as erased at every moment."""
    moment = requested_moment(as_of, ctx)
    if moment is not None:
        return _as_of(ctx, reading, customer_id, moment)
    wait_for_views(ctx, wait_for, VIEW, GRIEVANCES)
    today = ctx.today()
    with ctx.pool.connection() as conn:
        found = customer_360(conn, customer_id, reading.stores, rules=ctx.tag_rules,
                             today=today)
        if found is None:
            raise NotFound(f"customer {customer_id} not found")
        cases = customer_grievances(conn, customer_id, now=datetime.now(UTC),
                                    limit=SECTION_ITEMS, offset=0)
    found["grievances"], found["grievances_count"] = cases["items"], cases["total"]
    reading.record([*_shown([found]), *opened(reading, found["grievances"])], "customer 360")
    return found


def _as_of(ctx: Ctx, reading: PiiReader, customer_id: UUID,
           moment: datetime) -> dict[str, Any]:
    doc = found_then(customer_as_of(ctx.app, customer_id, moment, ZoneInfo(ctx.timezone),
                                    reading.opener()),
                     reading.principal, f"customer {customer_id}", moment)
    reading.record(_shown([doc]), "customer as of a moment")
    return doc


def _shown(customers: list[dict[str, Any]]) -> list[tuple[UUID, str]]:
    return [(UUID(str(c["id"])), str(c["store_id"])) for c in customers
            if not c.get("erased") and shows_personal_data(c.get("name"), c.get("phones"),
                                                           c.get("wechat_id"))]


@router.get("/{customer_id}/history", response_model=HistoryPage)
def customer_history(customer_id: UUID, ctx: Ctx, reading: Annotated[
        PiiReader, Depends(pii_reader("customers.history"))],
                     limit: Limit = 500, offset: Offset = 0) -> Any:
    """Every event of the customer with actor, time and reason; personal fields opened with
    the customer's key, or shown as erased."""
    opener = reading.opener()
    found = stream_history(ctx, customer_id, "Customer", reading.stores,
                           f"customer {customer_id} not found", limit=limit, offset=offset,
                           opener=opener)
    reading.record_opened(opener, str(found.store_id), "customer history")
    return found.page


@router.get("/{customer_id}/grievances", response_model=Page)
def customer_cases(customer_id: UUID, ctx: Ctx, reading: Reader, limit: Limit = 200,
                   offset: Offset = 0, wait_for: WaitFor = None) -> Any:
    """The customer's complaint cases and suggestions (投诉建议), as the 360 lists them
    (newest first, `open` while not closed), a page at a time: the customer's words and the
    resolution opened (an auditor's read recorded)."""
    wait_for_views(ctx, wait_for, VIEW, GRIEVANCES)
    with ctx.pool.connection() as conn:
        _require_customer(conn, customer_id, reading)
        found = customer_grievances(conn, customer_id, now=datetime.now(UTC), limit=limit,
                                    offset=offset)
    reading.record(opened(reading, found["items"]), "customer grievances")
    return found


Section = Literal["visits", "open-work-orders", "vehicles", "complaints", "appointments",
                  "points-history"]


@router.get("/{customer_id}/{section}", response_model=Page)
def customer_list(customer_id: UUID, section: Section, ctx: Ctx, reading: Reader,
                  limit: Limit = 200, offset: Offset = 0, wait_for: WaitFor = None) -> Any:
    """One page of a list of the customer 360, in its order, which lists the first 50 of each
    (a fleet's vehicles, years of visits): `visits`, `open-work-orders`, `vehicles`,
    `complaints`, upcoming `appointments`, `points-history` (newest first)."""
    wait_for_projection(ctx, VIEW, wait_for)
    with ctx.pool.connection() as conn:
        _require_customer(conn, customer_id, reading)
        return customer_section(conn, customer_id, section.replace("-", "_"),
                                today=ctx.today(), limit=limit, offset=offset)


def _require_customer(conn: Any, customer_id: UUID, reading: PiiReader) -> None:
    """404 unless the customer is registered in one of the caller's stores."""
    store = customer_store(conn, customer_id)
    if store is None or ("*" not in reading.stores and store not in reading.stores):
        raise NotFound(f"customer {customer_id} not found")
