"""`projections rebuild`: a view rebuilt and swapped in, in this process or in one of its own,
and a view with `partitioned_rebuild` filled in hash partitions, one process per partition.

Processes are spawned (an interpreter of their own: an application, its pool and connections
cannot be handed over) and build what they need from the environment's settings, on the
database of the process that spawns them (an embedded server stays up with it).
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from eventsourcing.postgres import PostgresApplicationRecorder

from projections.base import Partition, ReadModel
from servicecore.container import Container, build
from servicecore.progress import Progress
from servicecore.settings import Settings
from workers.projection_runner import rebuild
from workers.rebuild_partitions import Fill, fill_partition

# What a partition's process runs: (view name, database URL, partition, head, batch size) ->
# events; `fill_partition_in_process` unless a measurement wraps it (bench/).
PartitionTask = Callable[[str, str, Partition, int, int], Any]


def partitions_of(container: Container, view: ReadModel) -> int:
    """How many partitions the view's rebuild is filled in (1: no processes of its own)."""
    if not view.partitioned_rebuild or not isinstance(container.app.recorder,
                                                      PostgresApplicationRecorder):
        return 1
    return container.settings.projection_rebuild_partitions


def rebuild_view(container: Container, view: ReadModel, *, live: bool | None) -> dict[str, Any]:
    """Rebuild and swap in one view; its figures, as `projections rebuild` prints them."""
    progress = Progress(f"projection {view.name}", live=live)
    batch_size = container.settings.projection_rebuild_batch_size
    partitions = partitions_of(container, view)
    fill = (in_partitions(container, view, partitions, batch_size, live=live)
            if partitions > 1 else None)
    try:
        figures = rebuild(container.app, container.pool, view, batch_size=batch_size,
                          progress=progress, fill=fill)
    finally:
        progress.close()
    return {"projection": view.name, **figures, "partitions": partitions}


def in_partitions(container: Container, view: ReadModel, count: int, batch_size: int, *,
                  live: bool | None = None,
                  task: PartitionTask | None = None) -> Fill:
    """A `Fill` over `count` partitions: the first in this process, on its own application
    and pool, while each of the others runs `task` in a process spawned for it."""
    run = task or fill_partition_in_process

    def fill(head: int) -> int:
        others = [Partition(index, count) for index in range(1, count)]
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(len(others), mp_context=context) as pool:
            futures = [pool.submit(run, view.name, container.database_url, partition, head,
                                   batch_size) for partition in others]
            progress = Progress(f"projection {view.name} 1/{count}",
                                live=False if live is None else live)
            try:
                events = fill_partition(container.app, container.pool, view,
                                        Partition(0, count), head, batch_size=batch_size,
                                        progress=progress)
            finally:
                progress.close()
            return events + sum(int(future.result()) for future in futures)

    return fill


def child_container(database_url: str) -> Container:
    """A spawned process's system: settings from the environment, on the parent's database
    (which already has the tables); a rebuild uses two connections at a time."""
    return build(Settings(database_url=database_url, create_tables=False, pool_size=2))


def fill_partition_in_process(name: str, database_url: str, partition: Partition, head: int,
                              batch_size: int) -> int:
    """One partition of a view's rebuild, in a process of `in_partitions`."""
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
    """One projection's rebuild in a worker process of `projections rebuild`."""
    container = child_container(database_url)
    try:
        view = next(view for view in container.views if view.name == name)
        return rebuild_view(container, view, live=False)
    finally:
        container.close()
