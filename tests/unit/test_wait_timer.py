"""The timer behind `serve`'s head and body time limits (servicecore/wait_timer.py), on a clock
that moves only when told: it fires once a wait has lasted its timeout, is armed again when it
fires early for a wait that began later, never has two timers armed, and stops when cancelled."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import cast

from servicecore.wait_timer import WaitTimer

TIMEOUT = 10.0


class Timer:
    def __init__(self, when: float, callback: Callable[[], None]) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False
        self.ran = False

    def cancel(self) -> None:
        self.cancelled = True


class Clock:
    """Just enough of an event loop: its time moves when told, its timers run when due."""

    def __init__(self) -> None:
        self.now = 0.0
        self.made: list[Timer] = []

    def time(self) -> float:
        return self.now

    def call_at(self, when: float, callback: Callable[[], None]) -> Timer:
        assert not self.armed(), "a second timer armed beside the first"
        timer = Timer(when, callback)
        self.made.append(timer)
        return timer

    def armed(self) -> list[Timer]:
        return [t for t in self.made if not t.cancelled and not t.ran]

    def advance(self, to: float) -> None:
        while due := sorted((t for t in self.armed() if t.when <= to), key=lambda t: t.when):
            timer = due[0]
            self.now = max(self.now, timer.when)
            timer.ran = True
            timer.callback()
        self.now = to


class Connection:
    """The protocol's side: whether it waits, what it does when a wait has lasted too long."""

    def __init__(self, clock: Clock) -> None:
        self.waits = False
        self.closing = False
        self.expired: list[float] = []
        self.clock = clock
        self.timer = WaitTimer(cast(asyncio.AbstractEventLoop, clock),
                               cast(asyncio.BaseTransport, self), TIMEOUT,
                               lambda: self.waits, lambda: self.expired.append(clock.now))

    def is_closing(self) -> bool:
        return self.closing

    def wait(self, waits: bool) -> None:
        self.waits = waits
        self.timer.watch()


def waiting() -> tuple[Clock, Connection]:
    """A connection whose wait began at 0."""
    clock = Clock()
    conn = Connection(clock)
    conn.wait(True)
    return clock, conn


def test_a_wait_that_lasts_its_timeout_expires_once() -> None:
    clock, conn = waiting()
    assert [t.when for t in clock.armed()] == [TIMEOUT]
    clock.advance(TIMEOUT - 0.001)
    assert conn.expired == []
    clock.advance(TIMEOUT)
    assert conn.expired == [TIMEOUT]
    clock.advance(10 * TIMEOUT)
    assert conn.expired == [TIMEOUT] and clock.armed() == [] and len(clock.made) == 1


def test_a_wait_that_ends_in_time_leaves_the_timer_armed_to_find_nothing() -> None:
    clock, conn = waiting()
    clock.advance(3)
    conn.wait(False)
    assert len(clock.armed()) == 1  # not cancelled: a busy connection would cancel per request
    clock.advance(10 * TIMEOUT)
    assert conn.expired == [] and clock.armed() == [] and len(clock.made) == 1


def test_a_timer_that_fires_early_for_a_later_wait_is_armed_again_for_it() -> None:
    clock, conn = waiting()  # armed for 0 + 10
    clock.advance(3)
    conn.wait(False)
    clock.advance(6)
    conn.wait(True)  # this wait began at 6: its time is up at 16, the timer fires at 10
    assert [t.when for t in clock.armed()] == [TIMEOUT]
    clock.advance(TIMEOUT)
    assert conn.expired == []
    assert [t.when for t in clock.armed()] == [6 + TIMEOUT]
    clock.advance(6 + TIMEOUT)
    assert conn.expired == [6 + TIMEOUT]


def test_a_busy_connection_arms_one_timer_per_timeout_not_one_per_wait() -> None:
    """1,000 waits, 50 ms apart, each ended 10 ms after it began: the timer fires every
    timeout and is armed again for the wait then under way; nothing expires."""
    clock = Clock()
    conn = Connection(clock)
    for n in range(1000):
        clock.advance(n * 0.05)
        conn.wait(True)
        clock.advance(n * 0.05 + 0.01)
        conn.wait(False)
    clock.advance(1000 * 0.05 + 2 * TIMEOUT)
    assert conn.expired == []
    assert len(clock.made) <= 1000 * 0.05 / TIMEOUT + 1  # Clock.call_at: never two at once


def test_cancel_disarms_and_forgets_the_wait() -> None:
    clock, conn = waiting()
    clock.advance(5)
    conn.timer.cancel()
    assert clock.armed() == [] and clock.made[0].cancelled
    clock.advance(10 * TIMEOUT)
    assert conn.expired == []
    conn.timer.cancel()  # twice is harmless


def test_a_closing_connection_is_neither_armed_nor_expired() -> None:
    clock, conn = waiting()
    conn.closing = True
    clock.advance(2 * TIMEOUT)
    assert conn.expired == [] and clock.armed() == []
    conn.wait(False)
    conn.wait(True)
    assert clock.armed() == []


def test_a_wait_that_has_ended_when_the_timer_fires_does_not_expire() -> None:
    """The wait ended without a `watch()`: the time is up, but the connection no longer waits."""
    clock, conn = waiting()
    conn.waits = False
    clock.advance(2 * TIMEOUT)
    assert conn.expired == []


def test_a_wait_started_again_when_it_expires_gets_a_whole_timeout() -> None:
    """As the body deadline does when the server is the one not reading."""
    clock = Clock()
    conn = Connection(clock)
    started_again: list[float] = []

    def again() -> None:
        started_again.append(clock.now)
        conn.timer.restart()

    conn.timer.expired = again
    conn.wait(True)
    clock.advance(TIMEOUT)
    assert started_again == [TIMEOUT]
    assert [t.when for t in clock.armed()] == [2 * TIMEOUT]
    clock.advance(2 * TIMEOUT)
    assert started_again == [TIMEOUT, 2 * TIMEOUT]
