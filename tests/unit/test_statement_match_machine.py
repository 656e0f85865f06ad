"""A statement's lines of money out matched to refunds (by hand or auto-matched), its lines of
money in matched to payments (by hand or auto-matched), and the matches taken back, in any
order: a line holds at most one refund or payment, each sits on at most the line the model
says, a refund is never matched twice (the settlement's side agrees with the statement's), a
refund auto-matched pays exactly its line (money balances), only a manager with a reason takes
a match back, and only by the withdrawal of its own kind, a refused step records nothing, and
the events replayed give the same lines."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import uuid4

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from domain.common import Audit, DomainError
from domain.reconciliation import Statement
from domain.settlement import Settlement

FINANCE = Audit("fin-1", "finance", "S01", datetime(2026, 5, 31, 9, tzinfo=UTC), "corr")
MANAGER = Audit("mgr-1", "manager", "S01", datetime(2026, 5, 31, 10, tzinfo=UTC), "corr")
CASHIER = Audit("cash-1", "cashier", "S01", datetime(2026, 4, 1, 9, tzinfo=UTC), "corr")
LINES: list[dict[str, Any]] = [{"line_no": n, "date": "2026-05-01", "amount": "-50.00", "reference": f"OUT-{n}",
          "counterparty": "王伟"} for n in (1, 2, 3)] + [
    {"line_no": n, "date": "2026-05-01", "amount": "100.00", "reference": f"IN-{n}",
     "counterparty": "李雷"} for n in (4, 5)] + [
    {"line_no": 6, "date": "2026-05-03", "amount": "-45.00", "reference": "",
     "counterparty": "王伟"}]
# Approved refunds: (amount, payout_ref, approved on). RF-1 is line 1's by reference; RF-2
# states no reference, approved 3 days before the lines; RF-3 none either, but 3 weeks before;
# RF-4 is 45.00 with line 2's reference (the amount differs), 2 days from line 6.
REFUNDS = {"RF-1": ("50.00", "OUT-1", "2026-05-01"), "RF-2": ("50.00", None, "2026-04-28"),
           "RF-3": ("50.00", None, "2026-04-10"), "RF-4": ("45.00", "OUT-2", "2026-05-01")}
LINE = st.sampled_from([1, 2, 3, 4, 5, 6])
REFUND = st.sampled_from(sorted(REFUNDS))
PAYMENT = st.sampled_from(["P-4", "P-5"])  # P-n: the bank's reference is line n's
REASON = st.sampled_from([None, "  ", "matched to the wrong line"])


def refunded() -> Settlement:
    """A visit paid 500.00 by transfer, the REFUNDS approved out of it."""
    settlement = Settlement(id=uuid4(), audit=CASHIER, work_order_id=uuid4(),
                            work_order_number="WO-S01-2026-000001", customer_id=uuid4())
    settlement.take_payment(CASHIER, payment_id="P-IN", bill="customer",
                            method="bank_transfer", amount="500.00", business_date="2026-04-01",
                            provider_ref="TR-IN")
    for refund_id, (amount, ref, day) in REFUNDS.items():
        settlement.request_refund(CASHIER, refund_id, "P-IN", amount, "goodwill")
        settlement.decide_refund(MANAGER, refund_id, True, None, day,
                                 "bank_transfer" if ref else None, ref)
    settlement.collect_events()
    return settlement


def auto_pairs(line_no: int, refund_id: str) -> bool:
    """What auto-match may pair, said apart from the code: the same amount out, and the
    refund's reference the line's, or no contradicting references and at most 7 days apart."""
    line = LINES[line_no - 1]
    amount, ref, day = REFUNDS[refund_id]
    if Decimal(line["amount"]) != -Decimal(amount):
        return False
    if ref is not None and ref == line["reference"]:
        return True
    days = abs((date.fromisoformat(line["date"]) - date.fromisoformat(day)).days)
    return not (ref and line["reference"]) and days <= 7


class StatementMatches(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.statement = Statement(audit=FINANCE, source="bank", account="工行 1001",
                                   lines=[dict(line) for line in LINES])
        self.settlement = refunded()
        self.model: dict[int, str | None] = dict.fromkeys(self.statement.lines)
        self.auto: set[int] = set()  # lines auto-matched to a refund
        self.events = list(self.statement.collect_events())

    def _step(self, expect_ok: bool, command: object, *args: object) -> Any:
        try:
            answer = command(*args)  # type: ignore[operator]
        except DomainError:
            assert not expect_ok
            assert self.statement.collect_events() == []  # refused: nothing recorded
            return None
        assert expect_ok
        self.events += self.statement.collect_events()
        return answer

    @rule(line_no=LINE, refund_id=REFUND)
    def match(self, line_no: int, refund_id: str) -> None:
        # The settlement refuses a refund matched twice; the model keeps it to one line.
        ok = (self.model[line_no] is None and refund_id not in self.model.values()
              and LINES[line_no - 1]["amount"].startswith("-"))  # a refund matches money out
        if not ok and self.model[line_no] is None and refund_id in self.model.values():
            self._refused_by_the_settlement(refund_id, line_no)
            return
        why = self._step(ok, self.statement.match_refund, FINANCE, line_no,
                         self.settlement.id, self.settlement.refunds[refund_id],
                         "refund by transfer")
        if ok:
            self._reconciled(refund_id, line_no, why)

    @rule(line_no=LINE, refund_id=REFUND)
    def auto_match_refund(self, line_no: int, refund_id: str) -> None:
        # The command's order (domain.reconciling `_pair`): a line or refund matched since the
        # view proposed the pair is skipped; otherwise both aggregates re-check it.
        refund = self.settlement.refunds[refund_id]
        if (refund.get("reconciled") is not None
                or self.statement.lines[line_no]["match"] is not None):
            assert self.model[line_no] is not None or refund_id in self.model.values()
            return
        ok = (self.model[line_no] is None and LINES[line_no - 1]["amount"].startswith("-")
              and auto_pairs(line_no, refund_id))
        why = self._step(ok, self.statement.match_refund, FINANCE, line_no,
                         self.settlement.id, refund, None, False)
        if ok:
            self._reconciled(refund_id, line_no, why)
            self.auto.add(line_no)

    def _reconciled(self, refund_id: str, line_no: int, why: str) -> None:
        self.settlement.reconcile_refund(FINANCE, refund_id, self.statement.id, line_no, why)
        self.model[line_no] = refund_id

    def _refused_by_the_settlement(self, refund_id: str, line_no: int) -> None:
        try:
            self.settlement.reconcile_refund(FINANCE, refund_id, self.statement.id, line_no,
                                             "again")
        except DomainError:
            return
        raise AssertionError(f"refund {refund_id} matched twice")

    @rule(line_no=LINE, payment_id=PAYMENT, manual=st.booleans())
    def match_payment(self, line_no: int, payment_id: str, manual: bool) -> None:
        # By hand any line of money in; auto-match only the line of the payment's reference.
        ok = (self.model[line_no] is None and payment_id not in self.model.values()
              and line_no in (4, 5) and (manual or payment_id == f"P-{line_no}"))
        if not ok and self.model[line_no] is None and payment_id in self.model.values():
            return  # the settlement's refusal, not the statement's
        payment = {"payment_id": payment_id, "amount": "100.00",
                   "provider_ref": f"IN-{payment_id[2:]}"}
        self._step(ok, self.statement.match, FINANCE, line_no, self.settlement.id, payment,
                   manual, "same amount, same day" if manual else None)
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
            if refund and held is not None:
                self.settlement.unreconcile_refund(MANAGER, held, self.statement.id, line_no,
                                                   str(reason))
            self.model[line_no] = None
            self.auto.discard(line_no)

    @invariant()
    def lines_agree_with_the_model(self) -> None:
        held = {n: (line["match"] or {}).get("refund_id") or (line["match"] or {}).get(
            "payment_id") for n, line in self.statement.lines.items()}
        assert held == self.model
        matched = [r for r in held.values() if r is not None]
        assert len(matched) == len(set(matched))

    @invariant()
    def a_refund_sits_on_the_one_line_that_holds_it(self) -> None:
        on_lines = {r: n for n, r in self.model.items() if r is not None and r.startswith("RF-")}
        for refund_id, refund in self.settlement.refunds.items():
            found = refund.get("reconciled")
            assert (found and found["line_no"]) == on_lines.get(refund_id)

    @invariant()
    def auto_matched_refunds_balance_their_lines(self) -> None:
        out = sum((Decimal(self.statement.lines[n]["amount"]) for n in self.auto), Decimal(0))
        refunded = sum((self.settlement.refunds[str(self.model[n])]["amount"]
                        for n in self.auto), Decimal(0))
        assert out + refunded == 0

    @invariant()
    def the_events_replayed_give_the_same_lines(self) -> None:
        replayed = None
        for e in self.events:
            replayed = e.mutate(replayed)
        assert isinstance(replayed, Statement)
        assert replayed.lines == self.statement.lines
        auto = {e.line_no for e in self.events
                if isinstance(e, Statement.RefundMatched) and not e.manual}
        assert self.auto <= auto


StatementMatches.TestCase.settings = settings(max_examples=80, stateful_step_count=25,
                                           deadline=None)
TestStatementMatches = StatementMatches.TestCase
