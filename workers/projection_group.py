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
After a failed batch the views run in transactions of their own until a round of them
succeeds: a view whose events cannot be applied then holds up only itself, the others are
brought to the head on every start of the loop (between two starts, the supervisor's backoff
of up to 10 s, they wait). The views' holds (events they do not handle, `idle_advance_seconds`) are kept: a view
that is holding is left out of the batch, and joins the next one once its hold ends.

The group takes each of its views' advisory locks (sorted by name, so two groups never each
hold a part): a second process's group, or a single runner of one of the views, stays on
standby while this one runs.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from domain.application import ServiceCore
from workers.collector import collector_paused
from workers.event_batches import EventReader, decode_batch
from workers.projection_runner import SAFETY_SECONDS, ProjectionRunner

log = logging.getLogger(__name__)
LOCK_SQL = "SELECT pg_try_advisory_lock(hashtext(%s))"
UNLOCK_SQL = "SELECT pg_advisory_unlock(hashtext(%s))"


class ProjectionGroup:
    def __init__(self, app: ServiceCore, pool: ConnectionPool,
                 runners: list[ProjectionRunner], *, batch_size: int = 500) -> None:
        if len({r.position_name for r in runners}) != len(runners):
            raise ValueError("a view appears twice in a projection group")
        self.app = app
        self.pool = pool
        self.runners = sorted(runners, key=lambda r: r.position_name)
        self.batch_size = batch_size
        self.reader = EventReader(app)
        self.signalled = threading.Condition()
        for runner in self.runners:  # their LogWatch signals wake this group's thread
            runner._signalled = self.signalled
        self.batched_at = {r.position_name: time.monotonic() for r in self.runners}
        self.behind: list[ProjectionRunner] = []  # left out of the last batch: far behind
        self.solo = False  # after a failed batch: one transaction per view until all succeed
        self.connected = False

    def is_connected(self) -> bool:
        return self.connected

    # -- one batch -------------------------------------------------------------------------

    def run_batch(self, runners: list[ProjectionRunner] | None = None) -> dict[str, int]:
        """One transaction for `runners` (default: all): the events each moved past, by name.
        A view more than a batch behind the others is left out (`behind` names them)."""
        members = self.runners if runners is None else runners
        with self.pool.connection() as conn, conn.transaction():
            moved = self.apply_batch(conn, members)
        for runner in members:
            runner.processed += moved.get(runner.position_name, 0)
        return moved

    def apply_batch(self, conn: psycopg.Connection[Any],
                    runners: list[ProjectionRunner]) -> dict[str, int]:
        """Inside the caller's transaction: lock the views' positions, read the events after
        the lowest of those near the front once, apply each view's share, move each view."""
        with collector_paused():
            names = [r.position_name for r in runners]
            with conn.pipeline():
                conn.execute("INSERT INTO projection_positions (name, position) "
                             "SELECT unnest(%s::text[]), 0 ON CONFLICT DO NOTHING", (names,))
                found = conn.execute(
                    "SELECT name, position FROM projection_positions WHERE name = ANY(%s) "
                    "ORDER BY name FOR UPDATE", (names,)).fetchall()
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
            for runner, _share, events in decoded:
                if not runner.view.pipelined:
                    runner.view.apply(conn, events, runner.suffix)
            with conn.pipeline():
                for runner, share, events in decoded:
                    if runner.view.pipelined:
                        runner.view.apply(conn, events, runner.suffix)
                    runner._advance(conn, share[-1].id)
                    moved[runner.position_name] = len(share)
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
        view's lock, then follow. A failure raises (the supervisor starts it again)."""
        self.pool.check()
        try:
            with psycopg.connect(conninfo, autocommit=True) as lock_conn:
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
                log.info("projections %s active as one group",
                         ", ".join(r.position_name for r in self.runners))
                self._follow(stop)
        finally:
            self.connected = False
            for runner in self.runners:
                runner.active = runner.connected = False

    def _lock_all(self, conn: psycopg.Connection[Any]) -> bool:
        held: list[str] = []
        for runner in self.runners:  # sorted by name: two groups never each hold a part
            key = "projection:" + runner.position_name
            got = conn.execute(LOCK_SQL, (key,)).fetchone()
            if not (got and got[0]):
                for name in held:
                    conn.execute(UNLOCK_SQL, (name,))
                return False
            held.append(key)
        return True

    def _follow(self, stop: threading.Event) -> None:
        with self.signalled:
            for runner in self.runners:
                runner._own = True  # catch up first
        while not stop.is_set():
            with self.signalled:
                now = time.monotonic()
                holds = {r.position_name: self._hold(r, now) for r in self.runners}
                due = [r for r in self.runners if holds[r.position_name] is None]
                if not due:
                    self.signalled.wait(min(h for h in holds.values() if h is not None))
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
        else:
            try:
                moved = self.run_batch(due)
                for runner in self.behind:  # far behind: batches of its own until it is near
                    moved[runner.position_name] = runner.run_batch()
            except Exception:
                self.solo = True  # the next batches one view at a time: who fails, fails alone
                with self.signalled:
                    for runner in due:
                        runner._own = True
                raise
        now = time.monotonic()
        for runner in due:
            count = moved.get(runner.position_name, 0)
            if count:
                runner.advanced_at = now
            if count >= self.batch_size or runner in self.behind:
                with self.signalled:
                    runner._own = True  # a full batch, or far behind: more may follow

    def _solo(self, due: list[ProjectionRunner]) -> dict[str, int]:
        """One transaction per batch and view; the first failure is raised once every view
        had its turn, the others brought to the head first: while one view keeps failing, the
        others are behind by at most what came between two starts of the loop (the
        supervisor's backoff). The group stays in this mode until a round succeeds."""
        moved: dict[str, int] = {}
        failure: Exception | None = None
        for runner in due:
            try:
                count = total = runner.run_batch()
                while count >= runner.batch_size:
                    count = runner.run_batch()
                    total += count
                moved[runner.position_name] = total
            except Exception as error:  # noqa: BLE001 - raised below, after the others' turn
                failure = failure or error
                with self.signalled:
                    runner._own = True
        if failure is not None:
            raise failure
        self.solo = False
        return moved

    def _hold(self, runner: ProjectionRunner, now: float) -> float | None:
        """(Under `signalled`.) `ProjectionRunner.watched_hold` for a member: how long its next
        batch may wait (None: it is due). Nothing told: a batch all the same `SAFETY_SECONDS`
        after its last one."""
        if runner._own or runner._others >= runner.batch_size:
            return None
        if not runner._others:
            left = self.batched_at[runner.position_name] + SAFETY_SECONDS - now
            return left if left > 0 else None
        left = runner.advanced_at + runner.idle_advance_seconds - now
        return left if left > 0 and runner.view.handles is not None else None
