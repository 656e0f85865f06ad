"""The history generator (`servicecore demo-data --months`): staged against one save per command.

1. The same small history (default 1 store x 1 month, one desk, seed 7) twice, each into a
   fresh database: through the command path (`load_history`, one save per command) and staged
   (`stage_history`, one process): the same visits and events, so the ratio is the staging's.
2. The README's history at scale (default 3 stores x 12 months, 3 desks each), staged with the
   default processes (one per store, up to cores + 1): the figure the goal is about.

Each row: events/s (wall), visits as ops, the run's CPU seconds (this process and its staging
processes), events per CPU second and how busy the whole machine was during the run (other
people's work, the database server and the run together). When the server runs on this machine
its CPU seconds over the run are added (the postmaster and every backend, ended ones too: only
the run's own work on the embedded server under var/bench; on a shared server, everyone's), with
`cpu_bound_s`: the run's and the server's CPU seconds shared over every core, the least wall
time the run could take on this machine with nobody else on it.

    python -m bench.demo_history [--server embedded|local|env|URL] [--months 12] [--stores 3]
                                 [--small-months 1] [--small-stores 1] [--no-full]
"""

from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from bench.common import (
    Measurement,
    Report,
    Server,
    bench_parser,
    ensure_yardstick,
    main_wrapper,
    system,
    temporary_database,
)
from servicecore.demo import load_history, stage_history
from servicecore.demo_scale import RunMeter

NAME = "demo_history"


def _server_cpu(url: str) -> float | None:
    """CPU seconds the database server's processes have used, if it runs on this machine."""
    try:
        with psycopg.connect(url) as conn:
            row = conn.execute("SELECT pg_backend_pid()").fetchone()
        assert row is not None
        postmaster = int(_stat(int(row[0]))[1])
        ticks = os.sysconf("SC_CLK_TCK")
        fields = _stat(postmaster)
        used = sum(int(x) for x in fields[11:15])  # its own and its ended children's
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError, IndexError):
                    child = _stat(int(entry.name))
                    if int(child[1]) == postmaster:
                        used += int(child[11]) + int(child[12])
        return used / ticks
    except (OSError, ValueError, IndexError, psycopg.Error):
        return None


def _stat(pid: int) -> list[str]:
    """/proc/<pid>/stat after the command name: state, ppid, ... (utime is [11])."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _one(server: Server, report: Report, setting: str, via: str,
         **options: Any) -> dict[str, Any]:
    with temporary_database(server, "demo") as url, system(url) as container:
        server_before = _server_cpu(url)
        meter = RunMeter(container.app)
        if via == "commands":
            figures = load_history(container.work_orders, container.inventory,
                                   container.settlements, container.aftercare, **options)
        else:
            figures = stage_history(container, meter=meter, **options)
        done = meter.figures(figures.visits)
        conditions = meter.conditions(server.kind)
        server_after = _server_cpu(url)
    if server_before is not None and server_after is not None:
        conditions["server_cpu_seconds"] = round(server_after - server_before, 1)
        conditions["cpu_bound_s"] = round((conditions["cpu_seconds"] + server_after
                                           - server_before) / conditions["cpus"], 1)
    row = report.add(setting, Measurement(ops=figures.visits, units=done["events"],
                                          seconds=done["seconds"], latencies=[done["seconds"]],
                                          errors=figures.errors,
                                          error_samples=figures.error_samples),
                     visits_per_second=done["visits_per_s"], **conditions)
    print(f"    {done['visits_per_s']:.1f} visits/s; {conditions['cpu_seconds']} CPU s "
          f"({conditions['events_per_cpu_s']} events per CPU s), server "
          f"{conditions.get('server_cpu_seconds')} CPU s, bound "
          f"{conditions.get('cpu_bound_s')} s; machine "
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
    p = bench_parser(NAME, __doc__)
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
