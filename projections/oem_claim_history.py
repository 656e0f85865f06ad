"""The OEM's answer to a visit's warranty claim, read from its stream for the claim package:
the status, the OEM's claim number, the claimed and approved amounts, the dated history with
who and why, and the OEM receivable it meets (the warranty bill's billed, paid, outstanding)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from domain.oem_claim import OemClaim
from domain.settlement import Settlement
from domain.unreadable_events import reading
from projections.evidence import Recorded, fold, stamp

STEPS = {"Submitted": "submitted", "Rejected": "rejected", "Resubmitted": "resubmitted",
         "Approved": "approved", "WrittenOff": "written_off",
         "WriteOffReversed": "write_off_reversed"}


def _step(r: Recorded) -> dict[str, Any]:
    with reading(r.event) as e:
        return _fields(r, e)


def _fields(r: Recorded, e: Any) -> dict[str, Any]:
    step: dict[str, Any] = {"step": STEPS[type(e).__name__], **stamp(r),
                            "notification_id": r.notification_id}
    if isinstance(e, OemClaim.Submitted):
        step.update(oem_claim_number=e.oem_claim_number, claimed=e.claimed)
    elif isinstance(e, OemClaim.Rejected):
        step.update(reason_code=e.reason_code, reason=e.reason)
    elif isinstance(e, OemClaim.Resubmitted):
        step.update(changes=e.changes, oem_claim_number=e.oem_claim_number, claimed=e.claimed)
    elif isinstance(e, OemClaim.Approved):
        step.update(approved_amount=e.approved_amount, claimed=e.claimed, reason=e.reason,
                    difference=e.claimed - e.approved_amount)
    elif isinstance(e, OemClaim.WrittenOff):
        step.update(kind=e.kind, amount=e.amount, settlement_number=e.settlement_number,
                    reason=e.reason)
    elif isinstance(e, OemClaim.WriteOffReversed):
        step.update(write_off_id=e.write_off_id, kind=e.kind, amount=e.amount,
                    settlement_number=e.settlement_number, reason=e.reason)
    return step


def oem_claim(recorded: list[Recorded], settlement: Settlement | None) -> dict[str, Any]:
    """`status` `not_submitted` (and an empty history) until the claim is submitted; `paid`
    once approved and the OEM's payments on the warranty bill, with what was written off as
    underpaid, reach the approved amount (`OemClaim.paid_up`)."""
    claim = fold(recorded)
    bill = settlement if settlement is not None and "warranty" in settlement.bills else None
    receivable = None if bill is None else {
        "billed": bill.billed("warranty"), "paid": bill.paid("warranty"),
        "outstanding": bill.outstanding("warranty")}
    if not isinstance(claim, OemClaim):
        return {"status": "not_submitted", "oem_claim_number": None, "claimed": None,
                "approved_amount": None, "short_paid": None, "receivable": receivable,
                "history": []}
    approved = claim.approved_amount
    # The payment is the settlement's event; the claim records no step of its own for it.
    paid = receivable is not None and claim.paid_up(receivable["paid"])
    return {"status": "paid" if paid else claim.status, "oem_claim_number": claim.oem_claim_number,
            "claimed": claim.claimed, "approved_amount": approved,
            # what the receivable still expects beyond what the OEM approved
            "short_paid": None if approved is None or receivable is None
            else max(receivable["billed"] - approved, Decimal("0.00")),
            "receivable": receivable, "history": [_step(r) for r in recorded]}
