"""/campaigns: the OEM's recall and service campaigns (register, import the VINs in chunks,
close: the manager role; read: every role), and /vehicles/{vin}/campaigns: a car's open and
done campaigns. A campaign is the group's (the OEM's), named by its number; the cars of it on
file are those of the caller's stores."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, Field

from api.as_of import AsOf, existed_then, requested_moment
from api.auth import Principal
from api.dates import PlainDay
from api.deps import Command, Ctx, Offset, Vin, WaitFor, command, reader, wait_for_projection
from api.histories import stream_history
from api.json_bodies import JsonBodyRoute
from api.numbers import Plain
from api.paging import HistoryPage, Limit, PageOf
from api.replays import answered_by, located
from api.schemas import EXAMPLE_VIN, REASON, Body, CommandAccepted, example
from domain.campaign import (
    KINDS,
    MAX_BRAND,
    MAX_REMEDY_ITEMS,
    MAX_TITLE,
    MAX_VINS_PER_IMPORT,
    Campaign,
    campaign_number_or_none,
)
from domain.campaigns import Campaigns
from domain.common import NotFound
from domain.vehicle_ids import normalise_vin
from domain.work_order import WorkOrder
from projections.campaigns import (
    campaign_detail,
    done_campaigns,
    listed_counts,
    not_done_on_file,
    on_file,
    open_campaigns,
)
from projections.master_as_of import campaign_as_of

router = APIRouter(prefix="/campaigns", tags=["campaigns"], route_class=JsonBodyRoute)
vehicle_router = APIRouter(prefix="/vehicles", tags=["campaigns"], route_class=JsonBodyRoute)
VIEW = "campaigns"
Reader = Annotated[Principal, Depends(reader("campaigns.read"))]
Auditor = Annotated[Principal, Depends(reader("campaigns.audit"))]
ManageCmd = Annotated[Command, Depends(command("campaigns.manage"))]
CampaignNo = Annotated[str, Path(min_length=1, max_length=40, pattern=r"^[^\x00-\x1f\x7f]+$",
                                 description="the campaign number (kept upper case)")]


class CampaignIn(Body):
    model_config = example({
        "campaign_no": "RC2026-01", "brand": "FAW-VW", "kind": "safety_recall",
        "title": "召回: 燃油泵控制单元软件升级", "starts_on": "2026-01-15",
        "ends_on": "2027-01-14", "op_codes": ["CAMP-ECU"], "parts": []})

    campaign_no: str = Field(min_length=1, max_length=40, description=(
        "the OEM's number; letters, digits, '.', '_', '-', kept upper case"))
    brand: str = Field(min_length=1, max_length=MAX_BRAND, description="the OEM brand")
    kind: str = Field(max_length=30,
                      description=f"one of {', '.join(KINDS)} (召回 / service campaign)")
    title: str = Field(min_length=1, max_length=MAX_TITLE)
    starts_on: PlainDay
    ends_on: PlainDay | None = Field(default=None, description="none: open until closed")
    op_codes: list[Annotated[str, Field(min_length=1, max_length=30)]] = Field(
        default_factory=list, max_length=MAX_REMEDY_ITEMS,
        description="the labor op codes of the remedy, where the OEM names them")
    parts: list[Annotated[str, Field(min_length=1, max_length=40)]] = Field(
        default_factory=list, max_length=MAX_REMEDY_ITEMS,
        description="the part numbers of the remedy, where the OEM names them")


class CampaignVinsIn(Body):
    model_config = example({"vins": [EXAMPLE_VIN]})

    vins: list[Annotated[str, Field(min_length=1, max_length=30)]] = Field(
        min_length=1, max_length=MAX_VINS_PER_IMPORT, description=(
            f"1 to {MAX_VINS_PER_IMPORT} affected VINs; a longer list goes in chunks, and a "
            "VIN already listed is counted, not recorded again"))


class CampaignCloseIn(Body):
    model_config = example({"reason": "the OEM closed the campaign"})

    reason: str = Field(min_length=1, max_length=500, description=REASON)


class CampaignShown(BaseModel):
    campaign_no: str
    brand: str
    title: str
    kind: str
    remedy: dict[str, list[str]] = Field(description="op_codes and parts of the remedy")
    starts_on: date
    ends_on: date | None


class CampaignOut(CampaignShown):
    id: str
    closed: bool
    close_reason: str | None
    affected: int = Field(description="the VINs the campaign lists")
    done: int = Field(description="of those, the cars a settled visit did it on (the group)")
    on_file: int = Field(description="of those, the cars on file in your stores")
    not_done_on_file: int = Field(description="the cars on file in your stores not done yet")
    registered_at: datetime
    updated_at: datetime
    updated_by: str
    version: int
    as_of: datetime | None = Field(default=None, description=(
        "with `?as_of=`: the moment the campaign was replayed to (absent otherwise)"))


class CampaignDone(CampaignShown):
    work_order_id: str | None = Field(description="the visit that did it (null: another store's)")
    number: str | None
    store_id: str
    done_at: datetime


class VehicleCampaigns(BaseModel):
    vin: str
    open_campaigns: list[CampaignShown] = Field(description=(
        "running today, not closed, not done on the car yet"))
    done_campaigns: list[CampaignDone] = Field(description="the visit that did each")


class AffectedVehicle(BaseModel):
    vin: str
    vehicle_id: str
    store_id: str
    brand: str | None
    model: str | None
    year: int | None
    owner_id: str | None


class AffectedPage(PageOf[AffectedVehicle]):
    """One page of a campaign's cars on file and not done, by VIN."""


@router.post("", response_model=CommandAccepted, status_code=201)
@answered_by(located("/campaigns/{campaign_no}"))
def register_campaign(body: CampaignIn, cmd: ManageCmd, ctx: Ctx) -> Any:
    return Campaigns(ctx.app).register(cmd.envelope, **body.model_dump())


@router.post("/{campaign_no}/vins", response_model=CommandAccepted)
def list_vins(campaign_no: CampaignNo, body: CampaignVinsIn, cmd: ManageCmd, ctx: Ctx) -> Any:
    """One chunk of the campaign's VINs: `added` the new ones, `already_listed` those the
    campaign had (the same chunk again stores nothing), `affected` how many it lists now."""
    return cmd.accepted(Campaigns(ctx.app).list_vins(cmd.envelope, campaign_no, body.vins))


@router.post("/{campaign_no}/close", response_model=CommandAccepted)
def close_campaign(campaign_no: CampaignNo, body: CampaignCloseIn, cmd: ManageCmd, ctx: Ctx) -> Any:
    return cmd.accepted(Campaigns(ctx.app).close(cmd.envelope, campaign_no, reason=body.reason))


def _campaign(ctx: Any, campaign_no: str, stores: tuple[str, ...]) -> dict[str, Any]:
    number = campaign_number_or_none(campaign_no)
    with ctx.pool.connection() as conn:
        found = None if number is None else campaign_detail(conn, number, stores)
    if found is None:
        raise NotFound(f"campaign {campaign_no} is not in the master")
    return found


@router.get("/{campaign_no}", response_model=CampaignOut, response_model_exclude_unset=True)
def campaign(campaign_no: CampaignNo, ctx: Ctx, principal: Reader, as_of: AsOf = None,
             wait_for: WaitFor = None) -> Any:
    """The campaign; with `as_of` (a moment, or a day: its end in the store's time zone) as it
    stood then, replayed from its events: its terms, closed or not, the VINs it listed by
    then (`affected`), and of those the cars a visit settled by then did it on (`done`: a mark
    a later reversal took back is not counted) and those on file in your stores now (these
    counts from the view: `wait_for` applies to them); 404 before it was registered."""
    moment = requested_moment(as_of, ctx)
    if moment is not None:
        wait_for_projection(ctx, VIEW, wait_for)
        return _campaign_as_of(ctx, campaign_no, principal.stores, moment)
    wait_for_projection(ctx, VIEW, wait_for)
    return _campaign(ctx, campaign_no, principal.stores)


def _campaign_as_of(ctx: Any, campaign_no: str, stores: tuple[str, ...],
                    moment: datetime) -> dict[str, Any]:
    number = campaign_number_or_none(campaign_no)
    doc = existed_then(None if number is None else campaign_as_of(ctx.app, number, moment),
                       f"campaign {campaign_no}", moment)
    vins = doc.pop("vins")
    with ctx.pool.connection() as conn:
        return {**doc, **listed_counts(conn, doc["campaign_no"], vins, stores, moment)}


@router.get("/{campaign_no}/history", response_model=HistoryPage)
def campaign_history(campaign_no: CampaignNo, ctx: Ctx, principal: Auditor,
                     limit: Limit = 500, offset: Offset = 0) -> Any:
    """Every event of the campaign: its registration, the VINs listed chunk by chunk, its
    closing with the reason; who, when and why (the history of no other stream)."""
    refusal = f"campaign {campaign_no} is not in the master"
    number = campaign_number_or_none(campaign_no)
    if number is None:
        raise NotFound(refusal)
    return stream_history(ctx, Campaign.create_id(number), "Campaign", None, refusal,
                          limit=limit, offset=offset).page


@router.get("/{campaign_no}/not-done", response_model=AffectedPage)
def campaign_not_done(campaign_no: CampaignNo, ctx: Ctx, principal: Reader,
                      limit: Annotated[int, Query(ge=1, le=500), Plain] = 100,
                      offset: Offset = 0, wait_for: WaitFor = None) -> Any:
    """The campaign's cars on file in your stores that no settled visit did it on, by VIN:
    whom to invite (each owner by customer id)."""
    wait_for_projection(ctx, VIEW, wait_for)
    number = _campaign(ctx, campaign_no, principal.stores)["campaign_no"]
    with ctx.pool.connection() as conn:
        return not_done_on_file(conn, number, principal.stores, limit=limit, offset=offset)


@vehicle_router.get("/{vin}/campaigns", response_model=VehicleCampaigns)
def vehicle_campaigns(vin: Vin, ctx: Ctx, principal: Reader, wait_for: WaitFor = None) -> Any:
    """The car's open campaigns (to do at this visit) and those done; a car not on file in
    your stores is unknown (404)."""
    kept = normalise_vin(vin)
    wait_for_projection(ctx, VIEW, wait_for)
    with ctx.pool.connection() as conn:
        if not on_file(conn, kept, principal.stores):
            raise NotFound(f"vehicle {vin} not found")
        return {"vin": kept, "open_campaigns": open_campaigns(conn, kept, ctx.today()),
                "done_campaigns": done_campaigns(conn, kept, principal.stores)}


def reception_campaigns(ctx: Any, *, vin: str | None = None,
                        work_order_id: UUID | None = None) -> list[dict[str, Any]]:
    """What the desk is shown at reception (opening or checking in a visit): the car's open
    campaigns, by its VIN or its visit's (read off the visit's stream as saved, so the answer
    never waits for a view). Read only: the command is saved by then."""
    if vin is None and work_order_id is not None:
        vin = _visit_vin(ctx.app, work_order_id)
    if vin is None:
        return []
    with ctx.pool.connection() as conn:
        return open_campaigns(conn, vin, ctx.today())


def _visit_vin(app: Any, work_order_id: UUID) -> str | None:
    """The visit's VIN: a work order keeps the one it was opened with, so the state this
    process holds of it (the check-in just saved it) tells, without a read of the store; a
    visit it does not hold is loaded."""
    found: object = app.cached(work_order_id)
    if found is None:
        try:
            found = app.repository.get(work_order_id)
        except AggregateNotFoundError:
            return None
    return str(found.vehicle["vin"]) if isinstance(found, WorkOrder) else None
