"""A statement's lines of money out matched to refunds, its lines of money in matched to
payments (by hand or auto-matched), and the matches taken back, in any order: a line holds at
most one refund or payment, each sits on at most the line the model says, only a manager with
a reason takes a match back, and only by the withdrawal of its own kind, a refused step records
nothing, and the events replayed give the same lines."""

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
          "counterparty": "王伟"} for n in (1, 2, 3)] + [
    {"line_no": n, "date": "2026-05-01", "amount": "100.00", "reference": f"IN-{n}",
     "counterparty": "李雷"} for n in (4, 5)]
SETTLEMENT = uuid4()
LINE = st.sampled_from([1, 2, 3, 4, 5])
REFUND = st.sampled_from(["RF-1", "RF-2"])
PAYMENT = st.sampled_from(["P-4", "P-5"])  # P-n: the bank's reference is line n's
REASON = st.sampled_from([None, "  ", "matched to the wrong line"])


class StatementMatches(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.statement = Statement(audit=FINANCE, source="bank", account="工行 1001",
                                   lines=[dict(line) for line in LINES])
        self.model: dict[int, str | None] = dict.fromkeys(self.statement.lines)
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
        ok = (self.model[line_no] is None and refund_id not in self.model.values()
              and line_no <= 3)  # a refund matches money out
        if not ok and self.model[line_no] is None and refund_id in self.model.values():
            return  # the settlement's refusal, not the statement's
        self._step(ok, self.statement.match_refund, FINANCE, line_no, SETTLEMENT,
                   {"refund_id": refund_id}, "refund by transfer")
        if ok:
            self.model[line_no] = refund_id

    @rule(line_no=LINE, payment_id=PAYMENT, manual=st.booleans())
    def match_payment(self, line_no: int, payment_id: str, manual: bool) -> None:
        # By hand any line of money in; auto-match only the line of the payment's reference.
        ok = (self.model[line_no] is None and payment_id not in self.model.values()
              and line_no >= 4 and (manual or payment_id == f"P-{line_no}"))
        if not ok and self.model[line_no] is None and payment_id in self.model.values():
            return  # the settlement's refusal, not the statement's
        payment = {"payment_id": payment_id, "amount": "100.00",
                   "provider_ref": f"IN-{payment_id[2:]}"}
        self._step(ok, self.statement.match, FINANCE, line_no, SETTLEMENT, payment, manual,
                   "same amount, same day" if manual else None)
        if ok:
            self.model[line_no] = payment_id

    @rule(line_no=LINE, reason=REASON, manager=st.booleans(), refund=st.booleans())
    def withdraw(self, line_no: int, reason: str | None, manager: bool, refund: bool) -> None:
        held = self.model[line_no]
        ok = (manager and bool((reason or "").strip()) and held is not None
              and held.startswith("RF-") == refund)
        command = (self.statement.withdraw_refund_match if refund
                   else self.statement.withdraw_payment_match)
        self._step(ok, command, MANAGER if manager else FINANCE, line_no, reason)
        if ok:
            self.model[line_no] = None

    @invariant()
    def lines_agree_with_the_model(self) -> None:
        held = {n: (line["match"] or {}).get("refund_id") or (line["match"] or {}).get(
            "payment_id") for n, line in self.statement.lines.items()}
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


StatementMatches.TestCase.settings = settings(max_examples=80, stateful_step_count=25,
                                           deadline=None)
TestStatementMatches = StatementMatches.TestCase
