"""Request bodies for settlement, payments, refunds, day-end, reconciliation and aftercare."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal, Self
from uuid import UUID

from pydantic import Field, model_validator

from api.schemas import Body
from domain.settlement import Settlement

BillKind = Literal["customer", "warranty", "insurance", "internal"]
Method = Literal["cash", "bank_card", "wechat_pay", "alipay", "bank_transfer"]


class InsuranceIn(Body):
    insurer: str = Field(min_length=1, max_length=100)
    claim_number: str = Field(min_length=1, max_length=60)


class SettlementIn(Body):
    work_order_id: UUID
    insurance: InsuranceIn | None = None
    internal_department: str | None = Field(default=None, max_length=100)


class DiscountIn(Body):
    bill: BillKind = "customer"
    line_id: str | None = Field(default=None, max_length=10,
                                description="omit for a discount on the whole bill")
    amount: Decimal = Field(gt=0, le=10_000_000)
    reason: str | None = Field(default=None, max_length=500)


class InvoiceIn(Body):
    bill: BillKind = "customer"
    invoice_no: str = Field(min_length=1, max_length=40, description="the tax invoice (发票) number")


class PaymentIn(Body):
    work_order_id: UUID
    method: Method
    amount: Decimal = Field(gt=0, le=10_000_000)
    bill: BillKind = "customer"
    tendered: Decimal | None = Field(default=None, gt=0, le=10_000_000,
                                     description="cash handed over; the change is computed")
    provider_ref: str | None = Field(default=None, max_length=80,
                                     description="required for electronic payments")
    business_date: str | None = Field(default=None, max_length=10,
                                      description="YYYY-MM-DD; default today")
    correction_of: str | None = Field(default=None, max_length=10,
                                      description="the closed day (YYYY-MM-DD) this payment "
                                      "corrects")


class VisitKey(Body):
    """Money in and money out name the visit the same way: by its work order (a payment,
    a refund, a refund decision). The settlement's own id is still accepted instead."""

    work_order_id: UUID | None = None
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
    payment_id: str = Field(min_length=1, max_length=40)
    amount: Decimal = Field(gt=0, le=10_000_000)
    reason: str = Field(min_length=1, max_length=500)


class RefundDecisionIn(VisitKey):
    approve: bool
    reason: str | None = Field(default=None, max_length=500)


class DayEndIn(Body):
    store_id: str = Field(min_length=1, max_length=20)
    counted_cash: Decimal = Field(ge=0, le=100_000_000)
    business_date: str | None = Field(default=None, max_length=10, description="YYYY-MM-DD")
    reason: str | None = Field(default=None, max_length=500)
    cashier_id: str | None = Field(default=None, max_length=64,
                                   description="a manager or finance closes another's day")


class StatementIn(Body):
    store_id: str = Field(min_length=1, max_length=20)
    source: Literal["bank", "wechat_pay", "alipay", "card_acquirer"]
    account: str = Field(default="", max_length=60)
    csv: str = Field(min_length=1, max_length=200_000,
                     description="header: date,amount,reference,counterparty")


class MatchIn(Body):
    line_no: int = Field(ge=1)
    settlement_id: UUID
    payment_id: str = Field(min_length=1, max_length=40)
    reason: str = Field(min_length=1, max_length=500)


class DeliveryIn(Body):
    mileage_out: int = Field(ge=0, le=3_000_000)
    acknowledged_by: str = Field(min_length=1, max_length=100)
    method: Literal["signature", "sms_code", "wechat"] = "signature"
    handed_over_by: str | None = Field(default=None, max_length=64)
    note: str | None = Field(default=None, max_length=500)


class ComplaintIn(Body):
    description: str = Field(min_length=3, max_length=2000)


class FollowUpIn(Body):
    csi: int = Field(ge=1, le=5)
    comment: str | None = Field(default=None, max_length=2000)
    complaint: ComplaintIn | None = None


class AttemptIn(Body):
    outcome: Literal["no_answer", "call_back_later", "wrong_number"]
    note: str | None = Field(default=None, max_length=500)


class AssignIn(Body):
    assignee: str = Field(min_length=1, max_length=64)
    note: str | None = Field(default=None, max_length=500)


class ResolveIn(Body):
    resolution: str = Field(min_length=3, max_length=2000)
