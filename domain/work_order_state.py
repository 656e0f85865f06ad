"""What every work-order command reads: its errors, limits, jobs, lines and readiness."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any
from uuid import UUID

from domain.common import Audit, IllegalTransition, InvalidInput, NotFound, require
from domain.work_order_lines import totals

STATUSES = (
    "opened", "checked_in", "in_progress", "ready_for_settlement",
    "settled", "delivered", "closed", "cancelled",
)
ACTIVE = ("opened", "checked_in", "in_progress")
JOB_STATUSES = ("reported", "diagnosed", "dispatched", "in_repair", "awaiting_qc", "passed",
                "closed")
# how a job ends without repair work (`WorkOrder.close_job`): nothing wrong was found, or the
# customer declined the work
CLOSE_OUTCOMES = ("no_fault_found", "declined")
DONE = ("passed", "closed")  # a job's ends: through QC, or closed without repair work
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


class WorkOrderState:
    """What `WorkOrder` keeps (set by its `__init__`), and the queries its commands share."""

    number: str
    customer_id: UUID
    mileage: int
    status: str
    jobs: dict[int, dict[str, Any]]
    lines: dict[str, dict[str, Any]]
    settlement: dict[str, Any] | None
    # Defined by `WorkOrder`: the event methods the commands call.
    _checked_in: Callable[..., None]
    _job_added: Callable[..., None]
    _diagnosed: Callable[..., None]
    _line_added: Callable[..., None]
    _line_repriced: Callable[..., None]
    _line_authorized: Callable[..., None]
    _dispatched: Callable[..., None]
    _job_closed: Callable[..., None]
    _clocked_on: Callable[..., None]
    _clocked_off: Callable[..., None]
    _job_completed: Callable[..., None]
    _quality_checked: Callable[..., None]
    _ready: Callable[..., None]
    _cancelled: Callable[..., None]
    _part_supply: Callable[..., None]
    _parts_issued: Callable[..., None]
    _parts_returned: Callable[..., None]
    _back_in_progress: Callable[..., None]
    _line_withdrawn: Callable[..., None]
    _lines_moved: Callable[..., None]
    _lines_carried_over: Callable[..., None]
    _settlement_confirmed: Callable[..., None]
    _settled: Callable[..., None]
    _settlement_reversed: Callable[..., None]
    _delivered: Callable[..., None]
    _closed: Callable[..., None]
    _compensation_recorded: Callable[..., None]
    serial_count: Callable[[str], int]  # WorkOrderEvidence's

    # -- jobs and lines ----------------------------------------------------------------------

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

    def _require_open_job(self, job_no: int) -> dict[str, Any]:
        self._require_active()
        job = self.job(job_no)
        require(job["status"] != "passed", WorkOrderError(f"job {job_no} has passed QC"))
        if job["status"] == "closed":
            raise WorkOrderError(f"job {job_no} is closed ({job['closure']['outcome']})",
                                 job_no=job_no)
        return job

    def next_line_id(self) -> str:
        return f"L{len(self.lines) + 1}"

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

    # -- readiness for settlement ------------------------------------------------------------

    def unissued_lines(self) -> list[dict[str, Any]]:
        return [line for line in self.lines.values() if line["kind"] == "part"
                and line["status"] == "approved" and line["issued_qty"] < line["qty"]]

    def blockers(self) -> list[str]:
        """Why the work order is not ready for settlement (empty when it is)."""
        reasons = []
        for job_no, job in self.jobs.items():
            lines = self.job_lines(job_no)
            if job["status"] == "closed":
                continue
            if not lines:
                reasons.append(f"job {job_no} is {job['status']} with no estimate lines "
                               "(estimate it, or close it as no fault found or declined)")
            elif any(line["status"] == "pending" for line in lines):
                reasons.append(f"job {job_no} has lines awaiting authorization")
            elif any(line["status"] == "approved" for line in lines) and job["status"] != "passed":
                reasons.append(f"job {job_no} has not passed QC")
        reasons += [self._short_line(line) for line in self.unissued_lines()]
        if not any(job["status"] in DONE for job in self.jobs.values()):
            reasons.append("no job has passed QC or been closed")
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
        """Ready for settlement once nothing holds the visit: a visit whose jobs were all
        closed without repair work gets there from check-in, never having been dispatched."""
        if self.status in ("checked_in", "in_progress") and not self.blockers():
            self._ready(audit)
