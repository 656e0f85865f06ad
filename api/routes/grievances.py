"""/grievances: customer complaint cases and suggestions (投诉建议) — not a work order's
complaints (the car's symptoms) nor the follow-up call's `/complaints`. Registered by the desk
from any channel (phone, in the store, WeChat, passed on by the OEM's hotline with its case
number, the follow-up call), assigned to an owner, first contact, actions, resolved (did the
customer accept?), closed or reopened. `GET /grievances` lists a store's cases;
`GET /audit/grievances/overdue` the complaints late for first contact or closure (deadlines:
`SERVICECORE_GRIEVANCE_*`, kept in each case when it is registered)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends
from pydantic import Field

from api.as_of import AsOf, found_then, requested_moment
from api.booleans import Boolean
from api.deps import (
    Command,
    Ctx,
    IdFilter,
    Offset,
    StoreId,
    WaitFor,
    command,
    wait_for_projection,
)
from api.grievance_reads import show
from api.histories import stream_history
from api.json_bodies import JsonBodyRoute
from api.paging import HistoryPage, Limit, Page
from api.pii_reads import PiiReader, pii_reader
from api.schemas import Body, CommandAccepted, example
from domain.common import NotFound
from domain.grievance import (
    CATEGORIES,
    CHANNELS,
    KINDS,
    MAX_CASE_NO,
    MAX_OWNER,
    MAX_TEXT,
    MAX_WORDS,
    SEVERITIES,
    STATUSES,
)
from domain.grievances import Grievances
from projections.grievance_as_of import grievance_as_of
from projections.grievances import get_grievance, list_grievances, overdue_grievances
from projections.repair_records import stores_asked

router = APIRouter(tags=["customer complaint cases"], route_class=JsonBodyRoute)
VIEW = "grievances"
CaseCmd = Annotated[Command, Depends(command("grievances.manage"))]
Reader = Annotated[PiiReader, Depends(pii_reader("grievances.read"))]
Auditor = Annotated[PiiReader, Depends(pii_reader("audit.grievances"))]
HistoryReader = Annotated[PiiReader, Depends(pii_reader("audit.grievances"))]
Kind = Literal["complaint", "suggestion"]
Channel = Literal["phone", "in_store", "wechat", "oem_hotline", "follow_up"]
Category = Literal["repair_quality", "service_attitude", "price", "waiting_time", "parts",
                   "other"]
Severity = Literal["normal", "serious"]
CaseStatus = Literal["registered", "assigned", "in_progress", "resolved", "closed"]
for _literal, _values in ((Kind, KINDS), (Channel, CHANNELS), (Category, CATEGORIES),
                          (Severity, SEVERITIES), (CaseStatus, STATUSES)):
    assert set(_literal.__args__) == set(_values)  # type: ignore[attr-defined]


class GrievanceIn(Body):
    model_config = example({"customer_id": "0b8e2c1e-6a51-4f7a-9d6c-3f0a2b1c4d5e",
                            "kind": "complaint", "channel": "oem_hotline",
                            "oem_case_no": "VW-CR-2026-0042", "category": "repair_quality",
                            "severity": "serious",
                            "words": "刹车异响，上周刚修过又响了 (the brakes squeal again a week "
                                     "after the repair)"})

    customer_id: UUID = Field(description="the customer the case is of")
    kind: Kind = Field(description="complaint (投诉: deadlines) or suggestion (建议: none)")
    channel: Channel = Field(description="how it reached the store; oem_hotline: passed on by "
                                         "the OEM (厂家转交), with `oem_case_no`")
    category: Category
    severity: Severity = "normal"
    words: str = Field(min_length=3, max_length=MAX_WORDS, description=(
        "what the customer said (sealed as their personal data: erased with them)"))
    oem_case_no: str | None = Field(default=None, max_length=MAX_CASE_NO,
                                    description="the OEM's case number (oem_hotline)")
    work_order_id: UUID | None = Field(default=None, description="the visit it is about")
    vin: str | None = Field(default=None, min_length=17, max_length=17,
                            description="the car it is about (else the visit's)")


class GrievanceOwnerIn(Body):
    model_config = example({"owner": "csr-li", "note": "the service manager's case"})

    owner: str = Field(min_length=1, max_length=MAX_OWNER, description="a user id")
    note: str | None = Field(default=None, max_length=MAX_TEXT)


class GrievanceContactIn(Body):
    model_config = example({"note": "called back, appointment for a re-check tomorrow"})

    note: str | None = Field(default=None, max_length=MAX_TEXT)


class GrievanceActionIn(Body):
    model_config = example({"action": "technician re-checked the brakes with the customer"})

    action: str = Field(min_length=3, max_length=MAX_TEXT)


class GrievanceResolutionIn(Body):
    model_config = example({"resolution": "pads replaced free of charge", "accepted": True})

    resolution: str = Field(min_length=3, max_length=MAX_TEXT)
    accepted: Boolean = Field(description="whether the customer accepted the resolution")


class GrievanceCloseIn(Body):
    model_config = example({"note": "customer confirmed on the phone"})

    note: str | None = Field(default=None, max_length=MAX_TEXT)


class GrievanceReopenIn(Body):
    model_config = example({"reason": "the noise came back"})

    reason: str = Field(min_length=3, max_length=MAX_TEXT)


class GrievanceAccepted(CommandAccepted):
    store_id: str
    customer_id: str
    kind: str
    severity: str
    grievance_status: str = Field(description="registered, assigned, in_progress, resolved "
                                              "or closed")
    owner: str | None


def _service(ctx: Ctx) -> Grievances:
    return Grievances(ctx.app, ctx.grievance_terms, ctx.work_orders.stores)


@router.post("/stores/{store_id}/grievances", response_model=GrievanceAccepted,
             status_code=201)
def register(store_id: StoreId, body: GrievanceIn, cmd: CaseCmd, ctx: Ctx) -> Any:
    """A customer's complaint or suggestion in the store: `registered`, due for first contact
    and closure by its severity (a complaint)."""
    return cmd.accepted(_service(ctx).register(
        cmd.envelope, store_id, customer_id=body.customer_id, kind=body.kind,
        channel=body.channel, category=body.category, severity=body.severity,
        words=body.words, oem_case_no=body.oem_case_no, work_order_id=body.work_order_id,
        vin=body.vin))


@router.post("/grievances/{grievance_id}/assignment", response_model=GrievanceAccepted)
def assign(grievance_id: UUID, body: GrievanceOwnerIn, cmd: CaseCmd, ctx: Ctx) -> Any:
    """Given to an owner (or another one) until it is resolved."""
    return cmd.accepted(_service(ctx).assign(cmd.envelope, grievance_id, owner=body.owner,
                                             note=body.note))


@router.post("/grievances/{grievance_id}/first-contact", response_model=GrievanceAccepted)
def contact(grievance_id: UUID, body: GrievanceContactIn, cmd: CaseCmd, ctx: Ctx) -> Any:
    """The owner reached the customer: `in_progress` (assigned only)."""
    return cmd.accepted(_service(ctx).contact(cmd.envelope, grievance_id, note=body.note))


@router.post("/grievances/{grievance_id}/actions", response_model=GrievanceAccepted)
def act(grievance_id: UUID, body: GrievanceActionIn, cmd: CaseCmd, ctx: Ctx) -> Any:
    """Something done about it (assigned or in progress)."""
    return cmd.accepted(_service(ctx).act(cmd.envelope, grievance_id, action=body.action))


@router.post("/grievances/{grievance_id}/resolution", response_model=GrievanceAccepted)
def resolve(grievance_id: UUID, body: GrievanceResolutionIn, cmd: CaseCmd, ctx: Ctx) -> Any:
    """The resolution and whether the customer accepted it (in progress only)."""
    return cmd.accepted(_service(ctx).resolve(cmd.envelope, grievance_id,
                                              resolution=body.resolution,
                                              accepted=body.accepted))


@router.post("/grievances/{grievance_id}/closure", response_model=GrievanceAccepted)
def close(grievance_id: UUID, body: GrievanceCloseIn, cmd: CaseCmd, ctx: Ctx) -> Any:
    """Closed (resolved only); after it only a reopen."""
    return cmd.accepted(_service(ctx).close(cmd.envelope, grievance_id, note=body.note))


@router.post("/grievances/{grievance_id}/reopening", response_model=GrievanceAccepted)
def reopen(grievance_id: UUID, body: GrievanceReopenIn, cmd: CaseCmd, ctx: Ctx) -> Any:
    """Open again with the reason (closed only): in progress."""
    return cmd.accepted(_service(ctx).reopen(cmd.envelope, grievance_id, reason=body.reason))


@router.get("/grievances", response_model=Page)
def grievances(ctx: Ctx, reading: Reader, store_id: IdFilter = None,
               status: CaseStatus | None = None, category: Category | None = None,
               kind: Kind | None = None, overdue: bool | None = None, limit: Limit = 50,
               offset: Offset = 0, wait_for: WaitFor = None) -> Any:
    """The cases of the caller's stores (or `store_id`'s), by `status`, `category`, `kind`;
    `overdue=true`: late for first contact or closure. The oldest first, without the
    customer's words (`GET /grievances/{id}` has them); the `resolution` opened with the
    customer's key (an auditor's read recorded)."""
    wait_for_projection(ctx, VIEW, wait_for)
    with ctx.pool.connection() as conn:
        found = list_grievances(conn, reading.stores, now=datetime.now(UTC),
                                store_id=store_id, status=status, category=category,
                                kind=kind, overdue=overdue, limit=limit, offset=offset)
    show(reading, found["items"], "grievances")
    return found


@router.get("/grievances/{grievance_id}")
def grievance(grievance_id: UUID, ctx: Ctx, reading: Reader, as_of: AsOf = None,
              wait_for: WaitFor = None) -> Any:
    """One case as in the list, with the customer's `words` (null for a role that may not
    read customers; `[erased]` once the customer is; an auditor's read is recorded). With
    `as_of` (a moment, or a day: its end in the store's time zone): the case as it stood
    then, replayed from its events, late or not at that moment; 404 before it was
    registered."""
    moment = requested_moment(as_of, ctx)
    if moment is not None:
        then = found_then(grievance_as_of(ctx.app, grievance_id, moment), reading.principal,
                          f"case {grievance_id}", moment)
        show(reading, [then], "grievance")
        return then
    wait_for_projection(ctx, VIEW, wait_for)
    with ctx.pool.connection() as conn:
        found = get_grievance(conn, grievance_id, reading.stores, now=datetime.now(UTC))
    if found is None:
        raise NotFound(f"case {grievance_id} not found")
    show(reading, [found], "grievance")
    return found


@router.get("/grievances/{grievance_id}/history", response_model=HistoryPage)
def grievance_history(grievance_id: UUID, ctx: Ctx, reading: HistoryReader,
                      limit: Limit = 500, offset: Offset = 0) -> Any:
    """Every event of the case with who, when and why; the customer's words and the staff's
    notes opened (an auditor's read recorded)."""
    opener = reading.opener()
    found = stream_history(ctx, grievance_id, "Grievance", reading.stores,
                           f"case {grievance_id} not found", limit=limit, offset=offset,
                           opener=opener)
    reading.record_opened(opener, str(found.store_id), "grievance history")
    return found.page


@router.get("/audit/grievances/overdue", response_model=Page)
def overdue_cases(ctx: Ctx, reading: Auditor, store_id: IdFilter = None, limit: Limit = 50,
                  offset: Offset = 0, wait_for: WaitFor = None) -> Any:
    """The complaints of the caller's stores (or `store_id`'s) late for their first contact
    (`contact_late`) or their closure (`close_late`), the earliest due first."""
    stores = stores_asked(reading.stores, store_id)
    wait_for_projection(ctx, VIEW, wait_for)
    with ctx.pool.connection() as conn:
        found = overdue_grievances(conn, stores, now=datetime.now(UTC), limit=limit,
                                   offset=offset)
    show(reading, found["items"], "overdue grievances")
    return found
