"""The history generator (`servicecore demo-data --months`): staged against one save per command.

1. The same small history (default 1 store x 1 month, one desk, seed 7) twice, each into a
   fresh database: through the command path (`load_history`, one save per command) and staged
   (`stage_history`, one process): the same visits and events, so the ratio is the staging's.
2. The README's history at scale (default 3 stores x 12 months, 3 desks each), staged with the
   default processes (one per store, up to cores + 1): the figure the goal is about.

Each row: events/s (wall), visits as ops, the run's CPU seconds (this process and its staging
processes; the database server's not included), events per CPU second and how busy the whole
machine was during the run (other people's work, the database server and the run together).

    python -m bench.demo_history [--server embedded|local|env|URL] [--months 12] [--stores 3]
                                 [--small-months 1] [--small-stores 1] [--no-full]
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from bench.common import (
    Measurement,
    Report,
    Server,
    add_common_arguments,
    ensure_yardstick,
    main_wrapper,
    system,
    temporary_database,
)
from servicecore.demo import load_history, stage_history
from servicecore.demo_scale import RunMeter

NAME = "demo_history"


def _one(server: Server, report: Report, setting: str, via: str,
         **options: Any) -> dict[str, Any]:
    with temporary_database(server, "demo") as url, system(url) as container:
        meter = RunMeter(container.app)
        if via == "commands":
            figures = load_history(container.work_orders, container.inventory,
                                   container.settlements, container.aftercare, **options)
        else:
            figures = stage_history(container, meter=meter, **options)
        done = meter.figures(figures.visits)
        conditions = meter.conditions(server.kind)
    row = report.add(setting, Measurement(ops=figures.visits, units=done["events"],
                                          seconds=done["seconds"], latencies=[done["seconds"]],
                                          errors=figures.errors,
                                          error_samples=figures.error_samples),
                     visits_per_second=done["visits_per_s"], **conditions)
    print(f"    {done['visits_per_s']:.1f} visits/s; {conditions['cpu_seconds']} CPU s "
          f"({conditions['events_per_cpu_s']} events per CPU s); machine "
          f"{(conditions['machine_busy_share'] or 0) * 100:.0f} % busy during the run", flush=True)
    return row


def run(args: argparse.Namespace, server: Server, yardstick: dict[str, Any] | None) -> Report:
    yardstick = ensure_yardstick(server, args, yardstick)
    report = Report(NAME, server, args, yardstick, rate_unit="events")
    now = datetime.now(UTC)
    small = {"stores": tuple(f"S{n:02d}" for n in range(1, args.small_stores + 1)),
             "months": args.small_months, "per_day": args.per_day, "lanes": 1, "seed": 7,
             "now": now}
    size = f"{args.small_stores} store x {args.small_months} month, 1 desk"
    by_commands = _one(server, report, f"commands, {size}", "commands", **small)
    staged = _one(server, report, f"staged, {size}, 1 process", "staged", jobs=1, **small)
    report.notes["staged_vs_commands_same_history"] = round(
        staged["rate_per_second"] / by_commands["rate_per_second"], 1)
    if not args.no_full:
        stores = tuple(f"S{n:02d}" for n in range(1, args.stores + 1))
        _one(server, report, f"staged, {args.stores} stores x {args.months} months, "
                             f"{args.lanes} desks", "staged", stores=stores, months=args.months,
             per_day=args.per_day, lanes=args.lanes, seed=7, now=now)
    print(f"staged / commands on the same history: "
          f"{report.notes['staged_vs_commands_same_history']}x")
    report.save()
    return report


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.demo_history", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_arguments(p)
    p.add_argument("--months", type=int, default=12)
    p.add_argument("--stores", type=int, default=3)
    p.add_argument("--lanes", type=int, default=3)
    p.add_argument("--per-day", type=float, default=4.0)
    p.add_argument("--small-months", type=int, default=1)
    p.add_argument("--small-stores", type=int, default=1)
    p.add_argument("--no-full", action="store_true", help="only the small side-by-side runs")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    return main_wrapper(run, parser(), argv)


if __name__ == "__main__":
    raise SystemExit(main())
