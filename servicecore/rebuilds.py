"""`projections rebuild`: a view rebuilt and swapped in, in this process or in one of its own,
and a view with `partitioned_rebuild` filled in hash partitions, one process per partition.

Processes are spawned (an interpreter of their own: an application, its pool and connections
cannot be handed over) and build what they need from the environment's settings, on the
database of the process that spawns them (an embedded server stays up with it).
"""

from __future__ import annotations

from typing import Any

from eventsourcing.postgres import PostgresApplicationRecorder

from projections.base import Partition, ReadModel
from servicecore.container import Container, build
from servicecore.partition_helpers import PartitionHelpers, helpers_for
from servicecore.progress import Progress
from servicecore.settings import Settings
from workers.projection_rebuild import rebuild
from workers.rebuild_partitions import fill_partition


def partitions_of(container: Container, view: ReadModel) -> int:
    """How many partitions the view's rebuild is filled in (1: no processes of its own)."""
    if not view.partitioned_rebuild or not isinstance(container.app.recorder,
                                                      PostgresApplicationRecorder):
        return 1
    return container.settings.projection_rebuild_partitions


def rebuild_view(container: Container, view: ReadModel, *, live: bool | None,
                 helpers: PartitionHelpers | None = None) -> dict[str, Any]:
    """Rebuild and swap in one view; its figures, as `projections rebuild` prints them.
    A view rebuilt in partitions uses `helpers` (started earlier), or starts its own."""
    progress = Progress(f"projection {view.name}", live=live)
    batch_size = container.settings.projection_rebuild_batch_size
    partitions = partitions_of(container, view)
    own = helpers is None and partitions > 1
    if own:
        helpers = PartitionHelpers(partitions)
    try:
        fill = (helpers.fill(container, view, batch_size, live=live)
                if helpers is not None and partitions > 1 else None)
        figures = rebuild(container.app, container.pool, view, batch_size=batch_size,
                          progress=progress, fill=fill)
    finally:
        progress.close()
        if own and helpers is not None:
            helpers.close()
    return {"projection": view.name, **figures, "partitions": partitions}


def child_container(database_url: str) -> Container:
    """A spawned process's system: settings from the environment, on the parent's database
    (which already has the tables); a rebuild uses two connections at a time."""
    return build(Settings(database_url=database_url, create_tables=False, pool_size=2))


def fill_partition_in_process(name: str, database_url: str, partition: Partition, head: int,
                              batch_size: int) -> int:
    """One partition of a view's rebuild, in a helper process (servicecore/partition_helpers.py)."""
    container = child_container(database_url)
    try:
        view = next(view for view in container.views if view.name == name)
        progress = Progress(f"projection {name} {partition.index + 1}/{partition.count}",
                            live=False)
        try:
            return fill_partition(container.app, container.pool, view, partition, head,
                                  batch_size=batch_size, progress=progress)
        finally:
            progress.close()
    finally:
        container.close()


def rebuild_in_process(name: str, database_url: str) -> dict[str, Any]:
    """One projection's rebuild in a worker process of `projections rebuild` (its partitions'
    helpers, if it has any, started first)."""
    helpers = helpers_for(Settings(database_url=database_url), name)
    try:
        container = child_container(database_url)
        try:
            view = next(view for view in container.views if view.name == name)
            return rebuild_view(container, view, live=False, helpers=helpers)
        finally:
            container.close()
    finally:
        if helpers is not None:
            helpers.close()
