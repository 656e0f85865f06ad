"""Run every benchmark with modest defaults (about 6 minutes per server on 2 cores, plus up
to --quiet-wait seconds waiting for a quiet machine, plus ~3 minutes the first time `parts`
builds its 10,000-part dataset on a server).

    python -m bench.run_all                       # the default server (DATABASE_URL or embedded)
    python -m bench.run_all --servers embedded,local
    python -m bench.run_all --only event_store,http_commands
    python -m bench.run_all --table               # print the README table from saved results

The yardstick (raw INSERT+COMMIT loop) is measured once per server and shared. Each benchmark
writes bench/results/<name>-<server-kind>.json; this script also prints one markdown table of
the headline figures, the one in bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import time
import traceback
from collections.abc import Sequence
from types import ModuleType
from typing import Any

from bench import (
    aggregate_load,
    analytics,
    audit_chain,
    demo_history,
    event_store,
    http_commands,
    http_reads,
    parts,
    projection_catchup,
    relay,
)
from bench.common import (
    RESULTS_DIR,
    measure_yardstick,
    quiet_logging,
    resolve_server,
    wait_for_quiet,
)

BENCHMARKS: dict[str, ModuleType] = {
    "event_store": event_store,
    "aggregate_load": aggregate_load,
    "audit_chain": audit_chain,
    "http_commands": http_commands,
    "http_reads": http_reads,
    "projection_catchup": projection_catchup,
    "parts": parts,
    "relay": relay,
    "analytics": analytics,
    "demo_history": demo_history,
}


def table(kinds: Sequence[str] | None = None) -> str:
    """Markdown table of the latest saved results (all server kinds found, or `kinds`)."""
    lines = [("| server | benchmark | setting | rate/s | unit | x yardstick | p50 ms | p99 ms | "
              "errors |"), "|---|---|---|---:|---|---:|---:|---:|---:|"]
    yardsticks: dict[str, dict[str, Any]] = {}
    for path in sorted(RESULTS_DIR.glob("*.json")):
        doc = json.loads(path.read_text())
        # counts without a yardstick (idle_connections) and instrument-only files stay out
        if "results" not in doc or "yardstick" not in doc or (
                kinds and doc["server_kind"] not in kinds):
            continue
        kind = doc["server_kind"]
        version = doc["conditions"]["server"]["server_version"].split()[0]
        server = f"{kind} (PG {version})"
        yardsticks.setdefault(server, {**doc["yardstick"], "timestamp": doc["timestamp"]})
        for row in doc["results"]:
            lines.append(
                f"| {server} | {doc['name']} | {row['setting']} | {row['rate_per_second']:,.0f} "
                f"| {row['unit']} | {row['rate_vs_yardstick']:.3f} | {row['p50_ms']:.2f} | "
                f"{row['p99_ms']:.2f} | {row['errors']} |")
    for server, y in yardsticks.items():
        lines.append(f"| {server} | yardstick | INSERT+COMMIT, 1 client | "
                     f"{y['per_second']:,.0f} | commits | 1.000 | {y['p50_ms']:.2f} | "
                     f"{y['p99_ms']:.2f} | 0 |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.run_all", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--servers", default=None,
                   help="comma-separated: embedded, local, env or URLs (default: DATABASE_URL "
                        "if set, else embedded)")
    p.add_argument("--only", default=",".join(BENCHMARKS),
                   help=f"comma-separated subset of {', '.join(BENCHMARKS)}")
    p.add_argument("--yardstick-seconds", type=float, default=3.0)
    p.add_argument("--no-save", action="store_true")
    p.add_argument("--quiet-wait", type=float, default=60.0,
                   help="before each server's runs, wait up to this many seconds for the "
                        "machine to be <= 25%% busy (0 = don't wait; default 60). Each result "
                        "file records how busy the machine was before its run")
    p.add_argument("--table", action="store_true",
                   help="only print the markdown table of the saved results")
    args = p.parse_args(argv)
    if args.table:
        print(table())
        return 0
    quiet_logging()
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        raise SystemExit(f"unknown benchmark(s): {', '.join(unknown)}")
    choices = args.servers.split(",") if args.servers else [None]
    failures: list[str] = []
    kinds: list[str] = []
    started = time.perf_counter()
    for choice in choices:
        server = resolve_server(choice)
        kinds.append(server.kind)
        print(f"\n##### server: {server.kind} ({server.describe()['transport']})", flush=True)
        if args.quiet_wait > 0:
            wait_for_quiet(max_wait=args.quiet_wait)
        yardstick = measure_yardstick(server, args.yardstick_seconds)
        print(f"yardstick: {yardstick['per_second']:.0f} commits/s, p50 {yardstick['p50_ms']} ms",
              flush=True)
        for name in names:
            module = BENCHMARKS[name]
            extra = ["--yardstick-seconds", str(args.yardstick_seconds), "--quiet-wait", "0"]
            if args.no_save:
                extra.append("--no-save")
            bench_args = module.parser().parse_args(extra)
            bench_args.server = choice
            try:
                module.run(bench_args, server, yardstick)
            except Exception:  # noqa: BLE001 - the others still run; reported at the end
                traceback.print_exc()
                failures.append(f"{name} on {server.kind}")
    print(f"\nall done in {time.perf_counter() - started:.0f} s\n")
    if not args.no_save:
        print(table(kinds))
    if failures:
        print(f"\nFAILED: {', '.join(failures)}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
