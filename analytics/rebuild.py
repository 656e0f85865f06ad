"""The analytic tables loaded again from event 0: into a fresh file beside the live one, which
then takes its place (`rebuild`, and `AnalyticsLoader.reload_if_revised` for a new revision)."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

import duckdb

from analytics.loader import BATCH_SIZE, REVISION, AnalyticsLoader
from analytics.poison import PoisonEvent
from domain.application import ServiceCore

log = logging.getLogger("analytics.loader")  # its lines keep the loader's name


def rebuild(app: ServiceCore, path: Path, *, batch_size: int = BATCH_SIZE,
            progress: Callable[[int, int], None] | None = None,
            zone: str = "Asia/Shanghai") -> dict[str, float]:
    """Load everything from event 0 into a fresh file, then move it into place.

    `progress(done, total)` is called after every batch with the position reached and the head
    of the log (notification ids).
    """
    fresh, figures = load_fresh(app, path, batch_size=batch_size, progress=progress, zone=zone)
    into_place(fresh, path)
    return figures


def load_fresh(app: ServiceCore, path: Path, *, batch_size: int = BATCH_SIZE,
               progress: Callable[[int, int], None] | None = None,
               zone: str = "Asia/Shanghai", revision: int = REVISION,
               known: PoisonEvent | None = None) -> tuple[Path, dict[str, float]]:
    """Everything from event 0 loaded into a fresh file beside `path` (closed, checkpointed):
    the file and the figures (the events loaded by this call).

    The fresh file keeps its position with its rows, batch by batch: a load that stopped (a
    poison event, the process ended) is taken up where it stopped by the next one of the same
    revision, instead of starting from event 0 each time. `known`, the poison event the last
    load stopped at, is tried alone first when the load stands just before it again."""
    started = time.perf_counter()
    loader = _fresh_loader(app, path.with_name(path.stem + "-rebuild.duckdb"),
                           batch_size=batch_size, zone=zone, revision=revision)
    fresh = loader.path
    if known is not None and (loader._next_event(loader.position()) or (0,))[0] == \
            known.position:  # stopped just before it the last time: straight to that event
        loader.poison, loader._stopped_at = known, loader.position()
    head = app.recorder.max_notification_id() or 0
    try:
        events = 0
        while count := loader.run_batch():
            events += count
            if progress is not None:
                position = loader.position()
                progress(position, max(head, position))
        if progress is not None:
            progress(loader.position(), loader.position())
        loader.conn.execute("CHECKPOINT")
    finally:
        loader.close()
    seconds = time.perf_counter() - started
    return fresh, {"events": events, "seconds": seconds,
                   "events_per_second": events / seconds if seconds else 0.0}


def _fresh_loader(app: ServiceCore, fresh: Path, *, batch_size: int, zone: str,
                  revision: int) -> AnalyticsLoader:
    """A loader of the fresh file: the one an earlier load of the same revision left, at its
    position; otherwise (none, another revision's, one that does not open) a new one."""
    if fresh.exists():
        try:
            loader = AnalyticsLoader(app, fresh, batch_size=batch_size, zone=zone,
                                     revision=revision)
        except duckdb.Error as error:
            log.warning("analytics: %s does not open (%s); loading from event 0", fresh, error)
        else:
            behind = loader.restored_behind()
            if behind is not None:
                log.warning("analytics: %s was loaded from events the log no longer holds "
                            "(%s); loading from event 0", fresh, behind)
            elif loader.written_by() == revision:
                log.info("analytics: taking up the load of %s at position %d", fresh,
                         loader.position())
                return loader
            loader.close()
    fresh.unlink(missing_ok=True)
    Path(str(fresh) + ".wal").unlink(missing_ok=True)
    return AnalyticsLoader(app, fresh, batch_size=batch_size, zone=zone, revision=revision)


def into_place(fresh: Path, path: Path) -> None:
    """A file `load_fresh` made takes the place of `path` (no connection may hold it)."""
    os.replace(fresh, path)
    Path(str(fresh) + ".wal").unlink(missing_ok=True)
