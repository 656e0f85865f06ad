"""Request bodies for customers, vehicles, reminders, appointments, technicians and dispatch."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Literal
from uuid import UUID

from pydantic import Field, StringConstraints

from api.schemas import Body, Complaint

Channel = Literal["phone", "sms", "wechat", "email"]
Phone = Annotated[str, StringConstraints(min_length=1, max_length=30)]
Tag = Annotated[str, StringConstraints(min_length=1, max_length=30)]
Skill = Annotated[str, StringConstraints(min_length=1, max_length=30)]
Weekday = Annotated[int, Field(ge=1, le=7)]


class CustomerRegisterIn(Body):
    store_id: str = Field(min_length=1, max_length=20)
    kind: Literal["person", "company"] = "person"
    name: str = Field(min_length=1, max_length=100)
    phones: list[Phone] = Field(min_length=1, max_length=5)
    wechat_id: str | None = Field(default=None, max_length=60)
    consents: list[Channel] = Field(default_factory=list, max_length=4)
    tags: list[Tag] = Field(default_factory=list, max_length=20)


class CustomerDetailsIn(Body):
    kind: Literal["person", "company"] | None = None
    name: str | None = Field(default=None, min_length=1, max_length=100)
    phones: list[Phone] | None = Field(default=None, min_length=1, max_length=5)
    wechat_id: str | None = Field(default=None, max_length=60)


class ConsentIn(Body):
    channel: Channel
    granted: bool
    note: str | None = Field(default=None, max_length=500)


class TagIn(Body):
    tag: str = Field(min_length=1, max_length=30)


class PointsEarnIn(Body):
    paid_amount: Decimal = Field(gt=0, le=10_000_000)
    reference: str = Field(min_length=1, max_length=80)


class PointsRedeemIn(Body):
    points: int = Field(gt=0, le=100_000_000)
    reference: str = Field(min_length=1, max_length=80)


class VehicleRegisterIn(Body):
    store_id: str = Field(min_length=1, max_length=20)
    vin: str = Field(min_length=17, max_length=17)
    plate: str | None = Field(default=None, max_length=12)
    brand: str | None = Field(default=None, max_length=40)
    model: str | None = Field(default=None, max_length=60)
    year: int | None = Field(default=None, ge=1950, le=2100)
    sale_date: date | None = None
    owner_id: UUID | None = None


class VehicleDetailsIn(Body):
    brand: str | None = Field(default=None, max_length=40)
    model: str | None = Field(default=None, max_length=60)
    year: int | None = Field(default=None, ge=1950, le=2100)
    sale_date: date | None = None
    reason: str | None = Field(default=None, max_length=500)


class PlateIn(Body):
    plate: str = Field(min_length=1, max_length=12)
    reason: str | None = Field(default=None, max_length=500)


class OwnerIn(Body):
    customer_id: UUID
    reason: str = Field(min_length=1, max_length=500)


class ReminderIn(Body):
    vin: str = Field(min_length=17, max_length=17)
    store_id: str = Field(min_length=1, max_length=20)
    due_on: date
    outcome: Literal["reminded", "booked", "declined"]
    channel: Literal["phone", "sms", "wechat", "email", "in_person"] | None = None
    note: str | None = Field(default=None, max_length=500)
    appointment_id: UUID | None = None


class PlanIn(Body):
    brand: str = Field(min_length=1, max_length=40)
    model: str = Field(min_length=1, max_length=60, description='"*" for every model')
    months: int = Field(ge=1, le=60)
    km: int = Field(ge=500, le=100_000)
    reason: str | None = Field(default=None, max_length=500)


class CapacityIn(Body):
    store_id: str = Field(min_length=1, max_length=20)
    from_day: date
    to_day: date
    weekdays: list[Weekday] = Field(default=[1, 2, 3, 4, 5, 6, 7], min_length=1, max_length=7)
    opens: str = Field(max_length=5, pattern=r"^\d\d:\d\d$")
    closes: str = Field(max_length=5, pattern=r"^\d\d:\d\d$")
    bays: int = Field(ge=0, le=200)
    skill_hours: dict[Skill, Decimal] = Field(max_length=30)
    reason: str | None = Field(default=None, max_length=500)


class ServiceIn(Body):
    description: str = Field(min_length=1, max_length=500)
    op_code: str | None = Field(default=None, max_length=30)
    skill: str | None = Field(default=None, max_length=30)
    hours: Decimal = Field(gt=0, le=24)


class AppointmentVehicleIn(Body):
    vin: str = Field(min_length=17, max_length=17)
    plate: str | None = Field(default=None, max_length=12)
    brand: str | None = Field(default=None, max_length=40)
    model: str | None = Field(default=None, max_length=60)
    year: int | None = Field(default=None, ge=1950, le=2100)


class BookIn(Body):
    store_id: str = Field(min_length=1, max_length=20)
    customer_id: UUID
    vehicle: AppointmentVehicleIn
    day: date
    arrival: str = Field(max_length=5, pattern=r"^\d\d:\d\d$")
    services: list[ServiceIn] = Field(min_length=1, max_length=20)
    kind: str = Field(default="maintenance", max_length=20)
    note: str | None = Field(default=None, max_length=1000)


class RescheduleIn(Body):
    day: date
    arrival: str = Field(max_length=5, pattern=r"^\d\d:\d\d$")
    reason: str | None = Field(default=None, max_length=500)


class NoShowIn(Body):
    note: str | None = Field(default=None, max_length=500)


class ArrivalIn(Body):
    mileage: int = Field(ge=0, le=3_000_000)
    complaints: list[Complaint] = Field(default_factory=list, max_length=30)


class ProfileIn(Body):
    store_id: str = Field(min_length=1, max_length=20)
    skills: dict[Skill, int] = Field(max_length=30)
    hourly_cost: Decimal = Field(ge=0, le=100_000)
    reason: str | None = Field(default=None, max_length=500)
    name: str | None = Field(default=None, min_length=1, max_length=40,
                             description="the name the dashboard shows instead of the user id")


class ShiftIn(Body):
    day: date
    start: str = Field(max_length=5, pattern=r"^\d\d:\d\d$")
    end: str = Field(max_length=5, pattern=r"^\d\d:\d\d$")
    break_minutes: int = Field(default=0, ge=0, le=600)


class ShiftsIn(Body):
    shifts: list[ShiftIn] = Field(min_length=1, max_length=62)


class ShiftCancelIn(Body):
    day: date
    reason: str = Field(min_length=1, max_length=500)


class AttendanceIn(Body):
    day: date
    status: Literal["present", "absent", "partial"]
    hours: Decimal | None = Field(default=None, gt=0, le=16)
    note: str | None = Field(default=None, max_length=500)


class AutoDispatchIn(Body):
    work_order_id: UUID
    job_no: int = Field(ge=1)
    skill: str | None = Field(default=None, max_length=30,
                              description="default: from the job's labor op codes")
    level: int | None = Field(default=None, ge=1, le=5)
    proposed: str | None = Field(default=None, max_length=64,
                                 description="the board's proposal (re-checked, not trusted)")


class OverrideIn(Body):
    work_order_id: UUID
    job_no: int = Field(ge=1)
    technician_id: str = Field(min_length=1, max_length=64)
    reason: str = Field(min_length=1, max_length=500)
