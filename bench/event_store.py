"""Raw event-store append rate: `app.save(...)` of small new aggregates, nothing else.

The aggregate is the real `domain.customer.Customer` (one `Registered` event: audit stamp and
sealed personal fields, ~0.5 kB stored), built with pre-sealed tokens so that no key-store call
is timed. Settings: one aggregate per save from 1 and from 8 threads, and ten aggregates per
save (one transaction) from 1 and from 8 threads. Latency is per save() call.

    python -m bench.event_store [--server embedded|local|env|URL] [--seconds 4]
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import io
import os
import pstats
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

from bench.common import (
    RESULTS_DIR,
    Report,
    Server,
    add_common_arguments,
    ensure_yardstick,
    main_wrapper,
    measure_yardstick,
    run_threads,
    system,
    temporary_database,
)
from domain.common import Audit
from domain.customer import Customer

NAME = "event_store"


def _sealed_token(size: int) -> str:
    return "pii1:" + base64.b64encode(os.urandom(12 + size + 16)).decode()


SEALED = {"name": _sealed_token(9), "phone": _sealed_token(11), "wechat_id": None}


def new_customer(i: int) -> Customer:
    audit = Audit(user_id=f"adv-{i % 10:02d}", role="advisor", store_id="S01",
                  at=datetime.now(UTC), correlation_id=str(uuid4()))
    return Customer(id=uuid4(), audit=audit, kind="person", sealed=SEALED)


class Timed:
    """Wraps a callable and adds up the time spent in it (per thread-safe counters)."""

    def __init__(self, target: Callable[..., Any]) -> None:
        self.target = target
        self.seconds = 0.0
        self.calls = 0
        self.lock = threading.Lock()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return self.target(*args, **kwargs)
        finally:
            spent = time.perf_counter() - started
            with self.lock:
                self.seconds += spent
                self.calls += 1


def run(args: argparse.Namespace, server: Server, yardstick: dict[str, Any] | None) -> Report:
    yardstick = ensure_yardstick(server, args, yardstick)
    report = Report(NAME, server, args, yardstick, rate_unit="events")
    with temporary_database(server, "es") as url, system(url) as container:
        app = container.app
        recorder_insert = Timed(app.recorder.insert_events)
        app.recorder.insert_events = recorder_insert  # type: ignore[method-assign]

        def make_op(per_save: int) -> Callable[[int], Callable[[], int]]:
            def factory(thread_index: int) -> Callable[[], int]:
                def op() -> int:
                    app.save(*[new_customer(thread_index) for _ in range(per_save)])
                    return per_save

                return op

            return factory

        settings: Sequence[tuple[str, int, int, bool]] = [
            ("save(1 aggregate, 1 event), 1 thread", 1, 1, True),
            ("save(1 aggregate, 1 event), 8 threads", 8, 1, True),
            ("save(1 aggregate, 1 event), 8 threads, no group commit", 8, 1, False),
            ("save(10 aggregates, 10 events), 1 thread", 1, 10, True),
            ("save(10 aggregates, 10 events), 8 threads", 8, 10, True),
        ]
        for label, threads, per_save, group_commit in settings:
            app.recorder.group_commit = group_commit  # type: ignore[attr-defined]
            run_threads(threads, make_op(per_save), total_ops=20 * threads)  # warm-up
            recorder_insert.seconds, recorder_insert.calls = 0.0, 0
            m = run_threads(threads, make_op(per_save), duration=args.seconds)
            share = recorder_insert.seconds / sum(m.latencies) if m.latencies else 0.0
            report.add(label, m, threads=threads, events_per_save=per_save,
                       group_commit=group_commit,
                       saves_per_second=round(m.ops / m.seconds, 1),
                       recorder_share_of_save_time=round(share, 3))

        with container.pool.connection() as conn:
            row = conn.execute("SELECT count(*), avg(octet_length(state))::int "
                               "FROM servicecore_events").fetchone()
        assert row is not None
        report.notes["stored_events"] = row[0]
        report.notes["avg_stored_state_bytes"] = row[1]
        report.notes["aggregate"] = ("domain.customer.Customer, one Registered event, "
                                     "pre-sealed personal fields (no key-store calls)")
        report.notes["recorder_share_of_save_time"] = (
            "time inside recorder.insert_events (one statement: append lock, insert, chain, "
            "command row, notify, commit; pool checkout; with group commit also the wait for "
            "the statement in flight) / total save() time; the rest is Python: mutate, encode, "
            "snapshot check")
        print(f"stored events: {row[0]}, average stored state {row[1]} bytes")

        if args.rounds:
            report.notes["interleaved"] = interleaved(args, server, app, make_op(1))

        if args.profile:
            profile = cProfile.Profile()
            profile.enable()
            for i in range(args.profile_saves):
                app.save(new_customer(i))
            profile.disable()
            text = io.StringIO()
            pstats.Stats(profile, stream=text).sort_stats("cumulative").print_stats(35)
            path = RESULTS_DIR / f"{NAME}-{server.kind}.profile.txt"
            if not args.no_save:
                RESULTS_DIR.mkdir(parents=True, exist_ok=True)
                path.write_text(text.getvalue())
                print(f"profile of {args.profile_saves} single saves: {path}")
            else:
                print(text.getvalue())
    report.save()
    return report


def interleaved(args: argparse.Namespace, server: Server, app: Any,
                make_op: Callable[[int], Callable[[], int]]) -> dict[str, Any]:
    """The single-save ratio with the yardstick measured right before it, round after round.

    The disk's commit latency wanders by a factor of two within minutes on a shared machine,
    so one yardstick at the start says little about a setting measured a minute later; the
    median of per-round ratios does.
    """
    app.recorder.group_commit = True
    ratios, rates, yardsticks = [], [], []
    for _ in range(args.rounds):
        yard = measure_yardstick(server, seconds=args.round_seconds)["per_second"]
        m = run_threads(1, make_op, duration=args.round_seconds)
        rate = m.units / m.seconds
        yardsticks.append(yard)
        rates.append(round(rate, 1))
        ratios.append(round(rate / yard, 3))
    result = {
        "what": f"{args.rounds} rounds of: yardstick {args.round_seconds:g} s, then "
                f"save(1 aggregate, 1 event) from 1 thread {args.round_seconds:g} s",
        "yardstick_per_second": yardsticks, "saves_per_second": rates, "ratios": ratios,
        "median_ratio": statistics.median(ratios),
        "median_saves_per_second": statistics.median(rates),
        "median_yardstick_per_second": statistics.median(yardsticks),
    }
    print(f"interleaved, {args.rounds} rounds: single save / yardstick of the same round: "
          f"median {result['median_ratio']:.3f} x (rounds {min(ratios):.3f}-{max(ratios):.3f}); "
          f"median {result['median_saves_per_second']:.0f} saves/s vs "
          f"{result['median_yardstick_per_second']:.0f} commits/s")
    return result


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.event_store", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_arguments(p)
    p.add_argument("--seconds", type=float, default=4.0,
                   help="measured time per setting (default 4)")
    p.add_argument("--profile", action="store_true",
                   help="also cProfile single saves and write the top of it next to the results")
    p.add_argument("--profile-saves", type=int, default=1000)
    p.add_argument("--rounds", type=int, default=7,
                   help="interleaved rounds of yardstick + single save (0: none; default 7)")
    p.add_argument("--round-seconds", type=float, default=2.0)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    return main_wrapper(run, parser(), argv)


if __name__ == "__main__":
    raise SystemExit(main())
