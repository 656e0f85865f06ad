"""Online booking requests the store leaves unanswered, in memory: the deadline rule, the hold
that stops counting by the clock, the 409 on a lapsed request, the lapse recorded once (with
the hold's release), and requests made before deadlines lapsing by the rule when swept."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest

from domain.online_booking import OnlineBooking, OnlineBookingError
from domain.online_bookings import OnlineBookings, SlotTaken
from domain.workshop_day import WorkshopDay
from tests.unit.support import T0, VIN, request
from tests.unit.test_online_booking import CHANNEL, DAY, _ask, _day, _system


def _ask_at(bookings: OnlineBookings, at: datetime, **extra: Any) -> dict[str, Any]:
    given: dict[str, Any] = {"store_id": "S01", "name": "李雷", "phone": "13900002222",
                             "vin": None, "plate": "沪A54321", "day": DAY, "arrival": "09:00",
                             "services": [{"description": "tyres"}], **extra}
    return bookings.request(request(CHANNEL, "mini-program", at=at), **given).body


def test_the_deadline_is_the_earlier_of_the_answer_hours_and_the_slot() -> None:
    bookings, _ = _system()
    # made 2026-05-01 09:00 Shanghai for 2026-05-04 09:00: 24 hours
    assert bookings.answer_by(T0, DAY, "09:00") == T0 + timedelta(hours=24)
    bookings.answer_hours = 100  # a slot sooner than that: its start (09:00 = 01:00 UTC)
    assert bookings.answer_by(T0, DAY, "09:00") == T0 + timedelta(hours=72)


def test_a_stale_request_frees_the_last_bay_and_can_no_longer_be_answered() -> None:
    bookings, _ = _system(bays=1)
    stale = _ask(bookings)
    assert stale["answer_by"] == (T0 + timedelta(hours=24)).isoformat()
    with pytest.raises(SlotTaken):  # still held an hour before its deadline
        _ask_at(bookings, T0 + timedelta(hours=23))
    fresh = _ask_at(bookings, T0 + timedelta(hours=24))  # the bay is free at the deadline
    assert fresh["status"] == "requested"
    late = T0 + timedelta(hours=25)
    for answer in (lambda: bookings.confirm(request(at=late), UUID(stale["booking_id"]),
                                            vin=VIN),
                   lambda: bookings.decline(request(at=late), UUID(stale["booking_id"]),
                                            reason="too late")):
        with pytest.raises(OnlineBookingError, match="expired"):
            answer()
    booking: Any = bookings.app.repository.get(UUID(stale["booking_id"]))
    assert (booking.status, booking.status_at(late)) == ("requested", "expired")


def test_the_lapse_is_recorded_once_with_the_release_of_its_hold() -> None:
    bookings, _ = _system(bays=1)
    stale = _ask(bookings)
    booking_id = UUID(stale["booking_id"])
    system = request("system", "online-booking-retention", stores=("*",),
                     at=T0 + timedelta(hours=25))
    assert bookings.expire(request("system", at=T0 + timedelta(hours=23)), booking_id) is None
    assert bookings.expire(system, booking_id) is not None
    booking: Any = bookings.app.repository.get(booking_id)
    assert (booking.status, booking.closed_at) == ("expired", T0 + timedelta(hours=24))
    assert stale["booking_id"] not in _day(bookings.app).bookings
    assert bookings.expire(system, booking_id) is None
    lapses = [e for e in bookings.app.events.get(booking_id)
              if isinstance(e, OnlineBooking.Expired)]
    assert len(lapses) == 1 and lapses[0].audit.user_id == "online-booking-retention"
    released = [e for e in bookings.app.events.get(WorkshopDay.create_id("S01", DAY))
                if isinstance(e, WorkshopDay.Released)]
    assert [e.why for e in released] == ["expired"]


def test_a_request_made_before_deadlines_lapses_by_the_rule_when_swept() -> None:
    bookings, _ = _system(bays=1)
    # stored as before deadlines: no answer_by, a hold for good
    audit = request(CHANNEL, at=T0).caller.audit("S01")
    legacy = OnlineBooking(audit=audit, store_id="S01", day=DAY, arrival="09:00",
                           kind="maintenance", services=[], vehicle={"plate": "沪A12345"},
                           sealed={}, link_nonce="n", link_expires_at=T0 + timedelta(days=30))
    day = _day(bookings.app)
    day.reserve(audit, legacy.id, "09:00", {"maintenance": Decimal(1)})
    bookings.app.save(legacy, day)
    booking_id = legacy.id
    with pytest.raises(SlotTaken):  # its hold counts until the lapse is recorded
        _ask_at(bookings, T0 + timedelta(hours=30))
    assert bookings.expire(request("system", at=T0 + timedelta(hours=30)), booking_id)
    assert _ask_at(bookings, T0 + timedelta(hours=31))["status"] == "requested"


def test_events_stored_before_deadlines_read_with_none() -> None:
    bookings, _ = _system()
    asked = _ask(bookings)
    app = bookings.app
    streams = (UUID(asked["booking_id"]), WorkshopDay.create_id("S01", DAY))
    read_old = []
    for stored in [e for s in streams for e in app.recorder.select_events(s)]:
        state = app.mapper.transcoder.decode(stored.state)
        if "answer_by" not in state and "lapses_at" not in state:
            continue
        for name in ("answer_by", "lapses_at", "class_version"):
            state.pop(name, None)
        old = dataclasses.replace(stored, state=app.mapper.transcoder.encode(state))
        read = app.mapper.to_domain_event(old)
        assert getattr(read, "answer_by", getattr(read, "lapses_at", "?")) is None
        read_old.append(type(read))
    assert read_old == [OnlineBooking.Requested, WorkshopDay.Reserved]
