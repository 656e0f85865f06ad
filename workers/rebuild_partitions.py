"""A view's rebuild filled in hash partitions of the stream id, one process per partition.

A view with `partitioned_rebuild` folds every row from one stream's events, so the streams of
one partition (`Partition`: the stream id's last byte modulo the count) can be folded apart
from the others, into the same fresh tables. Each partition reads, in the SQL of its reads,
only its streams' events and the events of the view's `broadcast` classes (a customer's
erasure: every partition applies it, to its own rows), from event 1 up to ONE head that the
caller read before any of them started; its position is a row of its own. Then `rebuild`
(workers/projection_rebuild.py) takes the tables on from that head in one process: the events
that came meanwhile, the indexes, the final pass under the live position's lock, the swap.

The processes are the caller's to spawn (an application and its pool cannot be handed to
another process): each runs `fill_partition` on its own application, pool and copy of the view.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.utils import get_topic
from psycopg.sql import SQL, Identifier
from psycopg_pool import ConnectionPool

from domain.application import ServiceCore
from projections.base import REBUILD_SUFFIX, Partition, ReadModel
from workers.event_batches import EventReader, Row
from workers.projection_rebuild import partition_positions
from workers.projection_runner import ProjectionRunner

# Fills the fresh tables of a rebuild up to the head it is given, in partitions (their
# processes started by the caller), and answers how many events of the log that was.
Fill = Callable[[int], int]


def position_name(view: ReadModel, partition: Partition) -> str:
    return f"{partition_positions(view)}{partition.index}/{partition.count}"


def topics(classes: tuple[type, ...]) -> list[str]:
    """The topics of the classes and of their subclasses, as the log stores them."""
    found: list[str] = []
    pending = list(classes)
    while pending:
        cls = pending.pop()
        found.append(get_topic(cls))
        pending += cls.__subclasses__()
    return sorted(set(found))


class PartitionReader(EventReader):
    """The events of one partition's streams and the broadcast ones, up to `head`."""

    def __init__(self, app: ServiceCore, partition: Partition, broadcast: tuple[type, ...],
                 head: int) -> None:
        super().__init__(app)
        recorder = app.recorder
        if not isinstance(recorder, PostgresApplicationRecorder):
            raise TypeError("a rebuild in partitions reads the log in SQL (PostgreSQL)")
        self.partition = partition
        self.head = head
        self.broadcast = topics(broadcast)
        self.foreign = 0  # broadcast events of other partitions' streams read so far
        self.partition_sql = SQL(
            "SELECT notification_id, originator_id, originator_version, topic, state "
            "FROM {}.{} WHERE notification_id >= %s AND notification_id <= %s AND ("
            + partition.sql("originator_id") + " OR topic = ANY(%s)) "
            "ORDER BY notification_id"
        ).format(Identifier(recorder.datastore.schema), Identifier(recorder.events_table_name))

    def read(self, conn: psycopg.Connection[Any], start: int, limit: int) -> list[Row]:
        """The partition's events in the next window of `limit` times the partition count
        notification ids that holds any (about `limit` events), up to the head. A window and
        not a LIMIT: the planner cannot tell how many rows the partition's test keeps, and
        for a LIMIT over the whole rest of the log it would sort all of it at every batch."""
        span = limit * self.partition.count
        rows: list[Row] = []
        with conn.cursor(binary=True) as cur:
            while not rows and start <= self.head:
                end = min(start + span - 1, self.head)
                cur.execute(self.partition_sql, (start, end, self.broadcast), prepare=True)
                rows = [Row(*row) for row in cur.fetchall()]
                start = end + 1
        broadcast, holds = self.broadcast, self.partition.holds
        self.foreign += sum(1 for row in rows
                            if row.topic in broadcast and not holds(row.originator_id))
        return rows


class PartitionRunner(ProjectionRunner):
    """A rebuild's shadow runner over one partition: the fresh (`REBUILD_SUFFIX`) tables, a
    position of its own, reads that stop at the head."""

    def __init__(self, app: ServiceCore, pool: ConnectionPool, view: ReadModel,
                 partition: Partition, head: int, *, batch_size: int) -> None:
        if not view.partitioned_rebuild:
            raise ValueError(f"projection {view.name} is not rebuilt in partitions")
        super().__init__(app, pool, view.in_partition(partition), batch_size=batch_size,
                         suffix=REBUILD_SUFFIX)
        self.position_name = position_name(view, partition)
        self.partition_reader = PartitionReader(app, partition, view.broadcast, head)
        self.reader = self.partition_reader
        self.pending_sql = None  # never follows the log


def fill_partition(app: ServiceCore, pool: ConnectionPool, view: ReadModel,
                   partition: Partition, head: int, *, batch_size: int,
                   progress: Callable[[int, int], None] | None = None) -> int:
    """Into the rebuild's fresh tables (made by `rebuild`), the partition's events up to
    `head`. Returns how many events of the log that was (without other partitions' broadcast
    events, which each of them counts). `progress(done, head)` after every batch."""
    runner = PartitionRunner(app, pool, view, partition, head, batch_size=batch_size)
    events = 0
    while count := runner.run_batch():
        events += count
        if progress is not None:
            progress(runner.position(), head)
    if progress is not None:
        progress(head, head)
    return events - runner.partition_reader.foreign
