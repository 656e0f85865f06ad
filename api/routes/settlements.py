"""/settlements, /payments, /refunds: bills by pay type, money in and out."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query

from api.as_of import AsOf, found_then, requested_moment
from api.auth import Principal
from api.dates import PlainDay, ordered
from api.deps import (
    Command,
    Ctx,
    DocumentId,
    IdFilter,
    Offset,
    Outstanding,
    WaitFor,
    command,
    reader,
    wait_for_projection,
)
from api.histories import stream_history
from api.json_bodies import JsonBodyRoute
from api.numbers import Plain
from api.paging import HistoryPage, Limit, Page
from api.replays import answered_by, located
from api.schemas import RefundStatus, SettlementStatus
from api.schemas_money import (
    DiscountIn,
    InsuranceAssessed,
    InsuranceAssessmentIn,
    InvoiceIn,
    PaymentIn,
    RefundDecisionIn,
    RefundIn,
    SettlementAccepted,
    SettlementIn,
    SettlementReversalIn,
)
from domain.common import InvalidInput, NotFound
from domain.counter import parse_number
from projections.finance_queries import (
    get_settlement,
    list_refunds,
    list_settlements,
    name_insurers,
    settlement_of_refund,
)
from projections.settlement_as_of import settlement_as_of

router = APIRouter(tags=["settlement and payments"], route_class=JsonBodyRoute)
VIEW = "finance"
Reader = Annotated[Principal, Depends(reader("settlements.read"))]
ManageCmd = Annotated[Command, Depends(command("settlements.manage"))]
ReverseCmd = Annotated[Command, Depends(command("settlements.reverse"))]
PayCmd = Annotated[Command, Depends(command("payments.take"))]
RefundCmd = Annotated[Command, Depends(command("refunds.request"))]
DecideCmd = Annotated[Command, Depends(command("refunds.decide"))]


@router.post("/settlements", response_model=SettlementAccepted, status_code=201)
@answered_by(located("/settlements/{id}"))
def draft(body: SettlementIn, cmd: ManageCmd, ctx: Ctx) -> Any:
    """Bills by pay type from a ready work order (approved labor, issued parts); a redraft
    replaces the draft."""
    return ctx.settlements.draft(
        cmd.envelope, body.work_order_id,
        insurance=body.insurance.model_dump() if body.insurance else None,
        internal_department=body.internal_department)


@router.post("/work-orders/{work_order_id}/insurance-assessment",
             response_model=InsuranceAssessed)
def assess_insurance(work_order_id: UUID, body: InsuranceAssessmentIn, cmd: ManageCmd,
                     ctx: Ctx) -> Any:
    """The insurer's assessment (定损) of a visit the shop settles with the insurer directly:
    the insurance bill is capped at the approved amount less the deductible, and the customer's
    bill carries the deductible and the excess. A drafted settlement is redrafted under it in
    the same save; once confirmed it is refused (409) until a manager reverses the settlement.
    A change says why."""
    return cmd.accepted(ctx.settlements.assess_insurance(cmd.envelope, work_order_id,
                                                         **body.model_dump()))


@router.post("/settlements/{settlement_id}/discounts", response_model=SettlementAccepted)
def discount(settlement_id: UUID, body: DiscountIn, cmd: ManageCmd, ctx: Ctx) -> Any:
    """Per line or per bill, always with a reason; above the threshold only a manager."""
    return cmd.accepted(ctx.settlements.discount(cmd.envelope, settlement_id,
                                                 **body.model_dump()))


@router.post("/settlements/{settlement_id}/confirmation", response_model=SettlementAccepted)
def confirm(settlement_id: UUID, cmd: ManageCmd, ctx: Ctx) -> Any:
    """The settlement number; freezes the work order's issues; a zero customer bill settles."""
    return cmd.accepted(ctx.settlements.confirm(cmd.envelope, settlement_id))


@router.post("/settlements/{settlement_id}/invoice", response_model=SettlementAccepted)
def invoice(settlement_id: UUID, body: InvoiceIn, cmd: ManageCmd, ctx: Ctx) -> Any:
    return cmd.accepted(ctx.settlements.record_invoice(cmd.envelope, settlement_id,
                                                       **body.model_dump()))


@router.post("/settlements/{settlement_id}/reversal", response_model=SettlementAccepted)
def reverse(settlement_id: UUID, body: SettlementReversalIn, cmd: ReverseCmd, ctx: Ctx) -> Any:
    """Reversing entries; the work order is ready for settlement again. Each invoiced bill
    names the red-letter invoice that writes its tax invoice off."""
    red = body.red_invoice_numbers.model_dump(exclude_none=True) if body.red_invoice_numbers \
        else None
    return cmd.accepted(ctx.settlements.reverse(cmd.envelope, settlement_id, reason=body.reason,
                                                red_invoice_numbers=red))


@router.get("/settlements", response_model=Page)
def settlements(ctx: Ctx, principal: Reader, store_id: IdFilter = None,
                status: SettlementStatus | None = None,
                number: Annotated[str | None, Query(max_length=40,
                                                    description="SET-S01-2026-000001")] = None,
                outstanding: Outstanding = None,
                limit: Annotated[int, Query(ge=1, le=500), Plain] = 50,
                offset: Offset = 0, wait_for: WaitFor = None) -> Any:
    """The settlements of the caller's stores (or `store_id`'s; another store's: none), the
    latest changed first; `status`, `number` (a current or a reversed one) and
    `outstanding` narrow it. Each with what its bills ask, were paid and still owe (`total`,
    `paid`, `written_off`, `expensed`, `outstanding`)."""
    wanted = str(parse_number(number, ("SET",))) if number is not None else None
    wait_for_projection(ctx, VIEW, wait_for)
    with ctx.pool.connection() as conn:
        return list_settlements(conn, principal.stores, store_id=store_id, status=status,
                                number=wanted, outstanding=outstanding, limit=limit,
                                offset=offset)


@router.get("/settlements/{settlement_id}")
def settlement(settlement_id: UUID, ctx: Ctx, principal: Reader, as_of: AsOf = None,
               wait_for: WaitFor = None) -> Any:
    """Bills by pay type (lines, VAT, totals), what each has been paid and has outstanding,
    payments and refunds, from the finance read model; with `as_of` (a moment, or a day: its
    end in the store's time zone) the settlement as it stood then, replayed from its events,
    with `as_of`, the stream `version` it reached and the entries the settling posted (404
    before it was opened, as outside the token's stores; `wait_for` does not apply)."""
    moment = requested_moment(as_of, ctx)
    if moment is not None:
        return _as_of(ctx, principal, settlement_id, moment)
    wait_for_projection(ctx, VIEW, wait_for)
    with ctx.pool.connection() as conn:
        found = get_settlement(conn, principal.stores, settlement_id)
    if found is None:
        raise NotFound(f"settlement {settlement_id} not found")
    return found


def _as_of(ctx: Ctx, principal: Principal, settlement_id: UUID,
           moment: datetime) -> dict[str, Any]:
    doc = found_then(settlement_as_of(ctx.app, settlement_id, moment), principal,
                     f"settlement {settlement_id}", moment)
    with ctx.pool.connection() as conn:
        name_insurers(conn, doc["bill_status"])
    return doc


@router.get("/settlements/{settlement_id}/history", response_model=HistoryPage)
def settlement_history(settlement_id: UUID, ctx: Ctx, principal: Reader,
                       limit: Limit = 500, offset: Offset = 0) -> Any:
    """Every event of the settlement with actor, time and reason: for whoever may read the
    settlement (the cashier who takes its money included), in the token's stores."""
    return stream_history(ctx, settlement_id, "Settlement", principal.stores,
                          f"settlement {settlement_id} not found", limit=limit,
                          offset=offset).page


@router.post("/payments", response_model=SettlementAccepted, status_code=201)
@answered_by(located("/settlements/{id}"))
def pay(body: PaymentIn, cmd: PayCmd, ctx: Ctx) -> Any:
    """A payment (a deposit before confirmation). The one that completes the customer bill
    settles the work order and posts the journal in the same transaction. Location: the
    settlement, which lists its payments and refunds."""
    return ctx.settlements.pay(cmd.envelope, **body.model_dump())


@router.post("/refunds", response_model=SettlementAccepted, status_code=201)
@answered_by(located("/settlements/{id}"))
def request_refund(body: RefundIn, cmd: RefundCmd, ctx: Ctx) -> Any:
    """A refund of (part of) a payment, named like the payment: by the visit's work order and
    the `payment_id` the payment answered; `kind: credit` makes it a price allowance on the
    settled bill (a red-letter invoice number once the bill was invoiced). Location: the
    settlement."""
    return ctx.settlements.request_refund(
        cmd.envelope, body.settlement(), payment_id=body.payment_id, amount=body.amount,
        reason=body.reason, kind=body.kind, red_invoice_number=body.red_invoice_number)


@router.get("/refunds", response_model=Page)
def refunds(ctx: Ctx, principal: Reader, store_id: IdFilter = None,
            status: RefundStatus | None = None, date_from: PlainDay | None = None,
            date_to: PlainDay | None = None, limit: Limit = 50, offset: Offset = 0,
            wait_for: WaitFor = None) -> Any:
    """The refunds of the caller's stores (or `store_id`'s; another store's: none), the
    longest waiting first; `status=requested`: those waiting for a manager's decision, each
    with the `refund_id` the decision names; `date_from` / `date_to`: those paid out on
    those business days, as the day report and the payments journal date them; an approved
    one's `business_date`, `payout_method` and `bank_refund` (a bank receipt paid back by
    bank transfer, in no cashier's day)."""
    ordered(date_from, date_to)
    wait_for_projection(ctx, VIEW, wait_for)
    with ctx.pool.connection() as conn:
        return list_refunds(conn, principal.stores, store_id=store_id, status=status,
                            date_from=date_from, date_to=date_to, limit=limit, offset=offset)


@router.post("/refunds/{refund_id}/decision", response_model=SettlementAccepted)
def decide_refund(refund_id: DocumentId, body: RefundDecisionIn, cmd: DecideCmd, ctx: Ctx) -> Any:
    """Another user with the manager role approves (the money leaves, by `payout_method` with
    its reference `payout_ref`, the requester's cashier's day; a bank receipt paid back by
    bank transfer leaves the bank, in no cashier's day) or rejects, with reason.
    The refund id names the refund (404 when no visit has it); a body naming its visit as well
    (as it had to before) is checked against it (another visit: 422)."""
    found = _settlement_of_refund(ctx, refund_id)
    named = body.settlement()
    if named is not None and named != found:  # refund ids are unique: not that visit's
        raise InvalidInput(f"no refund {refund_id} on this settlement",
                           field="settlement_id" if body.settlement_id else "work_order_id")
    return cmd.accepted(ctx.settlements.decide_refund(
        cmd.envelope, found, refund_id, approve=body.approve, reason=body.reason,
        payout_method=body.payout_method, payout_ref=body.payout_ref))


def _settlement_of_refund(ctx: Ctx, refund_id: str) -> UUID:
    """Where the refund was requested, as the finance view proposes it (once caught up with
    the log when it has not seen the refund yet); the decision re-checks the refund on that
    settlement itself, in the caller's stores."""
    with ctx.pool.connection() as conn:
        found = settlement_of_refund(conn, refund_id)
    if found is None:
        head = ctx.app.recorder.max_notification_id()
        if head and wait_for_projection(ctx, VIEW, head):
            with ctx.pool.connection() as conn:
                found = settlement_of_refund(conn, refund_id)
    if found is None:
        raise NotFound(f"refund {refund_id} not found")
    return found
