"""The online booking retention on a timer, without the command line: a round records the
lapse of a request the store never answered and, once the retention period has passed, the
shredding of a request never confirmed; a second round records nothing; a round finds the
lock held by another process and leaves it to that one; a round that fails is a loop failure
the supervisor reports (and /health with it), and the next round does the work.

The rounds are driven by calling the timer's step with a moved clock, never by waiting for
it. The tests move the clock 31 days on, which would shred every request of the session's
database: they run on a database of their own."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg
import pytest
from fastapi.testclient import TestClient

from domain.online_booking import OnlineBooking
from domain.pii import ERASED
from servicecore.booking_retention import retention_timer
from servicecore.container import Container
from tests.e2e.test_front_desk_api import post
from tests.e2e.test_online_booking_api import _asked, _store
from tests.e2e.test_online_booking_retention_api import _listed, _made_long_ago
from tests.e2e.test_parts_api import Auth
from tests.integration.kafka_support import wait_until
from tests.integration.test_parts_support import wait_for_projection
from tests.log_lines import json_lines, of
from tests.scratch_systems import served_module
from workers.booking_retention import LOCK_KEY, NAME, BookingRetentionTimer
from workers.supervisor import Supervisor

served, container, client = served_module("sc_booking_timer", projections=True)


@pytest.fixture
def timed(container: Container, monkeypatch: pytest.MonkeyPatch) -> Container:
    """The system with the timer on, every 15 minutes (the tests' settings have it off)."""
    monkeypatch.setattr(container, "settings", container.settings.model_copy(
        update={"online_booking_sweep_seconds": 900.0}))
    return container


def _events(container: Container, booking_id: str) -> list[Any]:
    return list(container.app.events.get(UUID(booking_id)))


def test_the_timer_records_the_lapse_and_the_shredding_without_the_command_line(
        client: TestClient, auth: Auth, timed: Container, store_id: str) -> None:
    tokens = _store(client, auth, store_id)
    # A request made 25 hours ago, never answered; another declined by the desk.
    stale = _made_long_ago(timed, store_id, 25)
    declined = post(client, "/online-bookings", tokens["channel"],
                    _asked(store_id, arrival="11:00", name="李雷"), 201)
    post(client, f"/online-bookings/{declined['booking_id']}/decline", tokens["advisor"],
         {"reason": "closed for stocktaking"})
    wait_for_projection(timed, "online_bookings")  # the view proposes what a round does
    # The timer runs where the projections run, as loop `online-booking-retention`.
    assert [name for name, _ in timed.booking_retention_loops()] == [NAME]
    timer = retention_timer(timed)
    assert timer is not None and timer.interval_seconds == 900.0

    # A round now records the stale request's lapse, by the system, and shreds nothing yet.
    now = datetime.now(UTC)
    first = timer.once(now)
    assert first is not None
    assert stale["booking_id"] in first["expired"] and first["shredded"] == []
    lapse = [e for e in _events(timed, stale["booking_id"])
             if isinstance(e, OnlineBooking.Expired)]
    assert len(lapse) == 1 and lapse[0].audit.user_id == "online-booking-retention"

    # 31 days on, both are past their retention period: their personal data is shredded.
    later = now + timedelta(days=31)
    wait_for_projection(timed, "online_bookings")
    second = timer.once(later)
    assert second is not None and second["expired"] == []
    assert {stale["booking_id"], declined["booking_id"]} <= set(second["shredded"])
    for booking_id in (stale["booking_id"], declined["booking_id"]):
        assert any(isinstance(e, OnlineBooking.Shredded) for e in _events(timed, booking_id))
    wait_for_projection(timed, "online_bookings")
    for row in _listed(client, tokens["advisor"], store_id):
        assert (row["name"], row["phone"], row["note"]) == (ERASED, ERASED, ERASED)

    # A round again records nothing: idempotent.
    again = timer.once(later)
    assert again is not None and (again["expired"], again["shredded"]) == ([], [])


def test_a_round_leaves_the_work_to_the_process_that_holds_the_lock(
        client: TestClient, auth: Auth, timed: Container, store_id: str) -> None:
    _store(client, auth, store_id)
    stale = _made_long_ago(timed, store_id, 25)
    wait_for_projection(timed, "online_bookings")
    timer = retention_timer(timed)
    assert timer is not None
    with psycopg.connect(timed.database_url, autocommit=True) as other:
        # another process's round holds the lock: this one does nothing
        other.execute("SELECT pg_advisory_lock(hashtext(%s))", (LOCK_KEY,))
        assert timer.once() is None
        assert not any(isinstance(e, OnlineBooking.Expired)
                       for e in _events(timed, stale["booking_id"]))
    # let go (the other process's round ended): the next round does it
    found = timer.once()
    assert found is not None and stale["booking_id"] in found["expired"]


def test_a_failing_round_is_a_loop_failure_on_health_and_the_next_round_does_the_work(
        timed: Container) -> None:
    failing = threading.Event()
    failing.set()
    rounds: list[datetime] = []

    def step(at: datetime) -> dict[str, Any]:
        rounds.append(at)
        if failing.is_set():
            raise RuntimeError("the online bookings view is not there")
        return {"at": at.isoformat(), "expired": [], "shredded": []}

    timer = BookingRetentionTimer(timed.database_url, step, interval_seconds=0.01)
    supervisor = Supervisor(timed.database_url, first_backoff=60.0)
    supervisor.start(NAME, timer.run)
    try:
        # The round fails: the loop is restarting, with the error, and the process goes on.
        wait_until(lambda: supervisor.states()[NAME]["state"] == "restarting", 30,
                   "the failing round to fail the loop")
        state = supervisor.states()[NAME]
        assert state["restarts"] == 1
        assert state["last_error"] == "RuntimeError: the online bookings view is not there"
        assert any(p.startswith(f"loop {NAME} is restarting after RuntimeError")
                   for p in supervisor.problems())
    finally:
        supervisor.stop()
    # The next round (the cause mended) does the work.
    failing.clear()
    assert timer.once() is not None and len(rounds) == 2


def test_a_rounds_log_lines_carry_the_correlation_id_of_the_events_it_recorded(
        client: TestClient, auth: Auth, timed: Container, store_id: str) -> None:
    _store(client, auth, store_id)
    stale = _made_long_ago(timed, store_id, 25)
    wait_for_projection(timed, "online_bookings")
    timer = retention_timer(timed)
    assert timer is not None
    with json_lines() as lines:
        report = timer.once()
    assert report is not None and stale["booking_id"] in report["expired"]
    [lapse] = [e for e in _events(timed, stale["booking_id"])
               if isinstance(e, OnlineBooking.Expired)]
    said = [line for line in of(lines, "workers.booking_retention")
            if "expired" in line["message"]]
    assert said and all(line["correlation_id"] == lapse.audit.correlation_id for line in said)
    assert (said[0]["user"], said[0]["role"]) == (NAME, "system")
    assert report["correlation_id"] == lapse.audit.correlation_id
    # a round that fails says so under its own id
    failing = BookingRetentionTimer(timed.database_url, lambda at: 1 / 0, 900.0)
    with json_lines() as lines, pytest.raises(ZeroDivisionError):
        failing.once()
    [failed] = [line for line in of(lines, "workers.booking_retention")
                if "failed" in line["message"]]
    assert failed["correlation_id"] not in (None, lapse.audit.correlation_id)
