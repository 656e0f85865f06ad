"""/work-orders: commands as POSTs, the list and detail from the read model, audit reads."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Query, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders

from api.as_of import AsOf, found_then, requested_moment
from api.context import ApiContext
from api.dates import QueryMoment, ordered
from api.deps import (
    Command,
    Ctx,
    IdFilter,
    JobNo,
    LineId,
    Offset,
    Outstanding,
    WaitFor,
    command,
    wait_for_views,
)
from api.histories import stream_history
from api.json_bodies import JsonBodyRoute
from api.numbers import Plain
from api.paging import HistoryPage, Limit
from api.pii_reads import (
    WORK_ORDER_FIELDS,
    WORK_ORDER_ROW_FIELDS,
    PiiReader,
    pii_reader,
    work_order_customers,
)
from api.reads import ReadModels, Reads
from api.reception import vehicle_file
from api.replays import answered_by, located
from api.routes.campaigns import reception_campaigns
from api.schemas import (
    AuthorizationIn,
    CheckIn,
    ClockIn,
    CommandAccepted,
    CompensationIn,
    DiagnosisIn,
    DispatchIn,
    JobCloseIn,
    JobIn,
    LaborLineIn,
    PartLineIn,
    QualityCheckIn,
    ReasonIn,
    RepriceIn,
    WorkOrderOpen,
    WorkOrderPage,
)
from api.schemas_stock import FollowOnIn, IssueIn, PartReturnIn
from api.schemas_warranty import EvidenceIn, EvidenceWithdrawalIn, SerialsIn
from api.work_order_filters import StatusFilter, TechnicianFilter, statuses_of
from domain.application import CommandResult
from domain.ascii_width import ascii_width
from domain.common import NotFound
from domain.counter import parse_number
from domain.vehicle_ids import normalise_vin
from projections import audit
from projections.base import read
from projections.insurers import name_assessment_insurer
from projections.work_orders import list_work_orders, work_order_with_campaigns

router = APIRouter(prefix="/work-orders", tags=["work orders"], route_class=JsonBodyRoute)
VIEW = "work_orders"
FINANCE_VIEW = "finance"  # the bills and payments of the list's money columns
READ = "work_orders.read"
Reader = Annotated[PiiReader, Depends(pii_reader(READ))]
Auditor = Annotated[PiiReader, Depends(pii_reader("work_orders.history"))]

AddJobCmd = Annotated[Command, Depends(command("work_orders.add_job"))]
AuthorizeCmd = Annotated[Command, Depends(command("work_orders.authorize"))]
CancelCmd = Annotated[Command, Depends(command("work_orders.cancel"))]
CompensateCmd = Annotated[Command, Depends(command("work_orders.compensate"))]
CheckInCmd = Annotated[Command, Depends(command("work_orders.check_in"))]
ClockCmd = Annotated[Command, Depends(command("work_orders.clock"))]
CompleteCmd = Annotated[Command, Depends(command("work_orders.complete"))]
DiagnoseCmd = Annotated[Command, Depends(command("work_orders.diagnose"))]
DispatchCmd = Annotated[Command, Depends(command("work_orders.dispatch"))]
EstimateCmd = Annotated[Command, Depends(command("work_orders.estimate"))]
OpenCmd = Annotated[Command, Depends(command("work_orders.open"))]
QualityCheckCmd = Annotated[Command, Depends(command("work_orders.quality_check"))]
RepriceCmd = Annotated[Command, Depends(command("work_orders.reprice"))]
IssueCmd = Annotated[Command, Depends(command("work_orders.issue_parts"))]
SupplyCmd = Annotated[Command, Depends(command("work_orders.supply"))]
WarrantyRecordCmd = Annotated[Command, Depends(command("work_orders.warranty_records"))]
WithdrawEvidenceCmd = Annotated[Command, Depends(command("work_orders.withdraw_evidence"))]
EvidenceId = Annotated[str, Path(min_length=1, max_length=20)]


def _opened(result: CommandResult, *, cmd: Command, ctx: ApiContext, body: WorkOrderOpen,
            **_: Any) -> dict[str, Any]:
    cmd.response.headers["Location"] = f"/work-orders/{result.body['id']}"
    return {**cmd.accepted(result), "open_campaigns": reception_campaigns(
        ctx, vin=normalise_vin(body.vehicle.vin))}


@router.post("", response_model=CommandAccepted, status_code=201)
@answered_by(_opened)
def open_work_order(body: WorkOrderOpen, cmd: OpenCmd, ctx: Ctx) -> Any:
    return ctx.work_orders.open(
        cmd.envelope, store_id=body.store_id, customer=body.customer.model_dump(),
        customer_id=body.customer_id, vehicle=body.vehicle.model_dump(), mileage=body.mileage,
        complaints=body.complaints, kind=body.kind, appointment_id=body.appointment_id,
        vehicle_file=vehicle_file(ctx, cmd.envelope.caller.stores),
    )


# The detail read comes early: routes are tried in order, and it is the most frequent request
# (no route before it here takes a path of one segment, so none is shadowed).
@router.get("/{work_order_id}")
async def get_one(work_order_id: UUID, reads: Reads, reading: Reader,
                  response: Response, as_of: AsOf = None, wait_for: WaitFor = None) -> Any:
    """The work order from the read model, or, with `as_of` (a moment, or a day: its end in
    the store's time zone), rebuilt from its events. The customer's name, phone and WeChat id
    and the delivery's `acknowledged_by` are for the roles that may read customers' personal
    data (advisor, manager, cashier, auditor), null for the others; the ETag is the version,
    `"7"`, or `"7-masked"` for the answer without them."""
    ctx = reads.ctx  # not a dependency of its own: each costs a solve on every request
    moment = requested_moment(as_of, ctx)
    if moment is not None:
        return await run_in_threadpool(_as_of, work_order_id, ctx, reading, moment)
    return await current_work_order(reads, reading, response.headers, work_order_id, wait_for)


async def current_work_order(reads: ReadModels, reading: PiiReader, headers: MutableHeaders,
                             work_order_id: UUID, wait_for: int | None) -> dict[str, Any]:
    """The work order from the read model as the caller may see it, its version as the ETag
    (`headers`; its own for the answer without personal data); also answered by
    api/hot_reads.py."""
    if not await reads.wait(VIEW, wait_for):
        headers["X-Read-Model-Stale"] = "true"
    doc = await reads.fetch(work_order_with_campaigns, work_order_id, reading.stores,
                            reads.ctx.today())
    if doc is None:
        raise NotFound(f"work order {work_order_id} not found")
    reading.masked(doc, WORK_ORDER_FIELDS)
    if reading.recorded:
        await run_in_threadpool(reading.record, work_order_customers([doc]), "work order")
    headers["ETag"] = reading.etag(doc["version"])
    return doc


def _as_of(work_order_id: UUID, ctx: Ctx, reading: PiiReader, moment: datetime) -> Any:
    doc = found_then(audit.work_order_as_of(ctx.app, work_order_id, moment), reading.principal,
                     f"work order {work_order_id}", moment)
    with ctx.pool.connection() as conn:  # the master as it stands now, as the live read
        read(conn, name_assessment_insurer(doc))
    reading.masked(doc, WORK_ORDER_FIELDS)
    reading.record(work_order_customers([doc]), "work order as of a moment")
    return doc


def _checked_in(result: CommandResult, *, cmd: Command, ctx: ApiContext,
                work_order_id: UUID, **_: Any) -> dict[str, Any]:
    return {**cmd.accepted(result), "open_campaigns": reception_campaigns(
        ctx, work_order_id=work_order_id)}


@router.post("/{work_order_id}/check-in", response_model=CommandAccepted)
@answered_by(_checked_in)
def check_in(work_order_id: UUID, body: CheckIn, cmd: CheckInCmd,
             ctx: Ctx) -> Any:
    """The car's open campaigns (`open_campaigns`) come with the answer, for the desk to
    offer at reception; they never hold up the check-in."""
    promised = body.promised_at.isoformat() if body.promised_at else None
    return ctx.work_orders.check_in(
        cmd.envelope, work_order_id, **body.model_dump(exclude={"promised_at"}),
        promised_at=promised)


@router.post("/{work_order_id}/jobs", response_model=CommandAccepted)
def add_job(work_order_id: UUID, body: JobIn, cmd: AddJobCmd, ctx: Ctx) -> Any:
    return cmd.accepted(ctx.work_orders.add_job(cmd.envelope, work_order_id,
                                                complaint=body.complaint))


@router.post("/{work_order_id}/jobs/{job_no}/diagnosis", response_model=CommandAccepted)
def diagnose(work_order_id: UUID, job_no: JobNo, body: DiagnosisIn,
             cmd: DiagnoseCmd, ctx: Ctx) -> Any:
    return cmd.accepted(ctx.work_orders.diagnose(cmd.envelope, work_order_id, job_no,
                                                 **body.model_dump()))


@router.post("/{work_order_id}/jobs/{job_no}/labor-lines", response_model=CommandAccepted)
def add_labor_line(work_order_id: UUID, job_no: JobNo, body: LaborLineIn,
                   cmd: EstimateCmd, ctx: Ctx) -> Any:
    return cmd.accepted(ctx.work_orders.add_labor_line(cmd.envelope, work_order_id, job_no,
                                                       body.model_dump()))


@router.post("/{work_order_id}/jobs/{job_no}/part-lines", response_model=CommandAccepted)
def add_part_line(work_order_id: UUID, job_no: JobNo, body: PartLineIn,
                  cmd: EstimateCmd, ctx: Ctx) -> Any:
    return cmd.accepted(ctx.work_orders.add_part_line(cmd.envelope, work_order_id, job_no,
                                                      body.model_dump()))


@router.post("/{work_order_id}/lines/{line_id}/price", response_model=CommandAccepted)
def reprice_line(work_order_id: UUID, line_id: LineId, body: RepriceIn,
                 cmd: RepriceCmd, ctx: Ctx) -> Any:
    return cmd.accepted(ctx.work_orders.reprice_line(cmd.envelope, work_order_id, line_id,
                                                     **body.model_dump()))


@router.post("/{work_order_id}/lines/{line_id}/authorization", response_model=CommandAccepted)
def authorize_line(work_order_id: UUID, line_id: LineId, body: AuthorizationIn,
                   cmd: AuthorizeCmd, ctx: Ctx) -> Any:
    return cmd.accepted(ctx.work_orders.authorize_line(cmd.envelope, work_order_id, line_id,
                                                       **body.model_dump()))


@router.post("/{work_order_id}/jobs/{job_no}/dispatch", response_model=CommandAccepted)
def dispatch(work_order_id: UUID, job_no: JobNo, body: DispatchIn,
             cmd: DispatchCmd, ctx: Ctx) -> Any:
    return cmd.accepted(ctx.work_orders.dispatch(cmd.envelope, work_order_id, job_no,
                                                 **body.model_dump()))


@router.post("/{work_order_id}/jobs/{job_no}/clock-on", response_model=CommandAccepted)
def clock_on(work_order_id: UUID, job_no: JobNo, cmd: ClockCmd, ctx: Ctx,
             body: ClockIn | None = None) -> Any:
    """Without a body (or without `technician_id`) the caller clocks on."""
    return cmd.accepted(ctx.work_orders.clock_on(cmd.envelope, work_order_id, job_no,
                                                 **(body or ClockIn()).model_dump()))


@router.post("/{work_order_id}/jobs/{job_no}/clock-off", response_model=CommandAccepted)
def clock_off(work_order_id: UUID, job_no: JobNo, cmd: ClockCmd, ctx: Ctx,
              body: ClockIn | None = None) -> Any:
    """Without a body (or without `technician_id`) the caller clocks off."""
    return cmd.accepted(ctx.work_orders.clock_off(cmd.envelope, work_order_id, job_no,
                                                  **(body or ClockIn()).model_dump()))


@router.post("/{work_order_id}/jobs/{job_no}/complete", response_model=CommandAccepted)
def complete_job(work_order_id: UUID, job_no: JobNo, cmd: CompleteCmd,
                 ctx: Ctx) -> Any:
    return cmd.accepted(ctx.work_orders.complete_job(cmd.envelope, work_order_id, job_no))


@router.post("/{work_order_id}/jobs/{job_no}/quality-check", response_model=CommandAccepted)
def quality_check(work_order_id: UUID, job_no: JobNo, body: QualityCheckIn,
                  cmd: QualityCheckCmd, ctx: Ctx) -> Any:
    return cmd.accepted(ctx.work_orders.quality_check(cmd.envelope, work_order_id, job_no,
                                                      **body.model_dump()))


@router.post("/{work_order_id}/jobs/{job_no}/close", response_model=CommandAccepted)
def close_job(work_order_id: UUID, job_no: JobNo, body: JobCloseIn, cmd: EstimateCmd,
              ctx: Ctx) -> Any:
    """Close a job that needs no repair (no fault found, or the customer declined the work)."""
    return cmd.accepted(ctx.work_orders.close_job(cmd.envelope, work_order_id, job_no,
                                                  **body.model_dump()))


@router.post("/{work_order_id}/cancel", response_model=CommandAccepted)
def cancel(work_order_id: UUID, body: ReasonIn, cmd: CancelCmd,
           ctx: Ctx) -> Any:
    return cmd.accepted(ctx.work_orders.cancel(cmd.envelope, work_order_id, reason=body.reason))


@router.post("/{work_order_id}/compensations", response_model=CommandAccepted)
def record_compensation(work_order_id: UUID, body: CompensationIn, cmd: CompensateCmd,
                        ctx: Ctx) -> Any:
    """Towing, a loaner car or travel paid for the customer: the 三包 repair record's
    compensation (any time but on a cancelled visit)."""
    return cmd.accepted(ctx.work_orders.record_compensation(cmd.envelope, work_order_id,
                                                            **body.model_dump()))


# -- parts on the work order ----------------------------------------------------------------

@router.post("/{work_order_id}/lines/{line_id}/issue", response_model=CommandAccepted)
def issue_part(work_order_id: UUID, line_id: LineId, cmd: IssueCmd, ctx: Ctx,
               body: IssueIn | None = None) -> Any:
    """Stock leaves the store at FIFO lot cost and the line records it, in one transaction.

    Without a body (or without `qty`) what the line still needs is issued. Not enough
    available: 409 with `available`.
    """
    return cmd.accepted(ctx.work_orders.issue_part(cmd.envelope, work_order_id, line_id,
                                                   qty=body.qty if body else None))


@router.post("/{work_order_id}/lines/{line_id}/return", response_model=CommandAccepted)
def return_part(work_order_id: UUID, line_id: LineId, body: PartReturnIn, cmd: IssueCmd,
                ctx: Ctx) -> Any:
    """Unused units go back into the lots they came from."""
    return cmd.accepted(ctx.work_orders.return_part(cmd.envelope, work_order_id, line_id,
                                                    qty=body.qty, reason=body.reason))


@router.post("/{work_order_id}/lines/{line_id}/reservation", response_model=CommandAccepted)
def reserve_line(work_order_id: UUID, line_id: LineId, cmd: SupplyCmd, ctx: Ctx) -> Any:
    """Reserve a back-ordered line now that stock is there (409 with `available` if not)."""
    return cmd.accepted(ctx.work_orders.reserve_line(cmd.envelope, work_order_id, line_id))


@router.post("/{work_order_id}/lines/{line_id}/withdrawal", response_model=CommandAccepted)
def withdraw_line(work_order_id: UUID, line_id: LineId, body: ReasonIn, cmd: SupplyCmd,
                  ctx: Ctx) -> Any:
    """The customer no longer wants an approved part (or its missing rest)."""
    return cmd.accepted(ctx.work_orders.withdraw_line(cmd.envelope, work_order_id, line_id,
                                                      reason=body.reason))


@router.post("/{work_order_id}/follow-on", response_model=CommandAccepted, status_code=201)
@answered_by(located("/work-orders/{follow_on[id]}"))
def follow_on(work_order_id: UUID, body: FollowOnIn, cmd: SupplyCmd, ctx: Ctx) -> Any:
    """Move back-ordered lines to a new work order for the same car, linked both ways."""
    return ctx.work_orders.move_to_follow_on(cmd.envelope, work_order_id,
                                             line_ids=body.line_ids, reason=body.reason)


# -- the OEM's records of a warranty repair -------------------------------------------------

@router.post("/{work_order_id}/lines/{line_id}/serials", response_model=CommandAccepted)
def record_serials(work_order_id: UUID, line_id: LineId, body: SerialsIn,
                   cmd: WarrantyRecordCmd, ctx: Ctx) -> Any:
    """Serials of the parts fitted on a part line and of the failed parts removed (with
    what became of each); again with a `reason` to correct them. The same serials again store
    nothing (`recorded: false`)."""
    return cmd.accepted(ctx.warranty_evidence.record_serials(
        cmd.envelope, work_order_id, line_id, fitted=body.fitted,
        removed=[r.model_dump() for r in body.removed], reason=body.reason))


@router.post("/{work_order_id}/evidence", response_model=CommandAccepted, status_code=201)
def add_evidence(work_order_id: UUID, body: EvidenceIn, cmd: WarrantyRecordCmd,
                 ctx: Ctx) -> Any:
    """A reference to a photo or diagnostic report kept elsewhere (not the file)."""
    return cmd.accepted(ctx.warranty_evidence.add_evidence(cmd.envelope, work_order_id,
                                                           **body.model_dump()))


@router.post("/{work_order_id}/evidence/{evidence_id}/withdrawal",
             response_model=CommandAccepted)
def withdraw_evidence(work_order_id: UUID, evidence_id: EvidenceId,
                      body: EvidenceWithdrawalIn, cmd: WithdrawEvidenceCmd, ctx: Ctx) -> Any:
    """A reference given by mistake leaves the claim (its events stay)."""
    return cmd.accepted(ctx.warranty_evidence.withdraw_evidence(
        cmd.envelope, work_order_id, evidence_id, reason=body.reason))


# -- queries --------------------------------------------------------------------------------

@router.get("", response_model=WorkOrderPage)
def search_work_orders(
    ctx: Ctx, reading: Reader, store_id: IdFilter = None,
    status: StatusFilter = None, plate: IdFilter = None, vin: IdFilter = None,
    customer_phone: IdFilter = None, technician: TechnicianFilter = None,
    opened_from: QueryMoment | None = None, opened_to: QueryMoment | None = None,
    number: Annotated[str | None, Query(max_length=40,
                                        description="WO-S01-2026-000123")] = None,
    outstanding: Outstanding = None,
    limit: Annotated[int, Query(ge=1, le=500), Plain] = 50, offset: Offset = 0,
    wait_for: WaitFor = None,
) -> Any:
    """The work orders the filters find; each item's `customer_name` and `customer_phone` for
    the roles that may read customers' personal data (advisor, manager, cashier, auditor),
    null for the others, who may not search by `customer_phone` either (403 naming it).
    `technician=me` finds the caller's own visits: with `status=checked_in,in_progress`, a
    technician's open jobs. Each with what the visit's bills ask, were paid and still owe
    (`total`, `paid`, `written_off`, `expensed`, `outstanding`: the finance view's, which
    `wait_for` waits for too); `outstanding=true` the visits with money still owed."""
    reading.refuse_search_by(customer_phone=customer_phone)
    ordered(opened_from, opened_to, first_name="opened_from", last_name="opened_to")
    statuses = statuses_of(status)
    if technician == "me":
        technician = reading.principal.user_id
    wanted = str(parse_number(number, ("WO",))) if number is not None else None
    wait_for_views(ctx, wait_for, VIEW, FINANCE_VIEW)
    with ctx.pool.connection() as conn:
        page = list_work_orders(
            conn, reading.stores, limit=limit, offset=offset, store_id=store_id,
            status=statuses,
            plate=ascii_width(plate).upper() if plate else None,
            vin=ascii_width(vin).upper() if vin else None,
            customer_phone=customer_phone, technician=technician, opened_from=opened_from,
            opened_to=opened_to, number=wanted, outstanding=outstanding,
        )
    reading.masked(page, WORK_ORDER_ROW_FIELDS)
    reading.record(work_order_customers(page["items"]), "work-order list")
    return page


@router.get("/{work_order_id}/history", response_model=HistoryPage)
def work_order_history(work_order_id: UUID, ctx: Ctx, reading: Auditor,
                       limit: Limit = 500, offset: Offset = 0) -> Any:
    opener = reading.opener()
    found = stream_history(ctx, work_order_id, "WorkOrder", reading.stores,
                           f"work order {work_order_id} not found", limit=limit, offset=offset,
                           opener=opener)
    reading.record_opened(opener, str(found.store_id), "work-order history")
    return found.page
