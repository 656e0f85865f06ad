"""A technician planned for years keeps a bounded state: the shifts and attendance of the days
its commands reach (`PAST_DAYS` back, and what is planned ahead), while the events keep every day.

Each week the manager plans the next week's five shifts and records Monday's attendance, for ten
years: 520 weeks, 2,600 shifts.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
from eventsourcing.domain import Snapshot

from domain.application import ServiceCore
from domain.common import InvalidInput
from domain.technician import PAST_DAYS, Technician
from domain.technicians import Technicians
from servicecore.container import Container, eventsourcing_env
from tests.integration.test_snapshots import _cold_load, _state, replay_of
from tests.scratch_systems import module_container
from tests.unit.support import request

FIRST_MONDAY = date(2016, 1, 4)


# A database of the module's own: its tests put snapshots of older shapes, which `audit verify`
# of the database (a later test's, in the same test process) would rightly name as breaks.
container = module_container("sc_tech_state")


@pytest.fixture(scope="module")
def database_url(container: Container) -> str:
    return container.settings.database_url


def at(day: date) -> datetime:
    return datetime.combine(day, time(1, 0), tzinfo=UTC)  # 09:00 in Shanghai


def week_of(monday: date) -> list[dict[str, Any]]:
    return [{"day": (monday + timedelta(days=n)).isoformat(), "start": "08:30",
             "end": "17:30", "break_minutes": 60} for n in range(5)]


def manager(store_id: str, day: date) -> Any:
    return request("manager", at=at(day), stores=(store_id,))


def employ(people: Technicians, store_id: str, user: str, weeks: int,
           sizes: dict[int, int] | None = None, app: ServiceCore | None = None) -> date:
    """`weeks` of shifts planned a week ahead, Monday's attendance each week; the day after."""
    people.set_profile(manager(store_id, FIRST_MONDAY), user, store_id=store_id,
                       skills={"maintenance": 2}, hourly_cost="80.00")
    people.plan_shifts(manager(store_id, FIRST_MONDAY), user, week_of(FIRST_MONDAY))
    monday = FIRST_MONDAY
    for week in range(1, weeks + 1):
        people.record_attendance(manager(store_id, monday), user, day=monday.isoformat(),
                                 status="partial", hours="4")
        people.plan_shifts(manager(store_id, monday), user, week_of(monday + timedelta(days=7)))
        if sizes is not None and app is not None and week % 52 == 0:
            sizes[week // 52] = _snapshot_size(app, Technician.create_id(user))
        monday += timedelta(days=7)
    return monday


def _snapshot_size(app: ServiceCore, tech_id: Any) -> int:
    """The bytes a snapshot of the technician takes, encoded as the store keeps it."""
    return len(app.mapper.to_stored_event(Snapshot.take(app.repository.get(tech_id))).state)


def test_ten_years_of_shifts_keep_the_state_and_snapshot_bounded(
        container: Container, database_url: str, store_id: str) -> None:
    app = container.app
    people = Technicians(app)
    user = f"tech-{store_id}"
    sizes: dict[int, int] = {}
    today = employ(people, store_id, user, 52 * 10, sizes, app)
    tech_id = Technician.create_id(user)
    tech: Technician = app.repository.get(tech_id)

    # The state: the days from PAST_DAYS (and one) back to next week's plan, not ten years.
    first = today - timedelta(days=7)  # the last Monday the loop stood on
    assert tech.kept_from == (first - timedelta(days=PAST_DAYS + 1)).isoformat()
    assert min(tech.shifts) >= tech.kept_from and max(tech.shifts) == (
        today + timedelta(days=4)).isoformat()
    assert len(tech.shifts) <= (PAST_DAYS + 2 + 12) * 5 // 7 + 5
    assert len(tech.attendance) <= (PAST_DAYS + 2) // 7 + 1
    # The snapshot stops growing after the first months: year 10's is year 1's size.
    assert max(sizes.values()) - min(sizes.values()) < 200, sizes
    # The events keep every day.
    planned = [d["day"] for e in app.events.get(tech_id)
               if isinstance(e, Technician.ShiftsPlanned) for d in e.shifts]
    assert len(planned) == len(set(planned)) == 5 * (52 * 10 + 1)
    # A cold process (snapshot + later events) and a replay give the same state.
    assert _state(_cold_load(container, database_url, tech_id)) == _state(
        replay_of(app, tech_id)) == _state(tech)

    # Attendance on the oldest day the commands reach: recorded; a day before it: 422, naming
    # the day and the limit, before the state is looked at.
    oldest = today - timedelta(days=PAST_DAYS)
    while oldest.weekday() > 4:
        oldest += timedelta(days=1)
    done = people.record_attendance(manager(store_id, today), user, day=oldest.isoformat(),
                                    status="absent")
    assert done.body["available_hours"] == "0.00"
    for too_old in (today - timedelta(days=PAST_DAYS + 1), FIRST_MONDAY):
        with pytest.raises(InvalidInput) as refused:
            people.record_attendance(manager(store_id, today), user,
                                     day=too_old.isoformat(), status="absent")
        assert (refused.value.extra["field"], refused.value.extra["limit"]) == ("day", PAST_DAYS)
        with pytest.raises(InvalidInput):
            people.cancel_shift(manager(store_id, today), user, day=too_old.isoformat(),
                                reason="planned by mistake")
    people.cancel_shift(manager(store_id, today), user, day=oldest.isoformat(),
                        reason="planned by mistake")
    assert oldest.isoformat() not in app.repository.get(tech_id).shifts


def test_a_snapshot_that_kept_every_day_loads_and_forgets_the_past_on_the_next_plan(
        container: Container, database_url: str, store_id: str) -> None:
    """A snapshot taken before the state was bounded (class version 1: every day ever planned,
    no `kept_from`) loads; its old days are no use to any command (refused before the state is
    read), and the next planning leaves the state a replay gives."""
    app = container.app
    people = Technicians(app)
    user = f"tech-{store_id}"
    today = employ(people, store_id, user, 52 * 2)
    tech_id = Technician.create_id(user)
    tech: Technician = app.repository.get(tech_id)
    every = {s["day"]: dict(s) for e in app.events.get(tech_id)
             if isinstance(e, Technician.ShiftsPlanned) for s in e.shifts}
    taken = Snapshot.take(tech)
    old = {k: v for k, v in taken.state.items() if k not in ("class_version", "kept_from")}
    old["shifts"] = every
    assert app.snapshots is not None
    app.snapshots.put([Snapshot(originator_id=tech_id, originator_version=tech.version,
                                timestamp=taken.timestamp, topic=taken.topic, state=old)])

    loaded = _cold_load(container, database_url, tech_id)
    assert (loaded.kept_from, len(loaded.shifts)) == ("", len(every))
    with pytest.raises(InvalidInput):  # the day is in the old snapshot, and still refused
        loaded.record_attendance(manager(store_id, today).caller.audit(store_id),
                                 FIRST_MONDAY.isoformat(), "absent", None, None, today)

    # The next planning, in a process that starts from the old snapshot.
    cold = ServiceCore(env={**eventsourcing_env(database_url, container.settings),
                            "AGGREGATE_CACHE_MAXSIZE": ""})
    try:
        Technicians(cold).plan_shifts(manager(store_id, today), user,
                                      week_of(today + timedelta(days=7)))
    finally:
        cold.close()
    after = _cold_load(container, database_url, tech_id)
    assert _state(after) == _state(replay_of(app, tech_id))
    assert min(after.shifts) >= after.kept_from > FIRST_MONDAY.isoformat()
    assert len(after.shifts) < len(every) // 3
