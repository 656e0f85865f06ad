"""Attendance records what happened on a day: today in the store's time zone or before it. A
day after today is refused naming `day` and stores nothing; planning and cancelling shifts
ahead stay allowed."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from domain.application import ServiceCore
from domain.common import InvalidInput
from domain.technicians import Technicians
from tests.unit.support import events_stored, request

# 23:30 on 4 May in UTC is 07:30 on 5 May in Shanghai: the store's today is the 5th
LATE_UTC = datetime(2026, 5, 4, 23, 30, tzinfo=UTC)


def _technician(app: ServiceCore) -> Technicians:
    people = Technicians(app)
    people.set_profile(request("manager", at=LATE_UTC), "tech-1", store_id="S01",
                       skills={"maintenance": 2}, hourly_cost="80.00")
    people.plan_shifts(request("manager", at=LATE_UTC), "tech-1", [
        {"day": day, "start": "08:00", "end": "17:00", "break_minutes": 60}
        for day in ("2026-05-04", "2026-05-05", "2026-05-06", "2026-05-07")])
    return people


@pytest.mark.parametrize(("status", "hours"), [("present", None), ("absent", None),
                                               ("partial", "4")])
def test_attendance_for_a_day_after_the_stores_today_is_refused(status: str,
                                                                hours: str | None) -> None:
    app = ServiceCore()
    people = _technician(app)
    before = events_stored(app)
    with pytest.raises(InvalidInput) as refused:
        people.record_attendance(request("manager", at=LATE_UTC), "tech-1", day="2026-05-06",
                                 status=status, hours=hours)
    assert refused.value.extra["field"] == "day"
    assert refused.value.extra["day"] == "2026-05-06"
    assert events_stored(app) == before


def test_attendance_for_the_stores_today_and_before_is_recorded() -> None:
    app = ServiceCore()
    people = _technician(app)
    # the 5th is today in Shanghai although it is still the 4th in UTC
    today = people.record_attendance(request("manager", at=LATE_UTC), "tech-1",
                                     day="2026-05-05", status="partial", hours="4")
    assert today.body["available_hours"] == "4.00"
    yesterday = people.record_attendance(request("manager", at=LATE_UTC), "tech-1",
                                         day="2026-05-04", status="absent")
    assert yesterday.body["available_hours"] == "0.00"
    # a shift ahead is still planned and cancelled
    people.cancel_shift(request("manager", at=LATE_UTC), "tech-1", day="2026-05-07",
                        reason="training day")
    people.plan_shifts(request("manager", at=LATE_UTC), "tech-1", [
        {"day": "2026-05-08", "start": "08:00", "end": "12:00"}])
