"""A statement's lines of money out matched to refunds and the matches taken back, in any
order: a line holds at most one refund, a refund sits on at most the line the model says, only
a manager with a reason takes a match back, a refused step records nothing, and the events
replayed give the same lines."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from domain.common import Audit, DomainError
from domain.reconciliation import Statement

FINANCE = Audit("fin-1", "finance", "S01", datetime(2026, 5, 31, 9, tzinfo=UTC), "corr")
MANAGER = Audit("mgr-1", "manager", "S01", datetime(2026, 5, 31, 10, tzinfo=UTC), "corr")
LINES = [{"line_no": n, "date": "2026-05-01", "amount": "-50.00", "reference": f"OUT-{n}",
          "counterparty": "王伟"} for n in (1, 2, 3)]
SETTLEMENT = uuid4()
LINE = st.sampled_from([1, 2, 3])
REFUND = st.sampled_from(["RF-1", "RF-2"])
REASON = st.sampled_from([None, "  ", "matched to the wrong line"])


class RefundMatches(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.statement = Statement(audit=FINANCE, source="bank", account="工行 1001",
                                   lines=[dict(line) for line in LINES])
        self.model: dict[int, str | None] = {1: None, 2: None, 3: None}
        self.events = list(self.statement.collect_events())

    def _step(self, expect_ok: bool, command: object, *args: object) -> None:
        try:
            command(*args)  # type: ignore[operator]
        except DomainError:
            assert not expect_ok
            assert self.statement.collect_events() == []  # refused: nothing recorded
            return
        assert expect_ok
        self.events += self.statement.collect_events()

    @rule(line_no=LINE, refund_id=REFUND)
    def match(self, line_no: int, refund_id: str) -> None:
        # The settlement refuses a refund matched twice; the model keeps it to one line.
        ok = self.model[line_no] is None and refund_id not in self.model.values()
        if not ok and self.model[line_no] is None:
            return  # the settlement's refusal, not the statement's
        self._step(ok, self.statement.match_refund, FINANCE, line_no, SETTLEMENT,
                   {"refund_id": refund_id}, "refund by transfer")
        if ok:
            self.model[line_no] = refund_id

    @rule(line_no=LINE, reason=REASON, manager=st.booleans())
    def withdraw(self, line_no: int, reason: str | None, manager: bool) -> None:
        ok = manager and bool((reason or "").strip()) and self.model[line_no] is not None
        self._step(ok, self.statement.withdraw_refund_match, MANAGER if manager else FINANCE,
                   line_no, reason)
        if ok:
            self.model[line_no] = None

    @invariant()
    def lines_agree_with_the_model(self) -> None:
        held = {n: (line["match"] or {}).get("refund_id")
                for n, line in self.statement.lines.items()}
        assert held == self.model
        matched = [r for r in held.values() if r is not None]
        assert len(matched) == len(set(matched))

    @invariant()
    def the_events_replayed_give_the_same_lines(self) -> None:
        replayed = None
        for e in self.events:
            replayed = e.mutate(replayed)
        assert isinstance(replayed, Statement)
        assert replayed.lines == self.statement.lines


RefundMatches.TestCase.settings = settings(max_examples=60, stateful_step_count=25,
                                           deadline=None)
TestRefundMatches = RefundMatches.TestCase
