"""Supervision outlives the failures it supervises, however oddly they are made.

A loop that raises an exception whose message cannot be rendered (its `__str__` raises, as a
library's error built with arguments it does not expect can) is a failure like any other: it
is logged under the loop's name, reported with its type, and the loop is started again. The
supervisor's own thread must not die describing it, or the loop would never run again.
"""

from __future__ import annotations

import logging
import threading

import pytest

from tests.integration.kafka_support import wait_until
from workers.health import Trouble
from workers.supervisor import Supervisor


class Unprintable(Exception):
    def __str__(self) -> str:
        raise ValueError("the message cannot be rendered")


def test_a_loop_failing_with_an_unprintable_exception_is_reported_and_started_again(
        caplog: pytest.LogCaptureFixture) -> None:
    failures = 2
    runs = 0
    running = threading.Event()

    def loop(stop: threading.Event, conninfo: str) -> None:
        nonlocal runs
        runs += 1
        if runs <= failures:
            raise Unprintable
        running.set()
        stop.wait()

    supervisor = Supervisor("unused", first_backoff=0.05, max_backoff=0.1)
    caplog.set_level(logging.INFO, logger="workers.supervisor")
    try:
        supervisor.start("odd", loop)
        wait_until(running.is_set, 30, "the loop to be started again after its failures")
        state = supervisor.states()["odd"]
        assert state["state"] == "running"
        assert state["restarts"] == failures
        assert state["last_error"] is not None and state["last_error"].startswith("Unprintable")
        assert any(r.levelno >= logging.ERROR and r.getMessage().startswith("odd failed")
                   for r in caplog.records)
    finally:
        supervisor.stop(timeout=10)


def test_a_trouble_with_an_unprintable_exception_is_still_reported() -> None:
    trouble = Trouble("kafka relay cannot deliver")
    trouble.failed(Unprintable())
    [problem] = trouble.problems()
    assert problem.startswith("kafka relay cannot deliver since ") and "Unprintable" in problem
