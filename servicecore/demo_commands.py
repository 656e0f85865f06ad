"""`servicecore demo-data`: demo visits through the domain's commands, or a dealership's
history at scale (`--months`)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from servicecore.cli_args import share, whole
from servicecore.settings import Settings

MAX_DEMO_VISITS = 10_000  # the small set: its visit times are planned in memory at once


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    from servicecore.container import build
    from servicecore.demo import load_demo

    container = build(settings)
    try:
        def progress(done: int, total: int) -> None:
            bar = "#" * (30 * done // total)
            print(f"\r[{bar:<30}] {done}/{total}", end="", flush=True)

        stores = tuple(f"S{n:02d}" for n in range(1, args.stores + 1))
        if args.months:
            return _demo_history(args, container, stores)
        load_demo(container.work_orders, container.inventory, visits=args.visits,
                  stores=stores, progress=progress, settlements=container.settlements,
                  aftercare=container.aftercare)
        print()
    finally:
        container.close()
    return 0


def _demo_history(args: argparse.Namespace, container: Any, stores: tuple[str, ...]) -> int:
    """`demo-data --months N`: a dealership's history at scale, staged (default) or one save
    per command (`--via commands`); the figures and the run's conditions as JSON at the end."""
    from dataclasses import asdict

    from servicecore.demo import load_history, stage_history
    from servicecore.demo_scale import RunMeter

    meter = RunMeter(container.app)

    def progress(done: int, total: int) -> None:
        elapsed = meter.elapsed()
        left = elapsed / done * (total - done) if done else 0.0
        bar = "#" * (30 * done // max(total, 1))
        print(f"\r[{bar:<30}] {done}/{total} visits  {elapsed:5.0f} s  ~{left:4.0f} s left",
              end="", flush=True)

    options = {"stores": stores, "months": args.months, "per_day": args.per_day,
               "lanes": args.lanes, "seed": args.seed, "progress": progress}
    if args.via == "commands":
        figures = load_history(container.work_orders, container.inventory,
                               container.settlements, container.aftercare, **options)
    else:
        figures = stage_history(container, jobs=args.jobs, meter=meter, **options)
    print()
    print(json.dumps({**asdict(figures), **meter.figures(figures.visits), "conditions": {
        "via": args.via, "stores": len(stores), "months": args.months, "per_day": args.per_day,
        "lanes": args.lanes, "seed": args.seed, "jobs": args.jobs, **meter.conditions(
            "embedded" if container.settings.database_url is None else "external")}},
        ensure_ascii=False))
    return 0


def add_commands(sub: Any) -> None:
    """Add `demo-data` to the command line (argparse subparsers)."""
    demo = sub.add_parser("demo-data", help="generate visits through the domain's commands")
    demo.add_argument("--visits", type=whole(0, MAX_DEMO_VISITS), default=36,
                      help="the small set (without --months): this many visits")
    demo.add_argument("--stores", type=whole(1, 99), default=1)
    demo.add_argument("--months", type=whole(0, 120), default=0,
                      help="a history at scale: this many months up to yesterday, --lanes "
                           "desks per store (see README, Command line)")
    demo.add_argument("--per-day", type=share(200), default=4.0,
                      help="with --months: mean visits per store per day (default 4: 3 stores "
                           "x 12 months ~ 4,900 visits, ~160k events)")
    demo.add_argument("--lanes", type=whole(1, 16), default=3,
                      help="with --months: desks per store working the same day (threads "
                           "with --via commands)")
    demo.add_argument("--via", choices=["staged", "commands"], default="staged",
                      help="with --months: staged in memory and appended in batches (default), "
                           "or one save per command (the API's path; 15-30x slower)")
    demo.add_argument("--jobs", type=whole(1, 64), default=None,
                      help="with --months (staged): processes sharing out the stores (default: "
                           "one per store, up to one more than the cores)")
    demo.add_argument("--seed", type=int, default=7)
    demo.set_defaults(run=_demo)
