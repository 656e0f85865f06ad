"""The analytic tables rebuilt in hash partitions, each folded in a process of its own.

Which rows an event's fold reads or writes (analytics/loader.py, analytics/set_based.py):

- a work order's events: its own `fact_work_orders` row, its lines (`fact_labor_lines`,
  `fact_part_lines`: `LinesMoved` marks lines of its own order; `LinesCarriedOver` adds to its
  own order the lines its event carries, reading nothing of the order they came from), its clock
  punches; `Opened` also puts `dim_vehicle`, `dim_store`, `dim_customer`; `JobDispatched`
  puts `dim_technician`;
- a settlement's events: its own row, payments and refunds (a refund is of a payment of the
  same settlement), and, for `Drafted`, `DiscountGiven` and `Reversed`, the labor lines of its
  work order: a settlement goes with its work order (the order named by its `Opened`);
- stock items, parts, follow-ups, appointments: their own rows only (a stock movement names a
  work order without reading its rows);
- customers: `dim_customer`, which work orders' `Opened` write as well; technicians:
  `dim_technician_stream`, `fact_attendance` and `dim_technician`, which `JobDispatched`
  writes as well.

So a partition (`StreamFilter`: a stream whose id's last byte, modulo the count, is the
partition's; a settlement with its work order) folds every event but those of customers and
technicians, and keeps its fact rows and the dimensions of its own streams (`dim_part`,
`dim_stock_item`). The dimensions that streams of several partitions write come from one more
share folded beside them in the rebuilding process: the events of customers and technicians,
and every work order's `Opened` and `JobDispatched` (that share's work-order rows are dropped).
Each share folds the log in its order, as one process would, up to one head; then their
tables are copied into one fresh file (ATTACH, INSERT … SELECT) with that head as the position
and the file is moved into place, as `rebuild` does in one process.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import time
from collections.abc import Callable, Collection
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any
from uuid import UUID

import duckdb
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Identifier

from analytics.events import EventSource, StreamFilter
from analytics.loader import HANDLERS, AnalyticsLoader, create
from analytics.publish import transaction
from analytics.schema import TABLES
from analytics.set_based import SET_BASED, SHARED
from domain.application import ServiceCore

# written by the streams of several partitions: taken from the dimension share
DIMENSION_TABLES = frozenset({"dim_vehicle", "dim_store", "dim_customer", "dim_technician",
                              "dim_technician_stream", "fact_attendance"})
# folded in the dimension share only
_SHARED_AREAS = ("Customer.", "Technician.")
# also folded in the dimension share, for the dimensions they write
_DIMENSION_ALSO = ("WorkOrder.Opened", "WorkOrder.JobDispatched")


def dimension_events() -> list[str]:
    return sorted(n for n in HANDLERS if n.startswith(_SHARED_AREAS) or n in _DIMENSION_ALSO)


def partition_events() -> list[str]:
    return sorted(n for n in HANDLERS if not n.startswith(_SHARED_AREAS))


def settlements_of(app: ServiceCore, count: int, until: int) -> list[list[str]]:
    """Per partition of `count`, the settlements (ids as text) whose work order is in it."""
    recorder: Any = app.recorder
    statement = SQL("SELECT notification_id, originator_id::text, topic, state "
                    "FROM {schema}.{table} WHERE split_part(topic, ':', 2) = 'Settlement.Opened' "
                    "AND notification_id <= %s").format(
        schema=Identifier(recorder.datastore.schema), table=Identifier(recorder.events_table_name))
    with recorder.datastore.get_connection() as conn, \
            conn.cursor(binary=True, row_factory=tuple_row) as cursor:
        cursor.execute(statement, [until])
        rows = cursor.fetchall()
    source = EventSource(app, [])
    found: list[list[str]] = [[] for _ in range(count)]
    for n, stream, topic, state in rows:
        work_order = UUID(str(source.decode(n, stream, topic, state).work_order_id))
        found[(work_order.int & 0xFF) % count].append(stream)
    return found


def fold_share(app: ServiceCore, path: Path, index: int | None, count: int, until: int,
               batch_size: int, zone: str, settlements: Collection[str] = (),
               progress: Callable[[int, int], None] | None = None) -> int:
    """Fold partition `index` of `count` (None: the dimension share; `settlements`: those of
    the partition) from event 0 up to `until` into the file at `path` (empty tables); the
    number of its events folded."""
    if index is None:
        source = EventSource(app, dimension_events(), SET_BASED, SHARED, until=until,
                             handled_only=True)
    else:
        streams = StreamFilter(index, count, settlements)
        source = EventSource(app, partition_events(), SET_BASED, SHARED, until=until,
                             streams=streams, handled_only=True)
    loader = AnalyticsLoader(app, path, batch_size=batch_size, zone=zone, source=source)
    try:
        events = 0
        while count_ := loader.run_batch():
            events += count_
            if progress is not None:
                progress(loader.position(), until)
        if loader.position() != until:
            raise RuntimeError(f"share {index} stopped at {loader.position()}, not {until}")
        loader.conn.execute("CHECKPOINT")
    finally:
        loader.close()
    return events


def warm() -> None:
    """In a helper: the imports a partition needs, while the rebuilding process starts."""
    import servicecore.rebuilds  # noqa: F401


def fold_share_in_process(database_url: str, empty: str, path: str, index: int, count: int,
                          until: int, batch_size: int, zone: str, settlements: list[str]) -> int:
    """One partition in a helper process (its own application and pool)."""
    from servicecore.rebuilds import child_container

    shutil.copyfile(empty, path)
    container = child_container(database_url)
    try:
        return fold_share(container.app, Path(path), index, count, until, batch_size, zone,
                          settlements)
    finally:
        container.close()


def rebuild_in_partitions(app: ServiceCore, database_url: str, path: Path, count: int, *,
                          batch_size: int, zone: str,
                          progress: Callable[[int, int], None] | None = None) -> dict[str, float]:
    """`analytics.loader.rebuild` in `count` partitions: this process folds the dimension
    share, then the first partition, while helper processes fold the others; then one merge
    into a fresh file, moved into place. A failed share raises: the file in place (tables
    and position) is left as it was."""
    started = time.perf_counter()
    executor = ProcessPoolExecutor(count - 1, mp_context=multiprocessing.get_context("spawn"))
    for _ in range(count - 1):  # each submission finding no idle process spawns one
        executor.submit(warm)
    name = path.stem + "-rebuild"
    fresh, empty, dims = (path.with_name(f"{name}{s}.duckdb") for s in ("", "-empty", "-dims"))
    parts = [path.with_name(f"{name}-{i}.duckdb") for i in range(count)]
    until = int(app.recorder.max_notification_id() or 0)
    events = _events_up_to(app, until)
    settlements = settlements_of(app, count, until)
    try:
        for file in (fresh, empty, dims, *parts):
            _remove(file)
        conn = duckdb.connect(str(empty))
        try:
            create(conn)
            conn.execute("CHECKPOINT")
        finally:
            conn.close()
        futures: list[Future[int]] = [
            executor.submit(fold_share_in_process, database_url, str(empty), str(parts[index]),
                            index, count, until, batch_size, zone, settlements[index])
            for index in range(1, count)]
        shutil.copyfile(empty, dims)
        fold_share(app, dims, None, count, until, batch_size, zone)
        shutil.copyfile(empty, parts[0])
        fold_share(app, parts[0], 0, count, until, batch_size, zone, settlements[0], progress)
        for future in futures:
            future.result()
        shutil.copyfile(empty, fresh)
        try:
            merge(fresh, dims, parts, until)
        except BaseException:
            _remove(fresh)
            raise
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
        for file in (empty, dims, *parts):
            _remove(file)
    os.replace(fresh, path)
    _remove(Path(str(fresh) + ".wal"))
    if progress is not None:
        progress(until, until)
    seconds = time.perf_counter() - started
    return {"events": events, "seconds": seconds,
            "events_per_second": events / seconds if seconds else 0.0, "partitions": count}


def _events_up_to(app: ServiceCore, until: int) -> int:
    """The events of the log up to `until` (what a rebuild in one process reports)."""
    recorder: Any = app.recorder
    with recorder.datastore.get_connection() as conn, \
            conn.cursor(row_factory=tuple_row) as cursor:
        found = cursor.execute(SQL("SELECT count(*) FROM {schema}.{table} WHERE notification_id <= %s")
                             .format(schema=Identifier(recorder.datastore.schema),
                                     table=Identifier(recorder.events_table_name)),
                             [until]).fetchone()
    return int(found[0]) if found else 0


def merge(fresh: Path, dims: Path, parts: list[Path], position: int) -> None:
    """The shares' tables into one fresh file, with `position`, in one transaction."""
    conn = duckdb.connect(str(fresh))
    try:
        shares = [dims, *parts]
        for i, file in enumerate(shares):
            conn.execute(f"ATTACH '{file}' AS share{i} (READ_ONLY)")
        with transaction(conn):
            for table in TABLES:
                sources = ["share0"] if table.name in DIMENSION_TABLES else \
                    [f"share{i}" for i in range(1, len(shares))]
                conn.execute(f"INSERT INTO main.{table.name} " + " UNION ALL ".join(
                    f"SELECT * FROM {source}.{table.name}" for source in sources))
            conn.execute("UPDATE analytics_position SET position = ?", [position])
        for i in range(len(shares)):
            conn.execute(f"DETACH share{i}")
        conn.execute("CHECKPOINT")
    finally:
        conn.close()


def _remove(file: Path) -> None:
    file.unlink(missing_ok=True)
    Path(str(file) + ".wal").unlink(missing_ok=True)
