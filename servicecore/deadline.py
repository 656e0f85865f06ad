"""A deadline for a loop's waits on PostgreSQL (SERVICECORE_DB_WAIT_DEADLINE_SECONDS).

A connection that stays open but stops forwarding (a stuck pooler, NAT or middlebox between
the process and the server) is not noticed by TCP: keepalives and `tcp_user_timeout`
(servicecore/pool.py) are answered by the middlebox's kernel. A projection batch waiting for
the answer to its `SELECT … FOR UPDATE` would wait for good while its loop says `running`.

`watch(conn, seconds, what)` registers the connection and a deadline for the block it wraps
(one batch, one round trip on a lock connection). One watchdog thread per process looks at
the deadlines; once one passes, it shuts the connection's socket down (`shutdown(2)` on a
duplicate of its descriptor, taken when the wait began: the descriptor libpq holds may be
closed and its number reused meanwhile, the duplicate may not). The blocked call then reads
the end of the stream and raises `psycopg.OperationalError`, which the loop already handles:
it fails, the supervisor starts it again, it takes its locks again and carries on from its
committed position. A cancel request is not sent: it would go through the same middlebox.
The block's own thread closes the connection on its way out, so the pool discards it.

The server does its part, as it cannot see the stall either: a batch's transaction ends
itself after the deadline (`limit_transaction`: `idle_in_transaction_session_timeout` and
`statement_timeout`, both local to it), freeing its position rows, and a lock connection ends
its session after the deadline without a round trip (`limit_session`: `idle_session_timeout`,
kept from firing by `Heartbeat`), freeing the advisory locks for the loop started again.

A loop that reaches the database through a library (the relay and the analytics loader read
the log through eventsourcing's recorder) runs under `pooled_waits`: every connection its
thread draws from the process's pool (servicecore/pool.py, `DeadlinePool`) is watched until
it is handed back. An API request runs under `request_waits` (`pooled_waits` with its own, shorter limit,
SERVICECORE_REQUEST_DB_DEADLINE_SECONDS, set by api/observe.py): the limit lives in a
context variable, so the thread-pool thread that runs a sync route sees its request's, and
the loops' threads (which start with a context of their own) never do. The request ends that
long after it began (`time_left()`): the event store's wait to decide a save whose connection
was lost, and a save's wait for its turn, end with it (servicecore/event_store.py).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import psycopg

log = logging.getLogger(__name__)
# A lock session ends after this many deadlines without a statement, and never sooner than
# IDLE_SESSION_MIN_SECONDS: a standby loop asks for its lock every second.
IDLE_SESSION_FACTOR = 2
IDLE_SESSION_MIN_SECONDS = 5.0
IDLE_SESSION_TIMEOUT_FROM = 140000  # server_version with idle_session_timeout (PostgreSQL 14)


class DeadlinePassed(psycopg.OperationalError):
    """No answer from PostgreSQL within the deadline: the connection was cut."""


@dataclass(eq=False)
class _Wait:
    fd: int  # a duplicate of the connection's descriptor (a socket object only to cut it)
    deadline: float
    what: str
    seconds: float
    expired: bool = False


@dataclass(eq=False)
class Watchdog:
    """The process's deadlines, and the thread that cuts the connections that pass theirs."""

    cuts: int = 0  # connections cut so far
    _waits: set[_Wait] = field(default_factory=set)
    _wake: threading.Condition = field(default_factory=threading.Condition)
    _thread: threading.Thread | None = None
    _wakes_at: float = 0.0  # when the thread looks next (0: it sleeps until told)

    @contextmanager
    def watch(self, conn: psycopg.Connection[Any] | psycopg.AsyncConnection[Any],
              seconds: float | None, what: str) -> Iterator[None]:
        """Cut `conn` if the block is still running `seconds` from now (None or 0: no limit).
        Once cut, `conn` is closed on the way out (the pool discards it), and the block's
        failure is raised as `DeadlinePassed`. An asyncio connection may be watched too (the
        block awaits inside it)."""
        if not seconds or conn.closed:
            yield
            return
        wait = _Wait(os.dup(conn.fileno()), time.monotonic() + seconds, what, seconds)
        with self._wake:
            self._waits.add(wait)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="db-deadline",
                                                daemon=True)
                self._thread.start()
            if not self._wakes_at or wait.deadline < self._wakes_at:
                # only a deadline sooner than the next look wakes the thread: waits of one
                # length (a request's) come in deadline order and cost it no switch
                self._wakes_at = wait.deadline
                self._wake.notify()
        try:
            yield
        except Exception as error:  # psycopg's, or a library's wrapping of it
            if wait.expired:
                raise DeadlinePassed(f"{what}: no answer from PostgreSQL within "
                                     f"{seconds:g} s; its connection was cut") from error
            raise
        finally:
            with self._wake:
                self._waits.discard(wait)
            os.close(wait.fd)
            if wait.expired:
                # broken: the pool discards it instead of lending it again (an asyncio
                # connection's libpq connection is ended directly: `close()` must be awaited)
                if isinstance(conn, psycopg.AsyncConnection):
                    conn.pgconn.finish()
                else:
                    conn.close()

    def _run(self) -> None:
        with self._wake:
            while True:
                now = time.monotonic()
                for wait in self._waits:
                    if not wait.expired and wait.deadline <= now:
                        wait.expired = True
                        self.cuts += 1
                        log.warning("%s: no answer from PostgreSQL within %g s; cutting its "
                                    "connection", wait.what, wait.seconds)
                        with suppress(OSError):
                            sock = socket.socket(fileno=wait.fd)
                            try:
                                sock.shutdown(socket.SHUT_RDWR)
                            finally:
                                sock.detach()  # the descriptor is closed by `watch`
                pending = [w.deadline for w in self._waits if not w.expired]
                self._wakes_at = min(pending) if pending else 0.0
                self._wake.wait(self._wakes_at - now if pending else None)


WATCHDOG = Watchdog()
# (seconds, what) for the pooled connections drawn in this context (a loop's thread, a request)
_limit: ContextVar[tuple[float, str] | None] = ContextVar("servicecore_pooled_limit",
                                                          default=None)
# when this context's request ends (time.monotonic()), if it is one with a deadline
_ends_at: ContextVar[float | None] = ContextVar("servicecore_request_ends_at", default=None)


def watch(conn: psycopg.Connection[Any] | psycopg.AsyncConnection[Any], seconds: float | None,
          what: str) -> AbstractContextManager[None]:
    """`WATCHDOG.watch`: the process's one watchdog."""
    return WATCHDOG.watch(conn, seconds, what)


@contextmanager
def pooled_waits(seconds: float | None, what: str) -> Iterator[None]:
    """In this thread (this request), each connection drawn from a `DeadlinePool` is watched
    for `seconds` from when it is drawn until it is handed back (None or 0: no limit)."""
    token = _limit.set((seconds, what) if seconds else None)
    try:
        yield
    finally:
        _limit.reset(token)


def pooled_limit() -> tuple[float, str] | None:
    """This thread's (this request's) `pooled_waits`, if any."""
    return _limit.get()


@contextmanager
def request_waits(seconds: float | None, what: str) -> Iterator[None]:
    """`pooled_waits` for an API request, which also ends `seconds` from now (None or 0:
    never): `time_left()` tells the event store how long it may wait to decide whether a
    save whose connection was lost committed, or for its turn behind other saves."""
    token = _ends_at.set(time.monotonic() + seconds if seconds else None)
    try:
        with pooled_waits(seconds, what):
            yield
    finally:
        _ends_at.reset(token)


def time_left() -> float | None:
    """Seconds until this request's deadline (negative once passed); None outside a request
    with a deadline (a loop, the command line)."""
    ends = _ends_at.get()
    return None if ends is None else ends - time.monotonic()


def limit_transaction(conn: psycopg.Connection[Any], seconds: float | None) -> None:
    """(Inside a transaction, in a pipeline or not.) The server ends the transaction if it
    stands idle or one statement runs for `seconds`: a batch whose client stopped hearing it
    does not keep its position rows locked."""
    if seconds:
        limit = f"{round(seconds * 1000)}ms"
        conn.execute("SELECT set_config('idle_in_transaction_session_timeout', %s, true), "
                     "set_config('statement_timeout', %s, true)", (limit, limit))


def limit_session(conn: psycopg.Connection[Any], seconds: float | None) -> None:
    """(On a lock connection, in autocommit.) The server ends the session after
    `idle_session_seconds(seconds)` without a statement (a batch on another connection may take up to `seconds`
    between two heartbeats) (from PostgreSQL 14), so the advisory locks of a session whose client
    stopped hearing it are freed; `Heartbeat` keeps a live one from being ended."""
    if seconds and conn.info.server_version >= IDLE_SESSION_TIMEOUT_FROM:
        with watch(conn, seconds, "setting idle_session_timeout"):
            conn.execute("SELECT set_config('idle_session_timeout', %s, false)",
                         (f"{round(idle_session_seconds(seconds) * 1000)}ms",))


def idle_session_seconds(seconds: float) -> float:
    """How long a lock session may stay without a statement before the server ends it."""
    return max(seconds * IDLE_SESSION_FACTOR, IDLE_SESSION_MIN_SECONDS)


class Heartbeat:
    """A round trip on a lock connection every quarter of the deadline, under the deadline:
    a connection that stopped forwarding is cut (the loop starts again), and a live one is
    never ended by its `idle_session_timeout`."""

    def __init__(self, conn: psycopg.Connection[Any], seconds: float | None, what: str) -> None:
        self.conn, self.seconds, self.what = conn, seconds, what
        self.beaten = time.monotonic()
        limit_session(conn, seconds)

    def beat(self) -> None:
        if not self.seconds or time.monotonic() - self.beaten < self.seconds / 4:
            return
        with watch(self.conn, self.seconds, self.what):
            self.conn.execute("SELECT 1")
        self.beaten = time.monotonic()
