"""Check-in, job, estimate, authorization, dispatch, clock, QC and cancellation commands."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from domain.common import (
    CUSTOMER_ROLE,
    Audit,
    InvalidInput,
    NotPermitted,
    require,
    require_reason,
)
from domain.money import money
from domain.work_order_lines import AUTH_CHANNELS, CUSTOMER_CHANNEL, priced
from domain.work_order_state import (
    ACTIVE,
    CLOSE_OUTCOMES,
    MAX_JOBS,
    MAX_LINES,
    WorkOrderError,
    WorkOrderState,
)


class WorkOrderRepair(WorkOrderState):
    """The repair commands of `WorkOrder`: each checks, then calls its event method."""

    # -- check-in and jobs -------------------------------------------------------------------

    def check_in_vehicle(self, audit: Audit, details: dict[str, Any]) -> None:
        require(self.status == "opened", WorkOrderError(f"cannot check in: work order is {self.status}"))
        if details["mileage_in"] < self.mileage:
            raise InvalidInput(f"mileage in is below the {self.mileage} km recorded at opening",
                               field="mileage_in", recorded=self.mileage)
        self._checked_in(audit, details)

    def add_job(self, audit: Audit, complaint: str) -> int:
        self._require_active()
        require(len(self.jobs) < MAX_JOBS,
                InvalidInput(f"a work order holds at most {MAX_JOBS} jobs"))
        self._job_added(audit, complaint)
        return len(self.jobs)

    def diagnose(self, audit: Audit, job_no: int, cause: str, correction: str,
                 fault_codes: list[str]) -> None:
        """Cause and correction are found on the car: from check-in on, as dispatch."""
        self._require_open_job(job_no)
        require(self.status != "opened", WorkOrderError(
            "cannot diagnose: work order is opened; check the vehicle in first"))
        self._diagnosed(audit, job_no, cause, correction, fault_codes)

    # -- estimate and authorization ----------------------------------------------------------

    def add_line(self, audit: Audit, line: dict[str, Any]) -> str:
        self._require_open_job(line["job_no"])
        require(len(self.lines) < MAX_LINES,
                InvalidInput(f"a work order holds at most {MAX_LINES} lines"))
        require(line["line_id"] == self.next_line_id(), InvalidInput("line id out of sequence"))
        self._line_added(audit, line)
        return str(line["line_id"])

    def reprice_line(self, audit: Audit, line_id: str, unit_price: object,
                     reason: str | None) -> None:
        line = self.line(line_id)
        self._require_open_job(line["job_no"])
        require(line["status"] != "declined", WorkOrderError(f"line {line_id} was declined"))
        if line["status"] == "approved":
            require(audit.role == "manager",
                    NotPermitted("changing an approved price needs the manager role"))
            reason = require_reason(reason, "changing an approved price")
        new = priced(line, money(unit_price, "unit price", field="unit_price"))
        self._line_repriced(audit, line_id, new["unit_price"], new["gross"], new["vat"], reason)

    def authorize_line(self, audit: Audit, line_id: str, decision: str, channel: str,
                       note: str | None) -> None:
        line = self.line(line_id)
        job = self._require_open_job(line["job_no"])
        if decision not in ("approved", "declined"):
            raise InvalidInput("decision must be approved or declined")
        if channel not in AUTH_CHANNELS:
            raise InvalidInput(f"channel must be one of {', '.join(AUTH_CHANNELS)}")
        require((channel == CUSTOMER_CHANNEL) == (audit.role == CUSTOMER_ROLE),
                NotPermitted("only the customer, through their progress link, decides on the "
                             f"{CUSTOMER_CHANNEL} channel, and only there"))
        if line["status"] != "pending":
            note = self._change_of_mind(line, job, decision, channel, note)
        self._line_authorized(audit, line_id, decision, channel, note)
        self._maybe_ready(audit)

    @staticmethod
    def _change_of_mind(line: dict[str, Any], job: dict[str, Any], decision: str, channel: str,
                        note: str | None) -> str:
        """The customer changed their mind on a decided line: the desk records the new decision
        (with why) while the job's work is not done; the progress page cannot change one."""
        line_id = line["line_id"]
        require(line["status"] in ("approved", "declined") and line["status"] != decision
                and channel != CUSTOMER_CHANNEL,
                WorkOrderError(f"line {line_id} is already {line['status']}"))
        require(job["status"] not in ("awaiting_qc", "passed"), WorkOrderError(
            f"line {line_id} is {line['status']} and job {job['job_no']} is done "
            f"({job['status']}): its decision can no longer change"))
        if line["kind"] == "part":
            require(line["issued_qty"] == 0, WorkOrderError(
                f"line {line_id} has {line['issued_qty']} issued: return the parts first",
                issued=str(line["issued_qty"])))
            require(line["qty"] > 0, WorkOrderError(
                f"line {line_id} was withdrawn: add the part again as a new line"))
        return require_reason(note, f"changing the decision on line {line_id}", field="note")

    # -- dispatch, clocks, completion, QC ----------------------------------------------------

    def dispatch(self, audit: Audit, job_no: int, technician_id: str, reason: str | None,
                 set_aside: list[str] | None = None) -> None:
        """`set_aside`: what a manager's override overlooks (domain/dispatch.py)."""
        job = self._require_open_job(job_no)
        require(self.status != "opened", WorkOrderError("check the vehicle in before dispatch"))
        require(self.job_is_authorized(job_no),
                WorkOrderError(f"job {job_no} needs approved lines and no pending ones"))
        previous = job["technician_id"]
        if previous is not None:
            require(previous != technician_id, WorkOrderError("job is already with that technician"))
            require(job["clock"] is None, WorkOrderError("clock off before reassigning"))
            reason = require_reason(reason, "reassigning a job")
        self._dispatched(audit, job_no, technician_id, previous, reason, list(set_aside or []))

    def close_job(self, audit: Audit, job_no: int, outcome: str, reason: str | None) -> None:
        """Close a job without repair work: no fault found, or the customer declined it. Only
        a job with no work still open (no line approved or awaiting the decision) closes."""
        if outcome not in CLOSE_OUTCOMES:
            raise InvalidInput(f"outcome must be one of {', '.join(CLOSE_OUTCOMES)}",
                               field="outcome")
        why = require_reason(reason, "closing a job")
        job = self._require_open_job(job_no)
        require(self.status != "opened", WorkOrderError(
            "cannot close a job: work order is opened; check the vehicle in first"))
        open_lines = [line["line_id"] for line in self.job_lines(job_no)
                      if line["status"] in ("approved", "pending")]
        require(not open_lines, WorkOrderError(
            f"job {job_no} has lines approved or awaiting the customer's decision: "
            f"{', '.join(open_lines)} (decline or withdraw them first)", lines=open_lines))
        require(job["clock"] is None, WorkOrderError(f"clock off job {job_no} first"))
        self._job_closed(audit, job_no, outcome, why)
        self._maybe_ready(audit)

    def clock_on(self, audit: Audit, job_no: int, technician_id: str) -> None:
        job = self._require_open_job(job_no)
        require(job["technician_id"] == technician_id,
                WorkOrderError(f"job {job_no} is not dispatched to {technician_id}"))
        require(job["status"] in ("dispatched", "in_repair"),
                WorkOrderError(f"job {job_no} is {job['status']}"))
        require(job["clock"] is None, WorkOrderError(f"job {job_no} already has an open clock"))
        require(any(line["status"] == "approved" for line in self.job_lines(job_no)),
                WorkOrderError(f"job {job_no} has no approved work: the customer declined it"))
        self._clocked_on(audit, job_no, technician_id)

    def clock_off(self, audit: Audit, job_no: int, technician_id: str) -> int:
        job = self.job(job_no)
        clock = job["clock"]
        require(clock is not None and clock["technician_id"] == technician_id,
                WorkOrderError(f"{technician_id} has no open clock on job {job_no}"))
        since = datetime.fromisoformat(clock["since"])
        seconds = max(0, int((audit.at - since).total_seconds()))
        self._clocked_off(audit, job_no, technician_id, seconds)
        return seconds

    def complete_job(self, audit: Audit, job_no: int) -> None:
        job = self._require_open_job(job_no)
        require(job["status"] == "in_repair", WorkOrderError(f"job {job_no} is {job['status']}"))
        require(job["clock"] is None, WorkOrderError("clock off before completing the job"))
        pending = [line["line_id"] for line in self.job_lines(job_no)
                   if line["status"] == "pending"]
        require(not pending, WorkOrderError(
            f"job {job_no} has lines awaiting the customer's decision: {', '.join(pending)}",
            lines=pending))
        require(self.job_is_authorized(job_no),
                WorkOrderError(f"job {job_no} has no approved work: the customer declined it"))
        short = [line["line_id"] for line in self.unissued_lines() if line["job_no"] == job_no]
        require(not short, WorkOrderError(
            f"issue the parts first, or move or withdraw the lines: {', '.join(short)}",
            lines=short))
        self._job_completed(audit, job_no)

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
