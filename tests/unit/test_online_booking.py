"""Online booking requests in memory: held on their slot at once, confirmed into an appointment
(the hold passing to it in one save), declined or cancelled (the hold released), each in one
state; the customer's details sealed and never published; the link opening its request only."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from domain.application import ServiceCore
from domain.appointment import Appointment
from domain.appointments import Appointments
from domain.common import CUSTOMER_ROLE, DomainError, InvalidInput
from domain.customer import Customer
from domain.customers import Customers
from domain.integration_events import PAYLOADS
from domain.online_booking import OnlineBooking, OnlineBookingError
from domain.online_bookings import OnlineBookings, SlotTaken
from domain.pii import is_sealed
from domain.progress_link import LinkClaims, LinkGone, LinkRefused, LinkSigner
from domain.workshop_day import WorkshopDay
from tests.unit.support import T0, VIN, events_stored, request

SECRET = "unit-secret-0123456789"
DAY = "2026-05-04"
CHANNEL = "booking_channel"


def _system(bays: int = 1, maintenance: int = 8) -> tuple[OnlineBookings, Appointments]:
    app = ServiceCore()
    appointments = Appointments(app)
    appointments.plan_capacity(request("manager"), store_id="S01", from_day=DAY, to_day=DAY,
                               opens="08:00", closes="12:00", bays=bays,
                               skill_hours={"maintenance": maintenance})
    return OnlineBookings(app, appointments, Customers(app), SECRET), appointments


def _ask(bookings: OnlineBookings, arrival: str = "09:00", **extra: Any) -> dict[str, Any]:
    given: dict[str, Any] = {"store_id": "S01", "name": "王芳", "phone": "137 0000 1111",
                             "vin": None, "plate": "沪A12345", "day": DAY, "arrival": arrival,
                             "services": [{"description": "oil change"}],
                             "note": "will wait", **extra}
    return bookings.request(request(CHANNEL, "mini-program"), **given).body


def _day(app: ServiceCore) -> WorkshopDay:
    found: Any = app.repository.get(WorkshopDay.create_id("S01", DAY))
    return found  # type: ignore[no-any-return]


def test_a_request_holds_its_slot_and_a_full_slot_names_the_free_ones() -> None:
    bookings, _ = _system(bays=1)
    first = _ask(bookings, "09:00")
    assert first["status"] == "requested"
    assert set(_day(bookings.app).bookings) == {first["booking_id"]}
    before = events_stored(bookings.app)
    with pytest.raises(SlotTaken) as taken:
        _ask(bookings, "09:00")
    # the one bay is held 09:00-10:00 (one hour of free-text work); nothing else was stored
    assert taken.value.extra["alternatives"] == ["08:00", "10:00", "10:30", "11:00", "11:30"]
    assert "problems" not in taken.value.extra  # no hours or bays shown to a customer
    assert events_stored(bookings.app) == before


def test_the_slot_is_checked_like_a_staff_booking() -> None:
    bookings, _ = _system()
    for extra, field in (({"arrival": "09:15"}, "arrival"), ({"day": "2026-04-30"}, "day"),
                         ({"plate": None}, "vin"), ({"name": " "}, "name"),
                         ({"phone": "call me"}, "phone"),
                         ({"services": [{"op_code": "NOPE-1"}]}, "services[0].op_code"),
                         ({"services": [{"description": " "}]}, "services[0].description")):
        with pytest.raises(InvalidInput) as refused:
            _ask(bookings, **extra)
        assert refused.value.extra.get("field") == field, (extra, refused.value)
    # a slot of today that has passed (T0 is 09:00 in Shanghai)
    today = (T0 + timedelta(hours=8)).date().isoformat()
    bookings.appointments.plan_capacity(request("manager"), store_id="S01", from_day=today,
                                        to_day=today, opens="08:00", closes="12:00", bays=1,
                                        skill_hours={"maintenance": 8})
    with pytest.raises(InvalidInput) as past:
        _ask(bookings, day=today, arrival="08:30")
    assert past.value.extra["field"] == "arrival"


def test_confirmation_registers_the_customer_and_books_the_held_slot_in_one_save() -> None:
    bookings, _ = _system(bays=1)
    asked = _ask(bookings)
    booking_id = UUID(asked["booking_id"])
    with pytest.raises(InvalidInput) as no_vin:
        bookings.confirm(request(), booking_id)
    assert no_vin.value.extra["field"] == "vin"
    before = events_stored(bookings.app)
    done = bookings.confirm(request(), booking_id, vin=VIN).body
    # the request, the new customer, the day (hold released, appointment held), the appointment
    assert events_stored(bookings.app) - before == 5
    assert done["status"] == "confirmed" and done["registered"] is True
    appointment: Any = bookings.app.repository.get(UUID(done["appointment_id"]))
    assert isinstance(appointment, Appointment)
    assert (appointment.day, appointment.arrival, appointment.vehicle["vin"]) == (DAY, "09:00",
                                                                                  VIN)
    assert set(_day(bookings.app).bookings) == {done["appointment_id"]}
    customer: Any = bookings.app.repository.get(UUID(done["customer_id"]))
    assert isinstance(customer, Customer)
    assert bookings.app.personal_data.open(customer.id, customer.sealed["name"]) == "王芳"
    assert bookings.app.personal_data.open(customer.id, customer.sealed["phone"]) == \
        "13700001111"
    for again in (lambda: bookings.confirm(request(), booking_id, vin=VIN),
                  lambda: bookings.decline(request(), booking_id, reason="changed our mind")):
        with pytest.raises(OnlineBookingError):
            again()


def test_decline_needs_a_reason_and_releases_the_hold() -> None:
    bookings, _ = _system(bays=1)
    booking_id = UUID(_ask(bookings)["booking_id"])
    with pytest.raises(InvalidInput):
        bookings.decline(request(), booking_id, reason=" ")
    bookings.decline(request(), booking_id, reason="closed for stocktaking")
    assert _day(bookings.app).bookings == {}
    assert _ask(bookings)["status"] == "requested"  # the slot is free again


def test_the_link_opens_its_own_request_only_and_cancels_it() -> None:
    bookings, _ = _system()
    asked = _ask(bookings)
    token = bookings.token(asked)
    claims, booking = bookings.grant(token, T0)
    assert booking.id == UUID(asked["booking_id"]) and claims.nonce == asked["link_id"]
    # a progress-link signer's token for the same claims, a forged one, an expired use
    with pytest.raises(LinkRefused):
        bookings.grant(LinkSigner(SECRET).token(claims), T0)
    with pytest.raises(LinkRefused):
        bookings.grant(token[:-3] + "AAA", T0)
    with pytest.raises(LinkRefused):
        bookings.grant(bookings.signer.token(LinkClaims(claims.work_order_id,
                                                        claims.expires_at, "0" * 32)), T0)
    with pytest.raises(LinkGone):
        bookings.grant(token, claims.expires_at)
    bookings.cancel(token, reason=None, at=T0, correlation_id="c1")
    stored: Any = bookings.app.repository.get(booking.id)
    assert stored.status == "cancelled" and _day(bookings.app).bookings == {}
    cancelled = list(bookings.app.events.get(booking.id))[-1]
    assert cancelled.audit.role == CUSTOMER_ROLE
    assert cancelled.audit.user_id == f"customer-link:{claims.nonce}"
    with pytest.raises(OnlineBookingError):
        bookings.cancel(token, reason=None, at=T0, correlation_id="c2")


def test_the_customers_details_are_sealed_and_never_published() -> None:
    bookings, _ = _system()
    asked = _ask(bookings, services=[{"description": "noise from 王芳's wheel"}])
    requested = next(iter(bookings.app.events.get(UUID(asked["booking_id"]))))
    assert isinstance(requested, OnlineBooking.Requested)
    assert all(is_sealed(requested.sealed[k]) for k in ("name", "phone", "note"))
    published = repr(PAYLOADS["OnlineBooking"]["Requested"](requested))
    for personal in ("王芳", "13700001111", "沪A12345", "will wait", "pii1:", "noise"):
        assert personal not in published
    assert "maintenance" in published  # the slot and the work asked are


def test_a_retried_request_with_the_channels_id_is_stored_once() -> None:
    bookings, _ = _system()
    given = {"store_id": "S01", "name": "王芳", "phone": "13700001111", "vin": VIN,
             "plate": None, "day": DAY, "arrival": "09:00",
             "services": [{"description": "oil change"}]}
    first = bookings.request(request(CHANNEL, key="mp-42", request_hash="h"), **given)
    stored = events_stored(bookings.app)
    again = bookings.request(request(CHANNEL, key="mp-42", request_hash="h"), **given)
    assert again.replayed and again.body == first.body
    assert events_stored(bookings.app) == stored
    assert bookings.token(again.body) == bookings.token(first.body)


# -- any order of requests, confirmations, declines, cancellations and staff bookings --------

SLOTS = ("08:00", "08:30", "09:00", "10:00", "11:00", "11:30")


def _minutes(clock: str) -> int:
    return int(clock[:2]) * 60 + int(clock[3:])


class OnlineBookingMachine(RuleBasedStateMachine):
    """A model of the day's holds (each request pending or an appointment) with 2 bays and 3
    maintenance hours: a request is in exactly the state the model says; the day holds
    exactly the model's pending requests and appointments, and never more than it has."""

    @initialize()
    def store(self) -> None:
        self.bookings, self.appointments = _system(bays=2, maintenance=3)
        self.app = self.bookings.app
        self.customer = UUID(Customers(self.app).register(
            request(), store_id="S01", name="陈静", phones=["13912345678"]).body["id"])
        self.state: dict[UUID, str] = {}
        self.holds: dict[str, str] = {}  # hold key -> arrival
        self.booking_of: dict[UUID, str] = {}  # request -> its appointment, once confirmed

    def fits(self, arrival: str) -> bool:
        """Each hold is an hour of maintenance (three in the day) and a bay for two slots."""
        held = [_minutes(a) for a in [*self.holds.values(), arrival]]
        if len(held) > 3:
            return False
        return all(sum(a <= slot < a + 60 for a in held) <= 2 for slot in range(480, 720, 30))

    @rule(arrival=st.sampled_from(SLOTS), staff=st.booleans())
    def ask(self, arrival: str, staff: bool) -> None:
        fits, before = self.fits(arrival), events_stored(self.app)
        try:
            if staff:
                made = self.appointments.book(
                    request(), store_id="S01", customer_id=self.customer,
                    vehicle={"vin": VIN}, day=DAY, arrival=arrival,
                    services=[{"description": "oil", "skill": "maintenance", "hours": 1}])
                self.holds[made.body["id"]] = arrival
            else:
                key = _ask(self.bookings, arrival)["booking_id"]
                self.holds[key] = arrival
                self.state[UUID(key)] = "requested"
        except DomainError:
            assert not fits, "refused although the day has room"
            assert events_stored(self.app) == before
            return
        assert fits, "held although the day is full"

    @rule(pick=st.integers(0, 30), act=st.sampled_from(("confirm", "decline", "cancel")))
    def decide(self, pick: int, act: str) -> None:
        if not self.state:
            return
        booking_id = list(self.state)[pick % len(self.state)]
        before = events_stored(self.app)
        try:
            if act == "confirm":
                done = self.bookings.confirm(request(), booking_id, customer_id=self.customer,
                                             vin=VIN).body
            elif act == "decline":
                self.bookings.decline(request(), booking_id, reason="no parts that day")
            else:
                asked: Any = self.app.repository.get(booking_id)
                self.bookings.cancel(self.bookings.token({
                    "booking_id": str(booking_id), "link_id": asked.link_nonce,
                    "expires_at": asked.link_expires_at.isoformat()}), reason=None, at=T0,
                    correlation_id="c")
        except OnlineBookingError:
            assert self.state[booking_id] != "requested"
            assert events_stored(self.app) == before
            return
        assert self.state[booking_id] == "requested"
        arrival = self.holds.pop(str(booking_id))
        if act == "confirm":
            self.state[booking_id] = "confirmed"
            self.holds[done["appointment_id"]] = arrival
        else:
            self.state[booking_id] = {"decline": "declined", "cancel": "cancelled"}[act]

    @invariant()
    def each_request_in_its_one_state_and_the_day_never_overbooked(self) -> None:
        if not hasattr(self, "app"):
            return
        for booking_id, status in self.state.items():
            stored: Any = self.app.repository.get(booking_id)
            assert stored.status == status
            assert (stored.appointment_id is not None) == (status == "confirmed")
        day = _day(self.app)
        assert {k: b["arrival"] for k, b in day.bookings.items()} == self.holds
        assert day.booked().get("maintenance", Decimal(0)) <= Decimal(3)


OnlineBookingMachine.TestCase.settings = settings(max_examples=30, stateful_step_count=20,
                                                  deadline=None)
TestOnlineBookingStates = OnlineBookingMachine.TestCase
