"""Settlement commands from draft to settled: discounts, confirmation, reversal, invoices."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from domain.common import Audit, InvalidInput, NotPermitted, require, require_reason
from domain.insurer import insurer_name
from domain.ledger import BILL_ACCOUNTS, entry, posting, reversal
from domain.money import CENT, money
from domain.settlement_bills import allocate, billed_lines
from domain.settlement_state import BILL_KINDS, ZERO, SettlementError, SettlementState


class SettlementLifecycle(SettlementState):
    """The bill commands of `Settlement`: each checks, then calls its event method."""

    # -- drafting and discounts ----------------------------------------------------------------

    def draft(self, audit: Audit, bills: dict[str, dict[str, Any]]) -> None:
        require(self.status in ("open", "draft"),
                SettlementError(f"the settlement is {self.status}; reverse it to change it"))
        require(bool(bills), SettlementError("nothing to bill: no approved labor, no issued parts"))
        if self.status == "draft" and self._same_bills(bills):
            return  # the same bills again: the draft stays, with the discounts given on it
        self._drafted(audit, bills)

    def assess_insurance(self, audit: Audit, *, insurer: str, claim_number: str,
                         report_number: str | None, approved_amount: object,
                         deductible: object, reason: str | None,
                         rebill: Callable[[dict[str, Any]], dict[str, dict[str, Any]]]) -> bool:
        """Record the insurer's assessment; a draft is redrafted under it in the same change
        (`rebill` gives the bills under an assessment; discounts given on the draft go with
        it). Confirmed bills are refused: a manager reverses them first. Changing an
        assessment says why. Returns whether the bills were redrafted."""
        require(self.status in ("open", "draft"), SettlementError(
            f"the settlement is {self.status}: reverse it before the assessment changes"))
        approved = money(approved_amount, "approved_amount", field="approved_amount")
        own = money(deductible, "deductible", field="deductible")
        require(bool(insurer.strip()) and bool(claim_number.strip()),
                InvalidInput("an assessment names the insurer and the claim number"))
        require(own <= approved, InvalidInput(
            "the deductible exceeds the approved amount", field="deductible",
            approved_amount=str(approved),
            deductible=str(own)))
        assessment = {"insurer": insurer_name(insurer), "claim_number": claim_number.strip(),
                      "report_number": (report_number or "").strip() or None,
                      "approved_amount": approved, "deductible": own}
        if self.assessment is not None and assessment == {
                **self.assessment, "insurer": insurer_name(self.assessment["insurer"])}:
            return False  # the same assessment again changes nothing
        why = require_reason(reason, "changing an insurance assessment") \
            if self.assessment is not None else ((reason or "").strip() or None)
        bills = rebill(assessment) if self.status == "draft" else None
        self._assessed(audit, assessment, why)
        if bills and not self._same_bills(bills):
            self._drafted(audit, bills)
            return True
        return False

    def _same_bills(self, bills: dict[str, dict[str, Any]]) -> bool:
        """Whether `bills` charge the same lines to the same payers as the draft does, under
        the same assessment (its deductible and excess may move between them alone)."""
        def payers(of: dict[str, dict[str, Any]]) -> dict[str, Any]:
            return {k: (b["payer"], b.get("assessment"), b.get("insurance_share"))
                    for k, b in of.items()}

        return billed_lines(bills) == billed_lines(self.bills) and \
            payers(bills) == payers(self.bills)

    def bill(self, kind: str) -> dict[str, Any]:
        if kind not in self.bills:
            raise InvalidInput(f"the settlement has no {kind} bill", field="bill",
                               bills=sorted(self.bills))
        return self.bills[kind]

    def discount(self, audit: Audit, bill_kind: str, line_id: str | None, amount: object,
                 reason: str | None, approval_rate: Decimal) -> dict[str, Decimal]:
        """A discount on one line or on the whole bill (spread over its lines by what each has
        left, see `allocate` for the rule to the fen).

        Every discount says why (an auditor asks it of each one). Above `approval_rate` of the
        gross it applies to, the caller must also be a manager (the manager's approval is this
        command).
        """
        require(self.status == "draft",
                SettlementError(f"discounts are given on a draft; the settlement is {self.status}"))
        bill = self.bill(bill_kind)
        value = money(amount, "discount", field="amount")
        require(value > 0, InvalidInput("a discount must be positive", field="amount"))
        if line_id is not None:
            line = next((ln for ln in bill["lines"] if ln["line_id"] == line_id), None)
            if line is None:
                raise InvalidInput(f"the {bill_kind} bill has no line {line_id}",
                                   field="line_id", line_id=line_id, bill=bill_kind)
            if value > line["net"]:
                raise InvalidInput(f"line {line_id} has only {line['net']} left to discount",
                                   field="amount")
            base, given, allocation = line["gross"], line["discount"], {line_id: value}
        else:
            if value > bill["total"]:
                raise InvalidInput(f"the {bill_kind} bill totals only {bill['total']}",
                                   field="amount")
            base, given = bill["gross"], bill["discount"]
            allocation = allocate(value, {ln["line_id"]: ln["net"] for ln in bill["lines"]})
        approved_by = None
        if given + value > (base * approval_rate).quantize(CENT):  # all discounts so far count
            require(audit.role == "manager", NotPermitted(
                f"a discount above {approval_rate:%} of {base} needs a manager's approval"))
            approved_by = audit.user_id
        text = require_reason(reason, "a discount")
        self._discounted(audit, bill_kind, line_id, value, allocation, text, approved_by)
        return allocation

    # -- confirmation, settling, reversal ------------------------------------------------------

    def confirm(self, audit: Audit, number: str,
                current: dict[str, dict[str, Any]] | None = None) -> None:
        """Confirm the draft; `current` (the bills the work order gives now) must match it."""
        require(self.status == "draft", SettlementError(f"the settlement is {self.status}"))
        if current is not None and billed_lines(current) != billed_lines(self.bills):
            raise SettlementError("the work order changed since the draft (issues, returns or "
                                  "lines): draft again before confirming")
        deposits = self.paid("customer")
        customer_total = self.bills["customer"]["total"] if "customer" in self.bills else ZERO
        if deposits > customer_total:
            raise SettlementError(
                f"deposits of {deposits} exceed the customer bill of {customer_total}: refund "
                "the difference first", excess=str(deposits - customer_total))
        for kind in BILL_KINDS:
            billed = self.bills[kind]["total"] if kind in self.bills else ZERO
            if kind != "customer" and self.paid(kind) > billed:
                raise SettlementError(
                    f"{self.paid(kind)} was paid on the {kind} bill but the draft bills only "
                    f"{billed}: refund the difference first", bill=kind)
        self._confirmed(audit, number, {k: b["total"] for k, b in self.bills.items()})

    def settle_if_paid(self, audit: Audit) -> bool:
        """Settle when the customer bill is paid in full (or is zero): post the entries."""
        if self.status != "confirmed" or self.outstanding("customer") != 0:
            return False
        assert self.number is not None
        self._settled(audit, self.number, self.billed("customer"), self.settlement_entries())
        return True

    def settlement_entries(self) -> list[dict[str, Any]]:
        lines = [ln for b in self.bills.values() for ln in b["lines"]]
        revenue = entry(f"settlement {self.number} ({self.work_order_number})", [
            *[posting(BILL_ACCOUNTS[k], debit=b["total"]) for k, b in self.bills.items()],
            posting("6001", credit=sum((ln["net"] - ln["vat"] for ln in lines
                                        if ln["kind"] == "labor"), ZERO)),
            posting("6002", credit=sum((ln["net"] - ln["vat"] for ln in lines
                                        if ln["kind"] == "part"), ZERO)),
            posting("2221", credit=sum((ln["vat"] for ln in lines), ZERO)),
        ])
        cost = sum((ln["cost"] for ln in lines), ZERO)
        cogs = entry(f"cost of parts, settlement {self.number}",
                     [posting("6401", debit=cost), posting("1408", credit=cost)])
        return [revenue, cogs] if cost else [revenue]

    def reverse(self, audit: Audit, reason: str | None,
                red_invoices: dict[str, str] | None = None) -> str:
        """Reverse the settlement; each bill with a tax invoice names the red-letter invoice
        (红字发票) that writes it off, in `red_invoices` (bill -> number), and no other bill."""
        require(self.status in ("confirmed", "settled"),
                SettlementError(f"only a confirmed settlement is reversed; it is {self.status}"))
        require(audit.role == "manager", NotPermitted("reversing a settlement needs a manager"))
        red = dict(red_invoices or {})
        for kind, bill in self.bills.items():
            if bill.get("invoice_no") is not None and not red.get(kind):
                raise InvalidInput(
                    f"the {kind} bill has tax invoice {bill['invoice_no']}: reversing it needs "
                    "the red-letter invoice's number that writes it off (red_invoice_numbers)",
                    field=f"red_invoice_numbers.{kind}", invoice_no=bill["invoice_no"])
        for kind in red:
            require(self.bills.get(kind, {}).get("invoice_no") is not None, InvalidInput(
                f"the {kind} bill has no tax invoice: no red-letter invoice writes it off",
                field=f"red_invoice_numbers.{kind}"))
        require(not any(b.get("written_off") or b.get("charged_back")
                        for b in self.bills.values()),
                SettlementError("a receivable of this settlement is written off or charged "
                                "back: it is not reversed (take the write-off back first)"))
        assert self.number is not None
        number = self.number
        # The bill goes, and its allowances with it: the credits granted on it count as
        # payment returns from now on, so their allowance goes back to the receivable.
        taken_back = [entry(f"allowance of refund {r['refund_id']} taken back by reversal of "
                            f"{number}", [
                                posting(BILL_ACCOUNTS[r["bill"]], debit=r["amount"]),
                                *[posting(p["account"], credit=p["debit"])
                                  for p in r["allowance"]]])
                      for r in self.refunds.values() if r.get("allowed_on") == number]
        self._reversed(audit, number, require_reason(reason, "reversing a settlement"),
                       [*[reversal(e, f"reversal of {e['memo']}") for e in self.settled_entries],
                        *taken_back], red)
        return number

    def record_invoice(self, audit: Audit, bill_kind: str, invoice_no: str) -> None:
        require(self.status in ("confirmed", "settled"),
                SettlementError("a tax invoice follows a confirmed settlement"))
        bill = self.bill(bill_kind)
        require(bill_kind != "internal", InvalidInput(
            "the internal bill is charged to the store's own department (expensed, never "
            "sold): no tax invoice is issued for it", field="bill"))
        text = invoice_no.strip()
        require(bool(text), InvalidInput("the invoice number is required", field="invoice_no"))
        require(bill.get("invoice_no") is None,
                SettlementError(f"the {bill_kind} bill already has invoice {bill.get('invoice_no')}"))
        self._invoice(audit, bill_kind, text)
