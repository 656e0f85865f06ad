"""What /health, /health/ready and /health/live answer, within a second even with the database down.

The database is asked on a connection of its own (never the request pools, which wait seconds),
from a daemon thread of its own, and the answer is waited for at most `deadline` seconds: a
database that does not answer is reported as such, it does not hold the health endpoint. A
connection that stopped answering is cut after the request deadline (api/db_deadline.py) and
the next check opens a new one.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg

from analytics.progress import failing_reason, stall_reason
from api.db_deadline import DbDeadline
from projections.evidence import in_utc

Loops = Callable[[], dict[str, dict[str, Any]]]
Row = tuple[int, datetime]  # a stored position and when it last moved
Read = tuple[int, dict[str, int], Row | None]  # the head, the views' positions, the relay's
HEAD_SQL = "SELECT coalesce(max(notification_id), 0) FROM servicecore_events"
POSITIONS_SQL = "SELECT name, position, updated_at FROM projection_positions WHERE name = ANY(%s)"
RELAY_POSITION = "kafka-relay"  # the Kafka relay's row, as workers/relay_broker.py names it


@dataclass
class HealthCheck:
    database_url: str
    projection_names: list[str]
    loops: Loops = dict  # the in-process loops' states (workers/supervisor.py)
    # the poison event each in-process view stopped at, by view (workers/projection_runner.py)
    stops: Loops = dict
    max_lag: int = 1000  # 0: lag does not make the process unready
    # a projection with events to apply whose position has not moved for this long is stuck
    # (a loop blocked on a lock, a handler that never returns): unready; 0: not checked
    max_stall_seconds: float = 60.0
    # the in-process analytics loader's position and when it last loaded or found nothing
    # to load (time.time(), None while it is not running); {}: none runs in this process
    analytics: Callable[[], dict[str, Any]] = dict
    # KAFKA_BOOTSTRAP_SERVERS is set: a relay (`worker relay`) is meant to follow the log
    relay: bool = False
    # a relay behind the head whose stored position has not moved for this long makes /health
    # 503 `degraded`, never /health/ready (commands never wait for Kafka); 0: not checked
    relay_max_stall_seconds: float = 60.0
    deadline: float = 0.75
    # its connection, waiting longer than this, is cut (a middlebox that stopped forwarding
    # would otherwise hold the check's connection, and every later check, for good)
    db_deadline: DbDeadline = field(default_factory=DbDeadline)
    _since: dict[str, tuple[int, float]] = field(default_factory=dict, repr=False)
    _conn: psycopg.Connection[Any] | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def live(self) -> tuple[int, dict[str, Any]]:
        """The process answers; 503 only when an in-process loop ended for good."""
        ended = [name for name, s in self.loops().items() if s["state"] == "ended"]
        reasons = [f"loop {name} has ended and is not started again" for name in ended]
        return (503 if reasons else 200), {"status": "broken" if reasons else "ok",
                                           "reasons": reasons}

    async def report(self) -> tuple[int, dict[str, Any]]:
        """Readiness with its details: database, head, each projection's lag, each loop, and
        the Kafka relay's progress; a stalled relay alone answers 503 `degraded`."""
        reasons, degraded, body = await self._gather()
        status = "unavailable" if reasons else "degraded" if degraded else "ok"
        return (200 if status == "ok" else 503), {"status": status,
                                                  "reasons": reasons + degraded, **body}

    async def ready(self) -> tuple[int, dict[str, Any]]:
        """Readiness alone: the relay's progress does not count (the API serves without it)."""
        reasons = (await self._gather())[0]
        return (503 if reasons else 200), {"status": "unavailable" if reasons else "ok",
                                           "reasons": reasons}

    async def _gather(self) -> tuple[list[str], list[str], dict[str, Any]]:
        """What makes the process unready, what makes it degraded, and the details."""
        loops, stops = self.loops(), self.stops()
        degraded: list[str] = []
        reasons = [_loop_problem(name, s) for name, s in loops.items()
                   if s["state"] not in ("running", "idle")]
        reasons += [f"projection {name} stops at event {stop['position']} ({stop['topic']}): "
                    f"{stop['error']}" for name, stop in stops.items()]
        body: dict[str, Any] = {"database": "reachable", "head_notification_id": None,
                                "projections": {}, "loops": loops, "max_lag": self.max_lag}
        try:
            head, positions, relay = await asyncio.wait_for(
                asyncio.wrap_future(self._in_thread(self._read)), self.deadline)
        except TimeoutError:
            body["database"] = f"no answer within {self.deadline:g} s"
            reasons.insert(0, f"database: no answer within {self.deadline:g} s")
        except Exception as exc:  # noqa: BLE001 - the database is down: say so, with 503
            body["database"] = f"unreachable: {type(exc).__name__}: {exc}".strip()
            reasons.insert(0, f"database unreachable ({type(exc).__name__})"
                           if isinstance(exc, psycopg.OperationalError)
                           else f"database check failed ({type(exc).__name__}: {exc})")
        else:
            body["head_notification_id"] = head
            for name in self.projection_names:
                position = positions.get(name, 0)
                stalled = self._stalled(name, position, head - position)
                body["projections"][name] = {"position": position, "lag": head - position,
                                             "stalled_seconds": round(stalled, 1),
                                             "stopped_at": stops.get(name)}
                if self.max_lag and head - position > self.max_lag:
                    reasons.append(f"projection {name} is {head - position} events behind "
                                   f"(more than {self.max_lag})")
                if self.max_stall_seconds and stalled >= self.max_stall_seconds:
                    reasons.append(f"projection {name} has applied nothing for {stalled:.0f} s "
                                   f"with {head - position} events to apply (more than "
                                   f"{self.max_stall_seconds:g} s)")
            reasons += self._analytics(body, head)
            degraded = self._relay(body, head, relay)
        return reasons, degraded, body

    def _analytics(self, body: dict[str, Any], head: int) -> list[str]:
        """The in-process analytics loader in `body`; its stall, if it has stood still with
        events to load for `max_stall_seconds`."""
        loader = self.analytics()
        if not loader:
            return []
        position, loaded_at = int(loader["position"]), loader.get("loaded_at")
        stalled = max(0.0, time.time() - loaded_at) if loaded_at is not None and \
            head > position else 0.0
        body["analytics"] = {"position": position, "lag": max(0, head - position),
                             "stalled_seconds": round(stalled, 1)}
        failing = failing_reason(loader.get("failing_since"), loader.get("failure"))
        reasons = [failing] if failing else []
        if not self.max_stall_seconds or stalled < self.max_stall_seconds:
            return reasons
        return [*reasons, stall_reason(position, head, stalled, self.max_stall_seconds)]

    def _relay(self, body: dict[str, Any], head: int, row: Row | None) -> list[str]:
        """The Kafka relay's stored position in `body`, where one is configured or has stored
        one; its stall, if configured and behind the head without moving for
        `relay_max_stall_seconds` (as far as the checks have seen, like a projection's)."""
        if row is None and not self.relay:
            return []
        position, moved_at = row if row is not None else (0, None)
        lag = max(0, head - position)
        stalled = self._stalled(RELAY_POSITION, position, lag)
        moved = in_utc(moved_at.isoformat()) if moved_at is not None else None
        body["relay"] = {"configured": self.relay, "position": position, "lag": lag,
                         "moved_at": moved, "stalled_seconds": round(stalled, 1),
                         "max_stall_seconds": self.relay_max_stall_seconds}
        if not self.relay or not self.relay_max_stall_seconds or \
                stalled < self.relay_max_stall_seconds:
            return []
        reason = (f"kafka relay has published nothing for {stalled:.0f} s with {lag} events to "
                  f"publish (more than {self.relay_max_stall_seconds:g} s; position {position}, "
                  f"last moved {moved or 'never'})")
        return [reason]

    def close(self) -> None:
        with self._lock:
            self._drop()

    def _stalled(self, name: str, position: int, lag: int) -> float:
        """How long, as far as the checks have seen, the projection has stood at `position`
        with events to apply (0 when it has none)."""
        now = time.monotonic()
        if lag <= 0:
            self._since.pop(name, None)
            return 0.0
        seen = self._since.get(name)
        if seen is None or seen[0] != position:
            self._since[name] = seen = (position, now)
        return now - seen[1]

    def _read(self) -> Read:
        if not self._lock.acquire(timeout=self.deadline):
            raise TimeoutError("an earlier health check is still waiting for the database")
        try:
            reused = self._conn is not None
            try:
                return self._query()
            except (psycopg.OperationalError, psycopg.InterfaceError):
                self._drop()
                if not reused:
                    raise
            return self._query()  # the kept connection died (a database restart): once more
        finally:
            self._lock.release()

    def _query(self) -> Read:
        if self._conn is None:
            self._conn = psycopg.connect(self.database_url, autocommit=True, connect_timeout=2,
                                         tcp_user_timeout=2000)
        with self.db_deadline.connection(self._conn, "the health check"):
            head = self._conn.execute(HEAD_SQL).fetchone()
            rows = self._conn.execute(POSITIONS_SQL,
                                      ([*self.projection_names, RELAY_POSITION],)).fetchall()
        relay = [(int(r[1]), r[2]) for r in rows if r[0] == RELAY_POSITION]
        return ((int(head[0]) if head else 0), {str(r[0]): int(r[1]) for r in rows},
                relay[0] if relay else None)

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    @staticmethod
    def _in_thread(work: Callable[[], Any]) -> Future[Any]:
        """A daemon thread per check: one stuck on a dead network never holds the process."""
        future: Future[Any] = Future()

        def run() -> None:
            if not future.set_running_or_notify_cancel():
                return
            try:
                future.set_result(work())
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting request
                future.set_exception(exc)

        threading.Thread(target=run, name="health-check", daemon=True).start()
        return future


def _loop_problem(name: str, state: dict[str, Any]) -> str:
    """As workers/supervisor.py words it (api/ does not import workers/)."""
    since = f" (failing since {state['failing_since']})" if state.get("failing_since") else ""
    if state["state"] in ("starting", "restarting"):
        after = f" after {state['last_error']}" if state["state"] == "restarting" else ""
        return f"loop {name} is {state['state']}{after}{since}"
    return f"loop {name} has {state['state']}{since}"
