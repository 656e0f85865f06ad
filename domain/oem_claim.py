"""The OEM's answer to a warranty claim: one stream per visit whose warranty bill was claimed.

The claim package (projections/warranty_claim.py) is what the dealer sends; this stream is what
happened to it at the OEM: submitted under the OEM's claim number, rejected with the OEM's
reason, corrected and submitted again (saying what changed), approved for an amount that may be
below the claimed one (the difference says why). An OEM warranty audit asks exactly this
history, so every step keeps who, when and why.

    submitted ──reject──▶ rejected ──resubmit──▶ resubmitted ──reject──▶ rejected …
        └──────────approve──────────────────────────┴──approve──▶ approved (final)

What the OEM will never pay is written off on the warranty bill (domain/receivable_adjustment.py)
and recorded here in the same save: a rejected claim given up (`oem_rejected`) ends `written_off`;
an approval below the claimed amount (`oem_short_paid`) keeps the claim approved, its shortfall
written off; so does a remittance that paid less than the approval, once the OEM has paid and
says it is final (`oem_underpaid`: at most approved less paid); an approved claim the OEM paid
and then took back (`oem_charged_back`) ends `charged_back`.

    rejected ──write off──▶ written_off       approved ──charge back──▶ charged_back

A write-off is taken back when the OEM pays after all (or offsets its charge-back): the claim
records it and returns to where the write-off found it (`written_off` to `rejected`,
`charged_back` to `approved`; a short-pay's or underpayment's amount no longer counts).

What was sent: each submission and resubmission (class version 2) records the claim package's
digest as it was built for it (`package_digest`, sha256 hex over its canonical JSON form,
projections/claim_digest.py says which fields), the last notification id the package was built
from (`package_position`) and the moment it was built (`package_at`), so that an audit can
rebuild the package as of that moment and see whether it still is what was sent. Events stored
before version 2 read these as null.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.common import Audit, IllegalTransition, InvalidInput, a_text, require, stable_id

OPEN = ("submitted", "resubmitted")  # waiting for the OEM's decision
MAX_TEXT = 500
MAX_CODE = 40


def unsent() -> dict[str, Any]:
    """No package recorded: no digest, position or moment."""
    return {"package_digest": None, "package_position": None, "package_at": None}


def unsent_package(state: dict[str, Any]) -> None:
    """A (re)submission stored before packages were recorded (class version 1)."""
    state.update(unsent())


class OemClaimError(IllegalTransition):
    """A step the claim's status does not allow (HTTP 409, naming the status)."""


class OemClaim(Aggregate):
    """A visit's warranty claim at the OEM."""

    max_events = 200  # a claim rejected and resubmitted that often is a case for a person

    class Event(Aggregate.Event):
        audit: Audit

    class Submitted(Event, Aggregate.Created):
        work_order_id: UUID
        work_order_number: str
        store_id: str
        oem_claim_number: str
        claimed: Decimal
        class_version = 2
        package_digest: str | None
        package_position: int | None
        package_at: datetime | None

        upcast_v1_v2 = staticmethod(unsent_package)

    class Rejected(Event):
        reason_code: str | None
        reason: str

    class Resubmitted(Event):
        changes: str
        oem_claim_number: str
        claimed: Decimal
        class_version = 2
        package_digest: str | None
        package_position: int | None
        package_at: datetime | None

        upcast_v1_v2 = staticmethod(unsent_package)

    class Approved(Event):
        approved_amount: Decimal
        claimed: Decimal
        reason: str | None

    class WrittenOff(Event):
        """The warranty bill's receivable adjusted for this claim (domain/receivable_adjustment.py):
        the kind, the amount, the settlement it was booked on and why."""

        kind: str
        amount: Decimal
        settlement_number: str
        reason: str

    class WriteOffReversed(Event):
        """A write-off of this claim taken back (domain/receivable_adjustments.py): the OEM
        paid after all, or offset the charge-back. The status and figures it changed return."""

        write_off_id: str
        kind: str
        amount: Decimal
        settlement_number: str
        reason: str

    @staticmethod
    def create_id(work_order_id: UUID) -> UUID:
        return stable_id("oem-claim", work_order_id)

    @event(Submitted)
    def __init__(self, audit: Audit, work_order_id: UUID, work_order_number: str,
                 store_id: str, oem_claim_number: str, claimed: Decimal,
                 package_digest: str | None = None, package_position: int | None = None,
                 package_at: datetime | None = None, id: UUID | None = None) -> None:
        self.work_order_id = work_order_id
        self.work_order_number = work_order_number
        self.store_id = store_id
        self.oem_claim_number = oem_claim_number
        self.claimed = claimed
        self.status = "submitted"
        self.approved_amount: Decimal | None = None
        self.written_off = Decimal("0.00")  # of the shortfall, by short-pay write-offs
        self.underpaid = Decimal("0.00")  # of the approved amount, by underpaid write-offs

    def refusal(self, step: str) -> OemClaimError:
        return OemClaimError(
            f"the warranty claim of {self.work_order_number} is {self.status}: it cannot be "
            f"{step}", claim_status=self.status, oem_claim_number=self.oem_claim_number)

    @staticmethod
    def reject_input(reason_code: str | None, reason: str | None) -> tuple[str | None, str]:
        """(code, reason) as kept: the code optional, the reason required."""
        code = None if not (reason_code or "").strip() else a_text(
            reason_code, "reason_code", "the OEM's reason code", 1, MAX_CODE)
        return code, a_text(reason, "reason", "the OEM's reason for the rejection")

    @staticmethod
    def resubmit_input(changes: str | None,
                       oem_claim_number: str | None) -> tuple[str, str | None]:
        """(what changed, a new claim number or None) as kept."""
        what = a_text(changes, "changes", "what changed since the rejection")
        number = None if oem_claim_number is None else a_text(
            oem_claim_number, "oem_claim_number", "the OEM's claim number", 1, MAX_CODE)
        return what, number

    def reject(self, audit: Audit, reason_code: str | None, reason: str | None) -> None:
        """The OEM's reason is required (bad input is refused before the status is asked)."""
        code, why = self.reject_input(reason_code, reason)
        require(self.status in OPEN, self.refusal("rejected"))
        self._rejected(audit, code, why)

    @event(Rejected)
    def _rejected(self, audit: Audit, reason_code: str | None, reason: str) -> None:
        self.status = "rejected"

    def resubmit(self, audit: Audit, changes: str | None, oem_claim_number: str | None,
                 claimed: Decimal, package: dict[str, Any] | None = None) -> None:
        """Only after a rejection, saying what changed; the OEM's claim number stays unless a
        new one is given; `claimed` is what the warranty bill asks now; `package`: the sent
        package's `package_digest`, `package_position` and `package_at` (None: not recorded)."""
        what, number = self.resubmit_input(changes, oem_claim_number)
        require(self.status == "rejected", self.refusal("resubmitted (only a rejected claim is)"))
        self._resubmitted(audit, what, number or self.oem_claim_number, claimed,
                          **(package or unsent()))

    @event(Resubmitted)
    def _resubmitted(self, audit: Audit, changes: str, oem_claim_number: str,
                     claimed: Decimal, package_digest: str | None, package_position: int | None,
                     package_at: datetime | None) -> None:
        self.status = "resubmitted"
        self.oem_claim_number = oem_claim_number
        self.claimed = claimed

    def approve(self, audit: Audit, approved_amount: Decimal, reason: str | None) -> None:
        """At most the claimed amount; an amount below it says why (the OEM's cut)."""
        require(self.status in OPEN, self.refusal("approved"))
        require(approved_amount <= self.claimed, InvalidInput(
            f"the approved amount {approved_amount} is above the claimed {self.claimed}",
            field="approved_amount", claimed=str(self.claimed)))
        why = None
        if approved_amount != self.claimed:
            why = a_text(reason, "reason", "an approved amount below the claimed one needs "
                         "the OEM's reason, which")
        elif reason is not None and reason.strip():
            why = a_text(reason, "reason", "the reason")
        self._approved(audit, approved_amount, self.claimed, why)

    @event(Approved)
    def _approved(self, audit: Audit, approved_amount: Decimal, claimed: Decimal,
                  reason: str | None) -> None:
        self.status = "approved"
        self.approved_amount = approved_amount

    def write_off(self, audit: Audit, kind: str, amount: Decimal, settlement_number: str,
                  reason: str, paid: Decimal = Decimal("0.00")) -> None:
        """Only in the status that justifies the kind; a short-pay at most the shortfall
        (claimed less approved) not yet written off; an underpayment at most the approved
        amount less `paid` (the OEM's payments on the warranty bill) not yet written off."""
        self.require_kind(kind, paid)
        if kind == "oem_short_paid":
            left = self.shortfall_left()
            require(amount <= left, OemClaimError(
                f"the OEM approved {self.approved_amount} of {self.claimed}: at most {left} "
                f"of the shortfall is left to write off", field="amount", limit=str(left),
                claim_status=self.status))
        if kind == "oem_underpaid":
            rest = self.underpaid_left(paid)
            require(amount <= rest, OemClaimError(
                f"the OEM approved {self.approved_amount} and paid {paid}: at most {rest} of "
                f"the remainder is left to write off", field="amount", limit=str(rest),
                claim_status=self.status))
        self._written_off(audit, kind, amount, settlement_number, reason)

    def require_kind(self, kind: str, paid: Decimal = Decimal("0.00")) -> None:
        """409 naming the status unless it justifies an adjustment of this kind (an
        underpayment: `paid`, the OEM's payments on the warranty bill, above zero)."""
        if kind == "oem_rejected":
            require(self.status == "rejected", self.refusal(
                "written off as rejected (only a rejected claim is)"))
        elif kind == "oem_charged_back":
            require(self.status == "approved", self.refusal(
                "charged back (only an approved claim the OEM paid is)"))
        elif kind == "oem_underpaid":
            require(self.status == "approved" and paid > 0, self.refusal(
                "written off as underpaid (only an approved claim the OEM has paid on is)"))
        else:
            require(self.status == "approved" and self.approved_amount is not None
                    and self.approved_amount < self.claimed, self.refusal(
                        "written off as short-paid (only a claim approved for less than was "
                        "claimed is)"))

    def paid_up(self, paid: Decimal) -> bool:
        """Paid, as the desk and the claim package say: approved, and `paid` (the OEM's
        payments on the warranty bill) plus what was written off as underpaid (the
        remittance's deduction, final) reach the approved amount. The desk's list says the
        same in SQL (projections/oem_claims.py `PAID`)."""
        return (self.status == "approved" and self.approved_amount is not None
                and paid + self.underpaid >= self.approved_amount)

    def shortfall_left(self) -> Decimal:
        """Claimed less approved, less what was written off of it (0 before an approval)."""
        if self.approved_amount is None:
            return Decimal("0.00")
        return self.claimed - self.approved_amount - self.written_off

    def underpaid_left(self, paid: Decimal) -> Decimal:
        """Approved less `paid` less what was written off as underpaid (0 before an approval,
        never below 0)."""
        if self.approved_amount is None:
            return Decimal("0.00")
        return max(self.approved_amount - paid - self.underpaid, Decimal("0.00"))

    @event(WrittenOff)
    def _written_off(self, audit: Audit, kind: str, amount: Decimal, settlement_number: str,
                     reason: str) -> None:
        if kind == "oem_rejected":
            self.status = "written_off"
        elif kind == "oem_charged_back":
            self.status = "charged_back"
        elif kind == "oem_underpaid":
            self.underpaid += amount
        else:
            self.written_off += amount

    def reverse_write_off(self, audit: Audit, write_off_id: str, kind: str, amount: Decimal,
                          settlement_number: str, reason: str) -> None:
        """A write-off given up or a charge-back taken back: only while the claim is still in
        the status it left (a claim written off as rejected is `written_off`, one charged back
        `charged_back`); a rejected claim is rejected again, a charged-back one approved, and a
        short-pay's or an underpayment's amount is no longer written off of the claim."""
        ended = {"oem_rejected": "written_off", "oem_charged_back": "charged_back"}.get(
            kind, "approved")
        require(self.status == ended, self.refusal(f"given back its {kind} write-off"))
        self._write_off_reversed(audit, write_off_id, kind, amount, settlement_number, reason)

    @event(WriteOffReversed)
    def _write_off_reversed(self, audit: Audit, write_off_id: str, kind: str, amount: Decimal,
                            settlement_number: str, reason: str) -> None:
        if kind == "oem_rejected":
            self.status = "rejected"
        elif kind == "oem_charged_back":
            self.status = "approved"
        elif kind == "oem_underpaid":
            self.underpaid -= amount
        else:
            self.written_off -= amount
