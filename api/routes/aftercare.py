"""Delivery (/work-orders/{id}/delivery), /follow-ups and the older register's /complaints,
and their histories."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends

from api.auth import Principal
from api.deps import (
    Command,
    Ctx,
    Offset,
    WaitFor,
    command,
    reader,
    wait_for_projection,
    wait_for_views,
)
from api.histories import stream_history
from api.json_bodies import JsonBodyRoute
from api.paging import HistoryPage, Limit, Page
from api.pii_reads import FOLLOW_UP_ROW_FIELDS, PiiReader, pii_reader
from api.schemas import CommandAccepted, ComplaintStatus, FollowUpStatus
from api.schemas_money import AssignIn, AttemptIn, DeliveryIn, FollowUpIn, ResolveIn
from projections import finance_queries, follow_up_calls

router = APIRouter(tags=["delivery and follow-up"], route_class=JsonBodyRoute)
VIEW = "finance"
Reader = Annotated[Principal, Depends(reader("follow_ups.read"))]
Auditor = Annotated[PiiReader, Depends(pii_reader("work_orders.history"))]
# The calls show whom to call (name and phone): an auditor's read of them is recorded.
Calls = Annotated[PiiReader, Depends(pii_reader("follow_ups.read"))]
DeliverCmd = Annotated[Command, Depends(command("delivery.record"))]
FollowUpCmd = Annotated[Command, Depends(command("follow_ups.manage"))]
ComplaintCmd = Annotated[Command, Depends(command("complaints.manage"))]


@router.post("/work-orders/{work_order_id}/delivery", response_model=CommandAccepted)
def deliver(work_order_id: UUID, body: DeliveryIn, cmd: DeliverCmd, ctx: Ctx) -> Any:
    """Only after settlement: mileage out, who handed over, the customer's acknowledgement;
    the follow-up call is scheduled in the same transaction."""
    return cmd.accepted(ctx.aftercare.deliver(cmd.envelope, work_order_id, **body.model_dump()))


@router.get("/follow-ups", response_model=Page)
def follow_ups(ctx: Ctx, reading: Calls, overdue: bool = False,
               status: FollowUpStatus | None = None, work_order_id: UUID | None = None,
               limit: Limit = 200, offset: Offset = 0, wait_for: WaitFor = None) -> Any:
    """The calls to make, soonest due first, each with the visit's number, its delivery and
    the car's plate; `customer_name` and `customer_phone` for the roles that may read
    customers' personal data (advisor, manager, auditor), null for the others; `work_order_id`:
    the one a visit's delivery scheduled."""
    wait_for_views(ctx, wait_for, VIEW, "customers")
    today = ctx.today()
    with ctx.pool.connection() as conn:
        page = finance_queries.follow_ups(conn, reading.stores, today=today,
                                          overdue_only=overdue, status=status,
                                          work_order_id=work_order_id, limit=limit,
                                          offset=offset)
        shown = follow_up_calls.with_contacts(conn, page["items"])
    reading.masked(page, FOLLOW_UP_ROW_FIELDS)
    reading.record(shown if reading.sees_personal_data else [], "follow-up list")
    return page


def _history(ctx: Ctx, reading: PiiReader, stream_id: UUID, kind: str, what: str,
             limit: int, offset: int) -> Any:
    """A follow-up's or a complaint's events, as every `/history` answers them: unknown, of
    another kind or in a store the token does not name is 404; personal data opened for an
    auditor is recorded as read (these streams carry none today: nothing is recorded)."""
    opener = reading.opener()
    found = stream_history(ctx, stream_id, kind, reading.stores, f"{what} {stream_id} not found",
                           limit=limit, offset=offset, opener=opener)
    reading.record_opened(opener, str(found.store_id), f"{what} history")
    return found.page


@router.get("/follow-ups/{follow_up_id}/history", response_model=HistoryPage)
def follow_up_history(follow_up_id: UUID, ctx: Ctx, reading: Auditor,
                      limit: Limit = 500, offset: Offset = 0) -> Any:
    """Every event of the follow-up call with actor, time and reason: scheduled (at delivery),
    each attempt, the result."""
    return _history(ctx, reading, follow_up_id, "FollowUp", "follow-up", limit, offset)


@router.post("/follow-ups/{follow_up_id}/attempts", response_model=CommandAccepted)
def attempt(follow_up_id: UUID, body: AttemptIn, cmd: FollowUpCmd, ctx: Ctx) -> Any:
    return cmd.accepted(ctx.aftercare.attempt(cmd.envelope, follow_up_id, **body.model_dump()))


@router.post("/follow-ups/{follow_up_id}/result", response_model=CommandAccepted)
def result(follow_up_id: UUID, body: FollowUpIn, cmd: FollowUpCmd, ctx: Ctx) -> Any:
    """CSI 1-5 and a comment; the work order closes; `grievance` opens the dissatisfied
    customer's complaint case (answers `grievance_id`); `complaint` is its deprecated
    shorthand (category other, severity normal)."""
    return cmd.accepted(ctx.aftercare.complete(
        cmd.envelope, follow_up_id, csi=body.csi, comment=body.comment,
        complaint=body.complaint.model_dump() if body.complaint else None,
        grievance=body.grievance.model_dump() if body.grievance else None))


@router.get("/complaints", response_model=Page)
def complaints(ctx: Ctx, principal: Reader, status: ComplaintStatus | None = None,
               work_order_id: UUID | None = None, limit: Limit = 200, offset: Offset = 0,
               wait_for: WaitFor = None) -> Any:
    """The older register's complaints (opened before a call's complaint opened a complaint
    case), newest first; `work_order_id`: the ones about one visit; `moved`: carried on by the
    case `grievance_id`."""
    wait_for_projection(ctx, VIEW, wait_for)
    with ctx.pool.connection() as conn:
        return finance_queries.complaints(conn, principal.stores, status=status,
                                          work_order_id=work_order_id, limit=limit,
                                          offset=offset)


@router.get("/complaints/{complaint_id}/history", response_model=HistoryPage)
def complaint_history(complaint_id: UUID, ctx: Ctx, reading: Auditor,
                      limit: Limit = 500, offset: Offset = 0) -> Any:
    """Every event of the complaint with actor, time and reason: opened, assigned, resolved,
    moved into the complaint register."""
    return _history(ctx, reading, complaint_id, "Complaint", "complaint", limit, offset)


@router.post("/complaints/{complaint_id}/assignment", response_model=CommandAccepted,
             deprecated=True)
def assign(complaint_id: UUID, body: AssignIn, cmd: ComplaintCmd, ctx: Ctx) -> Any:
    """An older complaint still open, to someone (moved into the complaint register: 409
    `complaint_status: moved`; `servicecore complaints migrate` moves them)."""
    return cmd.accepted(ctx.aftercare.assign_complaint(cmd.envelope, complaint_id,
                                                       **body.model_dump()))


@router.post("/complaints/{complaint_id}/resolution", response_model=CommandAccepted,
             deprecated=True)
def resolve(complaint_id: UUID, body: ResolveIn, cmd: ComplaintCmd, ctx: Ctx) -> Any:
    """An older complaint assigned, resolved (moved: 409 `complaint_status: moved`)."""
    return cmd.accepted(ctx.aftercare.resolve_complaint(cmd.envelope, complaint_id,
                                                        resolution=body.resolution))
