"""Read-your-writes without polling: the projections' positions, as their runners announce them.

A runner moving a projection's position sends `NOTIFY servicecore_positions '<name>:<position>'`
in the batch's transaction (workers/projection_runner.py), so the notification arrives when
the batch is visible, from whichever process runs it. One listener thread per API process
keeps the highest position heard per projection; `?wait_for=` is answered from it at once
when the read model is there already, and otherwise waits to be woken by the notification.

What the listener knows is never ahead of the table (positions only grow, and it hears of a
position after it committed), so an answer "reached" is always true. Positions go back only
when the database is restored from a backup (README: Restoring the database from a backup):
the listener's connection is lost with it, and on every new connection what it knows is
replaced by the table's positions, not merely raised to them. While the listener is
reconnecting it may hear nothing; a waiter then reads the table itself every
`RECHECK_SECONDS`, so a lost notification costs at most that much time, never a wrong answer.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg

from projections.base import POSITIONS_CHANNEL

log = logging.getLogger(__name__)
POSITIONS_SQL = "SELECT name, position FROM projection_positions"
POSITION_SQL = "SELECT position FROM projection_positions WHERE name = %s"
# The first look of a wait: the log's head and the position in one round trip (an array, so
# that both helpers' "first column of the first row" carries both; either may be NULL).
FIRST_LOOK_SQL = ("SELECT ARRAY[(SELECT max(notification_id) FROM servicecore_events), "
                  "(SELECT position FROM projection_positions WHERE name = %s)]")
RECHECK_SECONDS = 0.5


class ProjectionPositions:
    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self._known: dict[str, int] = {}
        self._changed = threading.Condition()
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.listening = False

    def known(self, name: str) -> int:
        return self._known.get(name, 0)

    # -- waiting ---------------------------------------------------------------------------

    def wait(self, conn: psycopg.Connection[Any], name: str, notification_id: int,
             timeout: float) -> bool | None:
        """In a worker thread: True once `name` has applied `notification_id`, False when
        it timed out, None when the id is beyond the log's head (no command was ever
        answered with it: nothing to wait for)."""
        if self.known(name) >= notification_id:
            return True
        self.start()
        deadline = time.monotonic() + timeout
        head, position = _one(conn, FIRST_LOOK_SQL, (name,))
        if beyond_head(head, notification_id):
            return None
        while True:
            self._heard(name, position)
            with self._changed:
                if self.known(name) >= notification_id:
                    return True
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(min(remaining, RECHECK_SECONDS))
            if self.known(name) >= notification_id:
                return True
            position = _one(conn, POSITION_SQL, (name,))

    async def wait_async(self, query: Callable[[str, tuple[Any, ...]], Any], name: str,
                         notification_id: int, timeout: float) -> bool | None:
        """The same on the event loop; `query(sql, params)` answers the first column of the
        first row (an asyncio connection's). The head and the position are read in one
        statement (one round trip, not two, before the wait: on a busy process each costs a
        trip through the event loop besides the database's answer)."""
        if self.known(name) >= notification_id:
            return True
        self.start()
        deadline = time.monotonic() + timeout
        woken = asyncio.Event()
        waiter = (asyncio.get_running_loop(), woken)
        self._waiters.add(waiter)  # before the look: an announcement after it wakes us
        try:
            head, position = await query(FIRST_LOOK_SQL, (name,))
            if beyond_head(head, notification_id):
                return None
            while True:
                self._heard(name, position)
                while self.known(name) < notification_id:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return False
                    woken.clear()
                    try:
                        await asyncio.wait_for(woken.wait(), min(remaining, RECHECK_SECONDS))
                    except TimeoutError:
                        break  # read the table again (a notification may have been lost)
                else:
                    return True
                position = await query(POSITION_SQL, (name,))
        finally:
            self._waiters.discard(waiter)

    # -- hearing ---------------------------------------------------------------------------

    def _heard(self, name: str, position: Any) -> None:
        if position is None:
            return
        with self._changed:
            if int(position) > self._known.get(name, 0):
                self._known[name] = int(position)
            self._changed.notify_all()
        for loop, woken in list(self._waiters):
            try:
                loop.call_soon_threadsafe(woken.set)
            except RuntimeError:  # that loop is closed; its waiter is gone too
                self._waiters.discard((loop, woken))

    def _replaced(self, table: dict[str, int]) -> None:
        """What it knows replaced by the table's positions (read after LISTEN: a position
        announced meanwhile is heard after it)."""
        with self._changed:
            behind = sorted(n for n, p in self._known.items() if table.get(n, 0) < p)
            if behind:
                log.warning("projection positions went back (%s): the database was restored "
                            "from a backup?", ", ".join(
                                f"{n} {self._known[n]} -> {table.get(n, 0)}" for n in behind))
            self._known = dict(table)
            self._changed.notify_all()
        for name, position in table.items():
            self._heard(name, position)

    def start(self) -> None:
        """Listen (once; again if the listener thread ended)."""
        if self._thread is None or not self._thread.is_alive():
            with self._changed:
                if self._thread is None or not self._thread.is_alive():
                    self._thread = threading.Thread(target=self._listen, daemon=True,
                                                    name="projection-positions")
                    self._thread.start()

    def _listen(self) -> None:
        while not self._stop.is_set():
            try:
                with psycopg.connect(self.database_url, autocommit=True,
                                     connect_timeout=5) as conn:
                    conn.execute(f"LISTEN {POSITIONS_CHANNEL}")
                    self._replaced({str(name): int(position) for name, position
                                    in conn.execute(POSITIONS_SQL).fetchall()})
                    self.listening = True
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=1.0):
                            name, _, position = note.payload.rpartition(":")
                            self._heard(name, position)
            except Exception as exc:  # noqa: BLE001 - waiters read the table meanwhile
                log.info("projection positions listener: %s; reconnecting", exc)
            finally:
                self.listening = False
            self._stop.wait(1.0)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=3.0)


def _one(conn: psycopg.Connection[Any], sql: str, params: tuple[Any, ...]) -> Any:
    row = conn.execute(sql, params).fetchone()
    return row[0] if row else None


def beyond_head(head: Any, notification_id: int) -> bool:
    """A notification id no command has been given yet: waiting for it would only hold a
    connection for the whole wait (a command's id is committed before it is answered)."""
    return head is None or notification_id > int(head)
