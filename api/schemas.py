"""Request and response bodies (pydantic). Value rules (VIN, money) are the domain's."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from api.booleans import Boolean
from api.dates import Moment
from api.numbers import Number, NumberOrNone, Plain, Whole, WholeOrNone

PayType = Literal["customer", "warranty", "insurance", "internal"]
# Closed sets of the domain, as enums in the OpenAPI document (tests/e2e/test_api_docs.py
# checks each against the domain's own tuple).
WorkOrderKind = Literal["maintenance", "repair", "warranty", "insurance", "internal",
                        "body_paint"]  # domain/work_order_state.py KINDS
CustomerKind = Literal["person", "company"]  # domain/customer.py KINDS
PartCategory = Literal["maintenance", "brake", "engine", "transmission", "electrical", "ev",
                       "body", "paint", "tyre", "accessory", "fluid", "other"]  # domain/part.py
Skill = Literal["maintenance", "engine", "transmission", "chassis", "electrical",
                "ev_high_voltage", "body", "paint"]  # domain/skills.py SKILLS
# The statuses the list filters take (each the domain's own set).
WorkOrderStatus = Literal["opened", "checked_in", "in_progress", "ready_for_settlement",
                          "settled", "delivered", "closed", "cancelled"]
AppointmentStatus = Literal["booked", "arrived", "cancelled", "no_show"]
FollowUpStatus = Literal["open", "done"]
ComplaintStatus = Literal["opened", "assigned", "resolved", "moved"]
SettlementStatus = Literal["open", "draft", "confirmed", "settled"]
RefundStatus = Literal["requested", "approved", "rejected"]
PurchaseOrderStatus = Literal["draft", "sent", "partly_received", "received", "closed",
                              "cancelled"]
TransferStatus = Literal["in_transit", "received"]
ApprovalStatus = Literal["awaiting_approval", "approved", "rejected"]
# The stock journal's movement types (projections/stock.py writes them).
MovementType = Literal["receipt", "issue", "return_from_job", "scrap", "stocktake_variance",
                       "transfer_out", "transfer_in", "return_to_supplier"]
# A VIN whose check digit is right (ISO 3779 / GB 16735), for the examples.
EXAMPLE_VIN = "LSVAU218XN2183294"
EXAMPLE_ID = "3fa85f64-5717-4562-b3fc-2c963f66afa6"
# Items of lists and keys of maps are bounded like every other text field: a complaint; a
# short code (fault code, tag, skill, phone, part number, line id, brand); a longer identifier
# (lot id, model name).
Complaint = Annotated[str, StringConstraints(min_length=1, max_length=1000)]
Code = Annotated[str, StringConstraints(min_length=1, max_length=40)]
Ident = Annotated[str, StringConstraints(min_length=1, max_length=80)]
# A car's fields as the bodies that register or find one take them.
VehicleVin = Annotated[str, Field(min_length=17, max_length=17, description=(
    "17 characters A-Z (no I, O, Q) and 0-9; the 9th is the check digit"))]
VehiclePlate = Annotated[str | None, Field(max_length=12,
                                           description="mainland China plate, e.g. 沪A12345")]
ModelYear = Annotated[int | None, Field(ge=1950, le=2100, description="model year"), Plain]


def example(value: dict[str, Any]) -> ConfigDict:
    """A request body's configuration with its example: /docs fills "Try it out" with it."""
    return ConfigDict(extra="forbid", json_schema_extra={"examples": [value]})


def described(description: str, value: dict[str, Any]) -> ConfigDict:
    """The same for a part of a body, with the description its schema shows."""
    return ConfigDict(extra="forbid",
                      json_schema_extra={"description": description, "examples": [value]})


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
    """Whether every string in `value` (keys too) can be stored as PostgreSQL text.

    Walked with a stack of its own, not by recursion: a body nested a few hundred levels deep
    (which the JSON parser still accepts) must be refused as invalid input, not exhaust the
    interpreter's recursion limit into a 500."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return False
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return False
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list | tuple):
            pending.extend(item)
    return True


REASON = "why, kept with the event for the audit trail"


class CustomerIn(Body):
    model_config = described(
        "A walk-in customer (registered under the store); or give `customer_id` instead.",
        {"name": "陈静", "phone": "13912345678"})

    name: str | None = Field(default=None, max_length=100, description="person or company name")
    phone: str | None = Field(default=None, max_length=30, description=(
        "mobile or landline, kept as a registered customer's phone is: ASCII digits, without "
        "blanks, dashes or a mobile's +86"))
    wechat_id: str | None = Field(default=None, max_length=60)
    kind: CustomerKind = Field(default="person", description="a person or a company (fleet)")


class VehicleIn(Body):
    model_config = described(
        "The car: found by VIN, or registered with it.",
        {"vin": EXAMPLE_VIN, "plate": "沪A12345", "brand": "Volkswagen", "model": "Lavida",
         "year": 2022})

    vin: VehicleVin
    plate: VehiclePlate = None
    brand: str | None = Field(default=None, max_length=40)
    model: str | None = Field(default=None, max_length=60)
    year: ModelYear = None


class WorkOrderOpen(Body):
    model_config = example({
        "store_id": "S01", "customer": {"name": "陈静", "phone": "13912345678"},
        "vehicle": {"vin": EXAMPLE_VIN, "plate": "沪A12345", "brand": "Volkswagen",
                    "model": "Lavida", "year": 2022},
        "mileage": 42000, "complaints": ["brake noise at low speed"], "kind": "repair"})

    store_id: str = Field(min_length=1, max_length=20, description="the store (4S shop) id")
    customer: CustomerIn = Field(default_factory=CustomerIn)
    customer_id: UUID | None = Field(default=None,
                                     description="a registered customer, instead of `customer`")
    vehicle: VehicleIn
    mileage: Whole = Field(ge=0, le=3_000_000, description="odometer, km")
    complaints: list[Complaint] = Field(min_length=1, max_length=30, description=(
        "in the customer's words; each becomes a job (1, 2, …)"))
    kind: WorkOrderKind = Field(default="repair", description="the kind of visit")
    appointment_id: str | None = Field(default=None, max_length=64,
                                       description="the appointment this visit keeps")


class CheckIn(Body):
    model_config = example({
        "mileage_in": 42010, "fuel_level": 40, "damage_notes": "scratch rear bumper",
        "belongings": "child seat", "promised_at": "2026-05-01T17:00:00+08:00"})

    mileage_in: Whole = Field(ge=0, le=3_000_000, description="odometer at reception, km")
    fuel_level: Whole = Field(ge=0, le=100, description="percent")
    damage_notes: str = Field(default="", max_length=2000,
                              description="damage seen at the walk-around")
    belongings: str = Field(default="", max_length=2000, description="what was left in the car")
    promised_at: Moment | None = Field(default=None,
                                         description="when the car is promised back")
    comeback_of: UUID | None = Field(default=None, description=(
        "the earlier work order the car is back for (返修: same VIN, opened before, completed), "
        "as `POST /work-orders/{id}/comeback` takes it; needs `comeback_reason`"))
    comeback_reason: str | None = Field(default=None, max_length=500, description=(
        "why it is a comeback of `comeback_of` (3+ characters)"))

    @field_validator("promised_at")
    @classmethod
    def _plausible(cls, value: datetime | None) -> datetime | None:
        # 9999-12-31T23:00-10:00 is valid ISO 8601, but shown in the store's time zone it is
        # past year 9999: the customer's progress page could not be drawn any more.
        if value is not None and not 2000 <= value.year <= 2100:
            raise ValueError("the promised time must be in the years 2000-2100")
        return value


class JobIn(Body):
    model_config = example({"complaint": "air conditioning blows warm"})

    complaint: str = Field(min_length=1, max_length=1000, description="becomes a new job")


class DiagnosisIn(Body):
    model_config = example({"cause": "front pads worn to 2 mm",
                            "correction": "replace front pads", "fault_codes": ["C1234"]})

    cause: str = Field(min_length=1, max_length=2000, description="the 3C's cause")
    correction: str = Field(min_length=1, max_length=2000, description="the 3C's correction")
    fault_codes: list[Code] = Field(default_factory=list, max_length=50,
                                    description="diagnostic trouble codes read")


class WarrantyIn(Body):
    model_config = described(
        "What the OEM's warranty claim needs for this line (pay type warranty).",
        {"coverage_code": "BASIC-3Y", "causal_part": "5Q0698151"})

    coverage_code: str = Field(min_length=1, max_length=40,
                               description="the OEM's coverage (basic, powertrain, campaign)")
    campaign_no: str | None = Field(default=None, max_length=40,
                                    description="the recall or service campaign")
    authorization_ref: str | None = Field(default=None, max_length=60, description=(
        "the OEM's goodwill or prior-authorisation reference: required for a car beyond the "
        "base warranty (SERVICECORE_WARRANTY_YEARS / _KM from its sale date), else 422 "
        "out-of-warranty-coverage"))
    causal_part: str | None = Field(default=None, max_length=60,
                                    description="the part that failed")
    sublet: str | None = Field(default=None, max_length=200,
                               description="work done outside the shop")
    deductible: NumberOrNone = Field(default=None, ge=0, le=10_000_000,
                                       description=(
        "the coverage's deductible on this line, VAT included: the customer pays it (a line "
        "of the customer bill at settlement) and the OEM is billed the line less it; at most "
        "the line's price"))


class LineIn(Body):
    """What every estimate line has: who pays, the VAT rate inside the price, warranty details."""

    description: str | None = Field(default=None, min_length=1, max_length=500)
    pay_type: PayType = Field(default="customer", description="who pays the line: the bill "
                              "it goes on at settlement")
    vat_rate: NumberOrNone = Field(default=None, ge=0, lt=1, description=(
        "VAT inside the price, e.g. 0.13; default the store's rate"))
    warranty: WarrantyIn | None = None


class SubletIn(Body):
    model_config = described(
        "Work sent to an outside shop (glass, alignment): who did it, their invoice, its cost.",
        {"supplier": "Shanghai Auto Glass", "invoice_ref": "INV-88123", "cost": "1200.00"})

    supplier: str = Field(min_length=1, max_length=200, description="the outside shop")
    invoice_ref: str = Field(min_length=1, max_length=60, description="its invoice number")
    cost: Number = Field(ge=0, le=10_000_000, description="its invoice amount, VAT included")


class LaborLineIn(LineIn):
    model_config = example({"op_code": "BRK-PAD", "description": "replace front pads",
                            "hours": "1.5", "hourly_rate": "300.00", "pay_type": "customer"})

    description: str | None = Field(default=None, min_length=1, max_length=500, description=(
        "default: the labor-operation master's (required for an op code not in it)"))
    op_code: str = Field(min_length=1, max_length=30, description=(
        "the labor operation; its prefix names the skill dispatch needs (BRK: chassis)"))
    hours: NumberOrNone = Field(default=None, gt=0, le=1000, description=(
        "flat-rate hours sold; default: the store's labor-operation master's (required for an "
        "op code not in it); other hours than the master's: the manager's only"))
    hourly_rate: NumberOrNone = Field(default=None, ge=0, le=100_000, description=(
        "CNY per hour, VAT-inclusive; default: the master's rate of the pay type (required "
        "for an op code not in it); another rate: the manager's only"))
    price_override_reason: str | None = Field(default=None, min_length=1, max_length=500,
                                              description=(
        "why a manager prices the line off the labor-operation master (required then, "
        "refused otherwise)"))
    sublet: SubletIn | None = Field(default=None, description=(
        "the line is sublet work (hours 1 and the price charged, say): the outside shop's "
        "supplier, invoice reference and cost, claimed with the line"))


class PartLineIn(LineIn):
    model_config = example({"part_number": "5Q0698151", "description": "front brake pads",
                            "qty": "1", "unit_price": "560.00"})

    part_number: str = Field(min_length=1, max_length=40, description="in the part master")
    qty: Number = Field(gt=0, le=100_000, description="in the part's unit")
    unit: str | None = Field(default=None, max_length=10,
                             description="default: the part master's unit, else pc")
    unit_price: NumberOrNone = Field(default=None, ge=0, le=10_000_000,
                                       description="default: the part master's list price")


class RepriceIn(Body):
    model_config = example({"unit_price": "520.00", "reason": "price matched for a loyal customer"})

    unit_price: Number = Field(ge=0, le=10_000_000, description="CNY, VAT-inclusive")
    reason: str | None = Field(default=None, max_length=500,
                               description="required once the line is approved")


class AuthorizationIn(Body):
    model_config = example({"decision": "approved", "channel": "phone"})

    decision: Literal["approved", "declined"] = Field(description="the customer's answer")
    channel: Literal["in_person", "phone", "link"] = Field(
        description="how the customer answered")
    note: str | None = Field(default=None, max_length=500)


class DispatchIn(Body):
    model_config = example({"technician_id": "tech-zhao"})

    technician_id: str = Field(min_length=1, max_length=64, description="the technician's user id")
    reason: str | None = Field(default=None, max_length=500,
                               description="required to reassign a dispatched job")


class JobCloseIn(Body):
    model_config = example({"outcome": "no_fault_found",
                            "reason": "no rattle on a 20 km test drive with the customer"})

    outcome: Literal["no_fault_found", "declined"] = Field(
        description="how the job ends without repair work")
    reason: str = Field(min_length=1, max_length=1000, description=REASON)


class ClockIn(Body):
    model_config = example({"technician_id": "tech-zhao"})

    technician_id: str | None = Field(default=None, max_length=64, description=(
        "default: the caller; a manager clocks for a technician"))


class QualityCheckIn(Body):
    model_config = example({"passed": False, "reason": "pads squeal on the test drive"})

    passed: Boolean
    reason: str | None = Field(default=None, max_length=1000,
                               description="required when it fails: back to repair")


class CompensationIn(Body):
    model_config = example({"kind": "loaner", "amount": "600.00", "days": 3,
                            "reference": "RENT-2026-118", "note": "Lavida while the gearbox is out"})

    kind: Literal["towing", "loaner", "travel"] = Field(description=(
        "towing in, a loaner car, or the customer's travel"))
    amount: Number = Field(gt=0, le=1_000_000, description="CNY paid for it, VAT included")
    days: WholeOrNone = Field(default=None, ge=1, le=366, description="a loaner car's days")
    reference: str | None = Field(default=None, max_length=60,
                                  description="the towing invoice, rental agreement, receipt")
    note: str | None = Field(default=None, max_length=500)


class ReasonIn(Body):
    model_config = example({"reason": "customer cancelled by phone"})

    reason: str = Field(min_length=1, max_length=1000, description=REASON)


class CommandAccepted(BaseModel):
    """The answer to every command: the stream, its new version, and where the log stands."""

    model_config = ConfigDict(extra="allow")
    id: UUID = Field(description="the stream (work order, settlement, part, …) the command changed")
    version: int = Field(description="its version now; also the ETag, for If-Match")
    notification_id: int | None = Field(
        description="pass as ?wait_for= on a GET to read your own write; a command that "
        "changed nothing answers the position of the event that made the state it answers")


class WorkOrderPage(BaseModel):
    total: int = Field(description="how many match the filters")
    limit: int = Field(description="the page size asked for")
    offset: int = Field(description="how many were skipped")
    items: list[dict[str, Any]] = Field(description="this page, newest first")


class Actor(BaseModel):
    """Who did it, as what, where, when, in which request: the same in every history, the
    timeline and a request's events."""

    user_id: str = Field(description="the token's user (sub)")
    role: str = Field(description="the role it acted as")
    store_id: str = Field(description="the store it acted in")
    at: datetime = Field(description="when the actor did it (business time)")
    correlation_id: str = Field(description="the request that stored it (X-Correlation-ID)")
    idempotency_key: str | None = Field(description="the request's Idempotency-Key, if any")


class HistoryEntry(BaseModel):
    version: int = Field(description="the stream's version after the event")
    event: str = Field(description="what happened, e.g. WorkOrder.CheckedIn")
    recorded_at: datetime = Field(description="when it was stored")
    actor: Actor | None = Field(description="who did it (null: an event without an audit "
                                "stamp; none is stored)")
    reason: str | None = Field(description="why, on corrections, cancellations and overrides")
    changes: dict[str, Any] = Field(description="the event's fields")
