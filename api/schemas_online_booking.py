"""Bodies and answers of online booking (线上预约): the booking channel's request, the desk's
confirmation and decline, the customer's link."""

from __future__ import annotations

from datetime import date
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, Field

from api.dates import PlainDay
from api.schemas import EXAMPLE_ID, EXAMPLE_VIN, Body, VehiclePlate, described, example
from api.schemas_crm import Clock

BookingStatus = Literal["requested", "confirmed", "declined", "cancelled", "expired"]


class AskedServiceIn(Body):
    model_config = described(
        "What the customer asks for: an op code of the store's labor-operation master (its "
        "flat-rate hours are held), or free text (held as general maintenance).",
        {"description": "10,000 km service", "op_code": "MNT-10K"})

    description: str | None = Field(default=None, max_length=500)
    op_code: str | None = Field(default=None, max_length=30)


class OnlineBookingIn(Body):
    model_config = example({
        "store_id": "S01", "name": "王芳", "phone": "13700001111", "plate": "沪A12345",
        "day": "2026-05-06", "arrival": "09:00",
        "services": [{"description": "oil change and a squeak from the front left wheel"}],
        "note": "will wait in the lounge"})

    store_id: str = Field(min_length=1, max_length=20)
    name: str = Field(min_length=1, max_length=100, description="the customer's name")
    phone: str = Field(min_length=1, max_length=30, description="the customer's phone")
    vin: str | None = Field(default=None, min_length=17, max_length=17,
                            description="the car's VIN (or its plate)")
    plate: VehiclePlate = None
    day: PlainDay = Field(description="the day of the visit: today to 366 days ahead")
    arrival: Clock = Field(description="HH:MM on a 30-minute slot")
    services: list[AskedServiceIn] = Field(min_length=1, max_length=20)
    note: str | None = Field(default=None, max_length=500, description="for the advisor")


class OnlineBookingAccepted(BaseModel):
    id: UUID = Field(description="the booking request")
    version: int
    notification_id: int | None
    booking_id: UUID
    status: BookingStatus
    day: str
    arrival: str
    link_id: str = Field(description="names the customer's link (its token is only here)")
    expires_at: str
    answer_by: str | None = Field(default=None, description=(
        "the store answers by then, or the request expires and its slot is free again"))
    token: str = Field(description="the customer's link token: GET /booking/{token}")


class ConfirmationIn(Body):
    model_config = example({"customer_id": EXAMPLE_ID, "vin": EXAMPLE_VIN})

    customer_id: UUID | None = Field(default=None, description=(
        "the registered customer the desk matched (GET /customers?q=<phone>); none: a new "
        "customer is registered from the request's name and phone"))
    vin: str | None = Field(default=None, min_length=17, max_length=17,
                            description="the car's VIN where the request gave only its plate")


class DeclineIn(Body):
    model_config = example({"reason": "the workshop is closed for stocktaking that day"})

    reason: str = Field(min_length=1, max_length=500)


class CancelIn(Body):
    model_config = example({"reason": "I cannot come that day"})

    reason: str | None = Field(default=None, max_length=500)


class SlotsOfDay(BaseModel):
    day: date
    slots: list[str] = Field(description="free arrival slots (HH:MM)")


class FreeSlots(BaseModel):
    store_id: str
    hours: str = Field(description="the labor hours the asked work holds")
    days: list[SlotsOfDay]


class BookingLinkOut(BaseModel):
    """What the customer's link shows."""

    booking_id: UUID
    store_id: str
    status: BookingStatus
    day: str
    arrival: str
    services: list[str]
    link_expires_at: str
    cancellable: bool
