"""The work order (one service visit): check-in, jobs, estimate, authorization, repair, QC.

Public methods check the rules and raise; the decorated `_methods` only apply the change, because
their bodies re-run on every replay.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.aggregate_loads import copy_plain
from domain.common import (
    CUSTOMER_ROLE,
    Audit,
    IllegalTransition,
    InvalidInput,
    NotFound,
    NotPermitted,
    require,
    require_reason,
)
from domain.money import money
from domain.stock_state import less_returned
from domain.work_order_lines import AUTH_CHANNELS, CUSTOMER_CHANNEL, priced, totals

STATUSES = (
    "opened", "checked_in", "in_progress", "ready_for_settlement",
    "settled", "delivered", "closed", "cancelled",
)
ACTIVE = ("opened", "checked_in", "in_progress")
JOB_STATUSES = ("reported", "diagnosed", "dispatched", "in_repair", "awaiting_qc", "passed")
KINDS = ("maintenance", "repair", "warranty", "insurance", "internal", "body_paint")
COMPENSATION_KINDS = ("towing", "loaner", "travel")
# Far above any real visit (a big service is tens of lines), low enough that the work order a
# command loads, copies and saves, and the detail its view rewrites, stay small: each command
# costs time in proportion to the lines already there.
MAX_JOBS = 100
MAX_LINES = 1000
# About three times what the most lines and jobs take to estimate, approve, reserve, issue
# and repair (some 7,000 events): what the work order's own commands may add (a price changed
# again and again, a technician dispatched back and forth) ends there, so that the reads that
# replay the whole stream (`as_of`, the timeline, the claim and repair-record packages, a cold
# load) stay bounded. Settling, delivering, closing and cancelling still go through.
MAX_EVENTS = 20_000


class WorkOrderError(IllegalTransition):
    pass


class WorkOrder(Aggregate):
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
        mileage_out: int
        handed_over_by: str
        acknowledgement: dict[str, Any]
        follow_up_id: UUID
        follow_up_due: str

    class Closed(Event):
        follow_up_id: UUID

    class CompensationRecorded(Event):
        """Towing, a loaner car or travel paid for the customer on a 三包 repair visit."""

        kind: str
        amount: Decimal
        days: int | None
        reference: str | None
        note: str | None

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
        self.jobs: dict[int, dict[str, Any]] = {}
        self.lines: dict[str, dict[str, Any]] = {}
        self.settlement: dict[str, Any] | None = None
        for complaint in complaints:
            self._new_job(complaint)

    # -- check-in and jobs -------------------------------------------------------------------

    def _new_job(self, complaint: str) -> int:
        job_no = len(self.jobs) + 1
        self.jobs[job_no] = {
            "job_no": job_no, "complaint": complaint, "status": "reported", "diagnosis": None,
            "technician_id": None, "clock": None, "clocked_seconds": 0, "qc_failures": 0,
        }
        return job_no

    def _require_active(self) -> None:
        require(self.status in ACTIVE, WorkOrderError(f"work order is {self.status}"))

    def job(self, job_no: int) -> dict[str, Any]:
        if job_no not in self.jobs:  # job numbers come from URLs: an unknown one is 404
            raise NotFound(f"work order {self.number} has no job {job_no}", job_no=job_no)
        return self.jobs[job_no]

    def line(self, line_id: str) -> dict[str, Any]:
        if line_id not in self.lines:
            raise InvalidInput(f"work order has no line {line_id}")
        return self.lines[line_id]

    def check_in_vehicle(self, audit: Audit, details: dict[str, Any]) -> None:
        require(self.status == "opened", WorkOrderError(f"cannot check in: work order is {self.status}"))
        if details["mileage_in"] < self.mileage:
            raise InvalidInput(f"mileage in is below the {self.mileage} km recorded at opening")
        self._checked_in(audit, details)

    @event(CheckedIn)
    def _checked_in(self, audit: Audit, details: dict[str, Any]) -> None:
        self.check_in = dict(details)
        self.mileage = details["mileage_in"]
        self.status = "checked_in"

    def add_job(self, audit: Audit, complaint: str) -> int:
        self._require_active()
        require(len(self.jobs) < MAX_JOBS,
                InvalidInput(f"a work order holds at most {MAX_JOBS} jobs"))
        self._job_added(audit, complaint)
        return len(self.jobs)

    @event(JobAdded)
    def _job_added(self, audit: Audit, complaint: str) -> None:
        self._new_job(complaint)

    def _require_open_job(self, job_no: int) -> dict[str, Any]:
        self._require_active()
        job = self.job(job_no)
        require(job["status"] != "passed", WorkOrderError(f"job {job_no} has passed QC"))
        return job

    def diagnose(self, audit: Audit, job_no: int, cause: str, correction: str,
                 fault_codes: list[str]) -> None:
        """Cause and correction are found on the car: from check-in on, as dispatch."""
        self._require_open_job(job_no)
        require(self.status != "opened", WorkOrderError(
            "cannot diagnose: work order is opened; check the vehicle in first"))
        self._diagnosed(audit, job_no, cause, correction, fault_codes)

    @event(Diagnosed)
    def _diagnosed(self, audit: Audit, job_no: int, cause: str, correction: str,
                   fault_codes: list[str]) -> None:
        job = self.jobs[job_no]
        job["diagnosis"] = {"cause": cause, "correction": correction, "fault_codes": list(fault_codes)}
        if job["status"] == "reported":
            job["status"] = "diagnosed"

    # -- estimate and authorization ----------------------------------------------------------

    def next_line_id(self) -> str:
        return f"L{len(self.lines) + 1}"

    def add_line(self, audit: Audit, line: dict[str, Any]) -> str:
        self._require_open_job(line["job_no"])
        require(len(self.lines) < MAX_LINES,
                InvalidInput(f"a work order holds at most {MAX_LINES} lines"))
        require(line["line_id"] == self.next_line_id(), InvalidInput("line id out of sequence"))
        self._line_added(audit, line)
        return str(line["line_id"])

    @event(LineAdded)
    def _line_added(self, audit: Audit, line: dict[str, Any]) -> None:
        self.lines[line["line_id"]] = copy_plain(line)
        job = self.jobs[line["job_no"]]
        if job["status"] == "awaiting_qc":  # new work: the job goes back to repair
            job["status"] = "in_repair"

    def reprice_line(self, audit: Audit, line_id: str, unit_price: object,
                     reason: str | None) -> None:
        line = self.line(line_id)
        self._require_open_job(line["job_no"])
        require(line["status"] != "declined", WorkOrderError(f"line {line_id} was declined"))
        if line["status"] == "approved":
            require(audit.role == "manager",
                    NotPermitted("changing an approved price needs the manager role"))
            reason = require_reason(reason, "changing an approved price")
        new = priced(line, money(unit_price, "unit price"))
        self._line_repriced(audit, line_id, new["unit_price"], new["gross"], new["vat"], reason)

    @event(LineRepriced)
    def _line_repriced(self, audit: Audit, line_id: str, unit_price: Decimal, gross: Decimal,
                       vat: Decimal, reason: str | None) -> None:
        self.lines[line_id].update(unit_price=unit_price, gross=gross, vat=vat)

    def authorize_line(self, audit: Audit, line_id: str, decision: str, channel: str,
                       note: str | None) -> None:
        line = self.line(line_id)
        self._require_open_job(line["job_no"])
        require(line["status"] == "pending",
                WorkOrderError(f"line {line_id} is already {line['status']}"))
        if decision not in ("approved", "declined"):
            raise InvalidInput("decision must be approved or declined")
        if channel not in AUTH_CHANNELS:
            raise InvalidInput(f"channel must be one of {', '.join(AUTH_CHANNELS)}")
        require((channel == CUSTOMER_CHANNEL) == (audit.role == CUSTOMER_ROLE),
                NotPermitted("only the customer, through their progress link, decides on the "
                             f"{CUSTOMER_CHANNEL} channel, and only there"))
        self._line_authorized(audit, line_id, decision, channel, note)
        self._maybe_ready(audit)

    @event(LineAuthorized)
    def _line_authorized(self, audit: Audit, line_id: str, decision: str, channel: str,
                         note: str | None) -> None:
        self.lines[line_id]["status"] = decision
        self.lines[line_id]["authorization"] = {
            "decision": decision, "channel": channel, "recorded_by": audit.user_id,
            "at": audit.at.isoformat(), "note": note,
        }

    def job_lines(self, job_no: int) -> list[dict[str, Any]]:
        return [line for line in self.lines.values() if line["job_no"] == job_no]

    def job_is_authorized(self, job_no: int) -> bool:
        statuses = [line["status"] for line in self.job_lines(job_no)]
        return "approved" in statuses and "pending" not in statuses

    def job_is_declined(self, job_no: int) -> bool:
        statuses = {line["status"] for line in self.job_lines(job_no)}
        return statuses == {"declined"}

    def totals(self) -> dict[str, dict[str, Decimal]]:
        return totals(self.lines.values())

    # -- dispatch, clocks, completion, QC ----------------------------------------------------

    def dispatch(self, audit: Audit, job_no: int, technician_id: str, reason: str | None) -> None:
        job = self._require_open_job(job_no)
        require(self.status != "opened", WorkOrderError("check the vehicle in before dispatch"))
        require(self.job_is_authorized(job_no),
                WorkOrderError(f"job {job_no} needs approved lines and no pending ones"))
        previous = job["technician_id"]
        if previous is not None:
            require(previous != technician_id, WorkOrderError("job is already with that technician"))
            require(job["clock"] is None, WorkOrderError("clock off before reassigning"))
            reason = require_reason(reason, "reassigning a job")
        self._dispatched(audit, job_no, technician_id, previous, reason)

    @event(JobDispatched)
    def _dispatched(self, audit: Audit, job_no: int, technician_id: str, previous: str | None,
                    reason: str | None) -> None:
        job = self.jobs[job_no]
        job["technician_id"] = technician_id
        if job["status"] in ("reported", "diagnosed"):
            job["status"] = "dispatched"
        self.status = "in_progress"

    def clock_on(self, audit: Audit, job_no: int, technician_id: str) -> None:
        job = self._require_open_job(job_no)
        require(job["technician_id"] == technician_id,
                WorkOrderError(f"job {job_no} is not dispatched to {technician_id}"))
        require(job["status"] in ("dispatched", "in_repair"),
                WorkOrderError(f"job {job_no} is {job['status']}"))
        require(job["clock"] is None, WorkOrderError(f"job {job_no} already has an open clock"))
        self._clocked_on(audit, job_no, technician_id)

    @event(ClockedOn)
    def _clocked_on(self, audit: Audit, job_no: int, technician_id: str) -> None:
        job = self.jobs[job_no]
        job["clock"] = {"technician_id": technician_id, "since": audit.at.isoformat()}
        job["status"] = "in_repair"

    def clock_off(self, audit: Audit, job_no: int, technician_id: str) -> int:
        job = self.job(job_no)
        clock = job["clock"]
        require(clock is not None and clock["technician_id"] == technician_id,
                WorkOrderError(f"{technician_id} has no open clock on job {job_no}"))
        since = datetime.fromisoformat(clock["since"])
        seconds = max(0, int((audit.at - since).total_seconds()))
        self._clocked_off(audit, job_no, technician_id, seconds)
        return seconds

    @event(ClockedOff)
    def _clocked_off(self, audit: Audit, job_no: int, technician_id: str, seconds: int) -> None:
        job = self.jobs[job_no]
        job["clock"] = None
        job["clocked_seconds"] += seconds

    def complete_job(self, audit: Audit, job_no: int) -> None:
        job = self._require_open_job(job_no)
        require(job["status"] == "in_repair", WorkOrderError(f"job {job_no} is {job['status']}"))
        require(job["clock"] is None, WorkOrderError("clock off before completing the job"))
        require(self.job_is_authorized(job_no),
                WorkOrderError(f"job {job_no} has lines awaiting the customer's decision"))
        short = [line["line_id"] for line in self.unissued_lines() if line["job_no"] == job_no]
        require(not short, WorkOrderError(
            f"issue the parts first, or move or withdraw the lines: {', '.join(short)}",
            lines=short))
        self._job_completed(audit, job_no)

    @event(JobCompleted)
    def _job_completed(self, audit: Audit, job_no: int) -> None:
        self.jobs[job_no]["status"] = "awaiting_qc"

    def quality_check(self, audit: Audit, job_no: int, passed: bool, reason: str | None) -> None:
        job = self._require_open_job(job_no)
        require(job["status"] == "awaiting_qc",
                WorkOrderError(f"job {job_no} is {job['status']}, not awaiting QC"))
        require(not any(line["status"] == "pending" for line in self.job_lines(job_no)),
                WorkOrderError(f"job {job_no} has lines awaiting the customer's decision"))
        if not passed:
            reason = require_reason(reason, "a failed quality check")
        else:
            short = [line["line_id"] for line in self.unissued_lines()
                     if line["job_no"] == job_no]
            require(not short, WorkOrderError(
                f"a part was returned since completion; issue it again, move or withdraw the "
                f"lines before passing QC: {', '.join(short)}", lines=short))
        self._quality_checked(audit, job_no, passed, reason)
        self._maybe_ready(audit)

    @event(QualityChecked)
    def _quality_checked(self, audit: Audit, job_no: int, passed: bool, reason: str | None) -> None:
        job = self.jobs[job_no]
        if passed:
            job["status"] = "passed"
        else:
            job["status"] = "in_repair"
            job["qc_failures"] += 1

    def blockers(self) -> list[str]:
        """Why the work order is not ready for settlement (empty when it is)."""
        reasons = []
        for job_no, job in self.jobs.items():
            lines = self.job_lines(job_no)
            if any(line["status"] == "pending" for line in lines):
                reasons.append(f"job {job_no} has lines awaiting authorization")
            elif any(line["status"] == "approved" for line in lines) and job["status"] != "passed":
                reasons.append(f"job {job_no} has not passed QC")
        reasons += [self._short_line(line) for line in self.unissued_lines()]
        if not any(job["status"] == "passed" for job in self.jobs.values()):
            reasons.append("no job has passed QC")
        return reasons

    def _short_line(self, line: dict[str, Any]) -> str:
        """Why a part line holds the visit, with what can still be done about it."""
        if self.jobs[line["job_no"]]["status"] != "passed":
            return (f"part line {line['line_id']} is not fully issued (issue it, move it to a "
                    "follow-on work order or withdraw it)")
        move = " or move it to a follow-on work order" if line["issued_qty"] == 0 else ""
        return (f"part line {line['line_id']} is not fully issued since parts were returned "
                f"after job {line['job_no']} passed QC (withdraw the rest{move})")

    def _maybe_ready(self, audit: Audit) -> None:
        if self.status == "in_progress" and not self.blockers():
            self._ready(audit)

    @event(ReadyForSettlement)
    def _ready(self, audit: Audit) -> None:
        self.status = "ready_for_settlement"

    # -- cancellation ------------------------------------------------------------------------

    def cancel(self, audit: Audit, reason: str | None) -> None:
        require(self.settlement is None,
                WorkOrderError("a confirmed settlement exists: a manager reverses it first"))
        require(self.status in (*ACTIVE, "ready_for_settlement"),
                WorkOrderError(f"cannot cancel: work order is {self.status}"))
        reason = require_reason(reason, "cancelling a work order")
        issued = [lid for lid, line in self.lines.items() if line.get("issued_qty", 0) > 0]
        require(not issued, WorkOrderError(f"return the issued parts first: {', '.join(issued)}"))
        open_clocks = [no for no, job in self.jobs.items() if job["clock"] is not None]
        require(not open_clocks, WorkOrderError(f"clock off first on jobs {open_clocks}"))
        self._cancelled(audit, reason)

    @event(Cancelled)
    def _cancelled(self, audit: Audit, reason: str) -> None:
        self.status = "cancelled"


    # -- parts: supply, issue, return, withdraw, move to a follow-on work order --------------

    def unissued_lines(self) -> list[dict[str, Any]]:
        return [line for line in self.lines.values() if line["kind"] == "part"
                and line["status"] == "approved" and line["issued_qty"] < line["qty"]]

    def can_take_issues(self, line: dict[str, Any]) -> bool:
        """An approved part line lacking units whose job is still open (not past QC)."""
        return (line["status"] == "approved" and line["issued_qty"] < line["qty"]
                and self.status in ACTIVE and self.jobs[line["job_no"]]["status"] != "passed")

    def part_line(self, line_id: str) -> dict[str, Any]:
        line = self.line(line_id)
        require(line["kind"] == "part", InvalidInput(f"line {line_id} is not a part line"))
        return line

    @staticmethod
    def stock_key(work_order_id: UUID, line_id: str) -> str:
        """How the stock item names this line's reservation and issues."""
        return f"{work_order_id}:{line_id}"

    def note_supply(self, audit: Audit, line_id: str, supply: str, reserved_qty: Decimal,
                    available: Decimal) -> None:
        self._part_supply(audit, line_id, supply, reserved_qty, available)

    @event(PartSupply)
    def _part_supply(self, audit: Audit, line_id: str, supply: str, reserved_qty: Decimal,
                     available: Decimal) -> None:
        self.lines[line_id].update(supply=supply, reserved_qty=reserved_qty)

    def check_issue(self, line_id: str, qty: Decimal) -> dict[str, Any]:
        line = self.part_line(line_id)
        self._require_open_job(line["job_no"])
        require(line["status"] == "approved",
                WorkOrderError(f"line {line_id} is {line['status']}, not approved"))
        left = line["qty"] - line["issued_qty"]
        if qty > left:
            raise WorkOrderError(f"line {line_id} needs only {left} more", outstanding=str(left))
        return line

    def record_issue(self, audit: Audit, line_id: str, qty: Decimal,
                     picks: list[dict[str, Any]], cost: Decimal) -> None:
        self.check_issue(line_id, qty)
        self._parts_issued(audit, line_id, qty, picks, cost)

    @event(PartsIssued)
    def _parts_issued(self, audit: Audit, line_id: str, qty: Decimal,
                      picks: list[dict[str, Any]], cost: Decimal) -> None:
        line = self.lines[line_id]
        line["issued_qty"] += qty
        line["issued_cost"] = line.get("issued_cost", Decimal("0.00")) + cost
        line["reserved_qty"] = max(Decimal(0), line.get("reserved_qty", Decimal(0)) - qty)
        line.setdefault("picks", []).extend(dict(p) for p in picks)

    def check_return(self, line_id: str, qty: Decimal) -> dict[str, Any]:
        line = self.part_line(line_id)
        require(self.status in (*ACTIVE, "ready_for_settlement") and self.settlement is None,
                WorkOrderError(f"work order is {self.status}"
                               f"{' under settlement' if self.settlement else ''}; "
                               "its issues are frozen"))
        if qty > line["issued_qty"]:
            raise WorkOrderError(f"only {line['issued_qty']} was issued to line {line_id}",
                                 issued=str(line["issued_qty"]))
        return line

    def record_return(self, audit: Audit, line_id: str, qty: Decimal,
                      picks: list[dict[str, Any]], cost: Decimal, reason: str) -> None:
        self.check_return(line_id, qty)
        self._parts_returned(audit, line_id, qty, picks, cost, reason)
        if self.status == "ready_for_settlement":
            self._back_in_progress(audit, f"parts returned from line {line_id}: {reason}")

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

    def withdraw_line(self, audit: Audit, line_id: str, reason: str | None) -> Decimal:
        """The customer no longer wants the part (or what is still missing of it)."""
        line = self.part_line(line_id)
        self._require_active()
        require(line["status"] == "approved",
                WorkOrderError(f"line {line_id} is {line['status']}, not approved"))
        withdrawn = line["qty"] - line["issued_qty"]
        require(withdrawn > 0, WorkOrderError(f"line {line_id} is fully issued; return it first"))
        kept = line["issued_qty"]
        new = priced({**line, "qty": kept}, line["unit_price"])
        self._line_withdrawn(audit, line_id, withdrawn, kept, new["gross"], new["vat"],
                             require_reason(reason, "withdrawing an approved line"))
        self._maybe_ready(audit)
        return withdrawn  # type: ignore[no-any-return]

    @event(LineWithdrawn)
    def _line_withdrawn(self, audit: Audit, line_id: str, withdrawn_qty: Decimal, qty: Decimal,
                        gross: Decimal, vat: Decimal, reason: str) -> None:
        line = self.lines[line_id]
        line.update(qty=qty, gross=gross, vat=vat, reserved_qty=Decimal(0))
        if qty == 0:
            line["status"] = "declined"

    def lines_to_move(self, line_ids: list[str]) -> list[dict[str, Any]]:
        self._require_active()
        require(bool(line_ids), InvalidInput("name the lines to move"))
        lines = []
        for line_id in dict.fromkeys(line_ids):
            line = self.line(line_id)
            require(line["status"] == "approved",
                    WorkOrderError(f"line {line_id} is {line['status']}, not approved"))
            require(line.get("issued_qty", 0) == 0,
                    WorkOrderError(f"line {line_id} has issued parts; return them first"))
            lines.append(line)
        return lines

    def move_lines(self, audit: Audit, line_ids: list[str], follow_on_id: UUID,
                   follow_on_number: str, reason: str) -> None:
        self.lines_to_move(line_ids)
        self._lines_moved(audit, list(dict.fromkeys(line_ids)), follow_on_id, follow_on_number,
                          reason)
        self._maybe_ready(audit)

    @event(LinesMoved)
    def _lines_moved(self, audit: Audit, line_ids: list[str], follow_on_id: UUID,
                     follow_on_number: str, reason: str) -> None:
        for line_id in line_ids:
            self.lines[line_id].update(status="moved", moved_to=follow_on_number,
                                       reserved_qty=Decimal(0))

    def carry_over(self, audit: Audit, from_id: UUID, from_number: str,
                   lines: list[dict[str, Any]], reason: str) -> None:
        """Copy approved lines from the work order they were moved off (jobs by complaint)."""
        copied: list[dict[str, Any]] = []
        for line in lines:
            job_no = next(no for no, job in self.jobs.items()
                          if job["complaint"] == line["complaint"])
            copied.append({k: v for k, v in line.items() if k != "complaint"}
                          | {"line_id": f"L{len(self.lines) + len(copied) + 1}", "job_no": job_no,
                             "issued_qty": Decimal(0), "reserved_qty": Decimal(0),
                             "supply": "back_order" if line["kind"] == "part" else None,
                             "moved_from": from_number})
        self._lines_carried_over(audit, from_id, from_number, copied, reason)

    @event(LinesCarriedOver)
    def _lines_carried_over(self, audit: Audit, from_id: UUID, from_number: str,
                            lines: list[dict[str, Any]], reason: str) -> None:
        self.follow_on_of = from_number
        for line in lines:  # nothing issued here yet (what it was issued there came back)
            self.lines[line["line_id"]] = {k: v for k, v in copy_plain(line).items()
                                           if k != "picks"}

    # -- settlement, delivery, closing -------------------------------------------------------

    def confirm_settlement(self, audit: Audit, settlement_id: UUID, number: str) -> None:
        require(self.status == "ready_for_settlement",
                WorkOrderError(f"work order is {self.status}, not ready for settlement",
                               blockers=self.blockers()))
        require(self.settlement is None, WorkOrderError("a settlement is already confirmed"))
        self._settlement_confirmed(audit, settlement_id, number)

    @event(SettlementConfirmed)
    def _settlement_confirmed(self, audit: Audit, settlement_id: UUID, number: str) -> None:
        self.settlement = {"id": settlement_id, "number": number}

    def settle(self, audit: Audit, settlement_id: UUID, number: str,
               customer_total: Decimal) -> None:
        require(self.status == "ready_for_settlement" and self.settlement is not None,
                WorkOrderError(f"work order is {self.status}"))
        self._settled(audit, settlement_id, number, customer_total)

    @event(Settled)
    def _settled(self, audit: Audit, settlement_id: UUID, number: str,
                 customer_total: Decimal) -> None:
        self.status = "settled"

    def reverse_settlement(self, audit: Audit, number: str, reason: str) -> None:
        require(self.status in ("ready_for_settlement", "settled") and self.settlement is not None,
                WorkOrderError(f"work order is {self.status}: a delivered visit's settlement "
                               "is corrected by a new document, not reversed"))
        self._settlement_reversed(audit, number, reason)

    @event(SettlementReversed)
    def _settlement_reversed(self, audit: Audit, number: str, reason: str) -> None:
        self.status = "ready_for_settlement"
        self.settlement = None

    def deliver(self, audit: Audit, mileage_out: int, handed_over_by: str,
                acknowledgement: dict[str, Any], follow_up_id: UUID, follow_up_due: str) -> None:
        require(self.status == "settled",
                WorkOrderError(f"work order is {self.status}; delivery follows settlement"))
        if mileage_out < self.mileage:
            raise InvalidInput(f"mileage out is below the {self.mileage} km at check-in")
        self._delivered(audit, mileage_out, handed_over_by, acknowledgement, follow_up_id,
                        follow_up_due)

    @event(Delivered)
    def _delivered(self, audit: Audit, mileage_out: int, handed_over_by: str,
                   acknowledgement: dict[str, Any], follow_up_id: UUID,
                   follow_up_due: str) -> None:
        self.status = "delivered"
        self.mileage = mileage_out
        self.follow_up_id = follow_up_id

    def close(self, audit: Audit, follow_up_id: UUID) -> None:
        require(self.status == "delivered",
                WorkOrderError(f"work order is {self.status}; it closes after delivery"))
        self._closed(audit, follow_up_id)

    @event(Closed)
    def _closed(self, audit: Audit, follow_up_id: UUID) -> None:
        self.status = "closed"

    # -- 三包 compensation -----------------------------------------------------------------------

    def record_compensation(self, audit: Audit, kind: str, amount: object, days: int | None,
                            reference: str | None, note: str | None) -> None:
        """What the visit cost the customer and the shop paid: towing in, a loaner car (with
        its days), travel; recorded on the visit's repair record, after delivery too."""
        require(self.status != "cancelled", WorkOrderError("work order is cancelled"))
        if kind not in COMPENSATION_KINDS:
            raise InvalidInput(f"kind must be one of {', '.join(COMPENSATION_KINDS)}")
        value = money(amount, "compensation")
        require(value > 0, InvalidInput("a compensation must be positive"))
        if days is not None and kind != "loaner":
            raise InvalidInput("days go with a loaner car")
        if days is not None and days < 1:
            raise InvalidInput("a loaner car is lent for at least 1 day")
        self._compensation_recorded(audit, kind, value, days, (reference or "").strip() or None,
                                    (note or "").strip() or None)

    @event(CompensationRecorded)
    def _compensation_recorded(self, audit: Audit, kind: str, amount: Decimal, days: int | None,
                               reference: str | None, note: str | None) -> None:
        self.compensations = [*getattr(self, "compensations", []),
                              {"kind": kind, "amount": amount, "days": days}]
