"""Batched projection runner: many events per transaction, one position update per batch.

The position row is locked (FOR UPDATE) in the batch's transaction, so the read-model rows and
the position commit together: a restart neither skips nor repeats an event. A session-level
advisory lock per projection keeps a second runner on standby instead of racing.

While it follows the log, a runner applies an event it handles at once. Events it does not
handle (a stock receipt, for the work-order board) move its position too, but while such
events keep coming it moves past them at most every `idle_advance_seconds`: each move is a
transaction, a position announcement to every API process, and a commit flushed to disk, so
six views that each moved past every receipt would cost more than the receipt itself. A
`?wait_for=` on such a view may answer that much later; nothing is skipped or applied twice.

A batch that fails for its events (a handler raising on one, a state that does not decode; not
the database being away) is tried again in halves, down to one event: every event before the
one that fails alone commits, with its position, and that one is raised as a `PoisonEvent`
(position, topic, error; `stops` for /health). The view stops just before it; each later
batch tries that event alone first, until it is applied (the view mended).

Runners of one process share a `LogWatch` (workers/log_watch.py) when they are given one: it
listens and looks at the new events' topics once for all of them and `signal`s each runner,
instead of each listening and looking on its own connection.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any

import psycopg
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg.sql import SQL, Identifier
from psycopg_pool import ConnectionPool

from analytics.poison import Narrowing, PoisonEvent
from domain.application import ServiceCore
from projections.base import POSITIONS_CHANNEL, ReadModel
from servicecore.deadline import Heartbeat, limit_transaction, watch
from workers.advisory_locks import UNLOCK_SQL, lock_kept, take_lock
from workers.collector import collector_paused
from workers.event_batches import EventReader, Row, decode_batch
from workers.lock_waits import (
    bound_lock_waits,
    lock_wait,
    note_lock_holders,
    unbound_lock_waits,
    view_tables,
)
from workers.lost_positions import refuse_lost_position
from workers.supervisor import (
    CONNECTION_ERRORS,
    HandedOver,
    database_away,
    describe,
    expect_progress,
    progress,
)

if TYPE_CHECKING:
    from workers.log_watch import LogWatch
    from workers.projection_group import ProjectionGroup

log = logging.getLogger(__name__)
CHANNEL = "servicecore_events"
IDLE_ADVANCE_SECONDS = 0.1
# A runner fed by a LogWatch runs a batch after this long without a signal all the same (as a
# runner that listens itself does after this long without a notification).
SAFETY_SECONDS = 0.5


class ProjectionRunner(Narrowing):
    TRANSIENT = CONNECTION_ERRORS

    def __init__(self, app: ServiceCore, pool: ConnectionPool, view: ReadModel, *,
                 batch_size: int = 500, suffix: str = "",
                 idle_advance_seconds: float = IDLE_ADVANCE_SECONDS,
                 until: int | None = None, deadline_seconds: float = 0.0,
                 lock_timeout_seconds: float = 0.0) -> None:
        self.app = app
        # its writes wait this long at most for a lock another session holds (workers/
        # lock_waits.py); 0: as long as a statement may run
        self.lock_timeout_seconds = lock_timeout_seconds
        # a batch or a lock round trip still waiting on PostgreSQL after this long has its
        # connection cut (servicecore/deadline.py); 0: no limit
        self.deadline_seconds = deadline_seconds
        self.until = until  # the last event it applies (None: the head of the log)
        self.pool = pool
        self.view = view
        self.batch_size = batch_size
        self.suffix = suffix
        self.position_name = view.name + suffix
        self.processed = 0
        self.reader = EventReader(app)
        self.idle_advance_seconds = idle_advance_seconds
        self.advanced_at = float("-inf")  # when following last moved the position (monotonic)
        recorder = app.recorder
        self.pending_sql: psycopg.sql.Composed | None = SQL(
            "SELECT topic FROM {}.{} WHERE notification_id > coalesce((SELECT position FROM "
            "projection_positions WHERE name = %s), 0) ORDER BY notification_id LIMIT %s"
        ).format(Identifier(recorder.datastore.schema), Identifier(recorder.events_table_name)
                 ) if isinstance(recorder, PostgresApplicationRecorder) else None
        self.active = False  # holds the lock and follows the log
        self.connected = False  # has its lock connection: following, or standby
        self.watch: LogWatch | None = None  # set by LogWatch.subscribe
        self._signalled = threading.Condition()
        self._own = True  # an event the view handles may follow the position (LogWatch)
        self._others = 0  # events it does not handle told since the last batch began
        self.poison: PoisonEvent | None = None  # the event it stopped at, until it is applied
        self._limit: int | None = None  # events in the next batch, while narrowing to a poison
        self._read: list[Row] = []  # the rows of the last batch
        self._stopped_at = 0  # the position it stood at when it met `poison`
        self._heartbeat: Heartbeat | None = None  # on the lock connection, while it runs
        # when the first batch begun since the last one that completed began (monotonic):
        # a batch waiting on a lock, or failing again and again, keeps it (`stalled_seconds`)
        self.waiting_since: float | None = None
        self.blocked: str | None = None  # its last batch gave up on a lock on its tables: why
        self.conninfo = ""  # its loop's, for a look at who holds its tables (lock_holders)
        # Rejoining its group (workers/projection_rejoin.py): the group it left (None: in one,
        # or none to go back to), when its last batch failed (monotonic), the batches since
        # that applied events it handles, the times it left its group and went back to it.
        self.home: ProjectionGroup | None = None
        self.failed_at: float | None = None
        self.clean_batches = self._handled = self._decoded = 0
        self.leaves = self.rejoins = 0

    def is_connected(self) -> bool:
        """Up for the supervisor: it has its lock connection (following, or on standby)."""
        return self.connected

    def position(self) -> int:
        with self.pool.connection() as conn, watch(conn, self.deadline_seconds,
                                                   f"projection {self.position_name}"):
            row = conn.execute("SELECT position FROM projection_positions WHERE name = %s",
                               (self.position_name,)).fetchone()
        return int(row[0]) if row else 0

    def apply_batch(self, conn: psycopg.Connection[Any]) -> int:
        """Inside the caller's transaction: apply the next batch, move the position. Returns count.

        Statements that do not wait for each other's answers go out together (pipeline mode):
        the position row made and locked in one round trip, the view's writes (of a pipelined
        view), the new position and its announcement in another."""
        with collector_paused():
            return self._apply_batch(conn)

    def _apply_batch(self, conn: psycopg.Connection[Any]) -> int:
        with conn.pipeline():
            limit_transaction(conn, self.deadline_seconds)
            made = conn.execute("INSERT INTO projection_positions (name, position) VALUES "
                                "(%s, 0) ON CONFLICT DO NOTHING RETURNING name",
                                (self.position_name,))
            row = conn.execute(
                "SELECT position FROM projection_positions WHERE name = %s FOR UPDATE",
                (self.position_name,),
            ).fetchone()
        assert row is not None
        if made.fetchone() is not None:  # workers/lost_positions.py
            refuse_lost_position(conn, self.view, self.suffix, self.position_name)
        position = int(row[0])
        rows = self.reader.read(conn, position + 1, self._limit or self.batch_size)
        if self.until is not None:
            rows = [row for row in rows if row.id <= self.until]
        if not rows:
            return 0
        self._read = rows
        events = decode_batch(self.reader, rows, self.view.handles, self.view.stored_events)
        self._decoded = len(events)
        waits = self.lock_timeout_seconds
        if self.view.pipelined:  # statements go out without waiting for each other
            with conn.pipeline():
                bound_lock_waits(conn, waits)
                self.view.apply(conn, events, self.suffix)
                self._advance(conn, rows[-1].id)
                unbound_lock_waits(conn, waits)
        else:
            bound_lock_waits(conn, waits)
            self.view.apply(conn, events, self.suffix)
            with conn.pipeline():
                self._advance(conn, rows[-1].id)
                unbound_lock_waits(conn, waits)
        return len(rows)

    def _advance(self, conn: psycopg.Connection[Any], position: int) -> None:
        conn.execute(
            "UPDATE projection_positions SET position = %s, updated_at = now() WHERE name = %s",
            (position, self.position_name),
        )
        announce(conn, self.position_name, position)

    def run_batch(self) -> int:
        """One batch in a transaction of its own. A batch that fails for its events, not for
        want of the database, is tried again in smaller pieces (`Narrowing`): the events
        before the one that fails are applied, and a `PoisonEvent` names that one. One that
        gave up on a lock on its tables is raised as it is, and noted (`blocked`)."""
        self._handled = 0
        try:
            count = self._guarded()
        except BaseException as error:
            self.failed_at, self.clean_batches = time.monotonic(), 0
            if isinstance(error, CONNECTION_ERRORS):
                self.lock_wait(error)
                # who holds its tables, for the log: a wait, not the database lost
                note_lock_holders(error, self.conninfo, view_tables(self.view, self.suffix))
            raise
        self.blocked = None
        self.clean_batches += self._handled > 0
        return count

    def _transient(self, error: Exception) -> bool:
        return database_away(error)  # a row the server refuses (class 54) is the events'

    def lock_wait(self, error: BaseException) -> bool:
        """Whether `error` ended a wait for a lock on the view's tables (noted in `blocked`)."""
        if lock_wait(error, view_tables(self.view, self.suffix)):
            self.blocked = describe(error)
            return True
        return False

    def _batch(self, limit: int | None) -> int:
        self._limit, self._read, self._decoded = limit, [], 0
        self.began()
        try:
            with self.pool.connection() as conn, watch(conn, self.deadline_seconds, self.what), \
                    conn.transaction():
                count = self.apply_batch(conn)
        finally:
            self._limit = None
        self._handled += self._decoded  # committed
        self.processed += count
        self.waiting_since = None
        progress()
        if self.poison is not None and self._read and self._read[-1].id >= self.poison.position:
            self.poison = None  # applied after all (its view was mended)
        return count

    def began(self) -> None:
        """A batch of the view begins (its own, or its group's)."""
        if self.waiting_since is None:
            self.waiting_since = time.monotonic()

    def stalled_seconds(self) -> float:
        """How long it has held its lock without completing a batch (0: its batches complete,
        even empty ones, which a following runner runs every `SAFETY_SECONDS`; or it is on
        standby): a batch waiting on a lock another session holds, a handler that does not
        return, batches failing again and again."""
        since = self.waiting_since
        # blocked: also between its attempts (not on standby, another holder applying it)
        counted = self.active or self.blocked is not None and not self.connected
        return time.monotonic() - since if since is not None and counted else 0.0

    @property
    def what(self) -> str:
        """The batch, as the watchdog's log names it."""
        return f"projection {self.position_name} batch"

    @property
    def _poison_name(self) -> str:
        return self.position_name

    def _next_event(self, position: int) -> tuple[int, str] | None:
        with self.pool.connection() as conn, watch(conn, self.deadline_seconds, self.what):
            rows = self.reader.read(conn, position + 1, 1)
        return (rows[0].id, rows[0].topic) if rows else None

    def catch_up(self) -> int:
        total = 0
        while count := self.run_batch():
            total += count
        return total

    def run(self, stop: threading.Event, conninfo: str) -> None:
        """Run until `stop` is set: standby while another runner holds the lock, then follow.

        Any failure (a batch, the LISTEN connection that also holds the lock) ends the run by
        raising: the supervisor (workers/supervisor.py) starts it again on a fresh connection,
        which must take the lock again before applying anything. A view that left its group
        and is healthy again (workers/projection_rejoin.py) lets its lock go between two
        batches and ends its loop (`HandedOver`): its group takes it back.
        """
        expect_progress()  # a run without a batch completed did not run, however long it lasted
        self.conninfo = conninfo
        self.pool.check()  # after a database restart: drop the pool's dead connections
        home = None
        try:
            with psycopg.connect(conninfo, autocommit=True) as lock_conn:
                what = f"projection {self.position_name} lock connection"
                self._heartbeat = Heartbeat(lock_conn, self.deadline_seconds, what)
                self.connected = True
                if not take_lock(lock_conn, self.lock_key, stop, self.deadline_seconds, what):
                    return
                self.active = True
                log.info("projection %s active from position %d", self.position_name,
                         self.position())
                home = self.home if self._follow(stop, lock_conn) else None
                if home is not None:  # let go before the group asks for it
                    with watch(lock_conn, self.deadline_seconds, what):
                        lock_conn.execute(UNLOCK_SQL, (self.lock_key,))
        finally:
            self.active = self.connected = False
            self._heartbeat = None
        if home is not None:
            raise HandedOver(f"projection {self.position_name} is healthy again and goes back "
                             "to its group", then=lambda: home.take_back(self))

    def _beat(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.beat()

    def _follow(self, stop: threading.Event, listen_conn: psycopg.Connection[Any]) -> bool:
        """Until `stop` is set (False), or the view goes back to the group it left (True)."""
        if self.watch is not None:
            return self._follow_watched(stop, listen_conn)
        listen_conn.execute(f"LISTEN {CHANNEL}")
        while not stop.is_set():
            self._beat()
            with watch(listen_conn, self.deadline_seconds, self.what):
                hold = self.may_hold(listen_conn)
            if hold is None:
                count = self.run_batch()
                if self._goes_back(count):
                    return True
                if count:
                    self.advanced_at = time.monotonic()
                    continue
            for _ in listen_conn.notifies(timeout=hold or 0.5, stop_after=1):
                pass
        return False

    def _goes_back(self, count: int) -> bool:
        """After a batch of `count` events: whether the view goes back to the group it left."""
        return self.home is not None and self.home.rejoin.ready(self, count)

    def signal(self, own: bool, others: int) -> None:
        """From the LogWatch: new events arrived, one the view handles among them (`own`) or
        `others` it does not handle.

        A runner already holding for others' events is not woken by more of them (fewer than
        a batch): its hold ends at the same moment anyway, and each needless wake-up is a
        thread switch in the process that also serves the requests and runs the views that
        do have work (with six views, four woken per stock receipt to go back to sleep)."""
        with self._signalled:
            if own:
                self._own = True
            else:
                holding = self._others > 0 and self.view.handles is not None
                self._others += others
                if holding and self._others < self.batch_size:
                    return
            self._signalled.notify()

    def _follow_watched(self, stop: threading.Event,
                        lock_conn: psycopg.Connection[Any]) -> bool:
        """`_follow` fed by the LogWatch: the same holds as `may_hold`'s, from its signals."""
        with self._signalled:
            self._own = True  # catch up first
        while not stop.is_set():
            lock_kept(lock_conn)
            self._beat()
            with self._signalled:
                wait = self.watched_hold()
                if wait is not None:
                    woken = self._signalled.wait(wait)
                    if woken or self._others:
                        continue  # a signal, or the hold is over: look again
                self._own, self._others = False, 0
            if stop.is_set():
                return False
            count = self.run_batch()
            if self._goes_back(count):
                return True
            if count:
                self.advanced_at = time.monotonic()
            if count >= self.batch_size:
                with self._signalled:
                    self._own = True  # a full batch: more may follow it already
        return False

    @property
    def lock_key(self) -> str:
        """The advisory lock (`LOCK_SQL`) its holder alone applies the view's batches under."""
        return "projection:" + self.position_name

    def watched_hold(self, batched_at: float | None = None,
                     now: float | None = None) -> float | None:
        """(Under `_signalled`.) How long to wait before the next batch (None: run it now).
        Nothing told: `SAFETY_SECONDS` (from `batched_at`, the last batch, when given), then a
        batch all the same. Only events the view does not handle, fewer than a batch: what is
        left of `idle_advance_seconds`."""
        if self._own or self._others >= self.batch_size:
            return None
        now = time.monotonic() if now is None else now
        if not self._others:
            if batched_at is None:
                return SAFETY_SECONDS
            left = batched_at + SAFETY_SECONDS - now
            return left if left > 0 else None
        left = self.advanced_at + self.idle_advance_seconds - now
        return left if left > 0 and self.view.handles is not None else None

    def may_hold(self, conn: psycopg.Connection[Any]) -> float | None:
        """How long the next batch may wait (None: run it now): only while every event after
        the position is one the view does not handle, fewer than a batch, and the position
        moved less than `idle_advance_seconds` ago. Looks at the events' topics alone, outside
        any transaction (`conn` in autocommit); the batch itself reads the position again."""
        left = self.advanced_at + self.idle_advance_seconds - time.monotonic()
        if left <= 0 or self.view.handles is None:
            return None
        if self.pending_sql is None:
            return None
        topics = conn.execute(self.pending_sql, (self.position_name, self.batch_size),
                              prepare=True).fetchall()
        if not topics or len(topics) >= self.batch_size or any(
                self.reader.wanted(topic, self.view.handles) for (topic,) in topics):
            return None
        return left


def announce(conn: psycopg.Connection[Any], name: str, position: int) -> None:
    """Tell waiting readers (api/positions.py) the position moved; sent when the tx commits."""
    conn.execute("SELECT pg_notify(%s, %s)", (POSITIONS_CHANNEL, f"{name}:{position}"))
