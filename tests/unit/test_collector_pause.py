"""Projection batches pause the cyclic collector: nested and overlapping pauses keep it off
until the last ends, it is never left off for good, and pauses without end still collect."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import pytest

from workers import collector
from workers.collector import collector_paused


@pytest.fixture(autouse=True)
def collecting() -> Iterator[None]:
    gc.enable()
    yield
    gc.enable()


def test_off_inside_on_after() -> None:
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_overlapping_pauses_keep_it_off_until_the_last_ends() -> None:
    with ExitStack() as stack:
        stack.enter_context(collector_paused())
        second = ExitStack()
        second.enter_context(collector_paused())
        stack.close()  # the first ends while the second goes on
        assert not gc.isenabled()
        second.close()
    assert gc.isenabled()


def test_pauses_from_threads_at_once_leave_it_on() -> None:
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


def test_someone_else_turning_it_off_meanwhile_cannot_leave_it_off() -> None:
    gc.disable()  # e.g. another loader's pause that began first and has not ended yet
    with collector_paused():
        gc.enable()  # ... and ends now
    assert gc.isenabled()  # on: it was on when the module was imported


def test_pauses_that_overlap_without_end_still_collect(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(collector, "LONGEST_PAUSE_SECONDS", 0.0)
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
