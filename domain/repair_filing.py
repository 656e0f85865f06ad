"""Whether a settled visit's electronic repair record (汽车维修电子健康档案) reached the national
system: one stream per visit, each upload's outcome as the person (or the uploading
integration's token) reports it.

    (none) ──filed──▶ filed ──refiled (reason)──▶ filed …
      │  ▲               ▲
    failed └──failed──┐  │
      ▼               │  │
    failed ───────────┴filed

A filed record is not filed again (409 naming the status): a correction after filing is an
explicit re-filing with the system's new receipt number and the reason. A failed upload keeps
the system's error and may be tried again as often as it fails; the record counts as unfiled
until an upload is filed.
"""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.common import Audit, IllegalTransition, InvalidInput, require, stable_id

Outcome = Literal["filed", "failed", "refiled"]
OUTCOMES = ("filed", "failed", "refiled")
MAX_RECEIPT = 64
MAX_TEXT = 500


class FilingRefused(IllegalTransition):
    """An outcome the record's filing status does not allow (HTTP 409, naming the status)."""


def _text(value: str | None, field: str, what: str, least: int, most: int) -> str:
    text = (value or "").strip()
    require(len(text) >= least, InvalidInput(
        f"{what} is required (at least {least} characters)", field=field))
    require(len(text) <= most, InvalidInput(f"{what} is at most {most} characters", field=field))
    return text


def filing_input(outcome: str, receipt_no: str | None, error: str | None,
                 reason: str | None) -> tuple[str | None, str | None, str | None]:
    """(receipt number, error, reason) as kept for this outcome; anything missing, too long or
    not belonging to the outcome is 422 naming its field (checked before anything is read)."""
    require(outcome in OUTCOMES, InvalidInput(
        f"outcome is one of {', '.join(OUTCOMES)}", field="outcome"))
    if outcome == "failed":
        require(receipt_no is None, InvalidInput(
            "a failed upload has no receipt number", field="receipt_no"))
        require(reason is None, InvalidInput(
            "a reason is for a re-filing only", field="reason"))
        return None, _text(error, "error", "the system's error", 1, MAX_TEXT), None
    require(error is None, InvalidInput(
        f"an upload {outcome} has no error", field="error"))
    receipt = _text(receipt_no, "receipt_no", "the system's receipt number", 1, MAX_RECEIPT)
    if outcome == "filed":
        require(reason is None, InvalidInput(
            "a reason is for a re-filing only (outcome refiled)", field="reason"))
        return receipt, None, None
    return receipt, None, _text(reason, "reason", "a re-filing's reason", 3, MAX_TEXT)


class RepairFiling(Aggregate):
    """A settled visit's repair record at the national system."""

    max_events = 200  # an upload failing that often is a case for a person

    class Event(Aggregate.Event):
        audit: Audit

    class Started(Event, Aggregate.Created):
        work_order_id: UUID
        work_order_number: str
        store_id: str

    class Filed(Event):
        receipt_no: str
        settlement_number: str | None

    class Failed(Event):
        error: str
        settlement_number: str | None

    class Refiled(Event):
        receipt_no: str
        previous_receipt_no: str
        reason: str
        settlement_number: str | None

    @staticmethod
    def create_id(work_order_id: UUID) -> UUID:
        return stable_id("repair-filing", work_order_id)

    @event(Started)
    def __init__(self, audit: Audit, work_order_id: UUID, work_order_number: str,
                 store_id: str, id: UUID | None = None) -> None:
        self.work_order_id = work_order_id
        self.work_order_number = work_order_number
        self.store_id = store_id
        self.status = "unfiled"  # no upload reported yet
        self.receipt_no: str | None = None
        self.error: str | None = None
        self.attempts = 0

    def refusal(self, outcome: str) -> FilingRefused:
        what = {"filed": "filed again (a correction is an outcome refiled, with a reason)",
                "failed": "reported failed (it is filed; a correction is an outcome refiled)",
                "refiled": "refiled (only a filed record is)"}[outcome]
        return FilingRefused(
            f"the repair record of {self.work_order_number} is {self.status}: it cannot be "
            f"{what}", filing_status=self.status, receipt_no=self.receipt_no)

    def record(self, audit: Audit, outcome: str, receipt_no: str | None, error: str | None,
               reason: str | None, settlement_number: str | None) -> None:
        """One upload's outcome: filed or failed while not filed; refiled only once filed."""
        receipt, why_failed, reason_kept = filing_input(outcome, receipt_no, error, reason)
        allowed = self.status == "filed" if outcome == "refiled" else self.status != "filed"
        require(allowed, self.refusal(outcome))
        if outcome == "filed":
            assert receipt is not None
            self._filed(audit, receipt, settlement_number)
        elif outcome == "failed":
            assert why_failed is not None
            self._failed(audit, why_failed, settlement_number)
        else:
            assert receipt is not None and reason_kept is not None and self.receipt_no
            self._refiled(audit, receipt, self.receipt_no, reason_kept, settlement_number)

    @event(Filed)
    def _filed(self, audit: Audit, receipt_no: str, settlement_number: str | None) -> None:
        self.status = "filed"
        self.receipt_no = receipt_no
        self.error = None
        self.attempts += 1

    @event(Failed)
    def _failed(self, audit: Audit, error: str, settlement_number: str | None) -> None:
        self.status = "failed"
        self.error = error
        self.attempts += 1

    @event(Refiled)
    def _refiled(self, audit: Audit, receipt_no: str, previous_receipt_no: str, reason: str,
                 settlement_number: str | None) -> None:
        self.receipt_no = receipt_no
        self.attempts += 1
