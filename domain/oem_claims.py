"""The OEM's answer to a visit's warranty claim: submit, reject, resubmit, approve.

The claimed amount is what the visit's confirmed warranty bill asks the OEM (its total less the
credits approved on it), read from the settlement in the same decision: the claim and the OEM
receivable are one figure. A claim is submitted once per visit; it is resubmitted only after a
rejection, with what changed (a reversed and re-confirmed bill claims its new total).

Each (re)submission records the package that was sent (`SentPackage`): the API builds it from
the events (projections may not be imported here) and passes in how to build it: its digest,
with the versions of the work order and its settlement it was built from. The decision refuses
it (`PackageMoved`) when either has moved since, and the package is built again (at most
PACKAGE_TRIES times, then 409 `package-moved`), so that the digest recorded is the one of the
state the claim was decided on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from domain.application import CommandResult, Decision, Request, ServiceCore, Session
from domain.common import VersionConflict, a_text, require
from domain.money import money
from domain.oem_claim import MAX_CODE, OemClaim, OemClaimError, unsent
from domain.settlement import Settlement
from domain.work_order import WorkOrder

PACKAGE_TRIES = 3


class PackageMoved(VersionConflict):
    """The work order or its settlement changed after the package was built (HTTP 409)."""

    kind = "package-moved"


@dataclass(frozen=True)
class SentPackage:
    """The claim package as built for a (re)submission: its digest, the last notification id
    and the moment it was built at, and the work order's and settlement's versions it read
    (None: the stream had no event)."""

    digest: str
    position: int
    at: datetime
    work_order_version: int | None
    settlement_version: int | None

    def recorded(self, session: Session, wo: WorkOrder) -> dict[str, Any]:
        """The event's fields, once the streams are where the package read them."""
        settlement = session.find(Settlement, Settlement.create_id(wo.id))
        now = (wo.version, settlement.version if settlement is not None else None)
        require(now == (self.work_order_version, self.settlement_version), PackageMoved(
            f"work order {wo.number} changed while its claim package was built",
            work_order_version=wo.version))
        return {"package_digest": self.digest, "package_position": self.position,
                "package_at": self.at}


Build = Callable[[], SentPackage | None]


def _sent(session: Session, wo: WorkOrder, package: SentPackage | None) -> dict[str, Any]:
    return unsent() if package is None else package.recorded(session, wo)


def _sending(build: Build | None,
             send: Callable[[SentPackage | None], CommandResult]) -> CommandResult:
    """`send` with the package `build` makes (None: no package recorded), built again while
    the streams it read move under it."""
    def built() -> SentPackage | None:
        return build() if build is not None else None

    for _ in range(PACKAGE_TRIES - 1):
        try:
            return send(built())
        except PackageMoved:
            continue
    return send(built())  # the last try: its PackageMoved is the answer


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
               oem_claim_number: str | None, package: Build | None = None) -> CommandResult:
        """`package` builds the package sent (projections/claim_digest.py `sent_package`)."""
        number = a_text(oem_claim_number, "oem_claim_number", "the OEM's claim number", 1,
                        MAX_CODE)
        claim_id = OemClaim.create_id(work_order_id)

        def send(sent: SentPackage | None) -> CommandResult:
            def decide(session: Session) -> Decision:
                wo = session.get(WorkOrder, work_order_id, "work order")
                found = session.find(OemClaim, claim_id)
                if found is not None:
                    raise found.refusal("submitted again (a rejected claim is resubmitted)")
                claim = OemClaim(audit=session.audit(wo.store_id), work_order_id=wo.id,
                                 work_order_number=wo.number, store_id=wo.store_id,
                                 oem_claim_number=number, claimed=_claimed(session, wo),
                                 **_sent(session, wo, sent), id=claim_id)
                session.add(claim)
                return Decision(claim, _view(claim))

            return self.app.execute(request, decide,
                                    (claim_id, Settlement.create_id(work_order_id)))

        return _sending(package, send)

    def reject(self, request: Request, work_order_id: UUID, *, reason_code: str | None,
               reason: str | None) -> CommandResult:
        OemClaim.reject_input(reason_code, reason)  # 422 before anything is read
        return self._run(request, work_order_id, "rejected", lambda session, wo, claim:
                         claim.reject(session.audit(wo.store_id), reason_code, reason))

    def resubmit(self, request: Request, work_order_id: UUID, *, changes: str | None,
                 oem_claim_number: str | None = None,
                 package: Build | None = None) -> CommandResult:
        OemClaim.resubmit_input(changes, oem_claim_number)  # 422 before anything is read

        def send(sent: SentPackage | None) -> CommandResult:
            def change(session: Session, wo: WorkOrder, claim: OemClaim) -> None:
                if claim.status != "rejected":  # before the bill is asked what it claims now
                    raise claim.refusal("resubmitted (only a rejected claim is)")
                claim.resubmit(session.audit(wo.store_id), changes, oem_claim_number,
                               _claimed(session, wo), _sent(session, wo, sent))

            return self._run(request, work_order_id, "resubmitted", change)

        return _sending(package, send)

    def approve(self, request: Request, work_order_id: UUID, *, approved_amount: object,
                reason: str | None = None) -> CommandResult:
        amount = money(approved_amount, "approved_amount", field="approved_amount")
        return self._run(request, work_order_id, "approved", lambda session, wo, claim:
                         claim.approve(session.audit(wo.store_id), amount, reason))
