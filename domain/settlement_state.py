"""What every settlement command reads: its errors, limits, deposit ceiling and figures."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from uuid import UUID

from domain.common import IllegalTransition, InvalidInput

ZERO = Decimal("0.00")
BILL_KINDS = ("customer", "warranty", "insurance", "internal")
# open (nothing billed, or reversed), draft, confirmed (numbered), settled (paid in full)
STATUSES = ("open", "draft", "confirmed", "settled")
METHODS = ("cash", "bank_card", "wechat_pay", "alipay", "bank_transfer")
ELECTRONIC = ("bank_card", "wechat_pay", "alipay", "bank_transfer")
# The payers whose money reaches the store's bank account, never a cashier's drawer: the OEM's
# remittance on the warranty bill, an insurer's on the insurance bill.
REMITTING_BILLS = ("warranty", "insurance")


def bank_receipt(bill: str, method: str) -> bool:
    """A payment the bank received for the store (a remittance by bank transfer from the OEM
    or an insurer): recorded outside any cashier's day, dated by its value date, so no closed
    day refuses it and no drawer counts it."""
    return method == "bank_transfer" and bill in REMITTING_BILLS


def bank_refund(payment: dict[str, Any], payout_method: str) -> bool:
    """A bank receipt paid back by bank transfer (an overpaid remittance returned to the OEM
    or the insurer): the money leaves the bank, never a drawer, so it leaves no cashier's day.
    A payment stored before bank receipts went into its cashier's day, and so does its refund."""
    return bool(payment.get("bank_receipt")) and payout_method == "bank_transfer"


# Payments (deposits included) and refund requests one settlement takes, at most: a visit is
# paid in a few; each one loads, copies and saves all before it, and deposits before the
# bills exist had no other bound.
MAX_PAYMENTS = 500
MAX_REFUNDS = 500
# payment_return: the money goes back and the bill still asks for it (wrong method, duplicate
# charge, chargeback); credit: a price allowance after settlement (goodwill, a concession),
# the bill asks that much less.
REFUND_KINDS = ("payment_return", "credit")


class SettlementError(IllegalTransition):
    pass


@dataclass(frozen=True)
class DepositLimit:
    """What the customer's deposits may add up to before the bill exists: the approved
    estimate of the customer's lines, or the store's ceiling while nothing is approved. A
    mistyped amount is refused at the till instead of sitting in the cashier's day until it
    is refunded."""

    amount: Decimal
    basis: str  # "approved_estimate" or "ceiling"

    def check(self, held: Decimal, value: Decimal) -> None:
        if held + value > self.amount:
            what = ("the approved estimate" if self.basis == "approved_estimate"
                    else "the deposit ceiling (no line approved yet)")
            raise InvalidInput(
                f"deposits are limited to {what} of {self.amount}; {held} is held, "
                f"at most {max(self.amount - held, ZERO)} more", field="amount",
                limit=str(self.amount),
                basis=self.basis, held=str(held))


class SettlementState:
    """What `Settlement` keeps (set by its `__init__`), and its figures."""

    id: UUID  # the stream's (eventsourcing's `Aggregate`)
    store_id: str
    work_order_id: UUID
    work_order_number: str
    customer_id: UUID
    status: str
    bills: dict[str, dict[str, Any]]
    number: str | None
    numbers: list[str]
    payments: dict[str, dict[str, Any]]
    refunds: dict[str, dict[str, Any]]
    settled_entries: list[dict[str, Any]]
    deposit_ids: list[str]
    assessment: dict[str, Any] | None = None  # the insurer's (a stream without one: none)
    # Defined by `Settlement`: the event methods the commands call.
    _drafted: Callable[..., None]
    _discounted: Callable[..., None]
    _assessed: Callable[..., None]
    _confirmed: Callable[..., None]
    _settled: Callable[..., None]
    _reversed: Callable[..., None]
    _invoice: Callable[..., None]
    _payment_taken: Callable[..., None]
    _refund_requested: Callable[..., None]
    _refund_approved: Callable[..., None]
    _refund_rejected: Callable[..., None]
    _reconciled: Callable[..., None]
    _refund_reconciled: Callable[..., None]
    _refund_unreconciled: Callable[..., None]
    _unreconciled: Callable[..., None]
    _written_off: Callable[..., None]
    _write_off_reversed: Callable[..., None]
    write_offs: dict[str, dict[str, Any]]

    def deposits(self) -> Decimal:
        """The customer's money taken before confirmation (less approved refunds of it): every
        customer payment while open or drafted (after a reversal the earlier payments count
        again), and what there was when it was confirmed once it is."""
        if self.status in ("open", "draft"):
            return self.paid("customer")
        held = set(self.deposit_ids)
        taken = sum((p["amount"] for i, p in self.payments.items() if i in held), ZERO)
        back = sum((r["amount"] for r in self.refunds.values()
                    if r["status"] == "approved" and r["payment_id"] in held), ZERO)
        return taken - back

    def paid(self, bill: str) -> Decimal:
        """Payments on the bill less approved refunds of them (of both kinds)."""
        taken = sum((p["amount"] for p in self.payments.values() if p["bill"] == bill), ZERO)
        back = sum((r["amount"] for r in self.refunds.values()
                    if r["status"] == "approved" and self.payments[r["payment_id"]]["bill"] == bill),
                   ZERO)
        return taken - back

    def billed(self, bill: str) -> Decimal:
        """What the confirmed bill asks: its total less the credits approved on it."""
        if bill not in self.bills or self.status not in ("confirmed", "settled"):
            return ZERO
        return self.bills[bill]["total"] - self.allowances(bill)  # type: ignore[no-any-return]

    def allowances(self, bill: str) -> Decimal:
        """Credit refunds approved on the current bill (VAT included)."""
        return self.bills[bill].get("allowances", ZERO) if bill in self.bills else ZERO

    def expensed(self, bill: str) -> Decimal:
        """What the settling booked as the dealership's own expense: the internal bill, once
        the visit is settled (it is never paid: the expense booking settles it)."""
        if bill != "internal" or self.status != "settled":
            return ZERO
        return self.billed(bill)

    def outstanding(self, bill: str) -> Decimal:
        """Less what was written off (domain/receivable_adjustment.py)."""
        written_off = self.bills[bill].get("written_off", ZERO) if bill in self.bills else ZERO
        return self.billed(bill) - self.paid(bill) - self.expensed(bill) - written_off

    def refundable(self, payment_id: str) -> Decimal:
        payment = self.payments[payment_id]
        held = sum((r["amount"] for r in self.refunds.values()
                    if r["payment_id"] == payment_id and r["status"] in ("requested", "approved")),
                   ZERO)
        return payment["amount"] - held  # type: ignore[no-any-return]

    def summary(self) -> dict[str, Any]:
        return {"status": self.status, "number": self.number,
                "bills": {k: {"total": str(b["total"]),
                              "allowances": str(self.allowances(k)),
                              "paid": str(self.paid(k)),
                              "expensed": str(self.expensed(k)),
                              "outstanding": str(b["total"] - self.allowances(k)
                                                 - self.paid(k) - self.expensed(k)
                                                 - b.get("written_off", ZERO)),
                              "written_off": str(b.get("written_off", ZERO)),
                              **({"charged_back": str(b["charged_back"])}
                                 if "charged_back" in b else {})}
                          for k, b in self.bills.items()},
                "deposits": str(self.deposits())}
