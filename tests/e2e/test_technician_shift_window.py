"""A technician's shifts and attendance grow by a day each working day and the events keep them:
`GET /technicians/{id}` and `GET /technicians` answer a window of them (by default from 30
days back, 366 days), `?from_day=&to_day=` for others."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient

from domain.technician import PAST_DAYS
from tests.e2e.test_api_contract import problem
from tests.e2e.test_parts_api import get, on_roster, post

Auth = Callable[..., dict[str, str]]


def shift(day: date) -> dict[str, Any]:
    return {"day": day.isoformat(), "start": "08:30", "end": "17:30"}


def test_a_technicians_shifts_are_answered_a_window_at_a_time(client: TestClient, auth: Auth,
                                                              store_id: str) -> None:
    manager = auth("manager", "mgr-" + store_id, [store_id])
    user = f"tech-{store_id}"
    on_roster(client, manager, store_id, user)
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    # Shifts from PAST_DAYS back (as far as planning reaches) to 350 days ahead; attendance on
    # two of the past days (at most PAST_DAYS back: 300 days back is 422, naming the limit).
    offsets = (-PAST_DAYS, -31, -30, -1, 0, 100, 335, 336, 350)
    post(client, f"/technicians/{user}/shifts", manager,
         {"shifts": [shift(today + timedelta(days=n)) for n in offsets]})
    for n in (-31, -1):
        done = post(client, f"/technicians/{user}/attendance", manager,
                    {"day": (today + timedelta(days=n)).isoformat(), "status": "absent"})
    for url, extra in (("attendance", {"status": "absent"}),
                       ("shifts/cancellation", {"reason": "planned by mistake"})):
        body = problem(client.post(f"/technicians/{user}/{url}", headers=manager, json={
            "day": (today - timedelta(days=300)).isoformat(), **extra}), 422, "invalid-input")
        assert (body["field"], body["limit"]) == ("day", PAST_DAYS)

    def days(n: int) -> str:
        return (today + timedelta(days=n)).isoformat()

    # By default: 30 days back, 366 days in all (before: every day the technician ever had).
    one = get(client, f"/technicians/{user}", manager, wait_for=done["notification_id"])
    assert sorted(one["shifts"]) == [days(n) for n in (-30, -1, 0, 100, 335)]
    assert list(one["attendance"]) == [days(-1)]
    assert (one["from_day"], one["to_day"]) == (days(-30), days(335))
    listed = get(client, "/technicians", manager, store_id=store_id)
    [row] = listed["items"]
    assert sorted(row["shifts"]) == sorted(one["shifts"])
    assert (listed["from_day"], listed["to_day"]) == (days(-30), days(335))
    # Other days when asked: from a day (366 days on), to a day (366 days back), or both.
    older = get(client, f"/technicians/{user}", manager, from_day=days(-PAST_DAYS),
                to_day=days(-31))
    assert sorted(older["shifts"]) == [days(-PAST_DAYS), days(-31)]
    assert list(older["attendance"]) == [days(-31)]
    later = get(client, f"/technicians/{user}", manager, from_day=days(300))
    assert (sorted(later["shifts"]), later["to_day"]) == ([days(335), days(336), days(350)],
                                                         days(665))
    before = get(client, f"/technicians/{user}", manager, to_day=days(-31))
    assert (sorted(before["shifts"]), before["from_day"]) == ([days(-PAST_DAYS), days(-31)],
                                                              days(-396))
    # The board reads today's shift, and shows only today's.
    [on_board] = get(client, "/dispatch/board", manager, store_id=store_id)["technicians"]
    assert on_board["shift_today"] != f"no shift on {today}"
    assert list(on_board["shifts"]) == [days(0)]


def test_a_window_past_366_days_or_backwards_is_422_for_shifts_and_kpis(client: TestClient, auth: Auth,
                                                    store_id: str) -> None:
    manager = auth("manager", "mgr-" + store_id, [store_id])
    user = f"tech-{store_id}"
    saved = post(client, f"/technicians/{user}/profile", manager,
                 {"store_id": store_id, "skills": {}, "hourly_cost": "85.00"})
    # The KPIs of the technicians take the same window, refused in the same words; a window
    # backwards as every period backwards is (tests/e2e/test_period_order_api.py).
    details = set()
    for url in (f"/technicians/{user}", "/technicians", "/technicians/kpi"):
        for first, last in (("2026-01-01", "2027-01-02"), ("2024-01-01", "2025-01-01")):
            body = problem(client.get(url, headers=manager,
                                      params={"from_day": first, "to_day": last}),
                           422, "invalid-input")
            assert (body["from_day"], body["to_day"], body["limit"]) == (first, last, 366)
            details.add(body["detail"])
        backwards = problem(client.get(url, headers=manager, params={
            "from_day": "2026-03-02", "to_day": "2026-03-01"}), 422, "invalid-input")
        assert backwards["field"] == "to_day", backwards
        # 366 days, a leap year's, is the longest window
        for first, last in (("2026-01-01", "2026-12-31"), ("2024-01-01", "2024-12-31")):
            assert client.get(url, headers=manager, params={
                "from_day": first, "to_day": last,
                "wait_for": saved["notification_id"]}).status_code == 200
    assert details == {"from_day .. to_day is 1 to 366 days"}


def test_attendance_is_for_today_or_a_past_day_and_shifts_are_planned_ahead(
        client: TestClient, auth: Auth, store_id: str) -> None:
    """Attendance says what happened: a day after today in the store's time zone is 422
    naming `day`, and nothing is stored; the shift planned for it stays, and may be cancelled
    ahead."""
    manager = auth("manager", "mgr-" + store_id, [store_id])
    user = f"tech-{store_id}"
    on_roster(client, manager, store_id, user)
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    post(client, f"/technicians/{user}/shifts", manager,
         {"shifts": [shift(today + timedelta(days=n)) for n in (0, 1, 2)]})
    url = f"/technicians/{user}/attendance"
    for status, extra in (("absent", {}), ("present", {}), ("partial", {"hours": "4"})):
        body = problem(client.post(url, headers=manager, json={
            "day": (today + timedelta(days=1)).isoformat(), "status": status, **extra}),
            422, "invalid-input")
        assert (body["field"], body["day"]) == ("day", (today + timedelta(days=1)).isoformat())
    done = post(client, url, manager, {"day": today.isoformat(), "status": "absent"})
    assert done["available_hours"] == "0.00"
    cancelled = post(client, f"/technicians/{user}/shifts/cancellation", manager, {
        "day": (today + timedelta(days=2)).isoformat(), "reason": "training day"})
    one = get(client, f"/technicians/{user}", manager, wait_for=cancelled["notification_id"])
    assert list(one["attendance"]) == [today.isoformat()]
    assert sorted(one["shifts"]) == [today.isoformat(), (today + timedelta(days=1)).isoformat()]
