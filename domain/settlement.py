"""The money of one visit: deposits, the settlement (bills by pay type), payments, refunds, and the
journal entries each of them posts.

One stream per work order (id = stable_id("settlement", work order id)), so "paid ≤ billed" and
"refunded ≤ paid" are invariants of a single aggregate that concurrent cashiers conflict on.
A confirmed settlement is never edited: a manager reverses it (reversing entries) and the visit
is settled again with a new number.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.common import (
    Audit,
    IllegalTransition,
    InvalidInput,
    NotPermitted,
    require,
    require_reason,
    stable_id,
)
from domain.ledger import BILL_ACCOUNTS, METHOD_ACCOUNTS, entry, posting, reversal
from domain.money import CENT, gross, money, round_money, vat_included
from domain.payment_reference import taken

ZERO = Decimal("0.00")
BILL_KINDS = ("customer", "warranty", "insurance", "internal")
# open (nothing billed, or reversed), draft, confirmed (numbered), settled (paid in full)
STATUSES = ("open", "draft", "confirmed", "settled")
METHODS = ("cash", "bank_card", "wechat_pay", "alipay", "bank_transfer")
ELECTRONIC = ("bank_card", "wechat_pay", "alipay", "bank_transfer")
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
                f"at most {max(self.amount - held, ZERO)} more", limit=str(self.amount),
                basis=self.basis, held=str(held))


def _bill_line(line: dict[str, Any]) -> dict[str, Any]:
    """A work-order line as billed: labor hours as approved, parts as issued."""
    if line["kind"] == "labor":
        qty, cost = line["hours"], ZERO
        ref = {"op_code": line["op_code"]}
    else:
        qty, cost = line["issued_qty"], line.get("issued_cost", ZERO)
        ref = {"part_number": line["part_number"], "unit": line.get("unit")}
    amount = gross(qty, line["unit_price"])
    return {"line_id": line["line_id"], "job_no": line["job_no"], "kind": line["kind"],
            "description": line["description"], **ref, "qty": qty,
            "unit_price": line["unit_price"], "gross": amount, "discount": ZERO,
            "net": amount, "vat_rate": line["vat_rate"],
            "vat": vat_included(amount, line["vat_rate"]), "cost": cost,
            "warranty": line.get("warranty")}


def _deductible_split(billed: dict[str, Any]) -> dict[str, Any] | None:
    """A warranty line's coverage deductible, to the customer: the warranty bill line is billed
    that much less (`deductible` says how much), and the customer bill gets a line of that
    amount (`deductible_of`: the warranty line, no quantity of its own; the quantity is claimed
    on the warranty line). At most what the line bills (a part issued short bills less)."""
    asked = (billed.get("warranty") or {}).get("deductible")
    amount = min(Decimal(asked), billed["gross"]) if asked else ZERO
    billed.update(gross=billed["gross"] - amount, net=billed["gross"] - amount,
                  vat=vat_included(billed["gross"] - amount, billed["vat_rate"]),
                  deductible=amount)
    if not amount:
        return None
    coverage = billed["warranty"].get("coverage_code")
    return {**billed, "description": f"deductible ({coverage}): {billed['description']}",
            "qty": ZERO, "unit_price": ZERO, "gross": amount, "discount": ZERO, "net": amount,
            "vat": vat_included(amount, billed["vat_rate"]), "cost": ZERO, "warranty": None,
            "deductible": None, "deductible_of": "warranty"}


def bill_totals(bill: dict[str, Any]) -> dict[str, Any]:
    """Recompute a bill from its lines: net = gross − discount, VAT inside the net per line."""
    for line in bill["lines"]:
        line["net"] = line["gross"] - line["discount"]
        line["vat"] = vat_included(line["net"], line["vat_rate"])
    labor = sum((ln["net"] for ln in bill["lines"] if ln["kind"] == "labor"), ZERO)
    parts = sum((ln["net"] for ln in bill["lines"] if ln["kind"] == "part"), ZERO)
    bill.update(
        gross=sum((ln["gross"] for ln in bill["lines"]), ZERO),
        discount=sum((ln["discount"] for ln in bill["lines"]), ZERO),
        labor=labor, parts=parts, vat=sum((ln["vat"] for ln in bill["lines"]), ZERO),
        total=labor + parts, cost=sum((ln["cost"] for ln in bill["lines"]), ZERO))
    return bill


def build_bills(lines: list[dict[str, Any]], payers: dict[str, dict[str, Any]]) -> \
        dict[str, dict[str, Any]]:
    """Approved labor and issued parts of a work order, split into one bill per pay type; a
    warranty line's deductible goes to the customer bill (`_deductible_split`)."""
    bills: dict[str, dict[str, Any]] = {}
    for line in lines:
        if line["status"] != "approved":
            continue
        if line["kind"] == "part" and line["issued_qty"] <= 0:
            continue
        kind = line["pay_type"]
        billed = _bill_line(line)
        customer_part = _deductible_split(billed) if kind == "warranty" else None
        for pays, piece in ((kind, billed), ("customer", customer_part)):
            if piece is not None:
                bill = bills.setdefault(pays, {"kind": pays, "payer": payers.get(pays, {}),
                                               "lines": [], "invoice_no": None})
                bill["lines"].append(piece)
    if "warranty" in bills:
        bills["warranty"]["deductible"] = sum(
            (ln.get("deductible") or ZERO for ln in bills["warranty"]["lines"]), ZERO)
    return {kind: bill_totals(bill) for kind, bill in bills.items()}


def allocate(amount: Decimal, weights: dict[str, Decimal]) -> dict[str, Decimal]:
    """Split a bill discount over the bill's lines, to the fen.

    `weights` is what each line has left to discount, in the order the lines are printed on the
    bill. The rule, as a cashier or an auditor states it:

    1. every line gets its share of the discount in proportion to what it has left, rounded
       down to the fen;
    2. the fen left over (fewer than there are lines) all go to the line with the most left; of
       lines with equally much left, to the one printed first on the bill;
    3. if that line has not enough left for them (a discount within a few fen of the bill's
       total), the rest go to the next line in the same order, so no line is given more than
       it has left.

    E.g. 10.01 off lines of 50.00, 100.00 and 100.00: 2.00, 4.01 and 4.00.
    """
    total = sum(weights.values(), ZERO)
    if total <= 0 or amount > total:
        raise InvalidInput("the discount exceeds what is left on the bill")
    shares = {k: (amount * w / total).quantize(CENT, rounding=ROUND_DOWN)
              for k, w in weights.items()}
    rest = amount - sum(shares.values(), ZERO)
    printed = {key: n for n, key in enumerate(weights)}
    for key in sorted(weights, key=lambda k: (-weights[k], printed[k])):
        if rest <= 0:
            break
        room = min(weights[key] - shares[key], rest)
        shares[key] += room
        rest -= room
    return {k: v for k, v in shares.items() if v}


def billed_lines(bills: dict[str, dict[str, Any]]) -> set[tuple[Any, ...]]:
    """What a set of bills charges for, discounts aside: to tell a stale draft."""
    return {(kind, ln["line_id"], ln["qty"], ln["unit_price"], ln["cost"])
            for kind, bill in bills.items() for ln in bill["lines"]}


class Settlement(Aggregate):
    class Event(Aggregate.Event):
        audit: Audit

    class Opened(Event, Aggregate.Created):
        work_order_id: UUID
        work_order_number: str
        customer_id: UUID

    class Drafted(Event):
        bills: dict[str, dict[str, Any]]

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
        """v2 adds `reason` (why a correction of a closed day; a v1 payment has none)."""

        class_version = 2
        payment: dict[str, Any]
        entry: dict[str, Any]
        reason: str | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["reason"] = None

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
        """v2 adds `kind` (a v1 refund is a payment return)."""

        class_version = 2
        refund_id: str
        business_date: str
        entry: dict[str, Any]
        kind: str

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["kind"] = "payment_return"

    class RefundRejected(Event):
        refund_id: str
        reason: str

    class Settled(Event):
        number: str
        customer_total: Decimal
        entries: list[dict[str, Any]]

    class Reversed(Event):
        number: str
        reason: str
        entries: list[dict[str, Any]]

    class PaymentReconciled(Event):
        payment_id: str
        statement_id: UUID
        line_no: int
        manual: bool
        reason: str | None

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

    # -- figures -----------------------------------------------------------------------------

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
        return self.billed(bill) - self.paid(bill) - self.expensed(bill)

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
                                                 - self.paid(k) - self.expensed(k))}
                          for k, b in self.bills.items()},
                "deposits": str(self.deposits())}

    # -- drafting and discounts ----------------------------------------------------------------

    def draft(self, audit: Audit, bills: dict[str, dict[str, Any]]) -> None:
        require(self.status in ("open", "draft"),
                SettlementError(f"the settlement is {self.status}; reverse it to change it"))
        require(bool(bills), SettlementError("nothing to bill: no approved labor, no issued parts"))
        if self.status == "draft" and self._same_bills(bills):
            return  # the same bills again: the draft stays, with the discounts given on it
        self._drafted(audit, bills)

    def _same_bills(self, bills: dict[str, dict[str, Any]]) -> bool:
        """Whether `bills` charge the same lines to the same payers as the draft does."""
        return billed_lines(bills) == billed_lines(self.bills) and \
            {k: b["payer"] for k, b in bills.items()} == \
            {k: b["payer"] for k, b in self.bills.items()}

    @event(Drafted)
    def _drafted(self, audit: Audit, bills: dict[str, dict[str, Any]]) -> None:
        self.bills = {k: {**b, "lines": [dict(ln) for ln in b["lines"]]} for k, b in bills.items()}
        self.status = "draft"

    def bill(self, kind: str) -> dict[str, Any]:
        if kind not in self.bills:
            raise InvalidInput(f"the settlement has no {kind} bill",
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
        value = money(amount, "discount")
        require(value > 0, InvalidInput("a discount must be positive"))
        if line_id is not None:
            line = next((ln for ln in bill["lines"] if ln["line_id"] == line_id), None)
            if line is None:
                raise InvalidInput(f"the {bill_kind} bill has no line {line_id}")
            if value > line["net"]:
                raise InvalidInput(f"line {line_id} has only {line['net']} left to discount")
            base, given, allocation = line["gross"], line["discount"], {line_id: value}
        else:
            if value > bill["total"]:
                raise InvalidInput(f"the {bill_kind} bill totals only {bill['total']}")
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

    @event(DiscountGiven)
    def _discounted(self, audit: Audit, bill: str, line_id: str | None, amount: Decimal,
                    allocation: dict[str, Decimal], reason: str | None,
                    approved_by: str | None) -> None:
        target = self.bills[bill]
        for line in target["lines"]:
            line["discount"] += allocation.get(line["line_id"], ZERO)
        bill_totals(target)

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

    @event(Confirmed)
    def _confirmed(self, audit: Audit, number: str, totals: dict[str, Decimal]) -> None:
        self.status = "confirmed"
        self.number = number
        self.numbers.append(number)
        self.deposit_ids = [i for i, p in self.payments.items() if p["bill"] == "customer"]

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
                     [posting("6401", debit=cost), posting("1405", credit=cost)])
        return [revenue, cogs] if cost else [revenue]

    @event(Settled)
    def _settled(self, audit: Audit, number: str, customer_total: Decimal,
                 entries: list[dict[str, Any]]) -> None:
        self.status = "settled"
        self.settled_entries = [dict(e) for e in entries]

    def reverse(self, audit: Audit, reason: str | None) -> str:
        require(self.status in ("confirmed", "settled"),
                SettlementError(f"only a confirmed settlement is reversed; it is {self.status}"))
        require(audit.role == "manager", NotPermitted("reversing a settlement needs a manager"))
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
                        *taken_back])
        return number

    @event(Reversed)
    def _reversed(self, audit: Audit, number: str, reason: str,
                  entries: list[dict[str, Any]]) -> None:
        self.status = "open"
        self.bills = {}
        self.number = None
        self.settled_entries = []

    def record_invoice(self, audit: Audit, bill_kind: str, invoice_no: str) -> None:
        require(self.status in ("confirmed", "settled"),
                SettlementError("a tax invoice follows a confirmed settlement"))
        bill = self.bill(bill_kind)
        text = invoice_no.strip()
        require(bool(text), InvalidInput("the invoice number is required"))
        require(bill.get("invoice_no") is None,
                SettlementError(f"the {bill_kind} bill already has invoice {bill.get('invoice_no')}"))
        self._invoice(audit, bill_kind, text)

    @event(InvoiceRecorded)
    def _invoice(self, audit: Audit, bill: str, invoice_no: str) -> None:
        self.bills[bill]["invoice_no"] = invoice_no

    # -- payments and refunds ----------------------------------------------------------------

    def take_payment(self, audit: Audit, *, payment_id: str, bill: str, method: str,
                     amount: object, business_date: str, tendered: object | None = None,
                     provider_ref: str | None = None, correction_of: str | None = None,
                     reason: str | None = None,
                     deposit_limit: DepositLimit | None = None) -> dict[str, Any]:
        """A payment on a confirmed bill (never more than is outstanding), or before
        confirmation a customer deposit, bounded by `deposit_limit` when one is given."""
        if method not in METHODS:
            raise InvalidInput(f"method must be one of {', '.join(METHODS)}")
        if bill not in BILL_KINDS or bill == "internal":
            raise InvalidInput("payments go to the customer, warranty or insurance bill")
        value = money(amount, "amount")
        require(value > 0, InvalidInput("a payment must be positive"))
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
            require(bill in self.bills, InvalidInput(f"the settlement has no {bill} bill"))
            left = self.outstanding(bill)
            if value > left:
                raise SettlementError(f"the {bill} bill has only {left} outstanding; "
                                      "overpayment is refused", outstanding=str(left))
        reference = (provider_ref or "").strip() or None
        if method in ELECTRONIC:
            require(reference is not None,
                    InvalidInput(f"a {method} payment needs the provider's reference"))
        if reference is not None and method in ELECTRONIC:
            self._check_new_reference(method, reference)
        change = ZERO
        paid_in: Decimal | None = None
        if method == "cash":
            paid_in = value if tendered is None else money(tendered, "tendered")
            require(paid_in >= value, InvalidInput("cash tendered is less than the amount"))
            change = paid_in - value
        elif tendered is not None:
            raise InvalidInput("only cash is tendered")
        payment = {"payment_id": payment_id, "bill": bill, "method": method, "amount": value,
                   "tendered": paid_in, "change": change, "provider_ref": reference,
                   "business_date": business_date, "cashier": audit.user_id, "kind": kind,
                   "correction_of": correction_of, "reconciled": None}
        posted = entry(f"{kind} {payment_id} on {self.work_order_number}", [
            posting(METHOD_ACCOUNTS[method], debit=value),
            posting(BILL_ACCOUNTS[bill], credit=value)])
        why = require_reason(reason, "a correction of a closed day") \
            if correction_of is not None else ((reason or "").strip() or None)
        self._payment_taken(audit, payment, posted, why)
        return payment

    def _check_new_reference(self, method: str, reference: str) -> None:
        """One terminal or provider transaction is one payment: the same method and reference
        twice on a settlement is a double tap, whatever the amounts."""
        for earlier in self.payments.values():
            if earlier["method"] == method and earlier.get("provider_ref") == reference:
                raise taken(method, reference, earlier["payment_id"], self.id,
                            self.work_order_number)

    @event(PaymentTaken)
    def _payment_taken(self, audit: Audit, payment: dict[str, Any], entry: dict[str, Any],
                       reason: str | None) -> None:
        self.payments[payment["payment_id"]] = dict(payment)

    def request_refund(self, audit: Audit, refund_id: str, payment_id: str, amount: object,
                       reason: str | None, kind: str = "payment_return",
                       red_invoice_number: str | None = None) -> None:
        if payment_id not in self.payments:
            raise InvalidInput(f"no payment {payment_id} on this settlement")
        if kind not in REFUND_KINDS:
            raise InvalidInput(f"kind must be one of {', '.join(REFUND_KINDS)}")
        require(refund_id not in self.refunds, SettlementError(f"refund {refund_id} exists"))
        require(len(self.refunds) < MAX_REFUNDS,
                InvalidInput(f"a settlement takes at most {MAX_REFUNDS} refund requests"))
        value = money(amount, "refund")
        require(value > 0, InvalidInput("a refund must be positive"))
        red = (red_invoice_number or "").strip() or None
        if kind == "credit":
            self._check_credit(payment_id, value, red)
        elif red is not None:
            raise InvalidInput("a red-letter invoice goes with a credit, not a payment return")
        left = self.refundable(payment_id)
        if value > left:
            raise SettlementError(f"only {left} of payment {payment_id} can still be refunded",
                                  refundable=str(left))
        self._refund_requested(audit, refund_id, payment_id, value,
                               require_reason(reason, "a refund"), kind, red)

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
                               "red-letter invoice's number (red_invoice_number)")
        if invoice is None and red is not None:
            raise InvalidInput(f"the {bill} bill has no tax invoice recorded to write off")
        pending = sum((r["amount"] for r in self.refunds.values()
                       if r["kind"] == "credit" and r["status"] == "requested"
                       and r["bill"] == bill and r["refund_id"] != refund_id), ZERO)
        left = self.billed(bill) - pending
        if value > left:
            raise SettlementError(f"the {bill} bill asks only {left} more to credit",
                                  creditable=str(left))

    @event(RefundRequested)
    def _refund_requested(self, audit: Audit, refund_id: str, payment_id: str, amount: Decimal,
                          reason: str, kind: str = "payment_return",
                          red_invoice_number: str | None = None) -> None:
        self.refunds[refund_id] = {"refund_id": refund_id, "payment_id": payment_id,
                                   "amount": amount, "reason": reason, "status": "requested",
                                   "requested_by": audit.user_id, "kind": kind,
                                   "red_invoice_number": red_invoice_number,
                                   "bill": self.payments[payment_id]["bill"]}

    def decide_refund(self, audit: Audit, refund_id: str, approve: bool, reason: str | None,
                      business_date: str) -> dict[str, Any]:
        refund = self.refunds.get(refund_id)
        if refund is None:
            raise InvalidInput(f"no refund {refund_id} on this settlement")
        require(refund["status"] == "requested",
                SettlementError(f"refund {refund_id} is already {refund['status']}"))
        require(audit.role == "manager", NotPermitted("approving a refund needs a manager"))
        require(audit.user_id != refund["requested_by"],
                NotPermitted("a refund is approved by another user than the one who asked"))
        if not approve:
            self._refund_rejected(audit, refund_id, require_reason(reason, "rejecting a refund"))
            return refund
        payment = self.payments[refund["payment_id"]]
        if refund["kind"] == "credit":
            self._check_credit(payment["payment_id"], refund["amount"],
                               refund["red_invoice_number"], refund_id)
            net, vat = self.allowance_split(payment["bill"], refund["amount"])
            posted = entry(f"credit {refund_id} of {payment['payment_id']} (sales allowance)", [
                posting("6003", debit=net), posting("2221", debit=vat),
                posting(METHOD_ACCOUNTS[payment["method"]], credit=refund["amount"])])
        else:
            posted = entry(f"refund {refund_id} of {payment['payment_id']}", [
                posting(BILL_ACCOUNTS[payment["bill"]], debit=refund["amount"]),
                posting(METHOD_ACCOUNTS[payment["method"]], credit=refund["amount"])])
        self._refund_approved(audit, refund_id, business_date, posted, refund["kind"])
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

    @event(RefundApproved)
    def _refund_approved(self, audit: Audit, refund_id: str, business_date: str,
                         entry: dict[str, Any], kind: str = "payment_return") -> None:
        refund = self.refunds[refund_id]
        refund["status"] = "approved"
        if kind == "credit":
            bill = self.bills[refund["bill"]]
            bill["allowances"] = bill.get("allowances", ZERO) + refund["amount"]
            refund["allowed_on"] = self.number
            refund["allowance"] = [dict(p) for p in entry["postings"] if p["debit"]]

    @event(RefundRejected)
    def _refund_rejected(self, audit: Audit, refund_id: str, reason: str) -> None:
        self.refunds[refund_id]["status"] = "rejected"

    # -- reconciliation ----------------------------------------------------------------------

    def reconcile(self, audit: Audit, payment_id: str, statement_id: UUID, line_no: int,
                  manual: bool, reason: str | None) -> None:
        payment = self.payments.get(payment_id)
        if payment is None:
            raise InvalidInput(f"no payment {payment_id} on this settlement")
        require(payment["reconciled"] is None,
                SettlementError(f"payment {payment_id} is already matched"))
        self._reconciled(audit, payment_id, statement_id, line_no, manual, reason)

    @event(PaymentReconciled)
    def _reconciled(self, audit: Audit, payment_id: str, statement_id: UUID, line_no: int,
                    manual: bool, reason: str | None) -> None:
        self.payments[payment_id]["reconciled"] = {"statement_id": str(statement_id),
                                                   "line_no": line_no}
