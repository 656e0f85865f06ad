"""Where the analytics loader's CPU goes: seconds of this process per phase and per handler.

Loads a history (`--history-url`, read only) into a fresh DuckDB file, as a catch-up
(`AnalyticsLoader.catch_up()`) or a rebuild (`analytics.rebuild.rebuild()`), with
`time.process_time()` around each part of a batch: the read (`EventSource.read`: the
PostgreSQL rows, splitting them by kind, decoding), the set-based Arrow table and statements,
preloading, each Python handler (by kind of event), the keyed writes, the commit. What is
left (the loop, freeing the batch's objects, the checkpoint of a rebuild) is "the rest". The
timers wrap the loader's own functions, so they follow its code; they cost some 1 µs an event
themselves (the handlers' column is the most inflated). With `--profile N`, cProfile instead (on
its own clock, which counts the time other work holds the core), the top N functions by own
time (its overhead is larger, and on the Python side).

    python -m bench.analytics_phases --history-url URL [--rebuild] [--profile 40]

Prints JSON (or the profile); nothing is saved.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.common import system

clock = time.process_time


def _timed(phases: dict[str, float], name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    def timed(*args: Any, **kwargs: Any) -> Any:
        started = clock()
        try:
            return function(*args, **kwargs)
        finally:
            phases[name] += clock() - started

    return timed


def instrument(phases: dict[str, float], handlers: dict[str, float], counts: dict[str, float]) -> None:
    """Timers around the loader's parts (this process only: the module attributes change)."""
    from analytics import events, fold, loader, set_based

    events.EventSource.read = _timed(phases, "read", events.EventSource.read)  # type: ignore
    set_based.SetBased.__init__ = _timed(  # type: ignore[method-assign]
        phases, "set-based Arrow table", set_based.SetBased.__init__)
    set_based.SetBased.before_fold = _timed(  # type: ignore[method-assign]
        phases, "set-based before the fold", set_based.SetBased.before_fold)
    set_based.SetBased.after_write = _timed(  # type: ignore[method-assign]
        phases, "set-based after the write", set_based.SetBased.after_write)
    loader._preload = _timed(phases, "preload", loader._preload)
    fold.Fold.write = _timed(phases, "write (keyed rows, appends)", fold.Fold.write)  # type: ignore

    for qualname, handler in list(fold.HANDLERS.items()):
        def by_kind(f: Any, e: Any, n: int, _h: Any = handler, _q: str = qualname) -> None:
            started = clock()
            _h(f, e, n)
            handlers[_q] += clock() - started
            counts[_q] += 1

        fold.HANDLERS[qualname] = by_kind

    @contextmanager
    def transaction(conn: Any) -> Iterator[None]:  # publish.transaction, its statements timed
        started = clock()
        conn.execute("BEGIN")
        phases["begin and commit"] += clock() - started
        try:
            yield
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        started = clock()
        conn.execute("COMMIT")
        phases["begin and commit"] += clock() - started

    setattr(loader, "transaction", transaction)  # noqa: B010 - the name _batch calls


def load(url: str, rebuild: bool) -> tuple[int, float]:
    """The events loaded and the CPU seconds it took (the application's start not counted)."""
    from analytics.loader import AnalyticsLoader
    from analytics.rebuild import rebuild as rebuilt

    with tempfile.TemporaryDirectory() as work, system(url, create_tables=False) as container:
        started = clock()
        if rebuild:
            events = int(rebuilt(container.app, Path(work) / "rebuilt.duckdb")["events"])
        else:
            loader = AnalyticsLoader(container.app, Path(work) / "caught-up.duckdb")
            try:
                events = loader.catch_up()
            finally:
                loader.close()
        return events, clock() - started


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.analytics_phases", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--history-url", required=True, help="a database holding a history")
    p.add_argument("--rebuild", action="store_true", help="rebuild() instead of a catch-up")
    p.add_argument("--profile", type=int, default=0, metavar="N",
                   help="cProfile instead of the timers: the top N functions by own time")
    args = p.parse_args(argv)
    if args.profile:
        import analytics.loader  # noqa: F401 - imported before the profile starts

        profile = cProfile.Profile()  # its own clock: a CPU clock read twice a call costs more
        profile.enable()
        load(args.history_url, args.rebuild)
        profile.disable()
        pstats.Stats(profile).sort_stats("tottime").print_stats(args.profile)
        return 0
    phases: dict[str, float] = defaultdict(float)
    handlers: dict[str, float] = defaultdict(float)
    counts: dict[str, float] = defaultdict(int)
    instrument(phases, handlers, counts)
    events, total = load(args.history_url, args.rebuild)
    phases["handlers"] = sum(handlers.values())
    phases["the rest"] = total - sum(phases.values())
    print(json.dumps({
        "load": "rebuild" if args.rebuild else "catch-up", "events": events,
        "cpu_seconds": round(total, 3), "events_per_cpu_second": round(events / total),
        "load_average": os.getloadavg()[0],
        "phases": {k: round(v, 3) for k, v in _largest(phases)},
        "handlers": {k: {"seconds": round(v, 3), "events": counts[k],
                         "us_per_event": round(v / counts[k] * 1e6, 1)}
                     for k, v in _largest(handlers)[:15]}}, indent=1))
    return 0


def _largest(seconds: dict[str, float]) -> list[tuple[str, float]]:
    return sorted(seconds.items(), key=lambda item: -item[1])


if __name__ == "__main__":
    raise SystemExit(main())
