"""/work-orders/{id}/warranty-claim/…: what the OEM did with the visit's warranty claim —
submitted (the OEM's claim number), rejected (the OEM's reason), resubmitted (what changed),
approved (the amount, at most the claimed one). The claim package's `oem_claim` reads it back
with its dated history (api/routes/audit_exports.py)."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends
from pydantic import Field

from api.deps import Command, Ctx, command
from api.json_bodies import JsonBodyRoute
from api.numbers import Number
from api.schemas import Body, CommandAccepted, example
from domain.oem_claim import MAX_CODE, MAX_TEXT
from domain.oem_claims import OemClaims

router = APIRouter(prefix="/work-orders/{work_order_id}/warranty-claim",
                   tags=["warranty claims"], route_class=JsonBodyRoute)
ClaimCmd = Annotated[Command, Depends(command("warranty_claims.manage"))]


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


@router.post("/submission", response_model=ClaimAccepted, status_code=201)
def submit(work_order_id: UUID, body: SubmissionIn, cmd: ClaimCmd, ctx: Ctx) -> Any:
    """The claim sent to the OEM: once per visit, after the warranty bill is confirmed."""
    return cmd.accepted(OemClaims(ctx.app).submit(
        cmd.envelope, work_order_id, oem_claim_number=body.oem_claim_number))


@router.post("/rejection", response_model=ClaimAccepted)
def reject(work_order_id: UUID, body: RejectionIn, cmd: ClaimCmd, ctx: Ctx) -> Any:
    """The OEM rejected the (re)submitted claim: its code and reason."""
    return cmd.accepted(OemClaims(ctx.app).reject(
        cmd.envelope, work_order_id, reason_code=body.reason_code, reason=body.reason))


@router.post("/resubmission", response_model=ClaimAccepted)
def resubmit(work_order_id: UUID, body: ResubmissionIn, cmd: ClaimCmd, ctx: Ctx) -> Any:
    """A rejected claim corrected and sent again, saying what changed."""
    return cmd.accepted(OemClaims(ctx.app).resubmit(
        cmd.envelope, work_order_id, changes=body.changes,
        oem_claim_number=body.oem_claim_number))


@router.post("/approval", response_model=ClaimAccepted)
def approve(work_order_id: UUID, body: ApprovalIn, cmd: ClaimCmd, ctx: Ctx) -> Any:
    """The OEM approved the claim: the amount, at most the claimed; less says why."""
    return cmd.accepted(OemClaims(ctx.app).approve(
        cmd.envelope, work_order_id, approved_amount=body.approved_amount, reason=body.reason))
