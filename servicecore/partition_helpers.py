"""The helper processes of a view's rebuild in partitions (servicecore/rebuilds.py), spawned
before the process that rebuilds has imported and built its own system: this module imports
nothing heavy, so `projections rebuild` can start them first and their start-up (an
interpreter and the imports: ~1 s of CPU) runs beside its own."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import TYPE_CHECKING, Any

from servicecore.settings import Settings

if TYPE_CHECKING:
    from projections.base import ReadModel
    from servicecore.container import Container
    from workers.rebuild_partitions import Fill

# The views rebuilt in partitions (those with `ReadModel.partitioned_rebuild`; a test checks).
PARTITIONED_VIEWS = frozenset({"work_orders"})
# What a helper runs per partition: (view name, database URL, partition, head, batch size) ->
# events (`servicecore.rebuilds.fill_partition_in_process`, or a measurement's wrapper).
PartitionTask = Callable[..., Any]


def warm() -> None:
    """In a helper: the imports a partition needs (the container, the domain, the views)."""
    import servicecore.rebuilds  # noqa: F401


class PartitionHelpers:
    """`count - 1` processes spawned for the partitions but the first of a view's rebuild
    (the rebuilding process fills the first), each running `task` for its partition."""

    def __init__(self, count: int, task: PartitionTask | None = None) -> None:
        self.count = count
        self.task = task
        self.executor = ProcessPoolExecutor(count - 1,
                                            mp_context=multiprocessing.get_context("spawn"))
        # each submission finding no idle process spawns one
        self.warming = [self.executor.submit(warm) for _ in range(count - 1)]

    def fill(self, container: Container, view: ReadModel, batch_size: int, *,
             live: bool | None = None) -> Fill:
        """A `Fill` over the partitions: the first in this process, on its own application
        and pool, the others in the helper processes."""
        from projections.base import Partition
        from servicecore import rebuilds
        from servicecore.progress import Progress
        from workers.rebuild_partitions import fill_partition

        count = self.count
        task = self.task or rebuilds.fill_partition_in_process

        def fill(head: int) -> int:
            futures = [self.executor.submit(task, view.name, container.database_url,
                                            Partition(index, count), head, batch_size)
                       for index in range(1, count)]
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

    def close(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)


def helpers_for(settings: Settings, name: str | None) -> PartitionHelpers | None:
    """Helpers to start first, if the view `name` (None: every view) is rebuilt in partitions
    (`projection_rebuild_partitions` above 1)."""
    if settings.projection_rebuild_partitions > 1 and (name is None or name in PARTITIONED_VIEWS):
        return PartitionHelpers(settings.projection_rebuild_partitions)
    return None
