"""A cashier's business day in a store: every payment and refund taken, then the day-end close.

Payments are saved together with the cashier's day, so closing the day and a late payment into
it conflict on this stream: a closed day refuses payments, and a correction goes into the next
open day with a reference to the closed one.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.common import Audit, IllegalTransition, InvalidInput, require, stable_id
from domain.ledger import cash_variance
from domain.money import money

ZERO = Decimal("0.00")


class DayClosed(IllegalTransition):
    pass


class DayStillOwes(IllegalTransition):
    """The day is not closed while something it owes is open: a refund its cashier asked for
    still waits for a manager's decision (approved, it leaves that cashier's day)."""


class CashierDay(Aggregate):
    class Event(Aggregate.Event):
        audit: Audit

    class Opened(Event, Aggregate.Created):
        cashier_id: str
        business_date: str

    class MoneyIn(Event):
        settlement_id: UUID
        payment_id: str
        method: str
        amount: Decimal
        correction_of: str | None

    class MoneyOut(Event):
        settlement_id: UUID
        refund_id: str
        method: str
        amount: Decimal

    class Closed(Event):
        """v2 adds `entries`: the cash variance booked to the ledger (a v1 close booked none)."""

        class_version = 2
        totals: dict[str, Decimal]
        expected_cash: Decimal
        counted_cash: Decimal
        variance: Decimal
        reason: str | None
        entries: list[dict[str, Any]]

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["entries"] = []

    @staticmethod
    def create_id(store_id: str, cashier_id: str, business_date: str) -> UUID:
        return stable_id("cashier-day", store_id, cashier_id, business_date)

    @event(Opened)
    def __init__(self, audit: Audit, cashier_id: str, business_date: str,
                 id: UUID | None = None) -> None:
        self.store_id = audit.store_id
        self.cashier_id = cashier_id
        self.business_date = business_date
        self.totals: dict[str, Decimal] = {}
        self.cash_out = ZERO
        self.closed = False
        self.counted_cash: Decimal | None = None
        self.reason: str | None = None

    def _require_open(self, advice: str) -> None:
        require(not self.closed, DayClosed(
            f"{self.business_date} is closed for {self.cashier_id}; {advice}",
            closed_day=self.business_date))

    def money_in(self, audit: Audit, settlement_id: UUID, payment: dict[str, Any],
                 today: str | None = None) -> None:
        self.check_takes_payment(today)
        self._money_in(audit, settlement_id, payment["payment_id"], payment["method"],
                       payment["amount"], payment.get("correction_of"))

    def check_takes_payment(self, today: str | None = None) -> None:
        """DayClosed when the day is closed, with what to do instead."""
        if today is not None and self.business_date >= today:
            # Today's own day is closed: a correction names an earlier day, so it waits.
            advice = ("another cashier takes the payment today, or you record it on your next "
                      f"business day with correction_of={self.business_date}")
        else:
            advice = f"record a correction today with correction_of={self.business_date}"
        self._require_open(advice)

    @event(MoneyIn)
    def _money_in(self, audit: Audit, settlement_id: UUID, payment_id: str, method: str,
                  amount: Decimal, correction_of: str | None) -> None:
        self.totals[method] = self.totals.get(method, ZERO) + amount

    def money_out(self, audit: Audit, settlement_id: UUID, refund_id: str, method: str,
                  amount: Decimal) -> None:
        # A refund leaves the day of the cashier who asked for it, on the day it is approved.
        self._require_open("a refund they asked for leaves their day when it is approved: "
                           "approve it on their next business day")
        self._money_out(audit, settlement_id, refund_id, method, amount)

    @event(MoneyOut)
    def _money_out(self, audit: Audit, settlement_id: UUID, refund_id: str, method: str,
                   amount: Decimal) -> None:
        self.totals[method] = self.totals.get(method, ZERO) - amount

    @property
    def expected_cash(self) -> Decimal:
        return self.totals.get("cash", ZERO)

    def close(self, audit: Audit, counted_cash: object, reason: str | None) -> Decimal:
        self._require_open("a day is closed once")
        counted = money(counted_cash, "counted cash", field="counted_cash")
        variance = counted - self.expected_cash
        text = (reason or "").strip() or None
        require(not variance or len(text or "") >= 3, InvalidInput(
            f"a cash variance needs a reason (at least 3 characters): {self.expected_cash} "
            f"expected, {counted} counted, {abs(variance)} {'over' if variance > 0 else 'short'}",
            field="reason", expected_cash=str(self.expected_cash), counted_cash=str(counted),
            variance=str(variance)))
        entries = cash_variance(variance, f"cash {'over' if variance > 0 else 'short'} at "
                                          f"{self.cashier_id}'s day-end {self.business_date}")
        self._closed(audit, dict(self.totals), self.expected_cash, counted, variance, text,
                     entries)
        return variance

    @event(Closed)
    def _closed(self, audit: Audit, totals: dict[str, Decimal], expected_cash: Decimal,
                counted_cash: Decimal, variance: Decimal, reason: str | None,
                entries: list[dict[str, Any]]) -> None:
        self.closed = True
        self.counted_cash = counted_cash
        self.reason = reason
