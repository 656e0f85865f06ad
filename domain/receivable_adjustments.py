"""The command that writes off a settlement's warranty or insurance receivable, or books the
OEM's charge-back of a paid warranty claim (the rules and entries: domain/receivable_adjustment.py).

A manager's decision, with a reason. An OEM kind needs the visit's OEM claim in the status that
justifies it, and the claim records the adjustment: the settlement and the claim are saved in
one transaction (the session saves every aggregate it changed together), or neither is.
"""

from __future__ import annotations

from uuid import UUID

from domain.application import CommandResult, Decision, Request, ServiceCore, Session
from domain.common import NotPermitted, require
from domain.oem_claim import OemClaim, OemClaimError
from domain.receivable_adjustment import (
    BILL_OF,
    OEM_KINDS,
    adjustment_entry,
    adjustment_kind,
    check,
)
from domain.settlement import Settlement


class ReceivableAdjustments:
    def __init__(self, app: ServiceCore) -> None:
        self.app = app

    def write_off(self, request: Request, settlement_id: UUID, *, kind: str | None,
                  amount: object | None, reason: str | None,
                  reference: str | None = None) -> CommandResult:
        """`amount` None: all that the kind allows (the bill's outstanding; a short-pay's: at
        most the shortfall left; an underpayment's: at most approved less paid left; a
        charge-back's paid and not charged back). `reference`: the OEM's claim number (an OEM
        kind's default) or the insurer's claim or remittance reference."""
        what = adjustment_kind(kind)

        def decide(session: Session) -> Decision:
            settlement = session.target(Settlement, settlement_id, "settlement")
            audit = session.audit(settlement.store_id)
            require(audit.role == "manager", NotPermitted(
                "writing off a receivable needs a manager"))
            claim = None
            cap = None
            if what in OEM_KINDS:
                claim_id = OemClaim.create_id(settlement.work_order_id)
                claim = session.find(OemClaim, claim_id)
                if claim is None:
                    raise OemClaimError(
                        f"the warranty claim of {settlement.work_order_number} is not "
                        f"submitted: nothing to write off", claim_status="not_submitted")
                claim.require_kind(what, settlement.paid("warranty"))
                if what == "oem_short_paid":
                    cap = claim.shortfall_left()
                elif what == "oem_underpaid":
                    cap = claim.underpaid_left(settlement.paid("warranty"))
            value, why, ref = check(settlement, what, amount, reason, reference, cap)
            if claim is not None:
                ref = ref or claim.oem_claim_number
                assert settlement.number is not None
                claim.write_off(audit, what, value, settlement.number, why,
                                settlement.paid("warranty"))
            settlement._written_off(audit, BILL_OF[what], what, value, ref, why,
                                    adjustment_entry(settlement, what, value, ref))
            answer = {**settlement.summary(), "written_off": {
                "bill": BILL_OF[what], "kind": what, "amount": str(value), "reference": ref,
                "reason": why}}
            if claim is not None:
                answer["claim_status"] = claim.status
            return Decision(settlement, answer)

        return self.app.execute(request, decide, (settlement_id,))
