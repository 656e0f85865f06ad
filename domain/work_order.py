"""The work order (one service visit): check-in, jobs, estimate, authorization, repair, QC.

Public methods check the rules and raise; the decorated `_methods` only apply the change, because
their bodies re-run on every replay.

This module holds the stream: its events and what each event changes (all that a replay runs).
The commands, which check and then call those event methods, are the mixins `WorkOrderRepair`
(domain/work_order_repair.py: check-in, jobs, estimate, authorization, dispatch, clocks, QC,
cancellation), `WorkOrderParts` (domain/work_order_parts.py), `WorkOrderSettling`
(domain/work_order_settling.py: settlement, delivery, closing, 三包 compensation) and
`WorkOrderEvidence` (domain/work_order_evidence.py: part serials, evidence references); the errors,
limits and queries they share are in domain/work_order_state.py.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.aggregate_loads import copy_plain
from domain.common import Audit
from domain.stock_state import less_returned
from domain.work_order_certificate import WorkOrderCertificate
from domain.work_order_evidence import WorkOrderEvidence
from domain.work_order_parts import WorkOrderParts
from domain.work_order_repair import WorkOrderRepair
from domain.work_order_settling import WorkOrderSettling
from domain.work_order_state import MAX_EVENTS


class WorkOrder(WorkOrderRepair, WorkOrderParts, WorkOrderSettling, WorkOrderEvidence,
                WorkOrderCertificate, Aggregate):
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

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            if state["line"].get("warranty") is not None:
                state["line"]["warranty"].setdefault("deductible", None)
            if state["line"].get("kind") == "labor":
                state["line"].setdefault("sublet", None)

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
        job_no: int
        technician_id: str
        previous: str | None
        reason: str | None

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

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["customer_id"] = None

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

    @event(Opened)
    def __init__(
        self,
        audit: Audit,
        number: str,
        customer_id: UUID,
        customer: dict[str, Any],
        vehicle: dict[str, Any],
        mileage: int,
        kind: str,
        appointment_id: str | None,
        complaints: list[str],
        id: UUID | None = None,
    ) -> None:
        self.number = number
        self.store_id = audit.store_id
        self.customer_id = customer_id
        self.customer = dict(customer)
        self.vehicle = dict(vehicle)
        self.mileage = mileage
        self.kind = kind
        self.appointment_id = appointment_id
        self.status = "opened"
        self.opened_at = audit.at
        self.check_in: dict[str, Any] | None = None
        self.checked_in_at: datetime | None = None
        self.jobs: dict[int, dict[str, Any]] = {}
        self.lines: dict[str, dict[str, Any]] = {}
        self.settlement: dict[str, Any] | None = None
        self.serials: dict[str, dict[str, Any]] = {}
        self.serial_records: dict[str, int] = {}
        self.evidence: list[dict[str, Any]] = []
        for complaint in complaints:
            self._new_job(complaint)

    # -- check-in and jobs -------------------------------------------------------------------

    @event(CheckedIn)
    def _checked_in(self, audit: Audit, details: dict[str, Any]) -> None:
        self.check_in = dict(details)
        self.checked_in_at = audit.at
        self.mileage = details["mileage_in"]
        self.status = "checked_in"

    @event(JobAdded)
    def _job_added(self, audit: Audit, complaint: str) -> None:
        self._new_job(complaint)

    @event(Diagnosed)
    def _diagnosed(self, audit: Audit, job_no: int, cause: str, correction: str,
                   fault_codes: list[str]) -> None:
        job = self.jobs[job_no]
        job["diagnosis"] = {"cause": cause, "correction": correction, "fault_codes": list(fault_codes)}
        if job["status"] == "reported":
            job["status"] = "diagnosed"

    # -- estimate and authorization ----------------------------------------------------------

    @event(LineAdded)
    def _line_added(self, audit: Audit, line: dict[str, Any]) -> None:
        self.lines[line["line_id"]] = copy_plain(line)
        job = self.jobs[line["job_no"]]
        if job["status"] == "awaiting_qc":  # new work: the job goes back to repair
            job["status"] = "in_repair"

    @event(LineRepriced)
    def _line_repriced(self, audit: Audit, line_id: str, unit_price: Decimal, gross: Decimal,
                       vat: Decimal, reason: str | None) -> None:
        self.lines[line_id].update(unit_price=unit_price, gross=gross, vat=vat)

    @event(LineAuthorized)
    def _line_authorized(self, audit: Audit, line_id: str, decision: str, channel: str,
                         note: str | None) -> None:
        self.lines[line_id]["status"] = decision
        self.lines[line_id]["authorization"] = {
            "decision": decision, "channel": channel, "recorded_by": audit.user_id,
            "at": audit.at.isoformat(), "note": note,
        }

    # -- dispatch, clocks, completion, QC ----------------------------------------------------

    @event(JobDispatched)
    def _dispatched(self, audit: Audit, job_no: int, technician_id: str, previous: str | None,
                    reason: str | None) -> None:
        job = self.jobs[job_no]
        job["technician_id"] = technician_id
        if job["status"] in ("reported", "diagnosed"):
            job["status"] = "dispatched"
        self.status = "in_progress"

    @event(ClockedOn)
    def _clocked_on(self, audit: Audit, job_no: int, technician_id: str) -> None:
        job = self.jobs[job_no]
        job["clock"] = {"technician_id": technician_id, "since": audit.at.isoformat()}
        job["status"] = "in_repair"

    @event(ClockedOff)
    def _clocked_off(self, audit: Audit, job_no: int, technician_id: str, seconds: int) -> None:
        job = self.jobs[job_no]
        job["clock"] = None
        job["clocked_seconds"] += seconds

    @event(JobCompleted)
    def _job_completed(self, audit: Audit, job_no: int) -> None:
        self.jobs[job_no]["status"] = "awaiting_qc"

    @event(QualityChecked)
    def _quality_checked(self, audit: Audit, job_no: int, passed: bool, reason: str | None) -> None:
        job = self.jobs[job_no]
        if passed:
            job["status"] = "passed"
        else:
            job["status"] = "in_repair"
            job["qc_failures"] += 1

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
        line = self.lines[line_id]
        line["issued_qty"] += qty
        line["issued_cost"] = line.get("issued_cost", Decimal("0.00")) + cost
        line["reserved_qty"] = max(Decimal(0), line.get("reserved_qty", Decimal(0)) - qty)
        line.setdefault("picks", []).extend(dict(p) for p in picks)

    @event(PartsReturned)
    def _parts_returned(self, audit: Audit, line_id: str, qty: Decimal,
                        picks: list[dict[str, Any]], cost: Decimal, reason: str) -> None:
        line = self.lines[line_id]
        line["issued_qty"] -= qty
        line["issued_cost"] = line.get("issued_cost", Decimal("0.00")) - cost
        line["picks"] = less_returned(line.get("picks", []), picks)

    @event(BackInProgress)
    def _back_in_progress(self, audit: Audit, reason: str) -> None:
        self.status = "in_progress"

    @event(LineWithdrawn)
    def _line_withdrawn(self, audit: Audit, line_id: str, withdrawn_qty: Decimal, qty: Decimal,
                        gross: Decimal, vat: Decimal, reason: str) -> None:
        line = self.lines[line_id]
        line.update(qty=qty, gross=gross, vat=vat, reserved_qty=Decimal(0))
        if qty == 0:
            line["status"] = "declined"

    @event(LinesMoved)
    def _lines_moved(self, audit: Audit, line_ids: list[str], follow_on_id: UUID,
                     follow_on_number: str, reason: str) -> None:
        for line_id in line_ids:
            self.lines[line_id].update(status="moved", moved_to=follow_on_number,
                                       reserved_qty=Decimal(0))

    @event(LinesCarriedOver)
    def _lines_carried_over(self, audit: Audit, from_id: UUID, from_number: str,
                            lines: list[dict[str, Any]], reason: str) -> None:
        self.follow_on_of = from_number
        for line in lines:  # nothing issued here yet (what it was issued there came back)
            self.lines[line["line_id"]] = {k: v for k, v in copy_plain(line).items()
                                           if k != "picks"}

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
        self.status = "ready_for_settlement"
        self.settlement = None

    @event(Delivered)
    def _delivered(self, audit: Audit, mileage_out: int, handed_over_by: str,
                   acknowledgement: dict[str, Any], follow_up_id: UUID,
                   follow_up_due: str, customer_id: UUID | None) -> None:
        self.status = "delivered"
        self.mileage = mileage_out
        self.follow_up_id = follow_up_id

    @event(Closed)
    def _closed(self, audit: Audit, follow_up_id: UUID) -> None:
        self.status = "closed"

    # -- 三包 compensation -----------------------------------------------------------------------

    @event(CompensationRecorded)
    def _compensation_recorded(self, audit: Audit, kind: str, amount: Decimal, days: int | None,
                               reference: str | None, note: str | None) -> None:
        self.compensations = [*getattr(self, "compensations", []),
                              {"kind": kind, "amount": amount, "days": days}]

    # -- warranty serials and evidence -----------------------------------------------------

    @event(SerialsRecorded)
    def _serials_recorded(self, audit: Audit, line_id: str, fitted: list[str],
                          removed: list[dict[str, Any]], reason: str | None,
                          previous: dict[str, Any] | None) -> None:
        self.serials[line_id] = {"fitted": list(fitted), "removed": [dict(r) for r in removed]}
        self.serial_records[line_id] = self.serial_records.get(line_id, 0) + 1

    @event(EvidenceAdded)
    def _evidence_added(self, audit: Audit, evidence_id: str, job_no: int, line_id: str | None,
                        kind: str, sha256: str, media_type: str, size: int, uri: str,
                        caption: str | None) -> None:
        self.evidence.append({"evidence_id": evidence_id, "job_no": job_no, "line_id": line_id,
                              "kind": kind, "sha256": sha256, "withdrawn": False})

    @event(EvidenceWithdrawn)
    def _evidence_withdrawn(self, audit: Audit, evidence_id: str, reason: str) -> None:
        next(e for e in self.evidence if e["evidence_id"] == evidence_id)["withdrawn"] = True

    @event(CompletionCertified)
    def _completion_certified(self, audit: Audit, cert_no: str, inspector: str,
                              repair_class: str) -> None:
        self.completion_certificate = {"cert_no": cert_no, "inspector": inspector,
                                       "repair_class": repair_class}
