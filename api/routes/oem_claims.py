"""/work-orders/{id}/warranty-claim/…: what the OEM did with the visit's warranty claim —
submitted (the OEM's claim number), rejected (the OEM's reason), resubmitted (what changed),
approved (the amount, at most the claimed one). The claim package's `oem_claim` reads it back
with its dated history (api/routes/audit_exports.py); /warranty-claims lists a store's claims by
their status at the OEM (the warranty claims desk, projections/oem_claims.py). A submission and
a resubmission record the digest of the package sent (projections/claim_digest.py), which
/submissions checks against the package rebuilt as of then."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Annotated, Any, Literal
from uuid import UUID
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query
from pydantic import Field

from api.auth import Principal
from api.context import ApiContext
from api.dates import DAY_RANGE, Day, ordered
from api.deps import (
    Command,
    Ctx,
    IdFilter,
    Offset,
    WaitFor,
    command,
    reader,
    wait_for_views,
)
from api.histories import stream_history
from api.json_bodies import JsonBodyRoute
from api.numbers import Number, Plain
from api.paging import HistoryPage, Limit, Page
from api.schemas import Body, CommandAccepted, example
from domain.oem_claim import MAX_CODE, MAX_TEXT, OemClaim
from domain.oem_claims import Build, OemClaims, SentPackage
from projections.claim_digest import sent_package, submissions
from projections.evidence import one_snapshot
from projections.oem_claims import list_claims, unsubmitted
from projections.warranty_claim import NothingToClaim

router = APIRouter(prefix="/work-orders/{work_order_id}/warranty-claim",
                   tags=["warranty claims"], route_class=JsonBodyRoute)
desk_router = APIRouter(prefix="/warranty-claims", tags=["warranty claims"],
                        route_class=JsonBodyRoute)
ClaimCmd = Annotated[Command, Depends(command("warranty_claims.manage"))]
# The list names no customer: whoever reads the claim package reads the desk's list.
ClaimsReader = Annotated[Principal, Depends(reader("audit.warranty_claim"))]
HistoryReader = Annotated[Principal, Depends(reader("warranty_claims.history"))]
OemStatus = Literal["submitted", "rejected", "resubmitted", "approved", "paid", "written_off",
                    "charged_back"]
# Both lists read the claims view and the finance view (the bills, what the OEM paid).
LISTS_READ = ("oem_claims", "finance")


class SubmissionIn(Body):
    model_config = example({"oem_claim_number": "VW-2026-004711"})

    oem_claim_number: str = Field(min_length=1, max_length=MAX_CODE,
                                  description="the claim number the OEM's portal gave")


class RejectionIn(Body):
    model_config = example({"reason_code": "R-17", "reason": "causal part serial missing"})

    reason_code: str | None = Field(default=None, max_length=MAX_CODE,
                                    description="the OEM's rejection code, when it gives one")
    reason: str = Field(min_length=1, max_length=MAX_TEXT,
                        description="the OEM's reason as it gave it (3+ characters)")


class ResubmissionIn(Body):
    model_config = example({"changes": "removed part's serial and photo added"})

    changes: str = Field(min_length=1, max_length=MAX_TEXT,
                         description="what was corrected since the rejection (3+ characters)")
    oem_claim_number: str | None = Field(default=None, max_length=MAX_CODE, description=(
        "a new claim number, when the OEM gave one; else the claim keeps its number"))


class ApprovalIn(Body):
    model_config = example({"approved_amount": "120.00", "reason": "labor time cut to 0.8 h"})

    approved_amount: Number = Field(ge=0, le=10_000_000, description=(
        "CNY, VAT-inclusive: what the OEM approved, at most the claimed amount"))
    reason: str | None = Field(default=None, max_length=MAX_TEXT, description=(
        "the OEM's reason for an amount below the claimed one (required then, 3+ characters)"))


class ClaimAccepted(CommandAccepted):
    work_order_id: str
    status: str = Field(description="submitted, rejected, resubmitted or approved")
    oem_claim_number: str
    claimed: str = Field(description="what the warranty bill asks the OEM")
    approved_amount: str | None


def _package(ctx: ApiContext, cmd: Command, work_order_id: UUID) -> Build:
    """How the package sent is built: from the events, in one snapshot, with no personal data
    opened (the digest leaves it out); None while the visit has nothing to claim (the command
    refuses it)."""
    def build() -> SentPackage | None:
        with ctx.pool.connection() as conn, one_snapshot(conn):
            try:
                return sent_package(ctx.app, conn, work_order_id, cmd.envelope.caller.stores,
                                    terms=ctx.warranty_terms, zone=ZoneInfo(ctx.timezone))
            except NothingToClaim:
                return None

    return build


@router.post("/submission", response_model=ClaimAccepted, status_code=201)
def submit(work_order_id: UUID, body: SubmissionIn, cmd: ClaimCmd, ctx: Ctx) -> Any:
    """The claim sent to the OEM: once per visit, after the warranty bill is confirmed. The
    package's digest is recorded with it (GET …/warranty-claim/submissions)."""
    return cmd.accepted(OemClaims(ctx.app).submit(
        cmd.envelope, work_order_id, oem_claim_number=body.oem_claim_number,
        package=_package(ctx, cmd, work_order_id)))


@router.post("/rejection", response_model=ClaimAccepted)
def reject(work_order_id: UUID, body: RejectionIn, cmd: ClaimCmd, ctx: Ctx) -> Any:
    """The OEM rejected the (re)submitted claim: its code and reason."""
    return cmd.accepted(OemClaims(ctx.app).reject(
        cmd.envelope, work_order_id, reason_code=body.reason_code, reason=body.reason))


@router.post("/resubmission", response_model=ClaimAccepted)
def resubmit(work_order_id: UUID, body: ResubmissionIn, cmd: ClaimCmd, ctx: Ctx) -> Any:
    """A rejected claim corrected and sent again, saying what changed; the package's digest
    is recorded with it."""
    return cmd.accepted(OemClaims(ctx.app).resubmit(
        cmd.envelope, work_order_id, changes=body.changes,
        oem_claim_number=body.oem_claim_number, package=_package(ctx, cmd, work_order_id)))


@router.post("/approval", response_model=ClaimAccepted)
def approve(work_order_id: UUID, body: ApprovalIn, cmd: ClaimCmd, ctx: Ctx) -> Any:
    """The OEM approved the claim: the amount, at most the claimed; less says why."""
    return cmd.accepted(OemClaims(ctx.app).approve(
        cmd.envelope, work_order_id, approved_amount=body.approved_amount, reason=body.reason))


@router.get("/history", response_model=HistoryPage)
def claim_history(work_order_id: UUID, ctx: Ctx, principal: HistoryReader, limit: Limit = 500,
                  offset: Offset = 0) -> Any:
    """Every event of the visit's claim at the OEM, oldest first, paged like every history:
    submitted, rejected (the OEM's code and reason), resubmitted (what changed), approved,
    written off and the write-off reversed, each with who, when and why. A visit without a
    claim, or of a store the token does not name: 404."""
    return stream_history(ctx, OemClaim.create_id(work_order_id), "OemClaim", principal.stores,
                          f"no warranty claim of work order {work_order_id}", limit=limit,
                          offset=offset).page


@router.get("/submissions")
def claim_submissions(work_order_id: UUID, ctx: Ctx, principal: HistoryReader) -> Any:
    """What was sent to the OEM: each submission and resubmission, oldest first, with when,
    who, the OEM's claim number, the claimed amount, the digest of the package sent, the last
    notification id and the moment it was built at, and `matches`: whether the package rebuilt
    as of that moment (GET …/warranty-claim?as_of=) still has that digest (null for one stored
    before digests were recorded). A visit without a claim, or of a store the token does not
    name: 404."""
    with ctx.pool.connection() as conn, one_snapshot(conn):
        return submissions(ctx.app, conn, work_order_id, principal.stores,
                           terms=ctx.warranty_terms, zone=ZoneInfo(ctx.timezone))


@desk_router.get("", response_model=Page)
def claims(ctx: Ctx, principal: ClaimsReader, store_id: IdFilter = None,
           status: Annotated[OemStatus | None, Query(description=(
               "the claim's status at the OEM; a visit whose claim is not submitted yet is "
               "listed by GET /warranty-claims/unsubmitted"))] = None,
           first: Annotated[Day | None, Query(alias="from", description=(
               f"submitted on this day or later (the store's calendar), {DAY_RANGE}"))] = None,
           last: Annotated[Day | None, Query(alias="to", description=(
               "submitted on this day or earlier"))] = None,
           limit: Limit = 50, offset: Offset = 0, wait_for: WaitFor = None) -> Any:
    """The warranty claims of the caller's stores (or `store_id`'s) by status at the OEM:
    `submitted` / `resubmitted` wait at the OEM, `rejected` must be corrected and resubmitted
    (the OEM's reason shown), `approved` is not paid yet, `paid` is approved and paid up to the
    approved amount, `written_off` was rejected and given up, `charged_back` was paid and taken
    back by the OEM (POST /settlements/{id}/write-off; `written_off` says how much). Each row:
    the visit, VIN, the OEM's claim number, claimed, approved and paid amounts, what was written
    off, the last step's time and who; the longest unchanged first. `wait_for`: both
    the claims view and the finance view (which keeps what the OEM paid) have applied it."""
    ordered(first, last, first_name="from", last_name="to")
    wait_for_views(ctx, wait_for, *LISTS_READ)
    zone = ZoneInfo(ctx.timezone)
    since = None if first is None else datetime.combine(first, time(0), zone)
    before = None if last is None else datetime.combine(last + timedelta(days=1), time(0), zone)
    with ctx.pool.connection() as conn:
        return list_claims(conn, principal.stores, store_id=store_id, status=status,
                           since=since, before=before, limit=limit, offset=offset)


@desk_router.get("/unsubmitted", response_model=Page)
def unsubmitted_claims(
        ctx: Ctx, principal: ClaimsReader, store_id: IdFilter = None,
        older_than_days: Annotated[int, Query(ge=0, le=36_500, description=(
            "waiting at least this many days (the store's calendar): since the warranty bill "
            "was confirmed, or, while it is not, since the repair was finished")),
            Plain] = 0,
        limit: Limit = 50, offset: Offset = 0, wait_for: WaitFor = None) -> Any:
    """The visits of the caller's stores (or `store_id`'s) with warranty work whose claim is
    not submitted to the OEM yet, the longest waiting first: those whose warranty bill is
    confirmed (`bill_status` `confirmed` or `settled`; the claim may be sent), waiting since
    the confirmation, and those whose repair is finished while the warranty bill is still a
    `draft` or `not_drafted`, waiting since the repair was finished. Each row: the visit, VIN,
    settlement, what the OEM is billed (before confirmation: the drafted bill, else the
    estimate of the approved warranty lines) and the days waited (`age_days`). `wait_for`:
    the claims view, the finance view (which keeps the bills) and the work-order view (which
    keeps the finished repairs) have applied it."""
    wait_for_views(ctx, wait_for, *LISTS_READ, "work_orders")
    with ctx.pool.connection() as conn:
        return unsubmitted(conn, principal.stores, timezone=ctx.timezone, today=ctx.today(),
                           store_id=store_id, older_than_days=older_than_days, limit=limit,
                           offset=offset)

