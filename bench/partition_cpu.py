"""A partition of a rebuild, as `servicecore.rebuilds` runs it in a process of its own, that
also writes what it cost: the process's CPU (interpreter start-up included) and its database
backends' CPU, read before it closes its connections (they are gone from /proc afterwards).
Kept apart from bench/projection_catchup.py so that the process imports what the real one does.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from projections.base import Partition
from servicecore.rebuilds import child_container
from workers.rebuild_partitions import fill_partition

# The directory each partition's process writes `<index>.json` into.
OUT_DIR = "BENCH_PARTITION_CPU_DIR"


def measured_partition(name: str, database_url: str, partition: Partition, head: int,
                       batch_size: int) -> int:
    before = time.process_time()  # the interpreter's start-up and imports (timed or not)
    container = child_container(database_url)
    try:
        view = next(view for view in container.views if view.name == name)
        events = fill_partition(container.app, container.pool, view, partition, head,
                                batch_size=batch_size)
        # the pool holds at most two connections (child_container): take both, read their pids
        with container.pool.connection() as one, container.pool.connection() as two:
            pids = [int(conn.execute("SELECT pg_backend_pid()").fetchone()[0])  # type: ignore[index]
                    for conn in (one, two)]
        client = time.process_time()
        from bench.common import cpu_seconds  # after the timing: the child imports what the
        # real helper does

        figures = {"events": events, "client_cpu_seconds": client,
                   "start_up_cpu_seconds": before,
                   "backend_cpu_seconds": cpu_seconds(sorted(set(pids)))}
        Path(os.environ[OUT_DIR], f"{partition.index}.json").write_text(json.dumps(figures))
        return events
    finally:
        container.close()
