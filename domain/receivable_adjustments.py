"""The command that writes off a settlement's warranty or insurance receivable, or books the
OEM's charge-back of a paid warranty claim (the rules and entries: domain/receivable_adjustment.py).

A manager's decision, with a reason. An OEM kind needs the visit's OEM claim in the status that
justifies it, and the claim records the adjustment: the settlement and the claim are saved in
one transaction (the session saves every aggregate it changed together), or neither is.
"""

from __future__ import annotations

from uuid import UUID, uuid4

from domain.application import CommandResult, Decision, Request, ServiceCore, Session
from domain.common import NotFound, NotPermitted, require, require_reason
from domain.oem_claim import OemClaim, OemClaimError
from domain.receivable_adjustment import (
    BILL_OF,
    OEM_KINDS,
    adjustment_entry,
    adjustment_kind,
    check,
    reversal_entry,
)
from domain.settlement import Settlement
from domain.settlement_state import SettlementError

# A write-off's id on paper is never read as a work-order number (`WO-S01-2026-000123`): ids
# made before this form (`WO-` and 12 hex digits) stay as they were stored, and are found and
# taken back by them as ever.
WRITE_OFF_PREFIX = "WRITEOFF-"


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
        write_off_id = WRITE_OFF_PREFIX + uuid4().hex[:12].upper()

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
                                    adjustment_entry(settlement, what, value, ref), write_off_id)
            answer = {**settlement.summary(), "written_off": {
                "write_off_id": write_off_id, "bill": BILL_OF[what], "kind": what, "amount": str(value), "reference": ref,
                "reason": why}}
            if claim is not None:
                answer["claim_status"] = claim.status
            return Decision(settlement, answer)

        return self.app.execute(request, decide, (settlement_id,))

    def reverse_write_off(self, request: Request, settlement_id: UUID, write_off_id: str, *,
                          reason: str | None) -> CommandResult:
        """Takes one write-off (or charge-back) of this settlement back: the mirror of its
        entry (Dr 1123 / 1124, or 2241, Cr 6601), so the receivable is outstanding again and a
        later payment clears it as any payment does. A manager's, with a reason; 404 for a
        write-off this settlement has not made, 409 for one taken back already, for a
        settlement no longer settled on the write-off's number, or for an OEM claim no longer
        in the status the write-off left it in. The claim records it in the same save."""

        def decide(session: Session) -> Decision:
            settlement = session.target(Settlement, settlement_id, "settlement")
            audit = session.audit(settlement.store_id)
            require(audit.role == "manager", NotPermitted(
                "taking a write-off back needs a manager"))
            why = require_reason(reason, "taking a write-off back")
            found = settlement.write_offs.get(write_off_id)
            require(found is not None, NotFound(
                f"settlement {settlement.number or settlement.work_order_number} has no "
                f"write-off {write_off_id}", write_off_id=write_off_id))
            assert found is not None
            require(not found["reversed"], SettlementError(
                f"write-off {write_off_id} was taken back already", write_off_id=write_off_id))
            require(settlement.status == "settled" and settlement.number == found["number"],
                    SettlementError(f"write-off {write_off_id} was booked on settlement "
                                    f"{found['number']}, which is not settled now",
                                    settlement_status=settlement.status))
            kind, amount = found["kind"], found["amount"]
            claim_status = None
            if kind in OEM_KINDS:
                claim = session.get(OemClaim, OemClaim.create_id(settlement.work_order_id),
                                    "warranty claim")
                assert settlement.number is not None
                claim.reverse_write_off(audit, write_off_id, kind, amount, settlement.number, why)
                claim_status = claim.status
            settlement._write_off_reversed(audit, write_off_id, found["bill"], kind, amount, why,
                                           reversal_entry(settlement, found, write_off_id))
            answer = {**settlement.summary(), "reversed": {
                "write_off_id": write_off_id, "bill": found["bill"], "kind": kind,
                "amount": str(amount), "reason": why}}
            if claim_status is not None:
                answer["claim_status"] = claim_status
            return Decision(settlement, answer)

        return self.app.execute(request, decide, (settlement_id,))
