"""Random steps on one OemClaim aggregate (the OEM's answer to a visit's warranty claim),
checked against a reference table of which step each status allows.

Any step may be tried in any status, with good or bad input. Bad input to a rejection or a
resubmission (a blank reason, nothing said of what changed) is refused naming the field
whatever the status; otherwise a step the status does not allow is refused as an illegal
transition (409) naming the status; an approval above the claimed amount, or below it without
the OEM's reason, is refused naming the field. A refusal emits nothing and changes nothing.
The claimed amount changes only by a resubmission, an approval is at most the claimed amount,
and replaying the events after a round trip through the application's JSON mapper rebuilds the
aggregate.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from eventsourcing.domain import CanMutateAggregate
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from domain.application import ServiceCore
from domain.common import Audit, IllegalTransition, InvalidInput
from domain.integration_events import IntegrationMapper
from domain.oem_claim import OemClaim

AT = datetime(2026, 5, 1, 2, 30, tzinfo=UTC)
CLERK = Audit("clerk-1", "advisor", "S01", AT, "corr-1")
WORK_ORDER_ID = UUID("00000000-0000-4000-8000-000000000001")
MAPPER = ServiceCore().mapper  # events are stored as JSON: replay what the store gives back
# Which step each status allows: the reference the aggregate is checked against.
ALLOWED = {
    "submitted": {"reject", "approve"},
    "resubmitted": {"reject", "approve"},
    "rejected": {"resubmit"},
    "approved": set(),
}
AFTER = {"reject": "rejected", "resubmit": "resubmitted", "approve": "approved"}
AMOUNT = st.decimals(min_value=0, max_value=500, places=2)
TEXT = st.sampled_from([None, "", "  ", "ok", "OEM cut labor time", " photo added "])


def said(text: str | None) -> bool:
    return text is not None and len(text.strip()) >= 3


def state(claim: OemClaim) -> dict[str, Any]:
    return {**{k: v for k, v in vars(claim).items() if not k.startswith("_")},
            "version": claim.version}


class OemClaimMachine(RuleBasedStateMachine):
    @initialize(claimed=AMOUNT)
    def submit(self, claimed: Decimal) -> None:
        self.claim = OemClaim(audit=CLERK, work_order_id=WORK_ORDER_ID,
                              work_order_number="WO-S01-2026-000001", store_id="S01",
                              oem_claim_number="VW-1", claimed=claimed,
                              id=OemClaim.create_id(WORK_ORDER_ID))
        self.events: list[CanMutateAggregate[Any]] = list(self.claim.collect_events())
        self.status = "submitted"
        self.claimed = claimed

    def attempt(self, step: str, act: Any, bad_input: str | None) -> None:
        """`bad_input`: the field a refusal of the input names (None: the input is good)."""
        before = state(self.claim)
        try:
            act()
        except IllegalTransition as refused:
            assert step not in ALLOWED[self.status]
            assert refused.extra["claim_status"] == self.status
            assert self.status in refused.detail
        except InvalidInput as refused:
            assert bad_input is not None
            assert refused.extra["field"] == bad_input
        else:
            assert step in ALLOWED[self.status] and bad_input is None
            self.status = AFTER[step]
            new = list(self.claim.collect_events())
            assert len(new) == 1
            self.events += new
            return
        assert self.claim.collect_events() == []  # a refusal emits nothing
        assert state(self.claim) == before  # and changes nothing

    @rule(code=st.sampled_from([None, "", "R-17"]), reason=TEXT)
    def reject(self, code: str | None, reason: str | None) -> None:
        self.attempt("reject", lambda: self.claim.reject(CLERK, code, reason),
                     None if said(reason) else "reason")

    @rule(claimed=AMOUNT, changes=TEXT, number=st.sampled_from([None, "VW-2"]))
    def resubmit(self, claimed: Decimal, changes: str | None, number: str | None) -> None:
        status = self.status
        self.attempt("resubmit", lambda: self.claim.resubmit(CLERK, changes, number, claimed),
                     None if said(changes) else "changes")
        if status == "rejected" and said(changes):
            self.claimed = claimed

    @rule(amount=AMOUNT, reason=TEXT)
    def approve(self, amount: Decimal, reason: str | None) -> None:
        bad = None
        if self.status in ALLOWED and "approve" in ALLOWED[self.status]:
            if amount > self.claimed:
                bad = "approved_amount"
            elif (amount != self.claimed and not said(reason)) or (
                    reason is not None and reason.strip() and not said(reason)):
                bad = "reason"
        self.attempt("approve", lambda: self.claim.approve(CLERK, amount, reason), bad)

    @invariant()
    def the_claim_is_as_the_reference_says(self) -> None:
        assert self.claim.status == self.status
        assert self.claim.claimed == self.claimed
        if self.claim.approved_amount is not None:
            assert self.claim.approved_amount <= self.claim.claimed

    @invariant()
    def replaying_the_stored_events_rebuilds_it(self) -> None:
        replayed = None
        for event in self.events:
            replayed = MAPPER.to_domain_event(MAPPER.to_stored_event(event)).mutate(replayed)  # type: ignore[attr-defined]
        assert isinstance(replayed, OemClaim) and state(replayed) == state(self.claim)


OemClaimMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=20,
                                             deadline=None)
TestOemClaim = OemClaimMachine.TestCase


def test_the_relay_publishes_each_step_with_its_fields_on_the_money_topic() -> None:
    """Each OemClaim event is a known integration event (not the empty envelope of an
    unmapped type): `warranty_claim.<step>` on the money topic, keyed by the claim's stream."""
    claim = OemClaim(audit=CLERK, work_order_id=WORK_ORDER_ID,
                     work_order_number="WO-S01-2026-000001", store_id="S01",
                     oem_claim_number="VW-1", claimed=Decimal("150.00"),
                     id=OemClaim.create_id(WORK_ORDER_ID))
    claim.reject(CLERK, "R-17", "causal part photo missing")
    claim.resubmit(CLERK, "photo added", None, Decimal("150.00"))
    claim.approve(CLERK, Decimal("120.00"), "labor time cut")
    relay = IntegrationMapper(MAPPER)
    sent = [relay.to_message(n, MAPPER.to_stored_event(e))
            for n, e in enumerate(claim.collect_events(), start=1)]
    assert all(m is not None and m.known for m in sent)
    assert [m.type for m in sent if m] == [
        "warranty_claim.submitted", "warranty_claim.rejected", "warranty_claim.resubmitted",
        "warranty_claim.approved"]
    assert {m.topic for m in sent if m} == {"servicecore.money"}
    payloads = [json.loads(m.value)["payload"] for m in sent if m]
    assert payloads[0]["oem_claim_number"] == "VW-1" and payloads[0]["claimed"] == "150.00"
    assert payloads[1] == {"reason_code": "R-17", "reason": "causal part photo missing"}
    assert payloads[3] == {"approved_amount": "120.00", "claimed": "150.00",
                           "reason": "labor time cut"}
