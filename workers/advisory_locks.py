"""The session-level advisory locks a loop applies its work under (a projection's view, the
relay's log): taken on a connection of the loop's own, let go with it or by `UNLOCK_SQL`."""

from __future__ import annotations

import select
import threading
from typing import Any

import psycopg

from servicecore.deadline import watch
from workers.supervisor import progress

LOCK_SQL = "SELECT pg_try_advisory_lock(hashtext(%s))"  # with `ProjectionRunner.lock_key`
UNLOCK_SQL = "SELECT pg_advisory_unlock(hashtext(%s))"


def take_lock(conn: psycopg.Connection[Any], key: str, stop: threading.Event, seconds: float,
              what: str) -> bool:
    """Standby until the connection holds the advisory lock `key` (`LOCK_SQL`, asked again
    every second, each answer within `seconds`): True; or until `stop` is set: False."""
    while not stop.is_set():
        with watch(conn, seconds, what):
            got = conn.execute(LOCK_SQL, (key,)).fetchone()
        if got and got[0]:
            return True
        progress()  # standing by while another holder works (workers/supervisor.py)
        stop.wait(1.0)
    return False


def lock_kept(conn: psycopg.Connection[Any]) -> None:
    """Raises when the connection that holds the advisory locks is lost (its backend was
    terminated, the network dropped it): its locks went with it, so the loop must start again
    and take them again. Without a round trip: only what the server sent (its farewell) is
    read; on a LISTEN connection that may be a notification, dropped, so call it before
    looking at the log."""
    if select.select([conn.fileno()], [], [], 0)[0]:
        for _ in conn.notifies(timeout=0.01, stop_after=1):
            pass
