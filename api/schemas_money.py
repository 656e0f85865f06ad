"""Request bodies for settlement, payments, refunds, day-end, reconciliation and aftercare."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal, Self
from uuid import UUID

from pydantic import BaseModel, Field, model_validator

from api.booleans import Boolean
from api.dates import DayText
from api.numbers import Number, NumberOrNone, Plain, Whole
from api.paging import Page
from api.schemas import EXAMPLE_ID, REASON, Body, CommandAccepted, described, example
from domain.settlement import Settlement

BillKind = Literal["customer", "warranty", "insurance", "internal"]
Method = Literal["cash", "bank_card", "wechat_pay", "alipay", "bank_transfer"]


def day() -> Any:
    return Field(default=None, max_length=10, description="YYYY-MM-DD; default today")


class InsuranceIn(Body):
    model_config = described("Who pays the insurance lines.",
                             {"insurer": "PICC 中国人保", "claim_number": "PICC-2026-0012345"})

    insurer: str = Field(min_length=1, max_length=100)
    claim_number: str = Field(min_length=1, max_length=60, description="the insurer's claim")


class InsuranceAssessmentIn(Body):
    model_config = example({"insurer": "PICC 中国人保", "claim_number": "PICC-2026-0012345",
                            "report_number": "RPT-2026-88", "approved_amount": "900.00",
                            "deductible": "200.00"})

    insurer: str = Field(min_length=1, max_length=100)
    claim_number: str = Field(min_length=1, max_length=60, description="the insurer's claim")
    report_number: str | None = Field(default=None, max_length=60, description=(
        "the accident report (报案号), when the insurer gave one"))
    approved_amount: Number = Field(ge=0, le=10_000_000, description=(
        "CNY, VAT-inclusive: what the insurer's assessment (定损) approved for the insurance "
        "lines; what they bill above it is the excess, the customer's"))
    deductible: Number = Field(default=Decimal("0.00"), ge=0, le=10_000_000, description=(
        "CNY the policy leaves to the customer (免赔额), within the approved amount"))
    reason: str | None = Field(default=None, max_length=500, description=(
        REASON + "; required when the assessment changes (3+ characters)"))


class SettlementIn(Body):
    model_config = example({"work_order_id": EXAMPLE_ID})

    work_order_id: UUID = Field(description="a work order ready for settlement")
    insurance: InsuranceIn | None = Field(default=None,
                                          description="required when lines are pay type insurance")
    internal_department: str | None = Field(default=None, max_length=100, description=(
        "the department charged for internal lines"))


class DiscountIn(Body):
    model_config = example({"bill": "customer", "line_id": "L2", "amount": "50.00",
                            "reason": "loyalty discount"})

    bill: BillKind = Field(default="customer", description="the bill discounted")
    line_id: str | None = Field(default=None, max_length=10,
                                description="omit for a discount on the whole bill")
    amount: Number = Field(gt=0, le=10_000_000, description="CNY off, VAT-inclusive")
    reason: str = Field(max_length=500, description=(
        "why (at least 3 characters), on every discount; above the store's threshold the "
        "discount is also a manager's"))


class InvoiceIn(Body):
    model_config = example({"bill": "customer", "invoice_no": "31000012345678"})

    bill: BillKind = Field(default="customer", description="the bill invoiced")
    invoice_no: str = Field(min_length=1, max_length=40, description="the tax invoice (发票) number")


RED_NUMBER = "the red-letter invoice (红字发票) writing off this bill's tax invoice"


class RedInvoiceNumbersIn(Body):
    model_config = example({"customer": "31000012345699"})

    customer: str | None = Field(default=None, min_length=1, max_length=40,
                                 description=RED_NUMBER)
    warranty: str | None = Field(default=None, min_length=1, max_length=40,
                                 description=RED_NUMBER)
    insurance: str | None = Field(default=None, min_length=1, max_length=40,
                                  description=RED_NUMBER)
    internal: str | None = Field(default=None, min_length=1, max_length=40,
                                 description=RED_NUMBER)


class SettlementReversalIn(Body):
    model_config = example({"reason": "wrong labor rate",
                            "red_invoice_numbers": {"customer": "31000012345699"}})

    reason: str = Field(min_length=1, max_length=1000, description=REASON)
    red_invoice_numbers: RedInvoiceNumbersIn | None = Field(default=None, description=(
        "per bill with a tax invoice, the red-letter invoice that writes it off: required "
        "for each invoiced bill, refused for a bill without one"))


class PaymentIn(Body):
    model_config = example({"work_order_id": EXAMPLE_ID, "method": "wechat_pay",
                            "amount": "1010.00", "provider_ref": "4200001234202605010001"})

    work_order_id: UUID = Field(description="the work order paid for (its settlement)")
    method: Method = Field(description="how the customer paid")
    amount: Number = Field(gt=0, le=10_000_000, description="CNY; before confirmation a "
                            "deposit, after it never more than is due")
    bill: BillKind = Field(default="customer", description="the bill paid")
    tendered: NumberOrNone = Field(default=None, gt=0, le=10_000_000,
                                     description="cash handed over; the change is computed")
    provider_ref: str | None = Field(default=None, max_length=80,
                                     description="required for electronic payments")
    business_date: DayText | None = day()
    correction_of: DayText | None = Field(default=None, max_length=10,
                                      description="the closed day (YYYY-MM-DD) this payment "
                                      "corrects")
    reason: str | None = Field(default=None, max_length=500, description=(
        "why the closed day did not hold it: required with correction_of (3+ characters)"))


class VisitKey(Body):
    """Money in and money out name the visit the same way: by its work order (a payment,
    a refund, a refund decision). The settlement's own id is still accepted instead."""

    work_order_id: UUID | None = Field(default=None, description="the visit")
    settlement_id: UUID | None = Field(default=None, description="instead of work_order_id")

    @model_validator(mode="after")
    def _one_key(self) -> Self:
        if (self.work_order_id is None) == (self.settlement_id is None):
            raise ValueError("name the visit by work_order_id (or settlement_id), not both")
        return self

    def settlement(self) -> UUID:
        if self.settlement_id is not None:
            return self.settlement_id
        assert self.work_order_id is not None
        return Settlement.create_id(self.work_order_id)


class RefundIn(VisitKey):
    model_config = example({"work_order_id": EXAMPLE_ID, "payment_id": "PAY-3F2A9C01B7D4",
                            "amount": "260.00", "reason": "brake cleaning was not done"})

    payment_id: str = Field(min_length=1, max_length=40, description="the payment refunded")
    amount: Number = Field(gt=0, le=10_000_000, description="CNY; never more than was paid")
    reason: str = Field(min_length=1, max_length=500, description=REASON)
    kind: Literal["payment_return", "credit"] | None = Field(
        default=None,
        description=("payment_return: the money goes back and the bill still asks for it; "
                     "credit: a price allowance on a settled bill (goodwill, a concession), "
                     "the bill asks that much less. Unsaid: a payment return before the "
                     "visit is settled or of an overpayment; on a settled visit, where the "
                     "customer would owe it again, 422 naming kind"))
    red_invoice_number: str | None = Field(
        default=None, min_length=1, max_length=40,
        description="the red-letter invoice (红字发票) of a credit on an invoiced bill")


class RefundDecisionIn(Body):
    """The refund id in the path names the refund (they are unique); naming its visit too, as
    before, is still accepted, and then the refund must be that visit's."""

    model_config = example({"approve": True})

    approve: Boolean = Field(description="a manager other than the requester decides")
    reason: str | None = Field(default=None, max_length=500)
    payout_method: Method | None = Field(default=None, description=(
        "an approval: how the money goes out (the payment's method when not said)"))
    payout_ref: str | None = Field(default=None, max_length=80, description=(
        "an approval: the transfer's or provider's reference, as the bank's statement shows "
        "it (required with a payout_method other than cash); auto-match pairs it"))
    work_order_id: UUID | None = Field(default=None, description="optional: the visit")
    settlement_id: UUID | None = Field(default=None, description="optional, instead of "
                                       "work_order_id")

    @model_validator(mode="after")
    def _at_most_one_key(self) -> Self:
        if self.work_order_id is not None and self.settlement_id is not None:
            raise ValueError("name the visit by work_order_id or settlement_id, not both "
                             "(or by neither: the refund id names it)")
        return self

    def settlement(self) -> UUID | None:
        """The settlement the body names (None: it names none)."""
        if self.settlement_id is not None:
            return self.settlement_id
        return Settlement.create_id(self.work_order_id) if self.work_order_id else None


class DayEndIn(Body):
    model_config = example({"store_id": "S01", "counted_cash": "3260.00",
                            "business_date": "2026-05-01"})

    store_id: str = Field(min_length=1, max_length=20)
    counted_cash: Number = Field(ge=0, le=100_000_000, description="cash in the drawer, CNY")
    business_date: DayText | None = day()
    reason: str | None = Field(default=None, max_length=500,
                               description="required when counted and expected cash differ")
    cashier_id: str | None = Field(default=None, max_length=64,
                                   description="a manager or finance closes another's day")


class StatementIn(Body):
    model_config = example({
        "store_id": "S01", "source": "bank", "account": "工行1001",
        "csv": "date,amount,reference,counterparty\n2026-05-01,1010.00,4200001234,陈静\n"})

    store_id: str = Field(min_length=1, max_length=20)
    source: Literal["bank", "wechat_pay", "alipay", "card_acquirer"] = Field(
        description="who issued the statement")
    account: str = Field(default="", max_length=60, description="the account it covers")
    csv: str = Field(min_length=1, max_length=200_000,
                     description="header: date,amount,reference,counterparty")


class MatchIn(Body):
    model_config = example({"line_no": 2, "settlement_id": EXAMPLE_ID,
                            "payment_id": "PAY-3F2A9C01B7D4",
                            "reason": "reference mistyped by the bank"})

    line_no: Whole = Field(ge=1, le=1_000_000, description="the statement's line")
    settlement_id: UUID
    payment_id: str | None = Field(default=None, min_length=1, max_length=40, description=(
        "the payment it matches (a line of money in)"))
    refund_id: str | None = Field(default=None, min_length=1, max_length=40, description=(
        "or the refund it paid (a line of money out)"))
    reason: str = Field(min_length=1, max_length=500, description=REASON)


class ExplanationIn(Body):
    model_config = example({"kind": "duplicate", "duplicate_of": 3,
                            "reason": "the bank printed the transfer twice"})

    kind: Literal["duplicate", "bank_fee", "interest", "own_transfer", "other"] = Field(
        description="why the line needs no match in the books")
    reason: str = Field(min_length=1, max_length=500, description=REASON)
    duplicate_of: Annotated[int, Field(ge=1, le=1_000_000), Plain] | None = Field(default=None, description=(
        "for a duplicate: the line of this statement it repeats (same date, amount and "
        "reference)"))


class WithdrawalIn(Body):
    model_config = example({"reason": "the fee was charged to the other account"})

    reason: str = Field(min_length=1, max_length=500, description=REASON)


class DeliveryIn(Body):
    model_config = example({"mileage_out": 42015, "acknowledged_by": "陈静",
                            "method": "signature", "handed_over_by": "adv-li"})

    mileage_out: Whole = Field(ge=0, le=3_000_000, description="odometer at hand-over, km")
    acknowledged_by: str = Field(min_length=1, max_length=100,
                                 description="who took the car back")
    method: Literal["signature", "sms_code", "wechat"] = Field(
        default="signature", description="how they acknowledged it")
    handed_over_by: str | None = Field(default=None, max_length=64,
                                       description="default: the caller")
    note: str | None = Field(default=None, max_length=500)


class ComplaintIn(Body):
    model_config = described(
        "Deprecated: the older shorthand for `grievance`. A complaint raised on the call opens "
        "the follow-up's complaint case (channel follow_up, category other, severity normal, "
        "the description as the customer's words).",
        {"description": "the car was not washed"})

    description: str = Field(min_length=3, max_length=2000)


class FollowUpGrievanceIn(Body):
    model_config = described(
        "A dissatisfied customer's complaint case (投诉) opened by the call: channel follow_up, "
        "about the visit; one per follow-up (see /grievances).",
        {"category": "waiting_time", "severity": "normal", "words": "等了三个小时才交车"})

    category: Literal["repair_quality", "service_attitude", "price", "waiting_time", "parts",
                      "other"]
    severity: Literal["normal", "serious"] = "normal"
    words: str = Field(min_length=3, max_length=2000,
                       description="what the customer said (sealed as their personal data)")


class FollowUpIn(Body):
    model_config = example({"csi": 2, "comment": "waited too long",
                            "grievance": {"category": "waiting_time", "severity": "normal",
                                          "words": "等了三个小时才交车"}})

    csi: Whole = Field(ge=1, le=5, description="satisfaction, 1 (bad) to 5 (very good)")
    comment: str | None = Field(default=None, max_length=2000)
    complaint: ComplaintIn | None = Field(default=None, json_schema_extra={"deprecated": True},
                                          description=(
        "deprecated: `grievance` with category other and severity normal; not with "
        "`grievance` (422 naming `complaint`)"))
    grievance: FollowUpGrievanceIn | None = None


class AttemptIn(Body):
    model_config = example({"outcome": "no_answer"})

    outcome: Literal["no_answer", "call_back_later", "wrong_number"] = Field(
        description="a call that reached no result")
    note: str | None = Field(default=None, max_length=500)


class AssignIn(Body):
    model_config = example({"assignee": "mgr-wang", "note": "call her back today"})

    assignee: str = Field(min_length=1, max_length=64, description="a user id")
    note: str | None = Field(default=None, max_length=500)


class ResolveIn(Body):
    model_config = example({"resolution": "car washed and returned; apology given"})

    resolution: str = Field(min_length=3, max_length=2000)


class BillFigures(BaseModel):
    total: str = Field(description="what the bill asks, VAT included")
    allowances: str = Field(description="approved credits (price allowances) on it")
    paid: str = Field(description="payments on it less approved refunds of them")
    expensed: str | None = Field(default=None, description=(
        "the internal bill, once the visit is settled: its total, booked as the dealership's "
        "own expense (an internal bill is never paid); \"0.00\" for every other bill. Null "
        "only in a retry replayed from a first answer stored before it was kept"))
    written_off: str | None = Field(default=None, description=(
        "what a manager wrote off of it as its payer's loss (POST /settlements/{id}/write-off, "
        "less write-offs taken back; \"0.00\": none), as `bill_status` and /receivables show "
        "it. Null only in a retry replayed from a first answer stored before it was kept"))
    outstanding: str = Field(description=(
        "total less allowances less paid less expensed less written_off"))


class SettlementAccepted(CommandAccepted):
    """The answer of every settlement, payment and refund command: the settlement's figures
    after it."""

    status: str = Field(description="open, draft, confirmed, settled (reversed: open again)")
    number: str | None = Field(description="SET-S01-2026-000001 once confirmed")
    bills: dict[str, BillFigures] = Field(description="by pay type")
    deposits: str | None = Field(description=(
        "the customer's money taken before confirmation, less refunds of it (\"0.00\": none); "
        "after confirmation what there was then. Never null, except in a retry replayed by "
        "its Idempotency-Key of a first answer stored when it was still null after "
        "confirmation"))


class InsuranceAssessed(SettlementAccepted):
    """The settlement's figures after the assessment."""

    work_order_id: str
    assessment: dict[str, str | None] = Field(description=(
        "insurer, claim_number, report_number, approved_amount, deductible as recorded"))
    redrafted: bool = Field(description=(
        "whether the drafted bills were redrafted under the new assessment (discounts given "
        "on the old draft are gone with it)"))
    discounts_dropped: dict[str, str] = Field(default_factory=dict, description=(
        "per bill, the discounts the old draft carried that the redraft dropped (give them "
        "again if they still hold); {} when nothing was redrafted or nothing discounted"))


class PaymentsPage(Page):
    """One page of the payments journal; the sums are over every payment and refund the
    filters list, not only this page's: `taken` less `refunded` is `net`, in all and by
    method. A refund counts on its own business day (the day it was paid out), whatever day
    its payment was taken, as the day report counts it."""

    taken: Decimal = Field(description="what the listed payments took, CNY (gross)")
    refunded: Decimal = Field(description=(
        "what the refunds approved over the listed days paid out (of payments of any day), "
        "CNY"))
    net: Decimal = Field(description="taken less refunded, CNY")
    taken_by_method: dict[str, Decimal] = Field(description="`taken` by payment method")
    refunded_by_method: dict[str, Decimal] = Field(description="`refunded` by payment method")
    net_by_method: dict[str, Decimal] = Field(description="`net` by payment method")
    amount: Decimal = Field(description="`taken` by its first name (gross of refunds), CNY")
    by_method: dict[str, Decimal] = Field(description="`taken_by_method` by its first name")
    bank_refunded: Decimal = Field(description=(
        "of `refunded`, the bank receipts paid back by bank transfer (the OEM's or an "
        "insurer's overpaid remittance returned), in no cashier's day, CNY"))
    bank_refunded_by_method: dict[str, Decimal] = Field(description=(
        "`bank_refunded` by the method the payment came in by"))


class LedgerPage(Page):
    """One page of a month's journal lines; `debit` and `credit` sum every line the filters
    list, not only this page's."""

    debit: Decimal = Field(description="the listed lines' debits, CNY")
    credit: Decimal = Field(description="the listed lines' credits, CNY")
