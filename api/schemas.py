"""Request and response bodies (pydantic). Value rules (VIN, money) are the domain's."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

PayType = Literal["customer", "warranty", "insurance", "internal"]
# Items of lists and keys of maps are bounded like every other text field: a complaint; a
# short code (fault code, tag, skill, phone, part number, line id, brand); a longer identifier
# (lot id, model name).
Complaint = Annotated[str, StringConstraints(min_length=1, max_length=1000)]
Code = Annotated[str, StringConstraints(min_length=1, max_length=40)]
Ident = Annotated[str, StringConstraints(min_length=1, max_length=80)]

class Body(BaseModel):
    """Every request body: unknown fields refused; text the store can keep (no NUL character,
    no unpaired surrogate: PostgreSQL text and JSON columns refuse both)."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _storable_text(cls, data: Any) -> Any:
        if not storable(data):
            raise ValueError("text may not contain NUL characters or unpaired surrogates")
        return data


def storable(value: Any) -> bool:
    """Whether every string in `value` (keys too) can be stored as PostgreSQL text."""
    if isinstance(value, str):
        if "\x00" in value:
            return False
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True
    if isinstance(value, dict):
        return all(storable(k) and storable(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return all(storable(v) for v in value)
    return True


class CustomerIn(Body):
    name: str | None = Field(default=None, max_length=100)
    phone: str | None = Field(default=None, max_length=30)
    wechat_id: str | None = Field(default=None, max_length=60)
    kind: Literal["person", "company"] = "person"


class VehicleIn(Body):
    vin: str = Field(min_length=17, max_length=17)
    plate: str | None = Field(default=None, max_length=12)
    brand: str | None = Field(default=None, max_length=40)
    model: str | None = Field(default=None, max_length=60)
    year: int | None = Field(default=None, ge=1950, le=2100)


class WorkOrderOpen(Body):
    store_id: str = Field(min_length=1, max_length=20)
    customer: CustomerIn = Field(default_factory=CustomerIn)
    customer_id: UUID | None = None
    vehicle: VehicleIn
    mileage: int = Field(ge=0, le=3_000_000)
    complaints: list[Complaint] = Field(min_length=1, max_length=30)
    kind: str = Field(default="repair", max_length=20)
    appointment_id: str | None = Field(default=None, max_length=64)


class CheckIn(Body):
    mileage_in: int = Field(ge=0, le=3_000_000)
    fuel_level: int = Field(ge=0, le=100, description="percent")
    damage_notes: str = Field(default="", max_length=2000)
    belongings: str = Field(default="", max_length=2000)
    promised_at: datetime | None = None


class JobIn(Body):
    complaint: str = Field(min_length=1, max_length=1000)


class DiagnosisIn(Body):
    cause: str = Field(min_length=1, max_length=2000)
    correction: str = Field(min_length=1, max_length=2000)
    fault_codes: list[Code] = Field(default_factory=list, max_length=50)


class WarrantyIn(Body):
    coverage_code: str = Field(min_length=1, max_length=40)
    campaign_no: str | None = Field(default=None, max_length=40)
    authorization_ref: str | None = Field(default=None, max_length=60)
    causal_part: str | None = Field(default=None, max_length=60)
    sublet: str | None = Field(default=None, max_length=200)


class LineIn(Body):
    """What every estimate line has: who pays, the VAT rate inside the price, warranty details."""

    description: str | None = Field(default=None, min_length=1, max_length=500)
    pay_type: PayType = "customer"
    vat_rate: Decimal | None = Field(default=None, ge=0, lt=1)
    warranty: WarrantyIn | None = None


class LaborLineIn(LineIn):
    description: str = Field(min_length=1, max_length=500)
    op_code: str = Field(min_length=1, max_length=30)
    hours: Decimal = Field(gt=0, le=1000)
    hourly_rate: Decimal = Field(ge=0, le=100_000)


class PartLineIn(LineIn):
    part_number: str = Field(min_length=1, max_length=40)
    qty: Decimal = Field(gt=0, le=100_000)
    unit: str | None = Field(default=None, max_length=10,
                             description="default: the part master's unit, else pc")
    unit_price: Decimal | None = Field(default=None, ge=0, le=10_000_000,
                                       description="default: the part master's list price")


class RepriceIn(Body):
    unit_price: Decimal = Field(ge=0, le=10_000_000)
    reason: str | None = Field(default=None, max_length=500)


class AuthorizationIn(Body):
    decision: Literal["approved", "declined"]
    channel: Literal["in_person", "phone", "link"]
    note: str | None = Field(default=None, max_length=500)


class DispatchIn(Body):
    technician_id: str = Field(min_length=1, max_length=64)
    reason: str | None = Field(default=None, max_length=500)


class ClockIn(Body):
    technician_id: str | None = Field(default=None, max_length=64)


class QualityCheckIn(Body):
    passed: bool
    reason: str | None = Field(default=None, max_length=1000)


class ReasonIn(Body):
    reason: str = Field(min_length=1, max_length=1000)


class CommandAccepted(BaseModel):
    """The answer to every command: the stream, its new version, and where the log stands."""

    model_config = ConfigDict(extra="allow")
    id: UUID
    version: int
    notification_id: int | None = Field(
        description="pass as ?wait_for= on a GET to read your own write")


class WorkOrderPage(BaseModel):
    total: int
    limit: int
    offset: int
    items: list[dict[str, Any]]


class HistoryEntry(BaseModel):
    version: int
    event: str
    recorded_at: datetime
    actor: dict[str, Any]
    reason: str | None
    changes: dict[str, Any]
