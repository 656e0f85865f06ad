"""The progress line of the rebuild commands, on a clock the test moves."""

from __future__ import annotations

import io

from servicecore.progress import Progress, duration


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_in_a_log_a_line_every_few_seconds_and_the_last_one() -> None:
    log, clock = io.StringIO(), Clock()
    progress = Progress("projection finance", stream=log, clock=clock)
    clock.now += 2
    progress(500, 2000)  # the first batch: shown
    clock.now += 1
    progress(750, 2000)  # a second later: not yet
    clock.now += 5
    progress(1500, 2000)
    clock.now += 2
    progress(2000, 2000)  # done: always shown, once
    progress(2000, 2000)
    bars = ["#######", "######################", "##############################"]
    assert log.getvalue().splitlines() == [
        f"projection finance [{bars[0]:<30}] 500/2,000 events  250 events/s  ETA 6s",
        f"projection finance [{bars[1]:<30}] 1,500/2,000 events  188 events/s  ETA 3s",
        f"projection finance [{bars[2]}] 2,000/2,000 events  200 events/s  in 10s",
    ]


def test_on_a_terminal_one_line_redrawn_and_ended() -> None:
    screen, clock = Terminal(), Clock()
    progress = Progress("analytics", stream=screen, clock=clock)
    clock.now += 1
    progress(100, 400)
    clock.now += 1
    progress(400, 400)
    out = screen.getvalue()
    assert out.count("\r") == 2 and out.endswith("in 2s\033[K\n")  # erased to the end
    assert "100/400 events  100 events/s  ETA 3s" in out


def test_a_failed_rebuild_leaves_no_line_open() -> None:
    screen, clock = Terminal(), Clock()
    progress = Progress("analytics", stream=screen, clock=clock)
    clock.now += 1
    progress(100, 400)
    progress.close()
    assert screen.getvalue().endswith("\n")


def test_an_empty_log_and_a_log_that_grew_are_complete() -> None:
    log, clock = io.StringIO(), Clock()
    Progress("projection stock", stream=log, clock=clock)(0, 0)
    assert "0/0 events" in log.getvalue() and "in 0s" in log.getvalue()
    log = io.StringIO()
    Progress("projection stock", stream=log, clock=clock)(120, 100)  # the head moved on
    assert "120/120 events" in log.getvalue()


def test_durations_read_as_a_person_would() -> None:
    assert [duration(s) for s in (0.2, 59.6, 61, 3599, 3725)] == [
        "0s", "1m00s", "1m01s", "59m59s", "1h02m"]
