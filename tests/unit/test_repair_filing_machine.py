"""Random upload outcomes on one RepairFiling aggregate (a settled visit's repair record at the
national system), checked against a reference table of which outcome each status allows.

Any outcome may be reported in any status, with good or bad input. Bad input (a missing
receipt number, error or reason, a field that is not the outcome's) is refused naming the
field whatever the status; otherwise `filed` and `failed` are allowed while the record is not
filed, `refiled` only once it is, and anything else is an illegal transition (409) naming the
status. A refusal emits nothing and changes nothing. Once filed a record stays filed; the
receipt number changes only by a re-filing; replaying the events after a round trip through
the application's JSON mapper rebuilds the aggregate.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import CanMutateAggregate
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from domain.application import ServiceCore
from domain.common import Audit, IllegalTransition, InvalidInput
from domain.integration_events import IntegrationMapper
from domain.repair_filing import RepairFiling

AT = datetime(2026, 5, 1, 2, 30, tzinfo=UTC)
DESK = Audit("adv-1", "advisor", "S01", AT, "corr-1")
WORK_ORDER_ID = UUID("00000000-0000-4000-8000-000000000002")
MAPPER = ServiceCore().mapper
ALLOWED = {"unfiled": {"filed", "failed"}, "failed": {"filed", "failed"}, "filed": {"refiled"}}
AFTER = {"filed": "filed", "failed": "failed", "refiled": "filed"}
TEXT = st.sampled_from([None, "", "  ", "ok", "E42 plate format", " JT-0001 "])


def said(text: str | None, least: int = 1) -> bool:
    return text is not None and len(text.strip()) >= least


def bad_field(outcome: str, receipt_no: str | None, error: str | None,
              reason: str | None) -> str | None:
    """The field the reference refuses first, or None when the input is good."""
    if outcome == "failed":
        if receipt_no is not None:
            return "receipt_no"
        if reason is not None:
            return "reason"
        return None if said(error) else "error"
    if error is not None:
        return "error"
    if not said(receipt_no):
        return "receipt_no"
    if outcome == "filed":
        return None if reason is None else "reason"
    return None if said(reason, 3) else "reason"


def state(filing: RepairFiling) -> dict[str, Any]:
    return {**{k: v for k, v in vars(filing).items() if not k.startswith("_")},
            "version": filing.version}


def started() -> RepairFiling:
    return RepairFiling(audit=DESK, work_order_id=WORK_ORDER_ID,
                        work_order_number="WO-S01-2026-000001", store_id="S01",
                        id=RepairFiling.create_id(WORK_ORDER_ID))


class RepairFilingMachine(RuleBasedStateMachine):
    @initialize()
    def start(self) -> None:
        self.filing = started()
        self.events: list[CanMutateAggregate[Any]] = list(self.filing.collect_events())
        self.status = "unfiled"
        self.receipt: str | None = None
        self.attempts = 0

    @rule(outcome=st.sampled_from(["filed", "failed", "refiled"]), receipt_no=TEXT, error=TEXT,
          reason=TEXT)
    def report(self, outcome: str, receipt_no: str | None, error: str | None,
               reason: str | None) -> None:
        bad = bad_field(outcome, receipt_no, error, reason)
        before = state(self.filing)
        try:
            self.filing.record(DESK, outcome, receipt_no, error, reason, "SET-S01-2026-000001")
        except InvalidInput as refused:
            assert bad is not None and refused.extra["field"] == bad
        except IllegalTransition as refused:
            assert bad is None and outcome not in ALLOWED[self.status]
            assert refused.extra["filing_status"] == self.status
            assert self.status in refused.detail
        else:
            assert bad is None and outcome in ALLOWED[self.status]
            self.status = AFTER[outcome]
            self.attempts += 1
            if outcome != "failed":
                assert receipt_no is not None
                self.receipt = receipt_no.strip()
            new = list(self.filing.collect_events())
            assert len(new) == 1
            self.events += new
            return
        assert self.filing.collect_events() == []  # a refusal emits nothing
        assert state(self.filing) == before  # and changes nothing

    @invariant()
    def the_filing_is_as_the_reference_says(self) -> None:
        assert (self.filing.status, self.filing.receipt_no, self.filing.attempts) == (
            self.status, self.receipt, self.attempts)
        assert (self.filing.error is None) == (self.status != "failed")

    @invariant()
    def replaying_the_stored_events_rebuilds_it(self) -> None:
        replayed = None
        for event in self.events:
            replayed = MAPPER.to_domain_event(MAPPER.to_stored_event(event)).mutate(replayed)  # type: ignore[attr-defined]
        assert isinstance(replayed, RepairFiling) and state(replayed) == state(self.filing)


RepairFilingMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=20,
                                                 deadline=None)
TestRepairFiling = RepairFilingMachine.TestCase


def test_a_filed_record_is_not_filed_again_but_refiled_with_a_reason() -> None:
    filing = started()
    filing.record(DESK, "failed", None, "HTTP 502", None, "SET-1")
    filing.record(DESK, "filed", "JT-1", None, None, "SET-1")
    try:
        filing.record(DESK, "filed", "JT-2", None, None, "SET-1")
    except IllegalTransition as refused:
        assert refused.extra == {"filing_status": "filed", "receipt_no": "JT-1"}
    else:
        raise AssertionError("a filed record was filed again")
    filing.record(DESK, "refiled", "JT-2", None, "mileage corrected", "SET-1")
    assert (filing.status, filing.receipt_no, filing.attempts) == ("filed", "JT-2", 3)


def test_the_relay_publishes_each_outcome_with_its_fields() -> None:
    """Each RepairFiling event is a known integration event on the aftercare topic."""
    filing = started()
    filing.record(DESK, "failed", None, "HTTP 502", None, "SET-1")
    filing.record(DESK, "filed", "JT-1", None, None, "SET-1")
    filing.record(DESK, "refiled", "JT-2", None, "mileage corrected", "SET-1")
    relay = IntegrationMapper(MAPPER)
    sent = [relay.to_message(n, MAPPER.to_stored_event(e))
            for n, e in enumerate(filing.collect_events(), start=1)]
    assert all(m is not None and m.known for m in sent)
    assert [m.type for m in sent if m] == [
        "repair_record_filing.started", "repair_record_filing.failed",
        "repair_record_filing.filed", "repair_record_filing.refiled"]
    assert {m.topic for m in sent if m} == {"servicecore.aftercare"}
    payloads = [json.loads(m.value)["payload"] for m in sent if m]
    assert payloads[3] == {"receipt_no": "JT-2", "previous_receipt_no": "JT-1",
                           "reason": "mileage corrected", "settlement_number": "SET-1"}
