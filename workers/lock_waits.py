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
