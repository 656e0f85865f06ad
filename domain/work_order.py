"""The work order (one service visit): check-in, jobs, estimate, authorization, repair, QC.

Public methods check the rules and raise; the decorated `_methods` only apply the change, because
their bodies re-run on every replay.

This module holds the stream: its events and the event methods a replay runs, which apply each
change through `WorkOrderChanges` (domain/work_order_changes.py, with the events' upcasters).
The commands, which check and then call those event methods, are the mixins `WorkOrderRepair`
(domain/work_order_repair.py: check-in, jobs, estimate, authorization, dispatch, clocks, QC,
cancellation), `WorkOrderParts` (domain/work_order_parts.py), `WorkOrderSettling`
(domain/work_order_settling.py: settlement, delivery, closing, 三包 compensation),
`WorkOrderEvidence` (domain/work_order_evidence.py: part serials, evidence references) and
`WorkOrderComeback` (domain/work_order_comeback.py: the advisor's comeback mark); the errors,
limits and queries they share are in domain/work_order_state.py.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.common import Audit
from domain.work_order_certificate import WorkOrderCertificate
from domain.work_order_changes import (
    WorkOrderChanges,
    delivered_v1_v2,
    dispatched_v1_v2,
    line_added_v1_v2,
)
from domain.work_order_comeback import WorkOrderComeback
from domain.work_order_evidence import WorkOrderEvidence
from domain.work_order_parts import WorkOrderParts
from domain.work_order_repair import WorkOrderRepair
from domain.work_order_settling import WorkOrderSettling
from domain.work_order_state import MAX_EVENTS


class WorkOrder(WorkOrderRepair, WorkOrderParts, WorkOrderSettling, WorkOrderEvidence,
                WorkOrderCertificate, WorkOrderComeback, WorkOrderChanges, Aggregate):
    """One service visit. Its events are declared here: the schema an auditor reads."""

    max_events = MAX_EVENTS  # Session.target refuses the work order's own commands beyond

    class Event(Aggregate.Event):
        audit: Audit

    class Opened(Event, Aggregate.Created):
        number: str
        customer_id: UUID
        customer: dict[str, Any]
        vehicle: dict[str, Any]
        mileage: int
        kind: str
        appointment_id: str | None
        complaints: list[str]

    class CheckedIn(Event):
        details: dict[str, Any]

    class JobAdded(Event):
        complaint: str

    class Diagnosed(Event):
        job_no: int
        cause: str
        correction: str
        fault_codes: list[str]

    class LineAdded(Event):
        """v2: a warranty line's details carry `deductible`, a labor line `sublet` (the
        outside shop's supplier, invoice and cost); a v1 line has neither."""

        class_version = 2
        line: dict[str, Any]

        upcast_v1_v2 = staticmethod(line_added_v1_v2)

    class LineRepriced(Event):
        line_id: str
        unit_price: Decimal
        gross: Decimal
        vat: Decimal
        reason: str | None

    class LineAuthorized(Event):
        line_id: str
        decision: str
        channel: str
        note: str | None

    class JobDispatched(Event):
        """v2: `set_aside`, what a manager's override chose to overlook (a skill the
        technician lacks, their shift); a v1 dispatch names none."""

        class_version = 2
        job_no: int
        technician_id: str
        previous: str | None
        reason: str | None
        set_aside: list[str]

        upcast_v1_v2 = staticmethod(dispatched_v1_v2)

    class JobClosed(Event):
        """A job closed without repair work: `outcome` no_fault_found or declined, why."""

        job_no: int
        outcome: str
        reason: str

    class ClockedOn(Event):
        job_no: int
        technician_id: str

    class ClockedOff(Event):
        job_no: int
        technician_id: str
        seconds: int

    class JobCompleted(Event):
        job_no: int

    class QualityChecked(Event):
        job_no: int
        passed: bool
        reason: str | None

    class ReadyForSettlement(Event):
        pass

    class Cancelled(Event):
        reason: str

    class PartSupply(Event):
        line_id: str
        supply: str
        reserved_qty: Decimal
        available: Decimal

    class PartsIssued(Event):
        line_id: str
        qty: Decimal
        picks: list[dict[str, Any]]
        cost: Decimal

    class PartsReturned(Event):
        line_id: str
        qty: Decimal
        picks: list[dict[str, Any]]
        cost: Decimal
        reason: str

    class LineWithdrawn(Event):
        line_id: str
        withdrawn_qty: Decimal
        qty: Decimal
        gross: Decimal
        vat: Decimal
        reason: str

    class LinesMoved(Event):
        line_ids: list[str]
        follow_on_id: UUID
        follow_on_number: str
        reason: str

    class LinesCarriedOver(Event):
        from_id: UUID
        from_number: str
        lines: list[dict[str, Any]]
        reason: str

    class BackInProgress(Event):
        reason: str

    class SettlementConfirmed(Event):
        settlement_id: UUID
        number: str

    class Settled(Event):
        settlement_id: UUID
        number: str
        customer_total: Decimal

    class SettlementReversed(Event):
        number: str
        reason: str

    class Delivered(Event):
        """v2 adds `customer_id`, whose key seals `acknowledgement["acknowledged_by"]` (the
        name signed with is the customer's, erased with them); a v1 delivery kept it in clear
        and names no customer."""

        class_version = 2
        mileage_out: int
        handed_over_by: str
        acknowledgement: dict[str, Any]
        follow_up_id: UUID
        follow_up_due: str
        customer_id: UUID | None

        upcast_v1_v2 = staticmethod(delivered_v1_v2)

    class Closed(Event):
        follow_up_id: UUID

    class CompensationRecorded(Event):
        """Towing, a loaner car or travel paid for the customer on a 三包 repair visit."""

        kind: str
        amount: Decimal
        days: int | None
        reference: str | None
        note: str | None

    class SerialsRecorded(Event):
        """A part line's serial numbers: of the parts fitted, and of the failed parts removed,
        each with its `disposition` (kept for the OEM's return under `tag`, scrapped, returned
        to the customer). A later one for the same line is a correction: it has a `reason` and
        names what it replaces (`previous`); nothing recorded is overwritten."""

        line_id: str
        fitted: list[str]
        removed: list[dict[str, Any]]
        reason: str | None
        previous: dict[str, Any] | None

    class EvidenceAdded(Event):
        """A reference to a file kept elsewhere (a photo of the failure, a diagnostic
        printout): its SHA-256, media type, size and where it is kept; not the file."""

        evidence_id: str
        job_no: int
        line_id: str | None
        kind: str
        sha256: str
        media_type: str
        size: int
        uri: str
        caption: str | None

    class EvidenceWithdrawn(Event):
        evidence_id: str
        reason: str

    class CompletionCertified(Event):
        """The completion certificate (竣工出厂合格证): its number, the inspector who signed
        it, and the visit's repair class then."""

        cert_no: str
        inspector: str
        repair_class: str

    class ComebackMarked(Event):
        """The advisor's word: this visit is a comeback (返修) of an earlier work order."""

        earlier_work_order_id: UUID
        earlier_number: str
        earlier_store_id: str
        reason: str

    class ComebackMarkWithdrawn(Event):
        earlier_work_order_id: UUID
        reason: str

    @event(Opened)
    def __init__(self, audit: Audit, number: str, customer_id: UUID, customer: dict[str, Any],
                 vehicle: dict[str, Any], mileage: int, kind: str, appointment_id: str | None,
                 complaints: list[str], id: UUID | None = None) -> None:
        self._start(audit, number, customer_id, customer, vehicle, mileage, kind,
                    appointment_id, complaints)

    # -- check-in and jobs -------------------------------------------------------------------

    @event(CheckedIn)
    def _checked_in(self, audit: Audit, details: dict[str, Any]) -> None:
        self._check_in(audit, details)

    @event(JobAdded)
    def _job_added(self, audit: Audit, complaint: str) -> None:
        self._new_job(complaint)

    @event(Diagnosed)
    def _diagnosed(self, audit: Audit, job_no: int, cause: str, correction: str,
                   fault_codes: list[str]) -> None:
        self._diagnosis(job_no, cause, correction, fault_codes)

    # -- estimate and authorization ----------------------------------------------------------

    @event(LineAdded)
    def _line_added(self, audit: Audit, line: dict[str, Any]) -> None:
        self._new_line(line)

    @event(LineRepriced)
    def _line_repriced(self, audit: Audit, line_id: str, unit_price: Decimal, gross: Decimal,
                       vat: Decimal, reason: str | None) -> None:
        self.lines[line_id].update(unit_price=unit_price, gross=gross, vat=vat)

    @event(LineAuthorized)
    def _line_authorized(self, audit: Audit, line_id: str, decision: str, channel: str,
                         note: str | None) -> None:
        self._authorization(audit, line_id, decision, channel, note)

    # -- dispatch, clocks, completion, QC ----------------------------------------------------

    @event(JobDispatched)
    def _dispatched(self, audit: Audit, job_no: int, technician_id: str, previous: str | None,
                    reason: str | None, set_aside: list[str]) -> None:
        self._dispatch(job_no, technician_id)

    @event(JobClosed)
    def _job_closed(self, audit: Audit, job_no: int, outcome: str, reason: str) -> None:
        self._closure(audit, job_no, outcome, reason)

    @event(ClockedOn)
    def _clocked_on(self, audit: Audit, job_no: int, technician_id: str) -> None:
        self._clock_on(audit, job_no, technician_id)

    @event(ClockedOff)
    def _clocked_off(self, audit: Audit, job_no: int, technician_id: str, seconds: int) -> None:
        self._clock_off(job_no, seconds)

    @event(JobCompleted)
    def _job_completed(self, audit: Audit, job_no: int) -> None:
        self.jobs[job_no]["status"] = "awaiting_qc"

    @event(QualityChecked)
    def _quality_checked(self, audit: Audit, job_no: int, passed: bool, reason: str | None) -> None:
        self._quality_check(job_no, passed)

    @event(ReadyForSettlement)
    def _ready(self, audit: Audit) -> None:
        self.status = "ready_for_settlement"

    # -- cancellation ------------------------------------------------------------------------

    @event(Cancelled)
    def _cancelled(self, audit: Audit, reason: str) -> None:
        self.status = "cancelled"

    # -- parts: supply, issue, return, withdraw, move to a follow-on work order --------------

    @event(PartSupply)
    def _part_supply(self, audit: Audit, line_id: str, supply: str, reserved_qty: Decimal,
                     available: Decimal) -> None:
        self.lines[line_id].update(supply=supply, reserved_qty=reserved_qty)

    @event(PartsIssued)
    def _parts_issued(self, audit: Audit, line_id: str, qty: Decimal,
                      picks: list[dict[str, Any]], cost: Decimal) -> None:
        self._issue(line_id, qty, picks, cost)

    @event(PartsReturned)
    def _parts_returned(self, audit: Audit, line_id: str, qty: Decimal,
                        picks: list[dict[str, Any]], cost: Decimal, reason: str) -> None:
        self._return(line_id, qty, picks, cost)

    @event(BackInProgress)
    def _back_in_progress(self, audit: Audit, reason: str) -> None:
        self.status = "in_progress"

    @event(LineWithdrawn)
    def _line_withdrawn(self, audit: Audit, line_id: str, withdrawn_qty: Decimal, qty: Decimal,
                        gross: Decimal, vat: Decimal, reason: str) -> None:
        self._withdrawal(line_id, qty, gross, vat)

    @event(LinesMoved)
    def _lines_moved(self, audit: Audit, line_ids: list[str], follow_on_id: UUID,
                     follow_on_number: str, reason: str) -> None:
        self._move(line_ids, follow_on_number)

    @event(LinesCarriedOver)
    def _lines_carried_over(self, audit: Audit, from_id: UUID, from_number: str,
                            lines: list[dict[str, Any]], reason: str) -> None:
        self._carry_over(from_number, lines)

    # -- settlement, delivery, closing -------------------------------------------------------

    @event(SettlementConfirmed)
    def _settlement_confirmed(self, audit: Audit, settlement_id: UUID, number: str) -> None:
        self.settlement = {"id": settlement_id, "number": number}

    @event(Settled)
    def _settled(self, audit: Audit, settlement_id: UUID, number: str,
                 customer_total: Decimal) -> None:
        self.status = "settled"

    @event(SettlementReversed)
    def _settlement_reversed(self, audit: Audit, number: str, reason: str) -> None:
        self._reversal()

    @event(Delivered)
    def _delivered(self, audit: Audit, mileage_out: int, handed_over_by: str,
                   acknowledgement: dict[str, Any], follow_up_id: UUID,
                   follow_up_due: str, customer_id: UUID | None) -> None:
        self._delivery(mileage_out, follow_up_id)

    @event(Closed)
    def _closed(self, audit: Audit, follow_up_id: UUID) -> None:
        self.status = "closed"

    # -- 三包 compensation -----------------------------------------------------------------------

    @event(CompensationRecorded)
    def _compensation_recorded(self, audit: Audit, kind: str, amount: Decimal, days: int | None,
                               reference: str | None, note: str | None) -> None:
        self._compensation(kind, amount, days)

    # -- warranty serials and evidence -----------------------------------------------------

    @event(SerialsRecorded)
    def _serials_recorded(self, audit: Audit, line_id: str, fitted: list[str],
                          removed: list[dict[str, Any]], reason: str | None,
                          previous: dict[str, Any] | None) -> None:
        self._serials(line_id, fitted, removed)

    @event(EvidenceAdded)
    def _evidence_added(self, audit: Audit, evidence_id: str, job_no: int, line_id: str | None,
                        kind: str, sha256: str, media_type: str, size: int, uri: str,
                        caption: str | None) -> None:
        self._new_evidence(evidence_id, job_no, line_id, kind, sha256)

    @event(EvidenceWithdrawn)
    def _evidence_withdrawn(self, audit: Audit, evidence_id: str, reason: str) -> None:
        next(e for e in self.evidence if e["evidence_id"] == evidence_id)["withdrawn"] = True

    @event(CompletionCertified)
    def _completion_certified(self, audit: Audit, cert_no: str, inspector: str,
                              repair_class: str) -> None:
        self._certificate(cert_no, inspector, repair_class)

    @event(ComebackMarked)
    def _comeback_marked(self, audit: Audit, earlier_work_order_id: UUID, earlier_number: str,
                         earlier_store_id: str, reason: str) -> None:
        self.comeback_mark = {"earlier_work_order_id": earlier_work_order_id,
                              "earlier_number": earlier_number,
                              "earlier_store_id": earlier_store_id}

    @event(ComebackMarkWithdrawn)
    def _comeback_mark_withdrawn(self, audit: Audit, earlier_work_order_id: UUID,
                                 reason: str) -> None:
        self.comeback_mark = None
