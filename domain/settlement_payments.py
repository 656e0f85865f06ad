"""Settlement commands on its money: payments and deposits, refunds and credits, reconciliation."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from uuid import UUID

from domain.common import Audit, InvalidInput, NotPermitted, require, require_reason
from domain.ledger import BILL_ACCOUNTS, METHOD_ACCOUNTS, entry, posting
from domain.money import money, round_money
from domain.payment_reference import provider_reference, taken
from domain.receivable_adjustment import charged_back
from domain.settlement_bills import allocate
from domain.settlement_state import (
    BILL_KINDS,
    ELECTRONIC,
    MAX_PAYMENTS,
    MAX_REFUNDS,
    METHODS,
    REFUND_KINDS,
    ZERO,
    DepositLimit,
    SettlementError,
    SettlementState,
    bank_receipt,
    bank_refund,
)


class SettlementPayments(SettlementState):
    """The money commands of `Settlement`: each checks, then calls its event method."""

    # -- payments and refunds ----------------------------------------------------------------

    def take_payment(self, audit: Audit, *, payment_id: str, bill: str, method: str,
                     amount: object, business_date: str, tendered: object | None = None,
                     provider_ref: str | None = None, correction_of: str | None = None,
                     reason: str | None = None,
                     deposit_limit: DepositLimit | None = None, opened_on: str | None = None,
                     today: str | None = None) -> dict[str, Any]:
        """A payment on a confirmed bill (never more than is outstanding), or before
        confirmation a customer deposit, bounded by `deposit_limit` when one is given.

        Its business date (and the closed day it corrects) is never before `opened_on`, the
        day the work order was opened: no money is taken for a visit that had not begun. A
        payment dated before `today` into a day still open says why, as a correction of a
        closed day does (the drawer of that day is counted with it). A bank receipt (the OEM's
        or an insurer's remittance by bank transfer, `bank_receipt`) enters no cashier's day:
        its business date is the value date on the bank's statement, earlier than today with
        no reason, and it corrects no closed day."""
        if method not in METHODS:
            raise InvalidInput(f"method must be one of {', '.join(METHODS)}", field="method")
        if bill not in BILL_KINDS or bill == "internal":
            raise InvalidInput("payments go to the customer, warranty or insurance bill",
                               field="bill")
        value = money(amount, "amount", field="amount")
        require(value > 0, InvalidInput("a payment must be positive", field="amount"))
        require(payment_id not in self.payments, SettlementError(f"payment {payment_id} exists"))
        require(len(self.payments) < MAX_PAYMENTS,
                InvalidInput(f"a settlement takes at most {MAX_PAYMENTS} payments"))
        kind = "payment"
        if self.status in ("open", "draft"):
            require(bill == "customer",
                    SettlementError("before confirmation only customer deposits are taken"))
            kind = "deposit"
            if deposit_limit is not None:
                deposit_limit.check(self.paid("customer"), value)
        else:
            require(bill in self.bills,
                    InvalidInput(f"the settlement has no {bill} bill", field="bill"))
            left = self.outstanding(bill)
            if value > left:
                cash = (f": take {left} as the amount and the notes handed over as `tendered`,"
                        " the answer gives the change") if method == "cash" else ""
                raise SettlementError(f"the {bill} bill has only {left} outstanding; "
                                      f"overpayment is refused{cash}", outstanding=str(left),
                                      field="amount")
        self._check_dates(business_date, correction_of, opened_on)
        received = bank_receipt(bill, method)
        require(not (received and correction_of is not None), InvalidInput(
            "a bank receipt (the OEM's or an insurer's remittance by bank transfer) enters no "
            "cashier's day, so it corrects none: give its value date as business_date",
            field="correction_of"))
        reference = provider_reference(provider_ref) or None
        if method in ELECTRONIC:
            require(reference is not None,
                    InvalidInput(f"a payment by {method} needs provider_ref: the "
                                 f"transaction's reference on the slip or in the app",
                                 field="provider_ref"))
        if reference is not None and method in ELECTRONIC:
            self._check_new_reference(method, reference)
        change = ZERO
        paid_in: Decimal | None = None
        if method == "cash":
            paid_in = value if tendered is None else money(tendered, "tendered",
                                                           field="tendered")
            require(paid_in >= value, InvalidInput("cash tendered is less than the amount",
                                                   field="tendered"))
            change = paid_in - value
        elif tendered is not None:
            raise InvalidInput("only cash is tendered", field="tendered")
        payment = {"payment_id": payment_id, "bill": bill, "method": method, "amount": value,
                   "tendered": paid_in, "change": change, "provider_ref": reference,
                   "business_date": business_date, "cashier": audit.user_id, "kind": kind,
                   "correction_of": correction_of, "reconciled": None}
        posted = entry(f"{kind} {payment_id} on {self.work_order_number}", [
            posting(METHOD_ACCOUNTS[method], debit=value),
            posting(BILL_ACCOUNTS[bill], credit=value)])
        if correction_of is not None:
            why: str | None = require_reason(reason, "a correction of a closed day")
        elif today is not None and business_date < today and not received:
            why = require_reason(reason, f"a payment dated {business_date}, before today "
                                         f"({today}),")
        else:
            why = (reason or "").strip() or None
        self._payment_taken(audit, payment, posted, why, received)
        return payment

    def _check_dates(self, business_date: str, correction_of: str | None,
                     opened_on: str | None) -> None:
        if opened_on is None:
            return
        for name, day in (("business_date", business_date), ("correction_of", correction_of)):
            if day is not None and day < opened_on:
                raise InvalidInput(
                    f"{name} {day} is before {self.work_order_number} was opened on "
                    f"{opened_on}: a payment is dated on or after the work order's opening day",
                    field=name, **{name: day}, opened_on=opened_on)

    def _check_new_reference(self, method: str, reference: str) -> None:
        """One terminal or provider transaction is one payment: the same method and reference
        twice on a settlement is a double tap, whatever the amounts."""
        for earlier in self.payments.values():
            if earlier["method"] == method and provider_reference(
                    earlier.get("provider_ref")) == reference:
                raise taken(method, reference, earlier["payment_id"], self.id,
                            self.work_order_number)

    def request_refund(self, audit: Audit, refund_id: str, payment_id: str, amount: object,
                       reason: str | None, kind: str | None = None,
                       red_invoice_number: str | None = None) -> None:
        """A refund of `kind` `payment_return` or `credit`; unsaid (None), a payment return
        where that is harmless, and refused where it would leave the customer owing on a
        settled visit (`unsaid_kind`)."""
        if payment_id not in self.payments:
            raise InvalidInput(f"no payment {payment_id} on this settlement", field="payment_id")
        require(audit.role != "finance" or bool(self.payments[payment_id].get("bank_receipt")),
                NotPermitted(f"payment {payment_id} is no bank receipt: the finance role asks "
                             "to pay back only the OEM's and insurers' remittances by bank "
                             "transfer, never money out of a cashier's drawer: that is for the "
                             "cashier and manager roles", field="payment_id"))
        if kind is not None and kind not in REFUND_KINDS:
            raise InvalidInput(f"kind must be one of {', '.join(REFUND_KINDS)}", field="kind")
        require(refund_id not in self.refunds, SettlementError(f"refund {refund_id} exists"))
        require(len(self.refunds) < MAX_REFUNDS,
                InvalidInput(f"a settlement takes at most {MAX_REFUNDS} refund requests"))
        value = money(amount, "refund", field="amount")
        require(value > 0, InvalidInput("a refund must be positive", field="amount"))
        red = (red_invoice_number or "").strip() or None
        if kind == "credit":
            self._check_credit(payment_id, value, red)
        elif red is not None:
            raise InvalidInput("a red-letter invoice goes with a credit, not a payment return",
                               field="red_invoice_number")
        left = self.refundable(payment_id)
        if value > left:
            raise SettlementError(f"only {left} of payment {payment_id} can still be refunded",
                                  refundable=str(left), field="amount")
        self._check_charged_back(self.payments[payment_id]["bill"], value)
        why = require_reason(reason, "a refund")
        kind = kind or self.unsaid_kind(payment_id, value)
        self._refund_requested(audit, refund_id, payment_id, value, why, kind, red)

    def unsaid_kind(self, payment_id: str, value: Decimal) -> str:
        """A refund whose kind is not said is a payment return where that is harmless: before
        the visit is settled (the customer still pays what the bill asks before the car
        leaves), or an overpayment returned. Once the visit is settled — the car may have
        left — a payment return that would leave the customer's bill owing is a choice the
        cashier makes in words (422 naming `kind`): it re-opens the customer's balance, a
        credit does not."""
        bill = self.payments[payment_id]["bill"]
        if self.status != "settled" or bill != "customer":
            return "payment_return"
        waiting = sum((r["amount"] for r in self.refunds.values()
                       if r["status"] == "requested" and r["kind"] == "payment_return"
                       and r["bill"] == bill), ZERO)
        owed = self.outstanding(bill) + waiting + value
        if owed <= 0:
            return "payment_return"
        raise InvalidInput(
            "say which kind of refund this is (kind): the visit is settled, so "
            f"payment_return gives the {value} back and the bill still asks for it — the "
            f"customer owes {owed} again (wrong method, a duplicate charge); credit is a price "
            "allowance (goodwill, a concession): the bill asks that much less and nothing is "
            "owed", field="kind", owed_after_return=str(owed),
            kinds={"payment_return": "the money goes back; the customer owes it again",
                   "credit": "a price allowance; the bill asks that much less"})

    def _check_charged_back(self, bill: str, value: Decimal, refund_id: str | None = None) -> None:
        """What the OEM charged back of its payments on the bill is owed to it already
        (2241): a refund of them (the others asked for and not yet decided counted) never
        pays it back a second time, so it is at most what was paid less that."""
        back = charged_back(self, bill)
        if not back:
            return
        pending = sum((r["amount"] for r in self.refunds.values()
                       if r["status"] == "requested" and r["bill"] == bill
                       and r["refund_id"] != refund_id), ZERO)
        left = max(self.paid(bill) - back - pending, ZERO)
        if value > left:
            raise SettlementError(
                f"the OEM charged back {back} of the {bill} bill's payments, owed to it "
                f"already: only {left} of them can still be refunded", refundable=str(left),
                charged_back=str(back), field="amount")

    def _check_credit(self, payment_id: str, value: Decimal, red: str | None,
                      refund_id: str | None = None) -> None:
        """A credit is granted on a settled bill, within what the bill still asks (credits
        asked for and not yet decided included), with a red-letter invoice once a tax invoice
        was recorded for the bill."""
        require(self.status == "settled", SettlementError(
            f"a credit is granted on a settled bill; the settlement is {self.status}"))
        bill = self.payments[payment_id]["bill"]
        require(bill in self.bills, SettlementError(f"the settlement has no {bill} bill"))
        invoice = self.bills[bill].get("invoice_no")
        if invoice is not None and red is None:
            raise InvalidInput(f"the {bill} bill was invoiced ({invoice}): a credit needs the "
                               "red-letter invoice's number (red_invoice_number)",
                               field="red_invoice_number", invoice_no=invoice)
        if invoice is None and red is not None:
            raise InvalidInput(f"the {bill} bill has no tax invoice recorded to write off",
                               field="red_invoice_number")
        pending = sum((r["amount"] for r in self.refunds.values()
                       if r["kind"] == "credit" and r["status"] == "requested"
                       and r["bill"] == bill and r["refund_id"] != refund_id), ZERO)
        left = self.billed(bill) - pending
        if value > left:
            raise SettlementError(f"the {bill} bill asks only {left} more to credit",
                                  creditable=str(left))

    def decide_refund(self, audit: Audit, refund_id: str, approve: bool, reason: str | None,
                      business_date: str, payout_method: str | None = None,
                      payout_ref: str | None = None) -> dict[str, Any]:
        """Approved, the money goes out by `payout_method` (the payment's own method when
        not said) with the transfer's or provider's reference `payout_ref` (needed when a
        method other than cash is said; optional for cash), which the reconciliation pairs
        with the bank's line of money out. A bank receipt paid back by bank transfer (an
        overpaid remittance returned to the OEM or the insurer) is a `bank_refund`: it leaves
        the bank, never a drawer, so it leaves no cashier's day; one the finance desk asked
        for (it has no drawer) goes back so or not at all."""
        refund = self.refunds.get(refund_id)
        if refund is None:
            raise InvalidInput(f"no refund {refund_id} on this settlement")
        require(refund["status"] == "requested",
                SettlementError(f"refund {refund_id} is already {refund['status']}"))
        require(audit.role == "manager", NotPermitted("approving a refund needs a manager"))
        require(audit.user_id != refund["requested_by"],
                NotPermitted("a refund is approved by another user than the one who asked"))
        payment = self.payments[refund["payment_id"]]
        method, reference = _payout(approve, payout_method, payout_ref, payment["method"])
        require(not approve or refund.get("requested_as") != "finance"
                or bank_refund(payment, method), InvalidInput(
                    f"refund {refund_id} was asked for by the finance desk, which has no "
                    "drawer: it goes back by bank transfer (payout_method bank_transfer)",
                    field="payout_method"))
        if not approve:
            self._refund_rejected(audit, refund_id, require_reason(reason, "rejecting a refund"))
            return refund
        self._check_charged_back(payment["bill"], refund["amount"], refund_id)
        if refund["kind"] == "credit":
            self._check_credit(payment["payment_id"], refund["amount"],
                               refund["red_invoice_number"], refund_id)
            net, vat = self.allowance_split(payment["bill"], refund["amount"])
            posted = entry(f"credit {refund_id} of {payment['payment_id']} (sales allowance)", [
                posting("6003", debit=net), posting("2221", debit=vat),
                posting(METHOD_ACCOUNTS[method], credit=refund["amount"])])
        else:
            posted = entry(f"refund {refund_id} of {payment['payment_id']}", [
                posting(BILL_ACCOUNTS[payment["bill"]], debit=refund["amount"]),
                posting(METHOD_ACCOUNTS[method], credit=refund["amount"])])
        self._refund_approved(audit, refund_id, business_date, posted, refund["kind"], method,
                              reference, bank_refund(payment, method))
        return refund

    def allowance_split(self, bill: str, amount: Decimal) -> tuple[Decimal, Decimal]:
        """A credit as revenue without VAT and output VAT: spread over the bill's lines by
        their net (`allocate`), the shares summed per VAT rate (one sum on a bill of one
        rate), each sum without the VAT of its rate half-up to the fen; the VAT is the
        remainder, so net + VAT is the amount. 50.00 at 13 %: 44.25 + 5.75."""
        lines = self.bills[bill]["lines"]
        shares = allocate(amount, {ln["line_id"]: ln["net"] for ln in lines})
        by_rate: dict[Decimal, Decimal] = {}
        for ln in lines:
            by_rate[ln["vat_rate"]] = by_rate.get(ln["vat_rate"], ZERO) + shares.get(
                ln["line_id"], ZERO)
        net = sum((round_money(share / (1 + rate)) for rate, share in by_rate.items()), ZERO)
        return net, amount - net

    # -- reconciliation ----------------------------------------------------------------------

    def reconcile(self, audit: Audit, payment_id: str, statement_id: UUID, line_no: int,
                  manual: bool, reason: str | None) -> None:
        payment = self.payments.get(payment_id)
        if payment is None:
            raise InvalidInput(f"no payment {payment_id} on this settlement")
        require(payment["reconciled"] is None,
                SettlementError(f"payment {payment_id} is already matched"))
        self._reconciled(audit, payment_id, statement_id, line_no, manual, reason)

    def unreconcile(self, audit: Audit, payment_id: str, statement_id: UUID, line_no: int,
                    reason: str) -> None:
        """The payment's match to that statement line taken back: it may be matched again."""
        _require_matched(self.payments.get(payment_id), f"payment {payment_id}", statement_id,
                         line_no)
        self._unreconciled(audit, payment_id, statement_id, line_no, reason)

    def reconcile_refund(self, audit: Audit, refund_id: str, statement_id: UUID, line_no: int,
                         reason: str) -> None:
        """A refund paid out, found on a statement: matched once."""
        refund = self.refunds.get(refund_id)
        if refund is None:
            raise InvalidInput(f"no refund {refund_id} on this settlement", field="refund_id")
        require(refund["status"] == "approved", SettlementError(
            f"refund {refund_id} is {refund['status']}: only an approved refund was paid out"))
        matched = refund.get("reconciled")
        require(matched is None, SettlementError(
            f"refund {refund_id} is already matched (statement {matched and matched['statement_id']}, "
            f"line {matched and matched['line_no']})"))
        self._refund_reconciled(audit, refund_id, statement_id, line_no, reason)

    def unreconcile_refund(self, audit: Audit, refund_id: str, statement_id: UUID, line_no: int,
                           reason: str) -> None:
        """The refund's match to that statement line taken back: it may be matched again."""
        _require_matched(self.refunds.get(refund_id), f"refund {refund_id}", statement_id,
                         line_no)
        self._refund_unreconciled(audit, refund_id, statement_id, line_no, reason)


def _payout(approve: bool, method: str | None, typed_ref: str | None,
            paid_by: str) -> tuple[str, str | None]:
    """How an approved refund goes out: the method said (or the payment's, `paid_by`) and
    its reference in the form kept (None: none said). A rejected refund is not paid out."""
    reference = provider_reference(typed_ref) or None
    if not approve:
        require(method is None and reference is None, InvalidInput(
            "a rejected refund is not paid out: payout_method and payout_ref go with an "
            "approval", field="payout_method" if method is not None else "payout_ref"))
        return paid_by, None
    if method is not None and method not in METHODS:
        raise InvalidInput(f"payout_method must be one of {', '.join(METHODS)}",
                           field="payout_method")
    if method in ELECTRONIC and reference is None:
        raise InvalidInput(f"a refund paid out by {method} needs payout_ref: the transfer's "
                           "or the provider's reference, as the bank's statement will show it",
                           field="payout_ref")
    return method or paid_by, reference


def _require_matched(entry: dict[str, Any] | None, what: str, statement_id: UUID,
                     line_no: int) -> None:
    """A payment's or refund's entry must be matched to that statement line."""
    matched = None if entry is None else entry.get("reconciled")
    require(matched is not None and matched["statement_id"] == str(statement_id)
            and matched["line_no"] == line_no, SettlementError(
                f"{what} is not matched to statement {statement_id} line {line_no}"))
