"""The in-process loops' states, shown by `serve`'s HTTP worker processes.

With `SERVICECORE_WORKERS` above 1 the projections, the analytics loader and the chain-witness
timer run in `serve`'s own process, which answers no HTTP: the worker processes answer
`/health` and `/metrics`. They read the loops' states (the event each view stopped at, the
analytics loader's position and last progress, for its stall)
from a file the serving process writes every second (`shared`), so a loop that is restarting
or has ended shows there as it does with one process. A file not written for `STALE_SECONDS`
(the writer stopped) is itself reported as a loop that has ended.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
ENV = "SERVICECORE_LOOP_STATES_FILE"
EVERY_SECONDS = 1.0
STALE_SECONDS = 10.0
WRITER = "loop-states"  # the name the writer is reported under once its file is stale

States = Callable[[], dict[str, dict[str, Any]]]


@contextmanager
def shared(loops: States, stops: States,
           analytics: Callable[[], dict[str, Any]] = dict) -> Iterator[Path]:
    """While the block runs: `loops()`, `stops()` and `analytics()` (the loader's progress)
    written to a file of their own every second, named in `ENV` for the processes started
    meanwhile; the file is removed after."""
    folder = Path(tempfile.mkdtemp(prefix="servicecore-loops-"))
    path = folder / "loops.json"
    done = threading.Event()

    def write() -> None:
        while True:
            try:
                text = json.dumps({"loops": loops(), "stops": stops(),
                                   "analytics": analytics()}, default=str)
                (folder / "loops.tmp").write_text(text)
                os.replace(folder / "loops.tmp", path)
            except Exception:
                log.exception("the in-process loops' states could not be written to %s", path)
            if done.wait(EVERY_SECONDS):
                return

    thread = threading.Thread(target=write, name=WRITER, daemon=True)
    thread.start()
    previous = os.environ.get(ENV)
    os.environ[ENV] = str(path)
    try:
        yield path
    finally:
        done.set()
        thread.join(timeout=5.0)
        if previous is None:
            os.environ.pop(ENV, None)
        else:
            os.environ[ENV] = previous
        shutil.rmtree(folder, ignore_errors=True)


def read(path: Path) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """(loops, stops) as last written; a file missing or not written for `STALE_SECONDS`
    adds the writer as a loop that has ended."""
    try:
        age = time.time() - path.stat().st_mtime
        written = json.loads(path.read_text())
        loops, stops = dict(written["loops"]), dict(written["stops"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return {WRITER: _ended(f"{type(exc).__name__}: {exc}")}, {}
    if age > STALE_SECONDS:
        loops[WRITER] = _ended(f"not written for {age:.0f} s")
    return loops, stops


def read_analytics(path: Path) -> dict[str, Any]:
    """The analytics loader's progress as last written ({}: none, or no file to read: the
    loops then report the writer)."""
    try:
        return dict(json.loads(path.read_text()).get("analytics") or {})
    except (OSError, ValueError, TypeError, AttributeError):
        return {}


def _ended(error: str) -> dict[str, Any]:
    return {"state": "ended", "restarts": 0, "last_error": error, "last_failure_at": None,
            "failing_since": None}
