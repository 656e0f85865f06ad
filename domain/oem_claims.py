"""The OEM's answer to a visit's warranty claim: submit, reject, resubmit, approve.

The claimed amount is what the visit's confirmed warranty bill asks the OEM (its total less the
credits approved on it), read from the settlement in the same decision: the claim and the OEM
receivable are one figure. A claim is submitted once per visit; it is resubmitted only after a
rejection, with what changed (a reversed and re-confirmed bill claims its new total).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from uuid import UUID

from domain.application import CommandResult, Decision, Request, ServiceCore, Session
from domain.common import a_text, require
from domain.money import money
from domain.oem_claim import MAX_CODE, OemClaim, OemClaimError
from domain.settlement import Settlement
from domain.work_order import WorkOrder


def _claimed(session: Session, wo: WorkOrder) -> Decimal:
    """What the confirmed warranty bill asks the OEM; 409 while there is none."""
    settlement = session.find(Settlement, Settlement.create_id(wo.id))
    status = settlement.status if settlement is not None else "not drafted"
    require(settlement is not None and "warranty" in settlement.bills
            and settlement.status in ("confirmed", "settled"), OemClaimError(
                f"work order {wo.number} has no confirmed warranty bill to claim (its settlement "
                f"is {status})", settlement_status=status))
    assert settlement is not None
    return settlement.billed("warranty")


def _view(claim: OemClaim) -> dict[str, object]:
    return {"work_order_id": str(claim.work_order_id), "status": claim.status,
            "oem_claim_number": claim.oem_claim_number, "claimed": str(claim.claimed),
            "approved_amount": None if claim.approved_amount is None
            else str(claim.approved_amount)}


class OemClaims:
    def __init__(self, app: ServiceCore) -> None:
        self.app = app

    def _run(self, request: Request, work_order_id: UUID, step: str,
             change: Callable[[Session, WorkOrder, OemClaim], None]) -> CommandResult:
        """A step on a submitted claim (its stream checked against If-Match)."""
        claim_id = OemClaim.create_id(work_order_id)

        def decide(session: Session) -> Decision:
            wo = session.get(WorkOrder, work_order_id, "work order")
            found = session.find(OemClaim, claim_id)
            if found is None:
                raise OemClaimError(f"the warranty claim of {wo.number} is not submitted: it "
                                    f"cannot be {step}", claim_status="not_submitted")
            claim = session.target(OemClaim, claim_id, "warranty claim")
            change(session, wo, claim)
            return Decision(claim, _view(claim))

        return self.app.execute(request, decide, (claim_id, Settlement.create_id(work_order_id)))

    def submit(self, request: Request, work_order_id: UUID, *,
               oem_claim_number: str | None) -> CommandResult:
        number = a_text(oem_claim_number, "oem_claim_number", "the OEM's claim number", 1,
                        MAX_CODE)
        claim_id = OemClaim.create_id(work_order_id)

        def decide(session: Session) -> Decision:
            wo = session.get(WorkOrder, work_order_id, "work order")
            found = session.find(OemClaim, claim_id)
            if found is not None:
                raise found.refusal("submitted again (a rejected claim is resubmitted)")
            claim = OemClaim(audit=session.audit(wo.store_id), work_order_id=wo.id,
                             work_order_number=wo.number, store_id=wo.store_id,
                             oem_claim_number=number, claimed=_claimed(session, wo),
                             id=claim_id)
            session.add(claim)
            return Decision(claim, _view(claim))

        return self.app.execute(request, decide, (claim_id, Settlement.create_id(work_order_id)))

    def reject(self, request: Request, work_order_id: UUID, *, reason_code: str | None,
               reason: str | None) -> CommandResult:
        OemClaim.reject_input(reason_code, reason)  # 422 before anything is read
        return self._run(request, work_order_id, "rejected", lambda session, wo, claim:
                         claim.reject(session.audit(wo.store_id), reason_code, reason))

    def resubmit(self, request: Request, work_order_id: UUID, *, changes: str | None,
                 oem_claim_number: str | None = None) -> CommandResult:
        OemClaim.resubmit_input(changes, oem_claim_number)  # 422 before anything is read

        def change(session: Session, wo: WorkOrder, claim: OemClaim) -> None:
            if claim.status != "rejected":  # before the bill is asked what it claims now
                raise claim.refusal("resubmitted (only a rejected claim is)")
            claim.resubmit(session.audit(wo.store_id), changes, oem_claim_number,
                           _claimed(session, wo))

        return self._run(request, work_order_id, "resubmitted", change)

    def approve(self, request: Request, work_order_id: UUID, *, approved_amount: object,
                reason: str | None = None) -> CommandResult:
        amount = money(approved_amount, "approved_amount", field="approved_amount")
        return self._run(request, work_order_id, "approved", lambda session, wo, claim:
                         claim.approve(session.audit(wo.store_id), amount, reason))
