"""Long-running loops in threads, started again with backoff when they fail.

One implementation for the worker processes and for the loops `serve` runs in-process
(projections, the analytics loader). A loop is `loop(stop, conninfo)`: it runs until `stop` is
set; raising means it failed (its database connection died, a batch failed) and it is started
again after a backoff of 1 s, doubling up to `max_backoff`, back to 1 s once a run lasted
`healthy_after` seconds. A loop that returns while `stop` is not set has ended for good.

States a loop reports: `starting` (started, but its `up` probe does not say so yet), `running`,
`idle` (running with nothing to do for good, as its `idle` probe says why: a projection group
every view of which left to run as a loop of its own; not a problem), `restarting` (failed, waiting for its next start), `ended` (returned on its own, or its thread
was ended by what is no Exception — SystemExit, a cancellation —, logged CRITICAL; only a
process restart brings it back), `stopped` (told to stop). A loop whose work another loop takes
over (a projection that rejoins its group) raises `HandedOver`: it is no longer supervised
(gone from `states`, neither started again nor `ended`), and may be started again by name.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg
from eventsourcing.persistence import InterfaceError, OperationalError

log = logging.getLogger(__name__)

# A loop that cannot reach the database, or waits on a lock another session holds, is logged
# WARNING per attempt (a restart of PostgreSQL is no bug); once it has not run for this long
# in a row (connections refused for good: max_connections, a role's or a database's
# CONNECTION LIMIT, a password changed; a table locked all night), once ERROR, naming the cause.
# "In a row": since its last completed batch for a loop that says so (`progress()`), however
# long each failed run lasted; otherwise failures with less than `healthy_after` between them.
ERROR_AFTER_SECONDS = 60.0
Loop = Callable[[threading.Event, str], None]
Probe = Callable[[], bool]
Idle = Callable[[], str | None]  # why a running loop has nothing to do (None: it has)
CONNECTION_ERRORS = (psycopg.OperationalError, psycopg.InterfaceError, OperationalError,
                     InterfaceError)
# SQLSTATE class 54, program limit exceeded (an index row over its size limit, a statement too
# complex, too many columns): psycopg raises it as an OperationalError, yet the server is there
# and refuses the same rows again on every attempt.
REFUSED_ROWS_CLASS = "54"
# A server that takes no writes for now (a standby reached in a failover, an operator's
# default_transaction_read_only): psycopg raises it as an InternalError, yet nothing is wrong
# with the events; the pool is drained (servicecore/pool.py) and the batch tried again.
READ_ONLY = "25006"


def database_away(error: BaseException) -> bool:
    """`error` is the database away (a lost connection, a restart, a lock or statement timeout),
    not the server refusing what a statement asked of it: a batch failing that way fails for
    its events, and is narrowed to the one it stops at. A server that takes no writes for now
    is away too."""
    sqlstate = getattr(error, "sqlstate", None) or getattr(error.__cause__, "sqlstate", None)
    if sqlstate == READ_ONLY:
        return True
    if not isinstance(error, CONNECTION_ERRORS):
        return False
    return not str(sqlstate or "").startswith(REFUSED_ROWS_CLASS)


class HandedOver(Exception):
    """Raised by a loop whose work another loop takes over: the supervisor forgets the loop
    (its name free again), then calls `then` (hands the work over), in that order, so that
    the loop taking over may start one under the same name at once."""

    def __init__(self, message: str, then: Callable[[], None]) -> None:
        super().__init__(message)
        self.then = then


@dataclass
class LoopState:
    name: str
    state: str = "running"
    restarts: int = 0
    last_error: str | None = None
    last_failure_at: float | None = None  # time.time()
    # the first failure of the failures in a row (runs shorter than `healthy_after` between
    # them): how long the loop has not been running well
    failing_since: float | None = None
    told: bool = False  # this row of failures was logged ERROR (`ERROR_AFTER_SECONDS`)
    # Loops that say when they did work (`progress()`, e.g. a batch committed): the last time
    # they did (time.time()); the ERROR rule counts from it, however long each failed run
    # lasted (a batch waiting 120 s on a lock before it fails). Others: from `failing_since`.
    reports: bool = False
    progress_at: float | None = None
    down_since: float | None = None  # the last progress, or the loop's first start

    def as_dict(self) -> dict[str, Any]:
        failing = self.failing_since if self.state in ("restarting", "ended") else None
        return {"state": self.state, "restarts": self.restarts, "last_error": self.last_error,
                "last_failure_at": _instant(self.last_failure_at),
                "failing_since": _instant(failing)}


_running = threading.local()  # the LoopState of the supervised loop in this thread


def expect_progress() -> None:
    """Said by a supervised loop that calls `progress()` after each piece of work it
    completes: its runs then count as failed unless they made progress, however long they
    lasted."""
    state: LoopState | None = getattr(_running, "state", None)
    if state is not None:
        state.reports = True


def progress() -> None:
    """Said by a supervised loop that completed a piece of work (a batch committed); counts
    only for a loop that said `expect_progress()` (a helper may say it for any loop)."""
    state: LoopState | None = getattr(_running, "state", None)
    if state is not None:
        state.progress_at = time.time()


def _instant(at: float | None) -> str | None:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(at)) if at else None


@dataclass
class Supervisor:
    conninfo: str
    stop_event: threading.Event = field(default_factory=threading.Event)
    first_backoff: float = 1.0
    max_backoff: float = 10.0
    healthy_after: float = 10.0
    error_after: float = field(default_factory=lambda: ERROR_AFTER_SECONDS)
    _loops: dict[str, tuple[LoopState, threading.Thread, Probe | None, Idle | None]] = field(
        default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self, name: str, loop: Loop, up: Probe | None = None,
              idle: Idle | None = None) -> None:
        """Run `loop` in a daemon thread of its own, supervised.

        `up`, if given, says when a started loop really runs (e.g. it holds its connection);
        `idle`, why a running loop has nothing to do for good (reported `idle`).
        """
        state = LoopState(name)
        thread = threading.Thread(target=self._supervise, args=(state, loop), name=name,
                                  daemon=True)
        with self._lock:
            if name in self._loops:
                raise ValueError(f"a loop named {name} is already supervised")
            self._loops[name] = (state, thread, up, idle)
        thread.start()

    def stop(self, timeout: float = 20.0) -> list[str]:
        """Tell every loop to stop and wait for them (at most `timeout` in all).

        Returns the names of loops still running afterwards.
        """
        self.stop_event.set()
        deadline = time.monotonic() + timeout
        with self._lock:
            loops = list(self._loops.values())
        for _, thread, _, _ in loops:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        left = [state.name for state, thread, _, _ in loops if thread.is_alive()]
        if left:
            log.warning("loops still running after %.0f s: %s", timeout, ", ".join(left))
        return left

    def states(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            loops = list(self._loops.values())
        found = {state.name: state.as_dict() for state, _, _, _ in loops}
        for state, thread, up, idle in loops:
            if found[state.name]["state"] in ("running", "starting", "restarting") \
                    and not thread.is_alive() and thread.ident is not None:
                found[state.name]["state"] = "ended"  # its thread is gone, however it went
            if found[state.name]["state"] == "running" and idle is not None \
                    and (why := idle()) is not None:
                found[state.name].update(state="idle", idle=why)
            elif up is not None and found[state.name]["state"] == "running" and not up():
                found[state.name]["state"] = "starting"
        return found

    def problems(self) -> list[str]:
        """Why the loops are not all running (empty when they are)."""
        return [_problem(name, s) for name, s in self.states().items()
                if s["state"] not in ("running", "idle")]

    def healthy(self) -> bool:
        return not self.problems()

    def ended(self) -> list[str]:
        """Loops that returned on their own: supervision cannot bring them back."""
        return [name for name, s in self.states().items() if s["state"] == "ended"]

    def all_finished(self) -> bool:
        with self._lock:
            return bool(self._loops) and not any(
                t.is_alive() for _, t, _, _ in self._loops.values())

    @property
    def restarts(self) -> int:
        return sum(s["restarts"] for s in self.states().values())

    def _supervise(self, state: LoopState, loop: Loop) -> None:
        stop = self.stop_event
        backoff = self.first_backoff
        streak = 0
        _running.state = state
        while not stop.is_set():
            started, began = time.monotonic(), time.time()
            if state.down_since is None:
                state.down_since = began
            state.state = "running"
            try:
                loop(stop, self.conninfo)
            except HandedOver as over:
                with self._lock:
                    if self._loops.get(state.name, (None,))[0] is state:
                        del self._loops[state.name]
                state.state = "handed over"
                log.info("%s ends: %s", state.name, over)
                over.then()
                return
            except BaseException as exc:  # any failure: logged, reported, restarted or ended
                now = time.time()
                ran = time.monotonic() - started >= self.healthy_after
                if state.reports:  # a run that did no work is no healthy run, however long
                    ran = state.progress_at is not None and state.progress_at >= began
                    if ran:
                        state.down_since = state.progress_at
                if state.failing_since is None or ran:
                    state.failing_since = now  # the first of a new row of failures
                    state.told = False
                if not isinstance(exc, Exception):  # SystemExit, a cancellation: ends the thread
                    state.last_error = _describe(exc)
                    state.last_failure_at = now
                    state.state = "ended"
                    log.critical("%s died (%s); it is not started again", state.name,
                                 state.last_error, exc_info=exc)
                    return
                if stop.is_set():
                    break
                if time.monotonic() - started >= self.healthy_after:
                    backoff, streak = self.first_backoff, 0
                streak += 1
                state.restarts += 1
                state.last_error = _describe(exc)
                state.last_failure_at = now
                state.state = "restarting"
                _log_failure(state, exc, backoff, first=streak == 1)
                since = state.down_since if state.reports else state.failing_since
                failing = now - (since or now)
                if not state.told and database_away(exc) \
                        and failing >= self.error_after:
                    state.told = True
                    holders = getattr(exc, "waits_on", None)
                    waits = f" (waiting on a lock: {holders})" if holders else ""
                    log.error("%s has not run for %.0f s: %s%s; it is still started again "
                              "every %.0f s at most", state.name, failing, state.last_error,
                              waits, self.max_backoff)
                stop.wait(backoff)
                backoff = min(backoff * 2, self.max_backoff)
                if not stop.is_set():
                    log.info("%s: starting again (restart %d)", state.name, state.restarts)
                continue
            if not stop.is_set():
                state.state = "ended"
                log.error("%s ended on its own; it is not started again", state.name)
                return
        state.state = "stopped"


def describe(exc: BaseException) -> str:
    """`Type: message`, whatever the exception: one whose message cannot be rendered (its
    `__str__` raises) is named by its type, never a second failure in the code reporting it."""
    try:
        message = str(exc)
    except Exception:  # noqa: BLE001 - the failure being reported is the one that matters
        message = "<its message cannot be rendered>"
    return f"{type(exc).__name__}: {message}"


def _describe(exc: BaseException) -> str:
    return " ".join(describe(exc).split())[:500]


def _log_failure(state: LoopState, exc: Exception, backoff: float, *, first: bool) -> None:
    holders = getattr(exc, "waits_on", None)  # workers/lock_waits.py, note_lock_holders
    if holders is not None:
        log.warning("%s waits on a lock another session holds: %s (%s); starting it again in "
                    "%.0f s", state.name, holders, state.last_error, backoff)
    elif isinstance(exc, psycopg.errors.LockNotAvailable):  # workers/lock_waits.py
        log.warning("%s gave up waiting for a lock another session holds (%s); starting it "
                    "again in %.0f s", state.name, state.last_error, backoff)
    elif database_away(exc):
        log.warning("%s lost the database (%s); starting it again in %.0f s", state.name,
                    state.last_error, backoff)
    elif first:
        log.exception("%s failed; starting it again in %.0f s", state.name, backoff)
    else:
        log.error("%s failed again (%s); starting it again in %.0f s", state.name,
                  state.last_error, backoff)


def _problem(name: str, state: dict[str, Any]) -> str:
    since = f" (failing since {state['failing_since']})" if state.get("failing_since") else ""
    if state["state"] in ("starting", "restarting"):
        after = f" after {state['last_error']}" if state["state"] == "restarting" else ""
        return f"loop {name} is {state['state']}{after}{since}"
    return f"loop {name} has {state['state']}{since}"
