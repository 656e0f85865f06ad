"""`servicecore demo-data --months N`: a dealership's history at scale, two ways.

Both run the same visits (servicecore.demo_history) through the same area services and
aggregates, with the same business times; they differ only in where the saves go:

- `stage_history` (the default, `--via staged`): the stores shared out over processes, each
  running its stores' desks in one thread on a staged copy of the application
  (servicecore.demo_staging), the saves appended to PostgreSQL in large batches by a writer
  thread meanwhile. A day's visits of a process's stores and desks run in the order they open,
  so the log reads like the days went by.
- `load_history` (`--via commands`): one save per command, each store's desks in threads of
  their own that start each day together, as a busy dealership would drive the API.
"""

from __future__ import annotations

import dataclasses
import logging
import multiprocessing
import os
import random
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection, wait
from multiprocessing.context import ForkServerContext, SpawnContext
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import TYPE_CHECKING, Any

from domain.aftercare import Aftercare
from domain.application import ServiceCore
from domain.inventory import Inventory
from domain.settlements import Settlements
from domain.work_orders import WorkOrders
from servicecore.demo_catalog import HISTORY_PARTS, SLOW_MOVER, ZONE, register_parts
from servicecore.demo_desk import HistoryFigures
from servicecore.demo_history import StoreHistory
from servicecore.demo_staging import LogWriter, StagedServiceCore

if TYPE_CHECKING:
    from servicecore.container import Container
    from servicecore.settings import Settings

Progress = Callable[[int, int], None]


def history_days(months: int, now: datetime | None) -> tuple[list[datetime], datetime]:
    """The history's days, each at 08:30 in Shanghai (as UTC), from `months` ago to yesterday;
    and today at 08:30, when the history ends."""
    end = (now or datetime.now(UTC)).astimezone(ZONE).replace(hour=8, minute=30, second=0,
                                                              microsecond=0)
    first = end - timedelta(days=round(months * 30.44))
    days = [(first + timedelta(days=n)).astimezone(UTC) for n in range((end - first).days)]
    return days, end.astimezone(UTC)


def expected_visits(days: list[datetime], stores: tuple[str, ...], per_day: float) -> int:
    return round(per_day * 1.09 * len(days)) * len(stores)


@dataclass(frozen=True)
class _Plan:
    days: list[datetime]
    end: datetime
    per_day: float
    lanes: int
    seed: int
    batch_events: int


def stage_history(container: Container, *, stores: tuple[str, ...] = ("S01",),
                  months: int = 12, per_day: float = 4.0, lanes: int = 3, seed: int = 7,
                  now: datetime | None = None, progress: Progress | None = None,
                  jobs: int | None = None, batch_events: int = 4000,
                  meter: RunMeter | None = None) -> HistoryFigures:
    """Months of history staged in memory and appended in batches of ~`batch_events` events.

    `lanes` desks per store (their own advisor, cashier and technicians); business times from
    `months` ago to yesterday, 08:30-17:30 in Shanghai; about `per_day` visits a store a day
    (more at weekends); the last two days partly unfinished. The stores are shared out over
    `jobs` processes (default: one per store, up to one more than the machine has cores), each
    staging and appending its own stores: stores share no stream but the part master, which is
    registered first. Each store's history is the same however many processes there are.
    `meter` is told the CPU time the staging processes spent.
    """
    days, end = history_days(months, now)
    register_parts(container.inventory, stores, days[0] - timedelta(days=2),
                   [*HISTORY_PARTS, SLOW_MOVER])
    plan = _Plan(days, end, per_day, lanes, seed, batch_events)
    expected, done = expected_visits(days, stores, per_day), 0

    def tick(count: int) -> None:
        nonlocal done
        done += count
        if progress:
            progress(min(done, expected), max(expected, done))

    jobs = min(len(stores), jobs or (os.cpu_count() or 1) + 1)
    if jobs <= 1:
        return _stage(container, stores, plan, tick)
    return _stage_in_processes(container, [stores[n::jobs] for n in range(jobs)], plan, tick,
                               meter)


def _stage(container: Container, stores: tuple[str, ...], plan: _Plan,
           tick: Callable[[int], None]) -> HistoryFigures:
    """`stores`' history staged by this thread and appended by a writer thread meanwhile."""
    days = plan.days
    staged = StagedServiceCore(container.app)
    desk = dataclasses.replace(container, app=staged)  # the same services, on the staged app
    writer = LogWriter(staged, plan.batch_events)
    try:
        histories = [StoreHistory(desk.work_orders, desk.inventory, desk.settlements,
                                  desk.aftercare, store,
                                  random.Random(f"{plan.seed}-{store}-{lane}"), plan.end, lane)
                     for store in stores for lane in range(plan.lanes)]
        for history in histories:
            history.setup(days[0])
        last_month = None
        for number, day in enumerate(days):
            if day.month != last_month:  # each store's monthly stocktake, before the day opens
                for history in histories:
                    if history.lane == 0:
                        history.stocktake(day + timedelta(minutes=30))
                last_month = day.month
            opening = sorted((at, n) for n, history in enumerate(histories)
                             for at in history.plan_day(day, plan.per_day / plan.lanes))
            for at, n in opening:
                histories[n].try_visit(at, partial=number >= len(days) - 2)
            for history in histories:
                history.end_day(day)
            writer.nudge()
            tick(len(opening))
    except BaseException:
        writer.stop()
        raise
    writer.finish()
    staged.take_snapshots()
    figures = HistoryFigures(stores=len(stores))
    for history in histories:
        figures.add(history.figures)
    return figures


def _stage_worker(settings: Settings, stores: tuple[str, ...], plan: _Plan,
                  report: Connection) -> None:
    """A process of its own: stage and append `stores`, reporting visits and the figures."""
    from servicecore.container import build

    logging.getLogger("servicecore.container").setLevel(logging.ERROR)  # the parent warned
    try:
        container = build(settings)
        try:
            figures = _stage(container, stores, plan, lambda count: report.send(("tick", count)))
        finally:
            container.close()
        report.send(("done", (figures, time.process_time())))
    except BaseException as exc:  # noqa: BLE001 - told to the parent, which raises it
        report.send(("error", "".join(traceback.format_exception(exc))))


def _fresh_processes() -> ForkServerContext | SpawnContext:
    """Processes that share nothing with this one (it holds connections and threads, which a
    fork would copy): forked from a fresh server that has imported the application once,
    where there is one; else each started anew."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["servicecore.container", "servicecore.demo_scale"])
        return context
    return multiprocessing.get_context("spawn")


def _stage_in_processes(container: Container, groups: list[tuple[str, ...]], plan: _Plan,
                        tick: Callable[[int], None], meter: RunMeter | None) -> HistoryFigures:
    settings = container.settings.model_copy(update={
        "database_url": container.database_url, "create_tables": False,
        "in_process_projections": False})
    context = _fresh_processes()
    running: dict[Connection, BaseProcess] = {}
    figures = HistoryFigures(stores=sum(len(group) for group in groups))
    try:
        for group in groups:
            receive, send = context.Pipe(duplex=False)
            worker = context.Process(target=_stage_worker, args=(settings, group, plan, send),
                                     name=f"history-{'-'.join(group)}", daemon=True)
            worker.start()
            send.close()
            running[receive] = worker
        while running:
            for ready in wait(list(running)):
                assert isinstance(ready, Connection)
                process = running[ready]
                try:
                    kind, value = ready.recv()
                except EOFError:
                    process.join()
                    raise RuntimeError(f"{process.name} ended without its figures "
                                       f"(exit code {process.exitcode})") from None
                if kind == "tick":
                    tick(value)
                elif kind == "done":
                    figures.add(value[0])
                    if meter is not None:
                        meter.cpu_elsewhere += value[1]
                    del running[ready]
                    process.join()
                else:
                    raise RuntimeError(f"{process.name} failed:\n{value}")
    finally:
        for process in running.values():  # only after a failure: stop the others
            process.terminate()
            process.join()
    return figures


def load_history(work_orders: WorkOrders, inventory: Inventory, settlements: Settlements,
                 aftercare: Aftercare, *, stores: tuple[str, ...] = ("S01",), months: int = 12,
                 per_day: float = 4.0, lanes: int = 3, seed: int = 7,
                 now: datetime | None = None,
                 progress: Progress | None = None) -> HistoryFigures:
    """Months of history with one save per command, `lanes` threads per store.

    Commands on different stores touch different streams, and a store's desks share only its
    counters and stock. Otherwise as `stage_history`.
    """
    days, end = history_days(months, now)
    register_parts(inventory, stores, days[0] - timedelta(days=2), [*HISTORY_PARTS, SLOW_MOVER])
    expected = expected_visits(days, stores, per_day)
    done = 0
    lock = threading.Lock()

    def tick(count: int) -> None:
        nonlocal done
        with lock:
            done += count
            if progress:
                progress(min(done, expected), max(expected, done))

    figures = HistoryFigures(stores=len(stores))
    with ThreadPoolExecutor(max_workers=len(stores) * lanes, thread_name_prefix="demo") as pool:
        runs = []
        for store in stores:
            barrier = threading.Barrier(lanes)
            for lane in range(lanes):
                history = StoreHistory(work_orders, inventory, settlements, aftercare, store,
                                       random.Random(f"{seed}-{store}-{lane}"), end, lane,
                                       barrier)
                runs.append(pool.submit(history.run, days, per_day / lanes, tick))
        for run in runs:
            figures.add(run.result())
    return figures


def _cpu_times() -> tuple[float, float] | None:
    """(busy, total) jiffies of all CPUs since boot, where /proc/stat exists."""
    try:
        fields = [float(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError, IndexError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)  # idle + iowait
    return sum(fields) - idle, sum(fields)


class RunMeter:
    """A run's wall and CPU time, the events it added to the log, and how busy the whole
    machine was meanwhile (other people's work, the database server and this run together)."""

    def __init__(self, app: ServiceCore) -> None:
        self.app = app
        self.head = app.recorder.max_notification_id() or 0
        self.started, self.cpu, self.stat = time.perf_counter(), _own_cpu(), _cpu_times()
        self.cpu_elsewhere = 0.0  # the staging processes' (not this process's children)

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def figures(self, visits: int) -> dict[str, Any]:
        seconds = self.elapsed()
        head = self.app.recorder.max_notification_id() or 0
        return {"seconds": round(seconds, 1), "events": head - self.head, "events_in_log": head,
                "visits_per_s": round(visits / seconds, 1),
                "events_per_s": round((head - self.head) / seconds)}

    def conditions(self, database: str) -> dict[str, Any]:
        cpus = os.cpu_count() or 1
        seconds, cpu = self.elapsed(), _own_cpu() - self.cpu + self.cpu_elsewhere
        head = self.app.recorder.max_notification_id() or 0
        recorder: Any = self.app.recorder
        with recorder.datastore.get_connection() as conn:
            row = conn.execute("SHOW server_version").fetchone()
        now, busy = _cpu_times(), None
        if now and self.stat and now[1] > self.stat[1]:
            busy = round((now[0] - self.stat[0]) / (now[1] - self.stat[1]), 2)
        return {"database": database, "server_version": row["server_version"] if row else None,
                "cpus": cpus, "machine_busy_share": busy,
                "cpu_seconds": round(cpu, 1), "own_cpu_share": round(cpu / (seconds * cpus), 2),
                "events_per_cpu_s": round((head - self.head) / cpu) if cpu else None,
                "load_average": [round(x, 1) for x in os.getloadavg()]}


def _own_cpu() -> float:
    """CPU seconds of this process and of its ended child processes (not the database
    server's)."""
    spent = os.times()
    return spent.user + spent.system + spent.children_user + spent.children_system
