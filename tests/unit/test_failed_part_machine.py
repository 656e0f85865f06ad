"""Random custody steps on one FailedPart aggregate (a failed part removed under warranty),
checked against a reference table of which step each status allows.

Any step may be tried in any status, by the parts clerk or a manager. The part is in exactly
one status of the six; a refused step (409 naming the status, 403 for a clerk's loss or
scrap without the OEM's instruction) emits nothing and changes nothing; once shipped it never
goes back to held or requested; received, scrapped and lost are final; replaying the events
after a round trip through the application's JSON mapper rebuilds the aggregate.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.domain import CanMutateAggregate
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from domain.application import ServiceCore
from domain.common import Audit, IllegalTransition, InvalidInput, NotPermitted
from domain.failed_part import FINAL, STATUSES, FailedPart, tag_of
from domain.integration_events import IntegrationMapper

AT = datetime(2026, 5, 1, 2, 30, tzinfo=UTC)
CLERK = Audit("clerk-1", "parts_clerk", "S01", AT, "corr-1")
MANAGER = Audit("mgr-1", "manager", "S01", AT, "corr-2")
WORK_ORDER_ID = UUID("00000000-0000-4000-8000-000000000003")
MAPPER = ServiceCore().mapper
# status -> step -> the status after it
ALLOWED = {
    "held": {"move": "held", "request": "requested", "scrap": "scrapped", "lose": "lost"},
    "requested": {"move": "requested", "ship": "shipped", "scrap": "scrapped", "lose": "lost"},
    "shipped": {"receive": "received_by_oem", "lose": "lost"},
    "received_by_oem": {}, "scrapped": {}, "lost": {},
}
REF = st.sampled_from(["RR-1", "SF-0042", "VW-SCRAP-7"])


def state(part: FailedPart) -> dict[str, Any]:
    return {**{k: v for k, v in vars(part).items() if not k.startswith("_")},
            "version": part.version}


def tagged() -> FailedPart:
    return FailedPart(audit=CLERK, store_id="S01", tag_number="WT-0117",
                      work_order_id=WORK_ORDER_ID, work_order_number="WO-S01-2026-000003",
                      line_id="L1", part_number="06H905110G", causal=True,
                      location="cage B2", id=FailedPart.create_id("S01", "WT-0117"))


class FailedPartMachine(RuleBasedStateMachine):
    @initialize()
    def start(self) -> None:
        self.part = tagged()
        self.events: list[CanMutateAggregate[Any]] = list(self.part.collect_events())
        self.status = "held"
        self.seen = ["held"]
        self.moves = 0

    def _try(self, step: str, audit: Audit, do: Any, denied: bool = False) -> None:
        before = state(self.part)
        try:
            do()
        except NotPermitted:
            assert denied
        except IllegalTransition as refused:
            assert not denied and step not in ALLOWED[self.status]
            assert refused.extra["custody_status"] == self.status
            assert self.status in refused.detail
        else:
            assert not denied and step in ALLOWED[self.status]
            self.status = ALLOWED[self.status][step]
            self.seen.append(self.status)
            new = list(self.part.collect_events())
            assert len(new) == 1 and new[0].audit == audit
            self.events += new
            return
        assert self.part.collect_events() == []  # a refusal emits nothing
        assert state(self.part) == before  # and changes nothing

    @rule(manager=st.booleans())
    def move(self, manager: bool) -> None:
        audit = MANAGER if manager else CLERK
        where = f"shelf {self.moves + 1}"
        self._try("move", audit, lambda: self.part.move(audit, where, None))
        if self.part.location == where:
            self.moves += 1

    @rule(ref=REF)
    def request(self, ref: str) -> None:
        self._try("request", CLERK, lambda: self.part.request_return(CLERK, ref))

    @rule(ref=REF)
    def ship(self, ref: str) -> None:
        self._try("ship", CLERK, lambda: self.part.ship(CLERK, ref, date(2026, 5, 2)))

    @rule()
    def receive(self) -> None:
        self._try("receive", CLERK, lambda: self.part.receive(CLERK, None))

    @rule(manager=st.booleans(), instructed=st.booleans())
    def scrap(self, manager: bool, instructed: bool) -> None:
        audit = MANAGER if manager else CLERK
        ref = "VW-SCRAP-7" if instructed else None
        self._try("scrap", audit, lambda: self.part.scrap(audit, ref, "worn beyond use"),
                  denied=not instructed and not manager)

    @rule(manager=st.booleans())
    def lose(self, manager: bool) -> None:
        audit = MANAGER if manager else CLERK
        self._try("lose", audit, lambda: self.part.lose(audit, "not found at the stocktake"),
                  denied=not manager)

    @invariant()
    def the_part_is_in_exactly_the_status_the_reference_says(self) -> None:
        assert self.part.status == self.status and self.part.status in STATUSES

    @invariant()
    def shipped_never_goes_back_and_final_stays_final(self) -> None:
        if "shipped" in self.seen:
            after = self.seen[self.seen.index("shipped"):]
            assert "held" not in after and "requested" not in after
        finals = [s for s in self.seen if s in FINAL]
        assert finals in ([], [self.seen[-1]])  # at most one final status, and the last

    @invariant()
    def replaying_the_stored_events_rebuilds_it(self) -> None:
        replayed = None
        for event in self.events:
            replayed = MAPPER.to_domain_event(MAPPER.to_stored_event(event)).mutate(replayed)  # type: ignore[attr-defined]
        assert isinstance(replayed, FailedPart) and state(replayed) == state(self.part)


FailedPartMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=20,
                                               deadline=None)
TestFailedPart = FailedPartMachine.TestCase


def test_bad_input_is_refused_naming_its_field_before_the_status_is_asked() -> None:
    part = tagged()
    part.lose(MANAGER, "dropped in transit")
    for step, field in ((lambda: part.move(CLERK, "  ", None), "location"),
                        (lambda: part.request_return(CLERK, ""), "request_ref"),
                        (lambda: part.ship(CLERK, None, date(2026, 5, 2)), "shipment_ref"),
                        (lambda: part.scrap(MANAGER, None, "x"), "reason"),
                        (lambda: part.lose(MANAGER, "no"), "reason")):
        with pytest.raises(InvalidInput) as refused:
            step()
        assert refused.value.extra["field"] == field
    assert part.status == "lost"


def test_a_shipment_dated_before_the_tag_or_still_to_come_is_refused() -> None:
    part = tagged()
    part.request_return(CLERK, "RR-1")
    for day in (date(2026, 4, 30), date(2026, 5, 3)):
        with pytest.raises(InvalidInput) as refused:
            part.ship(CLERK, "SF-1", day)
        assert refused.value.extra["field"] == "shipped_on"
    part.ship(CLERK, "SF-1", date(2026, 5, 1))
    assert (part.status, part.shipment_ref) == ("shipped", "SF-1")


def test_a_tag_number_is_kept_in_upper_case_without_spaces() -> None:
    assert tag_of("  wt-0117 ") == "WT-0117"
    with pytest.raises(InvalidInput) as refused:
        tag_of("WT 0117")
    assert refused.value.extra["field"] == "tag_number"
    assert FailedPart.create_id("S01", "WT-1") != FailedPart.create_id("S02", "WT-1")


def test_the_relay_publishes_each_step_with_its_fields() -> None:
    """Each FailedPart event is a known integration event on the stock topic."""
    part = tagged()
    part.move(CLERK, "returns bay", "cage full")
    part.request_return(CLERK, "RR-1")
    part.ship(CLERK, "SF-0042", date(2026, 5, 2))
    part.receive(CLERK, "VW-RCV-1")
    relay = IntegrationMapper(MAPPER)
    sent = [relay.to_message(n, MAPPER.to_stored_event(e))
            for n, e in enumerate(part.collect_events(), start=1)]
    assert all(m is not None and m.known for m in sent)
    assert [m.type for m in sent if m] == [
        "failed_part.tagged", "failed_part.moved", "failed_part.return_requested",
        "failed_part.shipped", "failed_part.received_by_oem"]
    assert {m.topic for m in sent if m} == {"servicecore.stock"}
    payloads = [json.loads(m.value)["payload"] for m in sent if m]
    assert payloads[3] == {"shipment_ref": "SF-0042", "shipped_on": "2026-05-02"}
