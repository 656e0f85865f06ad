"""Loading a long stream: a 1,000-event aggregate (a document counter after 1,000 numbers).

- cold, snapshots: a process without the aggregate in memory loads the latest snapshot and the
  events after it (the default: a snapshot every SNAPSHOT_EVERY events);
- cold, full replay: the same load with snapshotting off (every event decoded and applied);
- warm: the in-memory cache fast-forwarded from the store (one query) and copied, as a command
  in a running process does.

    python -m bench.aggregate_load [--server embedded|local|env|URL] [--events 1000]
"""

from __future__ import annotations

import argparse
import functools
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from bench.common import (
    Report,
    Server,
    bench_parser,
    each_call,
    ensure_yardstick,
    main_wrapper,
    run_threads,
    system,
    temporary_database,
)
from domain.application import ServiceCore
from domain.common import Audit
from domain.counter import DocumentCounter
from servicecore.container import eventsourcing_env

NAME = "aggregate_load"
AUDIT = Audit("bench", "manager", "S01", datetime.now(UTC), "bench")


def run(args: argparse.Namespace, server: Server, yardstick: dict[str, Any] | None) -> Report:
    yardstick = ensure_yardstick(server, args, yardstick)
    report = Report(NAME, server, args, yardstick, rate_unit="loads")
    with temporary_database(server, "load") as url, system(url) as container:
        counter = DocumentCounter(series="bench", store_id="S01", year=2026, audit=AUDIT)
        container.app.save(counter)
        for _ in range(args.events - 1):
            counter.take(AUDIT, "WO")
            container.app.save(counter)
        env = eventsourcing_env(container.database_url, container.settings)
        variants = {
            f"cold, snapshots ({counter.version} events)": {"AGGREGATE_CACHE_MAXSIZE": ""},
            f"cold, full replay ({counter.version} events)": {
                "AGGREGATE_CACHE_MAXSIZE": "", "IS_SNAPSHOTTING_ENABLED": "n"},
            f"warm cache, fast-forward ({counter.version} events)": {},
        }
        for label, overrides in variants.items():
            app = ServiceCore(env={**env, **overrides})
            if overrides.get("IS_SNAPSHOTTING_ENABLED") == "n":
                app.repository.snapshot_store = None
            try:
                load = each_call(functools.partial(app.repository.get, counter.id))
                run_threads(1, load, total_ops=5)  # warm-up, fills the cache
                m = run_threads(1, load, duration=args.seconds)
                report.add(label, m)
            finally:
                app.close()
    report.save()
    return report


def parser() -> argparse.ArgumentParser:
    p = bench_parser(NAME, __doc__)
    p.add_argument("--seconds", type=float, default=2.0)
    p.add_argument("--events", type=int, default=1000)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    return main_wrapper(run, parser(), argv)


if __name__ == "__main__":
    raise SystemExit(main())
