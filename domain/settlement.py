"""The money of one visit: deposits, the settlement (bills by pay type), payments, refunds, and the
journal entries each of them posts.

One stream per work order (id = stable_id("settlement", work order id)), so "paid ≤ billed" and
"refunded ≤ paid" are invariants of a single aggregate that concurrent cashiers conflict on.
A confirmed settlement is never edited: a manager reverses it (reversing entries) and the visit
is settled again with a new number.

This module holds the stream: its events, the settlement's state and what each event changes
(all that a replay runs). The commands, which check and then call those event methods, are the
mixins `SettlementLifecycle` (domain/settlement_lifecycle.py: drafting, discounts,
confirmation, settling, reversal, invoices) and `SettlementPayments`
(domain/settlement_payments.py: payments, refunds and credits, reconciliation); the errors,
limits and figures they share are in domain/settlement_state.py, the building of bills from a
work order's lines in domain/settlement_bills.py.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.common import Audit, stable_id
from domain.settlement_bills import bill_totals
from domain.settlement_lifecycle import SettlementLifecycle
from domain.settlement_payments import SettlementPayments
from domain.settlement_state import ZERO


class Settlement(SettlementLifecycle, SettlementPayments, Aggregate):
    class Event(Aggregate.Event):
        audit: Audit

    class Opened(Event, Aggregate.Created):
        work_order_id: UUID
        work_order_number: str
        customer_id: UUID

    class Drafted(Event):
        bills: dict[str, dict[str, Any]]

    class InsuranceAssessed(Event):
        """The insurer's assessment (定损) of the visit's insurance lines: insurer, claim and
        report number, approved amount, deductible; a change of it says why."""

        assessment: dict[str, Any]
        reason: str | None

    class DiscountGiven(Event):
        bill: str
        line_id: str | None
        amount: Decimal
        allocation: dict[str, Decimal]
        reason: str | None
        approved_by: str | None

    class Confirmed(Event):
        number: str
        totals: dict[str, Decimal]

    class InvoiceRecorded(Event):
        bill: str
        invoice_no: str

    class PaymentTaken(Event):
        """v2 adds `reason` (why a correction of a closed day; a v1 payment has none); v3
        `bank_receipt` (a remittance the bank received, outside any cashier's day: every
        payment before went into its cashier's day)."""

        class_version = 3
        payment: dict[str, Any]
        entry: dict[str, Any]
        reason: str | None
        bank_receipt: bool

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["reason"] = None

        @staticmethod
        def upcast_v2_v3(state: dict[str, Any]) -> None:
            state["bank_receipt"] = False

    class RefundRequested(Event):
        """v2 adds `kind` and `red_invoice_number` (a v1 refund is a payment return)."""

        class_version = 2
        refund_id: str
        payment_id: str
        amount: Decimal
        reason: str
        kind: str
        red_invoice_number: str | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["kind"] = "payment_return"
            state["red_invoice_number"] = None

    class RefundApproved(Event):
        """v2 adds `kind` (a v1 refund is a payment return); v3 how the money went out:
        `payout_method` and the transfer's or provider's reference `payout_ref` (a refund
        approved before v3 says neither: it went out as its payment came in, no reference); v4
        `bank_refund` (a bank receipt paid back by bank transfer, outside any cashier's day:
        every refund before left its requester's day)."""

        class_version = 4
        refund_id: str
        business_date: str
        entry: dict[str, Any]
        kind: str
        payout_method: str | None
        payout_ref: str | None
        bank_refund: bool

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["kind"] = "payment_return"

        @staticmethod
        def upcast_v2_v3(state: dict[str, Any]) -> None:
            state["payout_method"] = None
            state["payout_ref"] = None

        @staticmethod
        def upcast_v3_v4(state: dict[str, Any]) -> None:
            state["bank_refund"] = False

    class RefundRejected(Event):
        refund_id: str
        reason: str

    class Settled(Event):
        number: str
        customer_total: Decimal
        entries: list[dict[str, Any]]

    class ChargedToAccount(Event):
        """The customer bill's outstanding charged to the customer's account under their
        credit terms (domain/on_account.py): due on `due_on`; the visit settles with it."""

        amount: Decimal
        due_on: str
        limit: Decimal
        balance: Decimal

    class Reversed(Event):
        """v2 adds `red_invoices`: per invoiced bill, the red-letter invoice that writes its
        tax invoice off (a v1 reversal named none)."""

        class_version = 2
        number: str
        reason: str
        entries: list[dict[str, Any]]
        red_invoices: dict[str, str]

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["red_invoices"] = {}

    class PaymentReconciled(Event):
        payment_id: str
        statement_id: UUID
        line_no: int
        manual: bool
        reason: str | None

    class RefundReconciled(Event):
        refund_id: str
        statement_id: UUID
        line_no: int
        reason: str

    class PaymentReconciliationWithdrawn(Event):
        """The statement line's match to this payment taken back (a manager, said why)."""

        payment_id: str
        statement_id: UUID
        line_no: int
        reason: str

    class RefundReconciliationWithdrawn(Event):
        """The statement line's match to this refund taken back (a manager, said why)."""

        refund_id: str
        statement_id: UUID
        line_no: int
        reason: str

    class ReceivableWrittenOff(Event):
        """A warranty or insurance bill's receivable written off as a loss, or a paid warranty
        claim charged back by the OEM: kind, amount, the claim's reference, why, and the entry
        (domain/receivable_adjustment.py). v2 adds `write_off_id`, by which the write-off is
        taken back (a v1 write-off has none: it is known as its settlement number and its
        place among the settlement's write-offs, `SET-…-W1`)."""

        class_version = 2
        bill: str
        kind: str
        amount: Decimal
        reference: str | None
        reason: str
        entry: dict[str, Any]
        write_off_id: str | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["write_off_id"] = None

    class WriteOffReversed(Event):
        """A write-off (or charge-back) taken back, a manager's decision with a reason: the
        mirror of its entry, the receivable (or what was owed back to the OEM) restored."""

        write_off_id: str
        bill: str
        kind: str
        amount: Decimal
        reason: str
        entry: dict[str, Any]

    @staticmethod
    def create_id(work_order_id: UUID) -> UUID:
        return stable_id("settlement", work_order_id)

    @event(Opened)
    def __init__(self, audit: Audit, work_order_id: UUID, work_order_number: str,
                 customer_id: UUID, id: UUID | None = None) -> None:
        self.store_id = audit.store_id
        self.work_order_id = work_order_id
        self.work_order_number = work_order_number
        self.customer_id = customer_id
        self.status = "open"
        self.bills: dict[str, dict[str, Any]] = {}
        self.number: str | None = None
        self.numbers: list[str] = []
        self.payments: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self.settled_entries: list[dict[str, Any]] = []
        self.deposit_ids: list[str] = []  # the customer's payments before the last confirmation
        self.assessment: dict[str, Any] | None = None  # the insurer's, once recorded
        self.write_offs: dict[str, dict[str, Any]] = {}  # by write-off id

    # -- what each event changes -----------------------------------------------------------

    @event(Drafted)
    def _drafted(self, audit: Audit, bills: dict[str, dict[str, Any]]) -> None:
        self.bills = {k: {**b, "lines": [dict(ln) for ln in b["lines"]]} for k, b in bills.items()}
        self.status = "draft"

    @event(InsuranceAssessed)
    def _assessed(self, audit: Audit, assessment: dict[str, Any], reason: str | None) -> None:
        self.assessment = dict(assessment)

    @event(DiscountGiven)
    def _discounted(self, audit: Audit, bill: str, line_id: str | None, amount: Decimal,
                    allocation: dict[str, Decimal], reason: str | None,
                    approved_by: str | None) -> None:
        target = self.bills[bill]
        for line in target["lines"]:
            line["discount"] += allocation.get(line["line_id"], ZERO)
        bill_totals(target)

    @event(Confirmed)
    def _confirmed(self, audit: Audit, number: str, totals: dict[str, Decimal]) -> None:
        self.status = "confirmed"
        self.number = number
        self.numbers.append(number)
        self.deposit_ids = [i for i, p in self.payments.items() if p["bill"] == "customer"]

    @event(Settled)
    def _settled(self, audit: Audit, number: str, customer_total: Decimal,
                 entries: list[dict[str, Any]]) -> None:
        self.status = "settled"
        self.settled_entries = [dict(e) for e in entries]

    @event(ChargedToAccount)
    def _charged_to_account(self, audit: Audit, amount: Decimal, due_on: str, limit: Decimal,
                            balance: Decimal) -> None:
        self.charged = {"number": self.number, "amount": amount, "due_on": due_on}

    @event(Reversed)
    def _reversed(self, audit: Audit, number: str, reason: str,
                  entries: list[dict[str, Any]], red_invoices: dict[str, str]) -> None:
        self.status = "open"
        self.bills = {}
        self.number = None
        self.settled_entries = []

    @event(InvoiceRecorded)
    def _invoice(self, audit: Audit, bill: str, invoice_no: str) -> None:
        self.bills[bill]["invoice_no"] = invoice_no

    @event(PaymentTaken)
    def _payment_taken(self, audit: Audit, payment: dict[str, Any], entry: dict[str, Any],
                       reason: str | None, bank_receipt: bool = False) -> None:
        self.payments[payment["payment_id"]] = {**payment, "bank_receipt": bank_receipt}

    @event(RefundRequested)
    def _refund_requested(self, audit: Audit, refund_id: str, payment_id: str, amount: Decimal,
                          reason: str, kind: str = "payment_return",
                          red_invoice_number: str | None = None) -> None:
        self.refunds[refund_id] = {"refund_id": refund_id, "payment_id": payment_id,
                                   "amount": amount, "reason": reason, "status": "requested",
                                   "requested_by": audit.user_id,
                                   "requested_as": audit.role, "kind": kind,
                                   "red_invoice_number": red_invoice_number,
                                   "bill": self.payments[payment_id]["bill"]}

    @event(RefundApproved)
    def _refund_approved(self, audit: Audit, refund_id: str, business_date: str,
                         entry: dict[str, Any], kind: str = "payment_return",
                         payout_method: str | None = None,
                         payout_ref: str | None = None, bank_refund: bool = False) -> None:
        refund = self.refunds[refund_id]
        refund["status"] = "approved"
        refund["bank_refund"] = bank_refund
        refund["business_date"] = business_date
        refund["payout_method"] = payout_method  # None: approved before v3 said it
        refund["payout_ref"] = payout_ref
        if kind == "credit":
            bill = self.bills[refund["bill"]]
            bill["allowances"] = bill.get("allowances", ZERO) + refund["amount"]
            refund["allowed_on"] = self.number
            refund["allowance"] = [dict(p) for p in entry["postings"] if p["debit"]]

    @event(RefundRejected)
    def _refund_rejected(self, audit: Audit, refund_id: str, reason: str) -> None:
        self.refunds[refund_id]["status"] = "rejected"

    @event(RefundReconciled)
    def _refund_reconciled(self, audit: Audit, refund_id: str, statement_id: UUID,
                           line_no: int, reason: str) -> None:
        self.refunds[refund_id]["reconciled"] = {"statement_id": str(statement_id),
                                                 "line_no": line_no}

    @event(RefundReconciliationWithdrawn)
    def _refund_unreconciled(self, audit: Audit, refund_id: str, statement_id: UUID,
                             line_no: int, reason: str) -> None:
        self.refunds[refund_id]["reconciled"] = None

    @event(PaymentReconciled)
    def _reconciled(self, audit: Audit, payment_id: str, statement_id: UUID, line_no: int,
                    manual: bool, reason: str | None) -> None:
        self.payments[payment_id]["reconciled"] = {"statement_id": str(statement_id),
                                                   "line_no": line_no}

    @event(ReceivableWrittenOff)
    def _written_off(self, audit: Audit, bill: str, kind: str, amount: Decimal,
                     reference: str | None, reason: str, entry: dict[str, Any],
                     write_off_id: str | None = None) -> None:
        key = "charged_back" if kind == "oem_charged_back" else "written_off"
        self.bills[bill][key] = self.bills[bill].get(key, ZERO) + amount
        known = write_off_id or f"{self.number}-W{len(self.write_offs) + 1}"
        self.write_offs[known] = {"write_off_id": known, "bill": bill, "kind": kind,
                                  "amount": amount, "reference": reference,
                                  "number": self.number, "entry": entry, "reversed": False}

    @event(WriteOffReversed)
    def _write_off_reversed(self, audit: Audit, write_off_id: str, bill: str, kind: str,
                            amount: Decimal, reason: str, entry: dict[str, Any]) -> None:
        key = "charged_back" if kind == "oem_charged_back" else "written_off"
        self.bills[bill][key] -= amount
        self.write_offs[write_off_id]["reversed"] = True

    @event(PaymentReconciliationWithdrawn)
    def _unreconciled(self, audit: Audit, payment_id: str, statement_id: UUID, line_no: int,
                      reason: str) -> None:
        self.payments[payment_id]["reconciled"] = None
