"""Rebuilding a view from event 0 into fresh tables, swapped in while the live ones serve
(`projections rebuild`): a `ProjectionRunner` on the fresh tables' suffix, without the
deadline or a lock timeout, and the final pass and the swap in one transaction."""

from __future__ import annotations

import time
from collections.abc import Callable

from psycopg_pool import ConnectionPool

from domain.application import ServiceCore
from projections.base import REBUILD_SUFFIX, ReadModel, installed_extensions
from workers.projection_runner import ProjectionRunner, announce

REBUILD_BATCH_SIZE = 5000


def partition_positions(view: ReadModel) -> str:
    """What the position names of a rebuild's partitions start with."""
    return f"{view.name}{REBUILD_SUFFIX}:"


def rebuild(app: ServiceCore, pool: ConnectionPool, view: ReadModel, *,
            batch_size: int = REBUILD_BATCH_SIZE,
            progress: Callable[[int, int], None] | None = None,
            fill: Callable[[int], int] | None = None) -> dict[str, float]:
    """Rebuild from event 0 into fresh tables, then swap them in while the live ones serve.

    Batches are larger than a live runner's (a doc that several events change is written once
    per batch); a view with `index_after_rebuild` gets its indexes once the tables are filled.
    `progress(done, total)` is called after every batch with the position reached and the head
    of the log (notification ids: events, give or take ids that rolled back).

    `fill(head)`, for a view with `partitioned_rebuild`: fills the fresh tables up to the head
    read once they are made, in hash partitions of the stream id, each in a process of the
    caller's (workers/rebuild_partitions.py), and answers the events it took; the rest is the
    same one process: the events after that head, then the final pass and the swap.
    """
    started = time.perf_counter()
    deferred = view.index_after_rebuild
    partitions = partition_positions(view)
    with pool.connection() as conn, conn.transaction():
        for statement in view.drop(REBUILD_SUFFIX):
            conn.execute(statement)
        view.create(conn, REBUILD_SUFFIX, indexes=not deferred)
        conn.execute("DELETE FROM projection_positions WHERE name = %s OR starts_with(name, %s)",
                     (view.name + REBUILD_SUFFIX, partitions))
    shadow = ProjectionRunner(app, pool, view, batch_size=batch_size, suffix=REBUILD_SUFFIX)
    head = app.recorder.max_notification_id() or 0
    events = 0
    if fill is not None:
        if not view.partitioned_rebuild:
            raise ValueError(f"projection {view.name} is not rebuilt in partitions")
        events = fill(head)
        with pool.connection() as conn, conn.transaction():  # every partition is at `head`
            conn.execute("DELETE FROM projection_positions WHERE starts_with(name, %s)",
                         (partitions,))
            conn.execute("INSERT INTO projection_positions (name, position) VALUES (%s, %s)",
                         (view.name + REBUILD_SUFFIX, head))
        if progress is not None:
            progress(head, head)
    while count := shadow.run_batch():
        events += count
        if progress is not None:
            position = shadow.position()
            progress(position, max(head, position))
    if deferred:
        with pool.connection() as conn, conn.transaction():
            for statement in view.index_ddl(REBUILD_SUFFIX, installed_extensions(conn)):
                conn.execute(statement)
    with pool.connection() as conn, conn.transaction():
        conn.execute(
            "INSERT INTO projection_positions (name, position) VALUES (%s, 0) ON CONFLICT DO NOTHING",
            (view.name,),
        )
        conn.execute("SELECT position FROM projection_positions WHERE name = %s FOR UPDATE",
                     (view.name,))
        while count := shadow.apply_batch(conn):
            events += count
        for statement in view.swap(REBUILD_SUFFIX):
            conn.execute(statement)
        row = conn.execute(
            """UPDATE projection_positions SET position =
                   (SELECT position FROM projection_positions WHERE name = %s), updated_at = now()
               WHERE name = %s
               RETURNING position""",
            (view.name + REBUILD_SUFFIX, view.name),
        ).fetchone()
        conn.execute("DELETE FROM projection_positions WHERE name = %s",
                     (view.name + REBUILD_SUFFIX,))
        if row is not None:
            announce(conn, view.name, int(row[0]))
    if progress is not None:
        reached = int(row[0]) if row else 0
        progress(reached, reached)
    seconds = time.perf_counter() - started
    return {"events": events, "seconds": seconds, "events_per_second": events / seconds if seconds else 0}
