"""Projection batches pause the cyclic collector: nested and overlapping pauses keep it off
until the last ends, it is never left off for good, and pauses without end still collect.

The collector's switch is one per process, and the test session runs projections in the
background (the session's container), whose batches pause it too: each case runs in a fresh
interpreter of its own, where nothing else pauses it.
"""

from __future__ import annotations

import gc
import os
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack
from multiprocessing import get_context
from typing import Any

import pytest

from workers import collector
from workers.collector import collector_paused

Case = Callable[[], None]


def in_a_fresh_interpreter(case: Case) -> None:
    """Run `case` in an interpreter of its own (spawned, not forked: no thread or collector
    state carried over, not even from another case); its failure fails the caller."""
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        assert pool.submit(os.getpid).result(timeout=60) != os.getpid()
        pool.submit(_alone, case).result(timeout=60)


def _alone(case: Case) -> None:
    assert threading.active_count() == 1, threading.enumerate()
    assert gc.isenabled()
    case()


def off_inside_on_after() -> None:
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def overlapping_pauses_keep_it_off_until_the_last_ends() -> None:
    with ExitStack() as stack:
        stack.enter_context(collector_paused())
        second = ExitStack()
        second.enter_context(collector_paused())
        stack.close()  # the first ends while the second goes on
        assert not gc.isenabled()
        second.close()
    assert gc.isenabled()


def pauses_from_threads_at_once_leave_it_on() -> None:
    inside = threading.Barrier(4)

    def batch() -> None:
        with collector_paused():
            inside.wait(timeout=5)

    threads = [threading.Thread(target=batch) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert gc.isenabled()


def someone_else_turning_it_off_meanwhile_cannot_leave_it_off() -> None:
    gc.disable()  # e.g. another loader's pause that began first and has not ended yet
    with collector_paused():
        gc.enable()  # ... and ends now
    assert gc.isenabled()  # on: it was on when the module was imported


def pauses_that_overlap_without_end_still_collect() -> None:
    collector.LONGEST_PAUSE_SECONDS = 0.0
    runs: list[Any] = []

    def count(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            runs.append(info["generation"])

    gc.callbacks.append(count)
    try:
        with collector_paused():
            with collector_paused():
                pass  # ends while the outer one goes on: paused too long, so it collects
            assert runs == [2] and not gc.isenabled()
    finally:
        gc.callbacks.remove(count)
    assert gc.isenabled()


CASES = (off_inside_on_after, overlapping_pauses_keep_it_off_until_the_last_ends,
         pauses_from_threads_at_once_leave_it_on,
         someone_else_turning_it_off_meanwhile_cannot_leave_it_off,
         pauses_that_overlap_without_end_still_collect)


@pytest.mark.parametrize("case", CASES, ids=[case.__name__ for case in CASES])
def test_the_collector_pause(case: Case) -> None:
    in_a_fresh_interpreter(case)


def collector_left_off() -> None:
    gc.disable()
    assert gc.isenabled()


def test_a_case_that_fails_in_its_interpreter_fails_here() -> None:
    with pytest.raises(AssertionError):
        in_a_fresh_interpreter(collector_left_off)
