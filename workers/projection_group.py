"""The projection runners of a process as one: a batch applies the new events to every view
that has work, in one transaction.

Each runner used to run its own batch: BEGIN, its position locked, the events read, its rows,
its position and announcement, COMMIT. A stock receipt is handled by two views (stock, audit
index), so it cost two such transactions, and the views that do not handle it a third one
when their hold ended. `ProjectionGroup` runs the views of its runners in one thread: the
positions of the views that have work are locked in one statement, the events after the
lowest of them are read and decoded once, each view gets the events after its own position
(those it handles), and each view's position and announcement go in the same transaction,
which commits once. Each view keeps its own position, so views may stand at different
positions (one just rebuilt, one newly added): the batch gives each only what lies after its
own. A view far behind the others (more than a batch) catches up in batches of its own, so
the views at the head do not wait for it.

Exactly once, as for one runner: every view's rows and its position commit together, under
the lock of its position row; a failure in any view rolls the whole batch back, every
position included, so a retry applies the same events again to the same rows, to none twice.
After a failed batch the views run in transactions of their own, one batch each in turn,
until a round of them succeeds. A view that fails there on its own, not for want of the
database, leaves the group (`on_alone`: the container supervises it as a loop of its own,
`projection-<view>`, which fails, backs off and reports as any loop; its advisory lock is
handed over): the others go on as a group at once, so one view's broken event never holds up
the rest. Nor do a view's tables held locked by another session: its writes wait
`lock_timeout_seconds` at most (workers/lock_waits.py), and a wait that runs out is the
view's failure, not the database's: the group goes on without starting again, and the view
leaves at its turn. Once healthy again (`rejoin_seconds` without a failure, and more:
workers/projection_rejoin.py), its loop lets its lock go and ends, and the group takes it
back (`take_back`); `rejoin_seconds` 0: it stays alone for the life of the process.
Without `on_alone`, and when the database is away, the failure is raised once every view had
its turn (the supervisor starts the group again). The views' holds (events they do not
handle, `idle_advance_seconds`) are kept: a view that is holding is left out of the batch,
and joins the next one once its hold ends.

The group takes each of its views' advisory locks (sorted by name, so two groups never each
hold a part): a second process's group, or a single runner of one of the views, stays on
standby while this one runs.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from domain.application import ServiceCore
from servicecore.deadline import Heartbeat, limit_transaction, watch
from workers.advisory_locks import LOCK_SQL, UNLOCK_SQL, lock_kept
from workers.collector import collector_paused
from workers.event_batches import EventReader, decode_batch
from workers.lock_waits import (
    bound_lock_waits,
    lock_wait,
    note_lock_holders,
    unbound_lock_waits,
    view_tables,
)
from workers.lost_positions import refuse_lost_position
from workers.projection_rejoin import REJOIN_BATCHES, Rejoin
from workers.projection_runner import ProjectionRunner
from workers.supervisor import database_away, expect_progress, progress

log = logging.getLogger(__name__)


class ProjectionGroup:
    def __init__(self, app: ServiceCore, pool: ConnectionPool,
                 runners: list[ProjectionRunner], *, batch_size: int = 500,
                 on_alone: Callable[[ProjectionRunner], None] | None = None,
                 deadline_seconds: float = 0.0, lock_timeout_seconds: float = 0.0,
                 rejoin_seconds: float = 0.0, rejoin_batches: int = REJOIN_BATCHES) -> None:
        if len({r.position_name for r in runners}) != len(runners):
            raise ValueError("a view appears twice in a projection group")
        self.app = app
        self.pool = pool
        self.runners = sorted(runners, key=lambda r: r.position_name)
        self.batch_size = batch_size
        self.deadline_seconds = deadline_seconds  # as ProjectionRunner's (0: no limit)
        self.lock_timeout_seconds = lock_timeout_seconds  # as ProjectionRunner's
        self.reader = EventReader(app)
        self.signalled = threading.Condition()
        for runner in self.runners:  # their LogWatch signals wake this group's thread
            runner._signalled = self.signalled
        self.batched_at = {r.position_name: time.monotonic() for r in self.runners}
        self.behind: list[ProjectionRunner] = []  # left out of the last batch: far behind
        self.solo = False  # after a failed batch: one transaction per view until all succeed
        self.connected = False
        self.on_alone = on_alone
        self.alone: list[ProjectionRunner] = []  # left the group after failing on their own
        self.rejoin = Rejoin(rejoin_seconds, rejoin_batches)  # when one of them goes back
        self.returning: list[ProjectionRunner] = []  # handed back, their locks not yet taken
        self._asked_at = float("-inf")  # when it last asked for a returning view's lock
        self._lock_conn: psycopg.Connection[Any] | None = None
        self._heartbeat: Heartbeat | None = None
        self.conninfo = ""  # its loop's, for a look at who holds its views' tables

    def is_connected(self) -> bool:
        return self.connected

    # -- one batch -------------------------------------------------------------------------

    def run_batch(self, runners: list[ProjectionRunner] | None = None) -> dict[str, int]:
        """One transaction for `runners` (default: all): the events each moved past, by name.
        A view more than a batch behind the others is left out (`behind` names them)."""
        members = self.runners if runners is None else runners
        for runner in members:
            runner.began()
        try:
            with self.pool.connection() as conn, watch(conn, self.deadline_seconds,
                                                       "projection group batch"), \
                    conn.transaction():
                moved = self.apply_batch(conn, members)
        except BaseException as error:
            # who holds its views' tables, for the log: a wait, not the database lost
            note_lock_holders(error, self.conninfo, frozenset[str]().union(
                *(view_tables(r.view, r.suffix) for r in members)))
            raise
        for runner in members:
            runner.processed += moved.get(runner.position_name, 0)
            runner.waiting_since = runner.blocked = None
        progress()
        return moved

    def apply_batch(self, conn: psycopg.Connection[Any],
                    runners: list[ProjectionRunner]) -> dict[str, int]:
        """Inside the caller's transaction: lock the views' positions, read the events after
        the lowest of those near the front once, apply each view's share, move each view."""
        with collector_paused():
            names = [r.position_name for r in runners]
            with conn.pipeline():
                limit_transaction(conn, self.deadline_seconds)
                made = conn.execute("INSERT INTO projection_positions (name, position) "
                                    "SELECT unnest(%s::text[]), 0 ON CONFLICT DO NOTHING "
                                    "RETURNING name", (names,))
                found = conn.execute(
                    "SELECT name, position FROM projection_positions WHERE name = ANY(%s) "
                    "ORDER BY name FOR UPDATE", (names,)).fetchall()
            new = {str(name) for (name,) in made.fetchall()}  # workers/lost_positions.py
            for runner in runners:
                if runner.position_name in new:
                    refuse_lost_position(conn, runner.view, runner.suffix, runner.position_name)
            positions = {str(name): int(position) for name, position in found}
            front = max(positions.values())
            together = [r for r in runners
                        if positions[r.position_name] >= front - self.batch_size]
            self.behind = [r for r in runners if r not in together]
            start = min(positions[r.position_name] for r in together)
            rows = self.reader.read(conn, start + 1, self.batch_size)
            moved: dict[str, int] = {}
            shares = [(runner, share) for runner in together
                      if (share := [row for row in rows if row.id > positions[runner.position_name]])]
            # The views that wait for their answers (reads, COPY) first, then one pipeline for
            # the others' writes and every view's new position and announcement: one round
            # trip for all of those instead of one per view.
            decoded = [(runner, share, decode_batch(self.reader, share, runner.view.handles,
                                                    runner.view.stored_events))
                       for runner, share in shares]
            # the views' own writes wait for locks this long at most (workers/lock_waits.py)
            waits = self.lock_timeout_seconds if decoded else 0.0
            early = any(not runner.view.pipelined for runner, _share, _events in decoded)
            if early:
                bound_lock_waits(conn, waits)
            for runner, _share, events in decoded:
                if not runner.view.pipelined:
                    runner.view.apply(conn, events, runner.suffix)
            with conn.pipeline():
                if not early:
                    bound_lock_waits(conn, waits)
                for runner, share, events in decoded:
                    if runner.view.pipelined:
                        runner.view.apply(conn, events, runner.suffix)
                    runner._advance(conn, share[-1].id)
                    moved[runner.position_name] = len(share)
                unbound_lock_waits(conn, waits)
            return moved

    def catch_up(self) -> int:
        """Every view to the head: the group's batches, and their own for views far behind."""
        total = 0
        while True:
            count = sum(self.run_batch().values())
            count += sum(runner.run_batch() for runner in self.behind)
            if not count:
                return total
            total += count

    # -- following the log -----------------------------------------------------------------

    def run(self, stop: threading.Event, conninfo: str) -> None:
        """As `ProjectionRunner.run`, for all the group's views: standby until it holds every
        view's lock, then follow. A failure raises (the supervisor starts it again). Once
        every view has left, it lets its connection go (`idle`) until one comes back."""
        while not stop.is_set():
            with self.signalled:
                while not (self.runners or self.returning or stop.is_set()):
                    self.signalled.wait(1.0)
            if stop.is_set():
                return
            self._run(stop, conninfo)

    def _run(self, stop: threading.Event, conninfo: str) -> None:
        expect_progress()  # a run without a batch completed did not run, however long it lasted
        self.pool.check()
        self.conninfo = conninfo
        for runner in self.runners:  # their batches one at a time name their tables' holders
            runner.conninfo = conninfo
        try:
            with psycopg.connect(conninfo, autocommit=True) as lock_conn:
                self._lock_conn = lock_conn
                self._heartbeat = Heartbeat(lock_conn, self.deadline_seconds,
                                            "projection group lock connection")
                self.connected = True
                for runner in self.runners:
                    runner.connected = True
                while not stop.is_set():
                    if self._lock_all(lock_conn):
                        break
                    stop.wait(1.0)
                else:
                    return
                for runner in self.runners:
                    runner.active = True
                if self.runners:  # else only views coming back (`_take_back`)
                    log.info("projections %s active as one group",
                             ", ".join(r.position_name for r in self.runners))
                self._follow(stop, lock_conn)
        finally:
            self.connected = False
            self._lock_conn = self._heartbeat = None
            for runner in self.runners:
                runner.active = runner.connected = False

    def idle(self) -> str | None:
        """Why the group has nothing to do (None: it has views): every view left it and runs as
        a loop of its own, whose state tells how the view does, until one comes back; said
        once the group has let its connection go, not in the moment between."""
        if self.runners or not self.alone or self.connected:
            return None
        return "no views: " + ", ".join(f"projection-{r.position_name}" for r in self.alone) + \
            " left the group and run as loops of their own"

    def _lock_all(self, conn: psycopg.Connection[Any]) -> bool:
        held: list[str] = []
        with watch(conn, self.deadline_seconds, "projection group lock connection"):
            for runner in self.runners:  # sorted by name: two groups never each hold a part
                key = runner.lock_key
                got = conn.execute(LOCK_SQL, (key,)).fetchone()
                if not (got and got[0]):
                    for name in held:
                        conn.execute(UNLOCK_SQL, (name,))
                    progress()  # standing by while another process applies the views
                    return False
                held.append(key)
        return True

    def _follow(self, stop: threading.Event, lock_conn: psycopg.Connection[Any]) -> None:
        with self.signalled:
            for runner in self.runners:
                runner._own = True  # catch up first
        while not stop.is_set():
            if self.returning:
                self._take_back(lock_conn)
            if not (self.runners or self.returning):  # every view left to run on its own
                return
            lock_kept(lock_conn)  # lost, the views' locks went with it: start again
            if self._heartbeat is not None:
                self._heartbeat.beat()  # stopped forwarding: cut, start again
            with self.signalled:
                now = time.monotonic()
                holds = {r.position_name: self._hold(r, now) for r in self.runners}
                due = [r for r in self.runners if holds[r.position_name] is None]
                if not due:  # a view handed back is asked for each second
                    waits = [h for h in holds.values() if h is not None]
                    self.signalled.wait(min(waits + [1.0] * bool(self.returning)))
                    continue
                for runner in due:
                    runner._own, runner._others = False, 0
            if stop.is_set():
                return
            self._batch(due)

    def _batch(self, due: list[ProjectionRunner]) -> None:
        now = time.monotonic()
        for runner in due:
            self.batched_at[runner.position_name] = now
        if self.solo:
            moved = self._solo(due)
            due = [runner for runner in due if runner in self.runners]
        else:
            try:
                moved = self.run_batch(due)
                for runner in self.behind:  # far behind: batches of its own until it is near
                    moved[runner.position_name] = runner.run_batch()
            except Exception as error:
                self.solo = True  # the next batches one view at a time: who fails, fails alone
                with self.signalled:
                    for runner in due:
                        runner._own = True
                if not (self._may_leave(error, None) and any(
                        lock_wait(error, view_tables(r.view, r.suffix)) for r in due)):
                    raise
                # A view's tables locked by another session: the database answered, so the
                # group goes on (no start again); the view that waits fails alone next round.
                moved = {}
        now = time.monotonic()
        for runner in due:
            count = moved.get(runner.position_name, 0)
            if count:
                runner.advanced_at = now
            if count >= min(self.batch_size, runner.batch_size) or runner in self.behind:
                with self.signalled:
                    runner._own = True  # a full batch, or far behind: more may follow

    def _solo(self, due: list[ProjectionRunner]) -> dict[str, int]:
        """One round: one batch per view, each in a transaction of its own. A view that fails
        on its own leaves the group (`_leave`, when there is `on_alone`); any other failure is
        raised once every view had its turn. The group stays in this mode until a round
        succeeds, then shares batches again (far-behind views in batches of their own).

        One batch per view and round, not each view to the head in turn: while events come
        faster than one view follows on its own (a slow link, a busy server), the first view
        in name order would never reach the head, and the views after it would wait for good."""
        moved: dict[str, int] = {}
        failure: Exception | None = None
        for runner in due:
            if self._heartbeat is not None:
                self._heartbeat.beat()  # the lock session is not ended meanwhile
            try:
                moved[runner.position_name] = runner.run_batch()
            except Exception as error:  # noqa: BLE001 - raised below, after the others' turn
                if self._may_leave(error, runner):
                    self._leave(runner, error)
                    continue
                failure = failure or error
                with self.signalled:
                    runner._own = True
        if failure is not None:
            raise failure
        self.solo = False
        return moved

    def _may_leave(self, error: Exception, runner: ProjectionRunner | None) -> bool:
        """A failure of the view itself (its handler, its rows, its tables locked by another
        session: `runner.lock_wait`), with somewhere to go: not the database being away, which
        every view would meet and the supervisor waits out. `runner` None: whether a view may
        leave at all."""
        if self.on_alone is None or self._lock_conn is None:
            return False
        return runner is None or not database_away(error) \
            or runner.lock_wait(error)

    def _leave(self, runner: ProjectionRunner, error: Exception) -> None:
        """`runner` leaves the group: its lock is let go and it runs as a loop of its own."""
        assert self.on_alone is not None and self._lock_conn is not None
        if runner.blocked is not None:  # no bug behind it: no traceback
            holders = getattr(error, "waits_on", None)  # note_lock_holders, in its batch
            log.warning("projection %s gave up waiting for a lock on its tables (%s%s); it "
                        "runs on its own from now on, the other views go on as a group",
                        runner.position_name, f"{holders}: " if holders else "",
                        runner.blocked)
        else:
            log.error("projection %s failed in the group (%s: %s); it runs on its own from now "
                      "on, the other views go on as a group", runner.position_name,
                      type(error).__name__, error, exc_info=error)
        self.runners.remove(runner)
        self.alone.append(runner)
        runner.leaves += 1
        runner.failed_at, runner.clean_batches = time.monotonic(), 0
        runner.home = self if self.rejoin.seconds else None
        try:  # a lost lock connection raises (the group starts again), the view runs all the same
            with watch(self._lock_conn, self.deadline_seconds, "projection group lock connection"):
                self._lock_conn.execute(UNLOCK_SQL, (runner.lock_key,))
        finally:
            runner.active = runner.connected = False
            runner._signalled = threading.Condition()  # its own wake-ups from now on
            runner._own = True
            self.on_alone(runner)

    def take_back(self, runner: ProjectionRunner) -> None:
        """(From the view's own loop, once it ended: `ProjectionRunner.run`.) `runner`, which
        left, is healthy again and has let its lock go: the group takes it back."""
        with self.signalled:
            self.returning.append(runner)
            self.signalled.notify_all()

    def _take_back(self, lock_conn: psycopg.Connection[Any]) -> None:
        """The returning views whose locks the group takes join its batches again; one that
        another process's runner took meanwhile is asked for again a second later."""
        if time.monotonic() - self._asked_at < 1.0:
            return
        self._asked_at = time.monotonic()
        for runner in list(self.returning):
            with watch(lock_conn, self.deadline_seconds, "projection group lock connection"):
                got = lock_conn.execute(LOCK_SQL, (runner.lock_key,)).fetchone()
            if not (got and got[0]):
                continue
            with self.signalled:
                self.returning.remove(runner)
                runner._signalled = self.signalled
                runner._own, runner.home = True, None
            if runner in self.alone:
                self.alone.remove(runner)
            self.batched_at[runner.position_name] = time.monotonic()
            runner.active = runner.connected = True
            runner.rejoins += 1
            self.runners = sorted([*self.runners, runner], key=lambda r: r.position_name)
            log.info("projection %s rejoined its group: healthy again, %d batches of its own "
                     "applied since its last failure %.0f s ago (it has left the group %d "
                     "times, rejoined %d)", runner.position_name, runner.clean_batches,
                     time.monotonic() - (runner.failed_at or 0.0), runner.leaves, runner.rejoins)

    def _hold(self, runner: ProjectionRunner, now: float) -> float | None:
        """(Under `signalled`.) How long a member's next batch may wait (None: it is due):
        `ProjectionRunner.watched_hold`, the quiet poll counted from its last batch."""
        return runner.watched_hold(self.batched_at[runner.position_name], now)
