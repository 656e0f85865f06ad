"""Random steps on one Grievance aggregate (a customer complaint case, 投诉), checked against a
reference table of which step each status allows.

Any step may be tried in any status. The case is in exactly one status of the five; a refused
step (409 naming the status) emits nothing and changes nothing; after a close nothing but a
reopen is taken; every step names the customer and keeps its free text sealed with their key;
replaying the events after a round trip through the application's JSON mapper rebuilds the
aggregate.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.domain import CanMutateAggregate
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from domain.application import ServiceCore
from domain.common import Audit, IllegalTransition, InvalidInput
from domain.grievance import STATUSES, Grievance
from domain.grievances import GrievanceTerms, Intake
from domain.integration_events import IntegrationMapper
from domain.pii import ERASED, MemoryKeyStore, PersonalData, is_sealed

AT = datetime(2026, 5, 1, 2, 30, tzinfo=UTC)
DESK = Audit("adv-1", "advisor", "S01", AT, "corr-1")
CUSTOMER_ID = UUID("00000000-0000-4000-8000-000000000007")
MAPPER = ServiceCore().mapper
KEYS = PersonalData(MemoryKeyStore())
# the free text of each step, by event: what the machine wrote is what the key opens
TEXT = {"Assigned": "note", "Contacted": "note", "ActionTaken": "action",
        "Resolved": "resolution", "Closed": "note", "Reopened": "reason"}


def seal(text: str) -> str:
    return KEYS.seal_with_kept_key(CUSTOMER_ID, text)


KEYS.keys.create_key(CUSTOMER_ID)
# status -> step -> the status after it
ALLOWED = {
    "registered": {"assign": "assigned"},
    "assigned": {"assign": "assigned", "contact": "in_progress", "act": "assigned"},
    "in_progress": {"assign": "in_progress", "act": "in_progress", "resolve": "resolved"},
    "resolved": {"close": "closed"},
    "closed": {"reopen": "in_progress"},
}


def state(case: Grievance) -> dict[str, Any]:
    return {**{k: v for k, v in vars(case).items() if not k.startswith("_")},
            "version": case.version}


def registered(kind: str = "complaint", severity: str = "normal") -> Grievance:
    contact_due, close_due = GrievanceTerms().due(kind, severity, AT)
    return Grievance(audit=DESK, store_id="S01", customer_id=CUSTOMER_ID, kind=kind,
                     channel="phone", category="repair_quality", severity=severity,
                     oem_case_no=None, work_order_id=None, work_order_number=None, vin=None,
                     follow_up_id=None, words="pii1:sealed", contact_due=contact_due,
                     close_due=close_due)


class GrievanceMachine(RuleBasedStateMachine):
    @initialize(kind=st.sampled_from(["complaint", "suggestion"]))
    def start(self, kind: str) -> None:
        self.case = registered(kind)
        self.events: list[CanMutateAggregate[Any]] = list(self.case.collect_events())
        self.status = "registered"
        self.seen = ["registered"]
        self.owners = 0

    def _try(self, step: str, do: Any) -> None:
        before = state(self.case)
        try:
            do()
        except IllegalTransition as refused:
            assert step not in ALLOWED[self.status]
            assert refused.extra["grievance_status"] == self.status
            assert self.status in refused.detail
        else:
            assert step in ALLOWED[self.status], (step, self.status)
            self.status = ALLOWED[self.status][step]
            self.seen.append(step)
            new = list(self.case.collect_events())
            assert len(new) == 1 and new[0].audit == DESK
            self.events += new
            return
        assert self.case.collect_events() == []  # a refusal emits nothing
        assert state(self.case) == before  # and changes nothing

    @rule()
    def assign(self) -> None:
        self.owners += 1
        self._try("assign", lambda: self.case.assign(DESK, f"csr-{self.owners}", None, seal))

    @rule(note=st.sampled_from([None, "she was upset", "  "]))
    def contact(self, note: str | None) -> None:
        self._try("contact", lambda: self.case.contact(DESK, note, seal))

    @rule()
    def act(self) -> None:
        self._try("act", lambda: self.case.act(DESK, "technician re-checked the brakes", seal))

    @rule(accepted=st.booleans())
    def resolve(self, accepted: bool) -> None:
        self._try("resolve", lambda: self.case.resolve(DESK, "pads replaced free", accepted,
                                                       seal))

    @rule(note=st.sampled_from([None, "customer confirmed on the phone"]))
    def close(self, note: str | None) -> None:
        self._try("close", lambda: self.case.close(DESK, note, seal))

    @rule()
    def reopen(self) -> None:
        self._try("reopen", lambda: self.case.reopen(DESK, "the noise came back", seal))

    @invariant()
    def the_case_is_in_exactly_the_status_the_reference_says(self) -> None:
        assert self.case.status == self.status and self.case.status in STATUSES

    @invariant()
    def after_a_close_only_a_reopen(self) -> None:
        for before, after in zip(self.seen, self.seen[1:], strict=False):
            if before == "close":
                assert after == "reopen"

    @invariant()
    def every_step_names_the_customer_and_seals_its_text(self) -> None:
        for step in self.events[1:]:
            assert step.customer_id == CUSTOMER_ID  # type: ignore[attr-defined]
            text = getattr(step, TEXT[type(step).__name__])
            assert text is None or is_sealed(text), text
            opened = KEYS.open(CUSTOMER_ID, text)
            assert opened is None or opened.strip() and opened != ERASED

    @invariant()
    def replaying_the_stored_events_rebuilds_it(self) -> None:
        replayed = None
        for event in self.events:
            replayed = MAPPER.to_domain_event(MAPPER.to_stored_event(event)).mutate(replayed)  # type: ignore[attr-defined]
        assert isinstance(replayed, Grievance) and state(replayed) == state(self.case)


GrievanceMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=25,
                                              deadline=None)
TestGrievance = GrievanceMachine.TestCase


def test_bad_input_is_refused_naming_its_field_before_the_status_is_asked() -> None:
    case = registered()
    for step, field in ((lambda: case.assign(DESK, "  ", None, seal), "owner"),
                        (lambda: case.act(DESK, "no", seal), "action"),
                        (lambda: case.resolve(DESK, "", True, seal), "resolution"),
                        (lambda: case.reopen(DESK, "x", seal), "reason")):
        with pytest.raises(InvalidInput) as refused:
            step()
        assert refused.value.extra["field"] == field
    assert case.status == "registered" and case.collect_events()[1:] == []


def test_an_intake_names_its_bad_field_and_the_oem_hotline_names_its_case() -> None:
    good = {"kind": "complaint", "channel": "phone", "category": "price",
            "severity": "normal", "words": "the bill was higher than quoted",
            "oem_case_no": None}
    for change, field in (({"kind": "praise"}, "kind"), ({"channel": "fax"}, "channel"),
                          ({"category": "food"}, "category"), ({"severity": "minor"}, "severity"),
                          ({"words": " "}, "words"), ({"channel": "oem_hotline"}, "oem_case_no")):
        with pytest.raises(InvalidInput) as refused:
            Intake.of(**{**good, **change})
        assert refused.value.extra["field"] == field
    forwarded = Intake.of(**{**good, "channel": "oem_hotline", "oem_case_no": " VW-CR-1 "})
    assert forwarded.oem_case_no == "VW-CR-1"


def test_deadlines_by_severity_and_none_for_a_suggestion() -> None:
    terms = GrievanceTerms(contact_hours=24, close_days=7, serious_close_days=3)
    assert terms.due("complaint", "normal", AT) == (AT + timedelta(hours=24),
                                                    AT + timedelta(days=7))
    assert terms.due("complaint", "serious", AT)[1] == AT + timedelta(days=3)
    assert terms.due("suggestion", "serious", AT) == (None, None)


def test_the_relay_publishes_each_step_without_the_customers_words_nor_the_notes() -> None:
    case = registered()
    case.assign(DESK, "csr-1", "the service manager's", seal)
    case.contact(DESK, "she was upset", seal)
    case.resolve(DESK, "refund of the diagnosis fee", True, seal)
    case.close(DESK, "customer confirmed", seal)
    relay = IntegrationMapper(MAPPER)
    sent = [relay.to_message(n, MAPPER.to_stored_event(e))
            for n, e in enumerate(case.collect_events(), start=1)]
    assert all(m is not None and m.known for m in sent)
    assert [m.type for m in sent if m] == [
        "grievance.registered", "grievance.assigned", "grievance.contacted",
        "grievance.resolved", "grievance.closed"]
    payloads = [json.loads(m.value)["payload"] for m in sent if m]
    assert "words" not in payloads[0] and payloads[0]["kind"] == "complaint"
    assert payloads[1:] == [{"owner": "csr-1", "previous": None}, {}, {"accepted": True}, {}]


def test_a_step_stored_before_its_text_was_sealed_reads_in_clear_naming_no_customer() -> None:
    case = registered()
    case.assign(DESK, "csr-1", None, seal)
    case.contact(DESK, None, seal)
    events = case.collect_events()
    kept = MAPPER.to_stored_event(events[-1])
    # as a v1 step was stored: its note in clear, no customer, no class_version
    state = json.loads(kept.state)
    assert state.pop("class_version") == 2 and state.pop("customer_id")
    state["note"] = "apologised on the phone"
    old = type(kept)(kept.originator_id, kept.originator_version, kept.topic,
                     json.dumps(state).encode())
    read = MAPPER.to_domain_event(old)
    assert (read.customer_id, read.note) == (None, "apologised on the phone")  # type: ignore[attr-defined]
    replayed = None
    for event in [*events[:-1], read]:
        replayed = event.mutate(replayed)  # type: ignore[attr-defined]
    assert isinstance(replayed, Grievance) and replayed.status == "in_progress"


def test_a_step_after_the_customers_erasure_keeps_no_text() -> None:
    erased = PersonalData(MemoryKeyStore())  # the customer's key deleted: none is made again
    case = registered()
    case.assign(DESK, "csr-1", "call her back",
                lambda text: erased.seal_with_kept_key(CUSTOMER_ID, text))
    assert case.collect_events()[-1].note == ERASED  # type: ignore[attr-defined]
    assert erased.keys.get_key(CUSTOMER_ID) is None
