"""The read models' tables at start: made where missing, rebuilt where this version's
handlers or tables differ from what wrote the live rows (`create_views`)."""

from __future__ import annotations

import logging
import time
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from domain.application import ServiceCore
from projections.base import ReadModel, table_shapes
from workers.projection_rebuild import rebuild

log = logging.getLogger(__name__)

# `create` takes a SHARE lock on each table it indexes (CREATE INDEX IF NOT EXISTS locks the
# table before it finds the index there), table after table, while another process's
# projection batch may hold ROW EXCLUSIVE on a later one and want an earlier one: PostgreSQL
# ends one of the two with a deadlock. When it ends the start-up's, its transaction is rolled
# back whole and tried again (the batch, no longer blocked, commits meanwhile).
CREATE_ATTEMPTS = 5


def create_all(conn: psycopg.Connection[Any], views: list[ReadModel]) -> None:
    """Every view's `create`, in one transaction, tried again after a deadlock."""
    for attempt in range(1, CREATE_ATTEMPTS + 1):
        try:
            with conn.transaction():
                for view in views:
                    view.create(conn)
            return
        except psycopg.errors.DeadlockDetected:
            if attempt == CREATE_ATTEMPTS:
                raise
            log.warning("read model tables: deadlocked with a running projection (attempt %d "
                        "of %d); trying again", attempt, CREATE_ATTEMPTS)
            time.sleep(0.1 * attempt)


def create_views(conn: psycopg.Connection[Any], app: ServiceCore, pool: ConnectionPool,
                 views: list[ReadModel], batch_size: int) -> None:
    """The views' tables where missing; a view whose rows or tables this version makes
    otherwise is rebuilt from event 0 and swapped in before the process serves, so an older
    database gets them with no step by hand. Otherwise means: its live tables differ from
    what `create` leaves (`ReadModel.reshaped`: a column added that `create` does not add
    itself, as a view's `added_columns` are; a table added), or its handlers' `revision`
    differs from the one recorded in `read_model_shapes` when it was last built or found
    right. A record from before revisions, or none beside live tables, stands for revision 1
    (every view's revision until there were revisions): a view at 1 is left as it is, one
    whose revision went up is rebuilt. Tables made by this start are filled by the runner,
    not rebuilt. The table comparison (some 0.3 s for every view) runs only for a view whose
    `definition` differs from the one recorded, or has none recorded. One process at a time
    (others starting wait, then find it done)."""
    conn.execute("SELECT pg_advisory_lock(hashtext('servicecore-read-model-shapes'))")
    try:
        conn.execute("CREATE TABLE IF NOT EXISTS read_model_shapes (name text PRIMARY KEY, "
                     "definition text NOT NULL, checked_at timestamptz NOT NULL DEFAULT now(), "
                     "revision integer)")
        conn.execute("ALTER TABLE read_model_shapes ADD COLUMN IF NOT EXISTS revision integer")
        known: dict[str, tuple[str, int | None]] = {
            name: (definition, revision) for name, definition, revision in conn.execute(
                "SELECT name, definition, revision FROM read_model_shapes").fetchall()}
        changed = [view for view in views if known.get(view.name, ("",))[0] != view.definition()]
        missing = {view.name: view.missing_tables(conn) for view in changed}
        built = {view.name: built_revision(conn, view, known.get(view.name)) for view in views}
        create_all(conn, views)
        reshaped = {view.name: missing[view.name] or view.reshaped(conn) for view in changed}
        for view in views:
            why = rebuild_reasons(view, reshaped.get(view.name, []), built[view.name])
            if why:
                log.warning("projection %s: %s; rebuilding it from event 0", view.name,
                            "; ".join(why))
                figures = rebuild(app, pool, view, batch_size=batch_size)
                log.info("projection %s rebuilt: %d events in %.1f s", view.name,
                         figures["events"], figures["seconds"])
            if view in changed or known.get(view.name, ("", None))[1] != view.revision:
                conn.execute(
                    "INSERT INTO read_model_shapes (name, definition, revision) "
                    "VALUES (%s, %s, %s) ON CONFLICT (name) DO UPDATE SET "
                    "definition = excluded.definition, revision = excluded.revision, "
                    "checked_at = now()", (view.name, view.definition(), view.revision))
    finally:
        conn.execute("SELECT pg_advisory_unlock(hashtext('servicecore-read-model-shapes'))")


def built_revision(conn: psycopg.Connection[Any], view: ReadModel,
                   record: tuple[str, int | None] | None) -> int | None:
    """The revision of the handlers that wrote the view's live rows (before `create`): the
    one recorded; 1 for a record from before revisions, or live tables with no record; None
    when the view has no tables yet."""
    if record is not None:
        return record[1] or 1
    return 1 if table_shapes(conn, list(view.tables)) else None


def rebuild_reasons(view: ReadModel, reshaped: list[str], built: int | None) -> list[str]:
    """Why the view's live rows cannot stay (none: they can)."""
    why = []
    if reshaped:
        why.append(f"its tables {', '.join(reshaped)} are not as this version makes them")
    if built is not None and built != view.revision:
        why.append(f"its rows were written by revision {built} of its handlers, "
                   f"this version's is {view.revision}")
    return why
