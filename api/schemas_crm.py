"""Request bodies for customers, vehicles, reminders, appointments, technicians and dispatch."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from pydantic import Field, StringConstraints

from api.booleans import Boolean
from api.dates import PlainDay
from api.numbers import Number, NumberOrNone, Plain, Whole, WholeOrNone
from api.schemas import (
    EXAMPLE_ID,
    EXAMPLE_VIN,
    REASON,
    Body,
    Complaint,
    CustomerKind,
    ModelYear,
    Skill,
    VehiclePlate,
    VehicleVin,
    WorkOrderKind,
    described,
    example,
)
from domain.customer import MAX_TAGS

Channel = Literal["phone", "sms", "wechat", "email"]
Phone = Annotated[str, StringConstraints(min_length=1, max_length=30)]
Tag = Annotated[str, StringConstraints(min_length=1, max_length=30)]
Weekday = Annotated[int, Field(ge=1, le=7), Plain]
Clock = Annotated[str, Field(max_length=5, pattern=r"^[0-9]{2}:[0-9]{2}$", description="HH:MM")]
STORE = "the store (4S shop) id"


class CustomerRegisterIn(Body):
    model_config = example({
        "store_id": "S01", "kind": "person", "name": "王芳", "phones": ["13800138000"],
        "wechat_id": "wangfang88", "consents": ["phone", "wechat"], "tags": ["referral"]})

    store_id: str = Field(min_length=1, max_length=20, description=STORE)
    kind: CustomerKind = Field(default="person", description="a person or a company (fleet)")
    name: str = Field(min_length=1, max_length=100)
    phones: list[Phone] = Field(min_length=1, max_length=5, description="the first is the main")
    wechat_id: str | None = Field(default=None, max_length=60)
    consents: list[Channel] = Field(default_factory=list, max_length=4,
                                    description="channels the customer agrees to be contacted on")
    tags: list[Tag] = Field(default_factory=list, max_length=MAX_TAGS)


class CustomerDetailsIn(Body):
    model_config = example({"phones": ["13800138000", "02164001234"],
                            "reason": "customer gave a new mobile number at the desk"})

    kind: CustomerKind | None = None
    name: str | None = Field(default=None, min_length=1, max_length=100)
    phones: list[Phone] | None = Field(default=None, min_length=1, max_length=5,
                                       description="replaces the list")
    wechat_id: str | None = Field(default=None, max_length=60)
    reason: str | None = Field(default=None, max_length=500, description=(
        "why the details change (required, at least 3 characters)"))


class ConsentIn(Body):
    model_config = example({"channel": "sms", "granted": False, "note": "asked on the phone"})

    channel: Channel = Field(description="the way of contacting the customer")
    granted: Boolean = Field(description="given (true) or withdrawn (false)")
    note: str | None = Field(default=None, max_length=500)


class TagIn(Body):
    model_config = example({"tag": "referral"})

    tag: str = Field(min_length=1, max_length=30)


class PointsEarnIn(Body):
    model_config = example({"paid_amount": "1010.00", "reference": "SET-S01-2026-000001"})

    paid_amount: Number = Field(gt=0, le=10_000_000, description="CNY paid")
    reference: str = Field(min_length=1, max_length=80,
                           description="what was paid; points are earned once per reference")


class PointsRedeemIn(Body):
    model_config = example({"points": 500, "reference": "SET-S01-2026-000002"})

    points: Whole = Field(gt=0, le=100_000_000, description="at most the live balance")
    reference: str = Field(min_length=1, max_length=80, description="what they pay for")


class VehicleRegisterIn(Body):
    model_config = example({
        "store_id": "S01", "vin": EXAMPLE_VIN, "plate": "沪A12345", "brand": "Volkswagen",
        "model": "Lavida", "year": 2022, "sale_date": "2022-03-18", "owner_id": EXAMPLE_ID})

    store_id: str = Field(min_length=1, max_length=20, description=STORE)
    vin: VehicleVin
    plate: VehiclePlate = None
    brand: str | None = Field(default=None, max_length=40)
    model: str | None = Field(default=None, max_length=60)
    year: ModelYear = None
    sale_date: PlainDay | None = Field(default=None, description="starts the warranty and reminders")
    owner_id: UUID | None = Field(default=None, description="a registered customer")


class VehicleDetailsIn(Body):
    model_config = example({"model": "Lavida Plus", "reason": "model misread at registration"})

    brand: str | None = Field(default=None, max_length=40)
    model: str | None = Field(default=None, max_length=60)
    year: ModelYear = None
    sale_date: PlainDay | None = None
    reason: str | None = Field(default=None, max_length=500, description=REASON)


class PlateIn(Body):
    model_config = example({"plate": "沪AD12345", "reason": "new-energy plate issued"})

    plate: str = Field(min_length=1, max_length=12,
                       description="mainland China plate, e.g. 沪A12345")
    reason: str | None = Field(default=None, max_length=500, description=(
        "why (at least 3 characters): required when the car already has a plate"))


class OwnerIn(Body):
    model_config = example({"customer_id": EXAMPLE_ID, "reason": "sold to a colleague"})

    customer_id: UUID = Field(description="the new owner, a registered customer")
    reason: str = Field(min_length=1, max_length=500, description=REASON)


class ReminderIn(Body):
    model_config = example({"vin": EXAMPLE_VIN, "store_id": "S01", "due_on": "2026-06-01",
                            "outcome": "reminded", "channel": "wechat"})

    vin: str = Field(min_length=17, max_length=17)
    store_id: str = Field(min_length=1, max_length=20, description=STORE)
    due_on: PlainDay = Field(description="the service the reminder was about")
    outcome: Literal["reminded", "booked", "declined"] = Field(
        description="what came of the reminder")
    channel: Literal["phone", "sms", "wechat", "email", "in_person"] | None = Field(
        default=None, description="a consented channel")
    note: str | None = Field(default=None, max_length=500)
    appointment_id: UUID | None = Field(default=None, description="when booked")


class PlanIn(Body):
    model_config = example({"brand": "Volkswagen", "model": "*", "months": 12, "km": 10000})

    brand: str = Field(min_length=1, max_length=40)
    model: str = Field(min_length=1, max_length=60, description='"*" for every model')
    months: Whole = Field(ge=1, le=60, description="service interval in months")
    km: Whole = Field(ge=500, le=100_000, description="service interval in km")
    reason: str | None = Field(default=None, max_length=500, description=REASON)


class CapacityIn(Body):
    model_config = example({
        "store_id": "S01", "from_day": "2026-05-04", "to_day": "2026-05-31",
        "weekdays": [1, 2, 3, 4, 5, 6], "opens": "08:30", "closes": "17:30", "bays": 6,
        "skill_hours": {"maintenance": "24", "chassis": "16", "electrical": "8"}})

    store_id: str = Field(min_length=1, max_length=20, description=STORE)
    from_day: PlainDay = Field(description="the first day planned; each day of the range one a "
                           "booking could take: today to 366 days ahead")
    to_day: PlainDay = Field(description="the last day planned (at most 92 days in all)")
    weekdays: list[Weekday] = Field(default=[1, 2, 3, 4, 5, 6, 7], min_length=1, max_length=7,
                                    description="1 Monday … 7 Sunday")
    opens: Clock
    closes: Clock
    bays: Whole = Field(ge=0, le=200, description="lifts or bays that take a car at once")
    skill_hours: dict[Skill, Number] = Field(max_length=30,
                                              description="labor hours per skill per day")
    reason: str | None = Field(default=None, max_length=500, description=REASON)


class ServiceIn(Body):
    model_config = described("Expected work: what, which skill, how long.",
                             {"description": "10,000 km service", "op_code": "MNT-10K",
                              "hours": "1.0"})

    description: str = Field(min_length=1, max_length=500)
    op_code: str | None = Field(default=None, max_length=30,
                                description="its prefix names the skill (MNT: maintenance)")
    skill: Skill | None = Field(default=None, description="default: from the op code")
    hours: NumberOrNone = Field(default=None, gt=0, le=24, description=(
        "labor hours it takes; default: the flat-rate hours of the op code in the store's "
        "labor-operation master (required for an op code not in it)"))


class AppointmentVehicleIn(Body):
    model_config = described("The car booked in: found by VIN, or registered with it.",
                             {"vin": EXAMPLE_VIN, "plate": "沪A12345"})

    vin: VehicleVin
    plate: str | None = Field(default=None, max_length=12)
    brand: str | None = Field(default=None, max_length=40)
    model: str | None = Field(default=None, max_length=60)
    year: WholeOrNone = Field(default=None, ge=1950, le=2100)


class BookIn(Body):
    model_config = example({
        "store_id": "S01", "customer_id": EXAMPLE_ID,
        "vehicle": {"vin": EXAMPLE_VIN, "plate": "沪A12345"}, "day": "2026-05-06",
        "arrival": "09:00",
        "services": [{"description": "10,000 km service", "op_code": "MNT-10K", "hours": "1.0"}],
        "kind": "maintenance"})

    store_id: str = Field(min_length=1, max_length=20, description=STORE)
    customer_id: UUID = Field(description="a registered customer")
    vehicle: AppointmentVehicleIn
    day: PlainDay = Field(description="the day of the visit: today to 366 days ahead")
    arrival: Clock = Field(description="HH:MM on a 30-minute slot")
    services: list[ServiceIn] = Field(min_length=1, max_length=20, description=(
        "expected work: holds its labor hours per skill on the day"))
    kind: WorkOrderKind = Field(default="maintenance",
                                description="the kind of the work order it opens")
    note: str | None = Field(default=None, max_length=1000, description="for the advisor")


class RescheduleIn(Body):
    model_config = example({"day": "2026-05-07", "arrival": "14:00",
                            "reason": "customer asked for the afternoon"})

    day: PlainDay
    arrival: Clock = Field(description="HH:MM on a 30-minute slot")
    reason: str | None = Field(default=None, max_length=500, description=REASON)


class NoShowIn(Body):
    model_config = example({"note": "phone off"})

    note: str | None = Field(default=None, max_length=500)


class ArrivalIn(Body):
    model_config = example({"mileage": 10120, "complaints": ["wipers smear"]})

    mileage: Whole = Field(ge=0, le=3_000_000, description="odometer, km")
    complaints: list[Complaint] = Field(default_factory=list, max_length=30,
                                        description="besides the booked services")


class ProfileIn(Body):
    model_config = example({"store_id": "S01", "skills": {"chassis": 3, "maintenance": 2},
                            "hourly_cost": "85.00", "name": "赵师傅"})

    store_id: str = Field(min_length=1, max_length=20, description=STORE)
    skills: dict[Skill, Whole] = Field(max_length=30, description=(
        "level per skill: 1 (apprentice) to 5 (master)"))
    hourly_cost: Number = Field(ge=0, le=100_000, description="CNY per hour, for margins")
    reason: str | None = Field(default=None, max_length=500, description=REASON)
    name: str | None = Field(default=None, min_length=1, max_length=40,
                             description="the name the dashboard shows instead of the user id")


class ShiftIn(Body):
    model_config = described("One day's shift.", {"day": "2026-05-04", "start": "08:30",
                                                  "end": "17:30", "break_minutes": 60})

    day: PlainDay
    start: Clock
    end: Clock
    break_minutes: Whole = Field(default=0, ge=0, le=600)


class ShiftsIn(Body):
    model_config = example({"shifts": [
        {"day": "2026-05-04", "start": "08:30", "end": "17:30", "break_minutes": 60},
        {"day": "2026-05-05", "start": "08:30", "end": "17:30", "break_minutes": 60}]})

    shifts: list[ShiftIn] = Field(min_length=1, max_length=62)


class ShiftCancelIn(Body):
    model_config = example({"day": "2026-05-05", "reason": "training at the OEM"})

    day: PlainDay
    reason: str = Field(min_length=1, max_length=500, description=REASON)


class AttendanceIn(Body):
    model_config = example({"day": "2026-05-04", "status": "partial", "hours": "4",
                            "note": "doctor's appointment"})

    day: PlainDay
    status: Literal["present", "absent", "partial"] = Field(
        description="partial: give the hours worked")
    hours: NumberOrNone = Field(default=None, gt=0, le=16, description="hours worked, "
                                  "when partial")
    note: str | None = Field(default=None, max_length=500)


class AutoDispatchIn(Body):
    model_config = example({"work_order_id": EXAMPLE_ID, "job_no": 1})

    work_order_id: UUID
    job_no: Whole = Field(ge=1, le=1_000, description="the job (1, 2, …)")
    skill: Skill | None = Field(default=None,
                                description="default: from the job's labor op codes")
    level: WholeOrNone = Field(default=None, ge=1, le=5, description="the least level needed")
    proposed: str | None = Field(default=None, max_length=64,
                                 description="the board's proposal (re-checked, not trusted)")


class OverrideIn(Body):
    model_config = example({"work_order_id": EXAMPLE_ID, "job_no": 1,
                            "technician_id": "tech-zhao", "reason": "he diagnosed it"})

    work_order_id: UUID
    job_no: Whole = Field(ge=1, le=1_000, description="the job (1, 2, …)")
    technician_id: str = Field(min_length=1, max_length=64, description="the technician's user id")
    reason: str = Field(min_length=1, max_length=500, description=REASON)


class CreditTermsIn(Body):
    model_config = example({"limit": "50000.00", "days": 30,
                            "reason": "fleet contract 2026-014, monthly invoicing"})

    limit: Number = Field(gt=0, le=100_000_000,
                          description="CNY the account may hold open at once")
    days: Whole = Field(ge=1, le=365, description="a charge is due this many days after it")
    reason: str = Field(min_length=1, max_length=1000, description=REASON)
