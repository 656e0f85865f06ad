"""/settlements/{id}/write-off: what a warranty or insurance bill's payer will never pay,
written off as the dealership's loss, or a paid warranty claim the OEM charged back — a
manager's decision, with a reason (domain/receivable_adjustment.py: kinds, limits, entries); and
/settlements/{id}/write-offs/{write_off_id}/reversal, one of them taken back when the OEM pays
after all or offsets its charge-back; GET /settlements/{id}/write-offs lists them from the
finance view (projections/write_off_rows.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, Field

from api.auth import Principal
from api.deps import Command, Ctx, Offset, WaitFor, command, reader, wait_for_projection
from api.json_bodies import JsonBodyRoute
from api.numbers import Number
from api.paging import Limit, PageOf
from api.schemas import REASON, Body, example
from api.schemas_money import SettlementAccepted
from domain.common import NotFound
from domain.receivable_adjustment import MAX_REFERENCE
from domain.receivable_adjustments import ReceivableAdjustments
from projections.write_off_rows import list_write_offs

router = APIRouter(tags=["settlement and payments"], route_class=JsonBodyRoute)
WriteOffCmd = Annotated[Command, Depends(command("receivables.write_off"))]
ReversalCmd = Annotated[Command, Depends(command("receivables.write_off_reversal"))]
Reader = Annotated[Principal, Depends(reader("receivables.write_offs"))]
WRITE_OFF_ID = r"^[A-Za-z0-9-]{1,80}$"
Kind = Literal["oem_rejected", "oem_short_paid", "oem_underpaid", "oem_charged_back",
               "insurer_short_paid"]


class WriteOffIn(Body):
    model_config = example({"kind": "oem_rejected", "amount": "150.00",
                            "reason": "OEM final rejection R-17, appeal window closed"})

    kind: Kind = Field(description=(
        "oem_rejected (the OEM claim is rejected: given up, the claim ends written_off), "
        "oem_short_paid (approved for less than claimed: the shortfall), oem_underpaid (approved "
        "and paid, the remittance short of the approval: approved less paid), oem_charged_back (a "
        "paid claim the OEM took back: owed back to it, 2241), insurer_short_paid (the "
        "insurance bill: what the insurer will not pay)"))
    amount: Number | None = Field(default=None, ge=0, le=10_000_000, description=(
        "CNY, VAT-inclusive; at most the bill's outstanding (a short-pay: also the shortfall "
        "left; an underpayment: approved less paid left; a charge-back: what the OEM paid and has not charged back). Omitted: all of it"))
    reason: str = Field(min_length=1, max_length=1000, description=REASON)
    reference: str | None = Field(default=None, max_length=MAX_REFERENCE, description=(
        "the claim's reference (an OEM kind: the OEM's claim number unless given)"))


class WriteOffFigures(BaseModel):
    write_off_id: str | None = Field(default=None, description=(
        "what takes it back (POST /settlements/{id}/write-offs/{write_off_id}/reversal)"))
    bill: str = Field(description="warranty or insurance")
    kind: str
    amount: str
    reference: str | None
    reason: str


class WriteOffAccepted(SettlementAccepted):
    written_off: WriteOffFigures | None = Field(default=None, description=(
        "what was booked (null only in a retry replayed from an answer stored without it)"))
    claim_status: str | None = Field(default=None, description=(
        "an OEM kind: the claim's status after it (written_off, approved, charged_back)"))


@router.post("/settlements/{settlement_id}/write-off", response_model=WriteOffAccepted)
def write_off(settlement_id: UUID, body: WriteOffIn, cmd: WriteOffCmd, ctx: Ctx) -> Any:
    """Dr 6601 claim losses / Cr 1123 or 1124 (a charge-back: Cr 2241 owed to the OEM); no
    bank account moves. 409 when the settlement is not settled, the bill cannot take the
    amount or the OEM claim's status does not justify the kind; the claim records it."""
    return cmd.accepted(ReceivableAdjustments(ctx.app).write_off(
        cmd.envelope, settlement_id, kind=body.kind, amount=body.amount, reason=body.reason,
        reference=body.reference))


class WriteOffReversalIn(Body):
    model_config = example({"reason": "the OEM paid claim R-17 after the appeal"})

    reason: str = Field(min_length=1, max_length=1000, description=REASON)


class ReversedFigures(BaseModel):
    write_off_id: str
    bill: str
    kind: str
    amount: str
    reason: str


class WriteOffReversalAccepted(SettlementAccepted):
    reversed: ReversedFigures | None = Field(default=None, description=(
        "what was taken back (null only in a retry replayed from an answer stored without it)"))
    claim_status: str | None = Field(default=None, description=(
        "an OEM kind: the claim's status after it (rejected, approved)"))


@router.post("/settlements/{settlement_id}/write-offs/{write_off_id}/reversal",
             response_model=WriteOffReversalAccepted)
def reverse_write_off(settlement_id: UUID, write_off_id: Annotated[str, Path(
        max_length=80, pattern=WRITE_OFF_ID, description="the write-off's `write_off_id`")],
                      body: WriteOffReversalIn, cmd: ReversalCmd, ctx: Ctx) -> Any:
    """The mirror of the write-off's entry: Dr 1123 or 1124 (a charge-back: Dr 2241) / Cr 6601;
    the receivable is outstanding again and a later payment clears it as usual. 404 for a
    write-off this settlement did not make; 409 when it was taken back already or the OEM claim
    is no longer in the status the write-off left it in; the claim records it."""
    return cmd.accepted(ReceivableAdjustments(ctx.app).reverse_write_off(
        cmd.envelope, settlement_id, write_off_id, reason=body.reason))


class WriteOffOut(BaseModel):
    write_off_id: str
    settlement_number: str | None = Field(description="the settlement number it was booked on")
    bill: str = Field(description="warranty or insurance")
    kind: Kind
    amount: str
    reference: str | None
    reason: str
    written_off_by: str = Field(description="the manager who wrote it off")
    written_off_role: str
    written_off_at: datetime
    outstanding_after: str = Field(description=(
        "the bill's outstanding right after it (a charge-back leaves it as it was)"))
    reversed: bool = Field(description="taken back (the reversal fields say by whom and why)")
    reversed_by: str | None
    reversed_role: str | None
    reversed_at: datetime | None
    reversal_reason: str | None
    outstanding_after_reversal: str | None = Field(description=(
        "the bill's outstanding right after it was taken back"))


class WriteOffPage(PageOf[WriteOffOut]):
    """One page of a settlement's write-offs, the first booked first."""


@router.get("/settlements/{settlement_id}/write-offs", response_model=WriteOffPage)
def write_offs(settlement_id: UUID, ctx: Ctx, principal: Reader, limit: Limit = 50,
               offset: Offset = 0, wait_for: WaitFor = None) -> Any:
    """The settlement's write-offs and OEM charge-backs, each with who booked it, when and
    why, the bill's outstanding after it, and whether (by whom, when, why) it was taken back,
    from the finance view (`wait_for`: a command's `notification_id`); a settlement unknown
    or outside the token's stores 404."""
    wait_for_projection(ctx, "finance", wait_for)
    with ctx.pool.connection() as conn:
        found = list_write_offs(conn, principal.stores, settlement_id, limit=limit,
                                offset=offset)
    if found is None:
        raise NotFound(f"settlement {settlement_id} not found")
    return found
