"""What each work-order event changes in the work order's state, and how an old event is read.

`WorkOrderChanges` is a base of `WorkOrder` (domain/work_order.py): its event methods, whose
bodies re-run on every replay, apply the change through these methods; nothing here checks a
rule or raises. The upcasters read an event stored before its class's current version.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from domain.aggregate_loads import copy_plain
from domain.common import Audit
from domain.stock_state import less_returned
from domain.work_order_state import WorkOrderState


def line_added_v1_v2(state: dict[str, Any]) -> None:
    """`LineAdded` v2: a warranty line's details carry `deductible`, a labor line `sublet`."""
    if state["line"].get("warranty") is not None:
        state["line"]["warranty"].setdefault("deductible", None)
    if state["line"].get("kind") == "labor":
        state["line"].setdefault("sublet", None)


def delivered_v1_v2(state: dict[str, Any]) -> None:
    """`Delivered` v2 names the customer whose key seals the acknowledgement; v1 named none."""
    state["customer_id"] = None


def dispatched_v1_v2(state: dict[str, Any]) -> None:
    """`JobDispatched` v2 names what an override set aside; a v1 dispatch named none."""
    state["set_aside"] = []


class WorkOrderChanges(WorkOrderState):
    """The state changes of `WorkOrder`'s events (called only by its event methods)."""

    # -- opening, check-in and jobs ----------------------------------------------------------

    def _start(self, audit: Audit, number: str, customer_id: UUID, customer: dict[str, Any],
               vehicle: dict[str, Any], mileage: int, kind: str, appointment_id: str | None,
               complaints: list[str]) -> None:
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

    def _check_in(self, audit: Audit, details: dict[str, Any]) -> None:
        self.check_in = dict(details)
        self.checked_in_at = audit.at
        self.mileage = details["mileage_in"]
        self.status = "checked_in"

    def _diagnosis(self, job_no: int, cause: str, correction: str, fault_codes: list[str]) -> None:
        job = self.jobs[job_no]
        job["diagnosis"] = {"cause": cause, "correction": correction, "fault_codes": list(fault_codes)}
        if job["status"] == "reported":
            job["status"] = "diagnosed"

    # -- estimate and authorization ----------------------------------------------------------

    def _new_line(self, line: dict[str, Any]) -> None:
        self.lines[line["line_id"]] = copy_plain(line)
        job = self.jobs[line["job_no"]]
        if job["status"] == "awaiting_qc":  # new work: the job goes back to repair
            job["status"] = "in_repair"

    def _authorization(self, audit: Audit, line_id: str, decision: str, channel: str,
                       note: str | None) -> None:
        self.lines[line_id]["status"] = decision
        self.lines[line_id]["authorization"] = {
            "decision": decision, "channel": channel, "recorded_by": audit.user_id,
            "at": audit.at.isoformat(), "note": note,
        }

    # -- dispatch, clocks, QC ----------------------------------------------------------------

    def _dispatch(self, job_no: int, technician_id: str) -> None:
        job = self.jobs[job_no]
        job["technician_id"] = technician_id
        if job["status"] in ("reported", "diagnosed"):
            job["status"] = "dispatched"
        self.status = "in_progress"

    def _closure(self, audit: Audit, job_no: int, outcome: str, reason: str) -> None:
        job = self.jobs[job_no]
        job["status"] = "closed"
        job["closure"] = {"outcome": outcome, "reason": reason, "by": audit.user_id,
                          "at": audit.at.isoformat()}

    def _clock_on(self, audit: Audit, job_no: int, technician_id: str) -> None:
        job = self.jobs[job_no]
        job["clock"] = {"technician_id": technician_id, "since": audit.at.isoformat()}
        job["status"] = "in_repair"

    def _clock_off(self, job_no: int, seconds: int) -> None:
        job = self.jobs[job_no]
        job["clock"] = None
        job["clocked_seconds"] += seconds

    def _quality_check(self, job_no: int, passed: bool) -> None:
        job = self.jobs[job_no]
        if passed:
            job["status"] = "passed"
        else:
            job["status"] = "in_repair"
            job["qc_failures"] += 1

    # -- parts: issue, return, withdraw, move to a follow-on work order ----------------------

    def _issue(self, line_id: str, qty: Decimal, picks: list[dict[str, Any]],
               cost: Decimal) -> None:
        line = self.lines[line_id]
        line["issued_qty"] += qty
        line["issued_cost"] = line.get("issued_cost", Decimal("0.00")) + cost
        line["reserved_qty"] = max(Decimal(0), line.get("reserved_qty", Decimal(0)) - qty)
        line.setdefault("picks", []).extend(dict(p) for p in picks)

    def _return(self, line_id: str, qty: Decimal, picks: list[dict[str, Any]],
                cost: Decimal) -> None:
        line = self.lines[line_id]
        line["issued_qty"] -= qty
        line["issued_cost"] = line.get("issued_cost", Decimal("0.00")) - cost
        line["picks"] = less_returned(line.get("picks", []), picks)

    def _withdrawal(self, line_id: str, qty: Decimal, gross: Decimal, vat: Decimal) -> None:
        line = self.lines[line_id]
        line.update(qty=qty, gross=gross, vat=vat, reserved_qty=Decimal(0))
        if qty == 0:
            line["status"] = "declined"

    def _move(self, line_ids: list[str], follow_on_number: str) -> None:
        for line_id in line_ids:
            self.lines[line_id].update(status="moved", moved_to=follow_on_number,
                                       reserved_qty=Decimal(0))

    def _carry_over(self, from_number: str, lines: list[dict[str, Any]]) -> None:
        self.follow_on_of = from_number
        for line in lines:  # nothing issued here yet (what it was issued there came back)
            self.lines[line["line_id"]] = {k: v for k, v in copy_plain(line).items()
                                           if k != "picks"}

    # -- settlement, delivery, 三包 compensation, serials, evidence, certificate ------------------

    def _reversal(self) -> None:
        self.status = "ready_for_settlement"
        self.settlement = None

    def _delivery(self, mileage_out: int, follow_up_id: UUID) -> None:
        self.status = "delivered"
        self.mileage = mileage_out
        self.follow_up_id = follow_up_id

    def _compensation(self, kind: str, amount: Decimal, days: int | None) -> None:
        self.compensations = [*getattr(self, "compensations", []),
                              {"kind": kind, "amount": amount, "days": days}]

    def _serials(self, line_id: str, fitted: list[str], removed: list[dict[str, Any]]) -> None:
        self.serials[line_id] = {"fitted": list(fitted), "removed": [dict(r) for r in removed]}
        self.serial_records[line_id] = self.serial_records.get(line_id, 0) + 1

    def _new_evidence(self, evidence_id: str, job_no: int, line_id: str | None, kind: str,
                      sha256: str) -> None:
        self.evidence.append({"evidence_id": evidence_id, "job_no": job_no, "line_id": line_id,
                              "kind": kind, "sha256": sha256, "withdrawn": False})

    def _certificate(self, cert_no: str, inspector: str, repair_class: str) -> None:
        self.completion_certificate = {"cert_no": cert_no, "inspector": inspector,
                                       "repair_class": repair_class}
