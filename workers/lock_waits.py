"""A view's batch that gave up waiting for a lock another session holds on what it writes
(a `LOCK TABLE` left open, an analyst's long transaction, a migration): the view's failure,
not the database being away, though psycopg raises it as an `OperationalError` too.

A batch reads its positions and the log as before (a lock on the event table is everyone's
wait), then bounds its lock waits for the views' own writes (`bound_lock_waits`:
`lock_timeout`, SERVICECORE_PROJECTION_LOCK_TIMEOUT_SECONDS) until its positions are written
(`unbound_lock_waits`, before the commit). A wait that runs out there is LockNotAvailable
(SQLSTATE 55P03); one the statement timeout ends first (57014) names the row's table in its
context when it waited for a row it updates, deletes or locks (`while updating tuple (0,1) in
relation "wo_view"`; not a wait on a unique index, which names the index).
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Any

import psycopg
from psycopg import errors

RELATION = re.compile(r'tuple \([0-9]+,[0-9]+\) in relation "([^"]+)"')


def bound_lock_waits(conn: psycopg.Connection[Any], seconds: float) -> None:
    """(Inside the batch's transaction.) From here a wait for a lock lasts `seconds` at most
    (0: as long as the statement may run)."""
    if seconds:
        conn.execute("SELECT set_config('lock_timeout', %s, true)",
                     (f"{max(1, round(seconds * 1000))}ms",))


def unbound_lock_waits(conn: psycopg.Connection[Any], seconds: float) -> None:
    """(Inside the transaction, before its commit.) Lock waits as the session had them."""
    if seconds:
        conn.execute("SET LOCAL lock_timeout TO DEFAULT")


def lock_wait(error: BaseException, tables: Collection[str]) -> bool:
    """`error` ended a wait for a lock on one of `tables` (a view's, with their suffix), or a
    wait `bound_lock_waits` bounded: not the database away, but the view's tables held."""
    if isinstance(error, errors.LockNotAvailable):
        return True
    if isinstance(error, errors.QueryCanceled):
        found = RELATION.search(error.diag.context or "")
        return found is not None and found.group(1) in tables
    return False


def view_tables(view: Any, suffix: str) -> frozenset[str]:
    """The tables a view writes, as the server names them in a lock wait's context."""
    return frozenset(table + suffix for table in view.tables)


# Other sessions' locks on given tables that a writer waits for (a `LOCK TABLE`, an analyst's
# transaction that wrote or locked rows), each with who holds it: pg_locks and
# pg_stat_activity, a few rows of catalog views.
HOLDERS_SQL = """
SELECT DISTINCT l.relation::regclass::text, l.mode, a.pid, a.usename, a.application_name,
       a.state
FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'relation' AND l.granted AND l.pid <> pg_backend_pid()
  AND l.mode <> 'AccessShareLock' AND a.backend_type = 'client backend'
  AND l.relation IN (SELECT to_regclass(t) FROM unnest(%s::text[]) AS t)
ORDER BY 3, 1 LIMIT 3"""
WAITS = (errors.LockNotAvailable, errors.QueryCanceled)  # and the deadline's cut


def waited(error: BaseException) -> bool:
    """Whether `error` may have ended a wait (a lock timeout, a statement timeout, the
    deadline's cut), rather than the database being away."""
    from servicecore.deadline import DeadlinePassed

    return isinstance(error, (*WAITS, DeadlinePassed))


def lock_holders(conninfo: str, tables: Collection[str]) -> str | None:
    """Who holds a lock on one of `tables` that a writer waits for, as a log names it:
    `wo_view held by pid 123 (user alice, application psql, idle in transaction,
    AccessExclusiveLock)`; None when nobody does or the database cannot say within 2 s."""
    if not conninfo or not tables:
        return None
    try:
        with psycopg.connect(conninfo, autocommit=True, connect_timeout=2,
                             options="-c statement_timeout=2000") as conn:
            rows = conn.execute(HOLDERS_SQL, (sorted(tables),)).fetchall()
    except psycopg.Error:
        return None
    return "; ".join(f"{table} held by pid {pid} (user {user}, application {app or '-'}, "
                     f"{state}, {mode})" for table, mode, pid, user, app, state in rows) or None


def note_lock_holders(error: BaseException, conninfo: str, tables: Collection[str]) -> None:
    """Give `error` (a wait that ended: `waited`) the sessions that hold `tables` locked, as
    `waits_on`, which the supervisor's log line names (workers/supervisor.py)."""
    if waited(error) and getattr(error, "waits_on", None) is None:
        holders = lock_holders(conninfo, tables)
        if holders is not None:
            error.waits_on = holders  # type: ignore[attr-defined]
