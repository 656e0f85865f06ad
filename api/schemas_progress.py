"""Bodies of the progress link (advisor) and of the customer's progress page."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from api.numbers import WholeOrNone
from api.schemas import Body, CommandAccepted, described, example
from domain.customer_progress import MAX_LINK_HOURS


class ProgressLinkIn(Body):
    model_config = example({"hours": 48})

    hours: WholeOrNone = Field(default=None, ge=1, le=MAX_LINK_HOURS, description=(
        "how long the link lives; default SERVICECORE_PROGRESS_LINK_HOURS"))


class ProgressLinkIssued(CommandAccepted):
    work_order_id: str
    number: str
    link_id: str = Field(description="names the link in the audit trail "
                         "(the customer acts as customer-link:<link_id>)")
    expires_at: datetime
    replaced: str | None = Field(description="the live link this one replaced (now revoked)")
    url: str = Field(description="the page to open or print; shown only here, never stored")
    qr_svg: str = Field(description="a QR code of the URL as an SVG document")
    qr_png: str = Field(description="the same QR code as a PNG data URI")


class ProgressLinkRevoked(CommandAccepted):
    work_order_id: str
    number: str
    link_id: str


class RevocationOut(BaseModel):
    by: str
    at: datetime
    reason: str


class ProgressLinkOut(BaseModel):
    link_id: str
    issued_by: str
    issued_at: datetime
    expires_at: datetime
    live: bool
    revoked: RevocationOut | None


class CustomerDecision(Body):
    model_config = described("The customer's answer on one estimate line.",
                             {"line_id": "L2", "decision": "approved"})

    line_id: str = Field(pattern=r"^L[0-9]{1,4}$", description="as the page shows it")
    decision: Literal["approved", "declined"]


class CustomerDecisionsIn(Body):
    model_config = example({"decisions": [{"line_id": "L2", "decision": "approved"},
                                          {"line_id": "L3", "decision": "declined"}]})

    decisions: list[CustomerDecision] = Field(min_length=1, max_length=100)


class ProgressLineOut(BaseModel):
    line_id: str
    kind: str
    description: str
    quantity: str
    unit: str
    price: str
    pay_type: str
    status: str
    customer_share: str | None = Field(description=(
        "what of the price the customer pays: all of a customer line, a warranty line's "
        "deductible, nothing of an insurer's line, or under the insurer's assessment the "
        "line's deductible and excess as the bills split them (null while that is known only "
        "as the `insurance` total)"))
    covered_share: str | None = Field(description="what of the price the OEM (warranty) or "
                                      "the insurer covers (null with `customer_share`)")
    discount: str | None = Field(default=None, description=(
        "once the settlement has drafted bills, the discounts they give the line (summed "
        "over the customer's and the OEM's or insurer's bill; \"0.00\" without); the "
        "shares are net of it. Null before a draft and on lines awaiting a decision"))


class ProgressInsuranceOut(BaseModel):
    """The insurer's assessment as the customer's bill will carry it."""

    insurer: str = Field(description="the insurer's short name (else its name) in the "
                         "insurer master when the name typed on the assessment is one of a "
                         "registered insurer's, else the name as typed")
    claim_number: str
    approved_amount: str
    deductible: str = Field(description="the policy's deductible the customer pays")
    excess: str = Field(description="what the insurance lines cost above the approved amount")
    total: str = Field(description="deductible + excess: the customer's of the insurance lines")
    by_line: bool = Field(description="the lines show it per line, as the bills split it "
                          "(false: an approved insurance part is not issued yet)")


class ProgressOut(BaseModel):
    """All a progress link shows: no name, phone, WeChat id or VIN."""

    number: str
    plate: str | None
    vehicle: str | None
    stage: str
    stage_label: dict[str, str]
    promised_at: datetime | None
    awaiting_decision: list[ProgressLineOut]
    approved: list[ProgressLineOut]
    approved_total: str = Field(description="the customer's share of the approved lines "
                                "(the deductibles of approved warranty lines included)")
    allowances: str = Field(description="credits the service manager granted on the "
                            "customer's settled bill (a goodwill allowance): taken off "
                            "`approved_total`")
    due: str = Field(description="what the customer's bill asks: `approved_total` less "
                     "`allowances`")
    covered: dict[str, str] = Field(description="what the OEM (warranty) and the insurer "
                                    "cover of the approved lines, deductibles (and an "
                                    "insurance excess) excluded")
    insurance: ProgressInsuranceOut | None = Field(
        default=None, description="the insurer's assessment of the approved insurance lines "
        "(null without one): included in `approved_total`")
    currency: str
    updated_at: datetime | None
    link_expires_at: datetime


class DecisionsOut(BaseModel):
    decided: list[str]
    unchanged: list[str]
    notification_id: int | None
    progress: ProgressOut | None
