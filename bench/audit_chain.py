"""The hash chain's cost and `audit verify`'s rate.

1. Cost of the chain on a single-event save: the same `app.save(one Customer)` loop, 1 thread,
   alternately with the chain trigger in place and replaced by one that only notifies tailing
   readers as the chain trigger does (same database, same recorder, five rounds each way,
   medians compared), so the figure is the chain's own share.
2. `audit verify` over a log of --events synthetic events (~0.5 kB each, inserted by one
   INSERT ... SELECT through the real triggers, so every one is linked, each recorded in the
   command registry as a save of its own): events/s recomputed.
3. The same over the API: GET /audit/chain/verify on a live server (--api-rounds, alternated
   with `audit verify`), and how fast /health/live answers meanwhile.

    python -m bench.audit_chain [--server embedded|local|env|URL] [--events 300000]
                                [--api-rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import psycopg

from bench.common import (
    Report,
    Server,
    bench_parser,
    ensure_yardstick,
    main_wrapper,
    run_threads,
    system,
    temporary_database,
)
from bench.event_store import new_customer
from servicecore import audit_chain
from servicecore.schema import CHAIN_TRIGGERS, CHANNEL, COMMANDS_TABLE, EVENTS_TABLE

NAME = "audit_chain"

# The chain trigger without the chain: the NOTIFY every append sends anyway.
NOTIFY_ONLY = f"""
CREATE OR REPLACE FUNCTION servicecore_bench_notify() RETURNS trigger
LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_notify('{CHANNEL}', ''); RETURN NULL; END $$;
CREATE OR REPLACE TRIGGER {EVENTS_TABLE}_chain AFTER INSERT ON {EVENTS_TABLE}
    FOR EACH STATEMENT EXECUTE FUNCTION servicecore_bench_notify();
"""


def _single_saves(app: Any) -> Callable[[int], Callable[[], int]]:
    def factory(thread_index: int) -> Callable[[], int]:
        def op() -> int:
            app.save(new_customer(thread_index))
            return 1

        return op

    return factory


def _fill(url: str, events: int) -> None:
    """One event per save, each recorded in the command registry as a save records it (the
    registry is the larger that way, and `audit verify` reads it whole)."""
    with psycopg.connect(url, autocommit=True) as conn:
        for start in range(0, events, 50_000):
            conn.execute(
                f"""WITH appended AS (
                        INSERT INTO {EVENTS_TABLE}
                            (originator_id, originator_version, topic, state)
                        SELECT gen_random_uuid(), 1, 'domain.customer:Customer.Registered',
                               convert_to(repeat('x', 480), 'UTF8')
                        FROM generate_series(1, %s)
                        RETURNING notification_id)
                    INSERT INTO {COMMANDS_TABLE} (command_id, notification_ids)
                    SELECT gen_random_uuid(), ARRAY[notification_id] FROM appended""",
                (min(50_000, events - start),))


def run(args: argparse.Namespace, server: Server, yardstick: dict[str, Any] | None) -> Report:
    yardstick = ensure_yardstick(server, args, yardstick)
    report = Report(NAME, server, args, yardstick, rate_unit="events")
    with temporary_database(server, "chain") as url, system(url) as container:
        app = container.app
        run_threads(1, _single_saves(app), total_ops=200)  # warm-up
        rates: dict[str, list[float]] = {"with chain": [], "without chain": []}
        last: dict[str, Any] = {}
        for _ in range(args.rounds):
            for label in ("with chain", "without chain"):
                with psycopg.connect(url, autocommit=True) as conn:
                    if label == "with chain":
                        conn.execute(CHAIN_TRIGGERS)
                    else:
                        conn.execute(NOTIFY_ONLY)
                m = run_threads(1, _single_saves(app), duration=args.seconds)
                rates[label].append(m.ops / m.seconds)
                last[label] = m
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(CHAIN_TRIGGERS)
        medians = {label: statistics.median(values) for label, values in rates.items()}
        cost = 1 - medians["with chain"] / medians["without chain"]
        for label, values in rates.items():
            report.add(f"save(1 event), 1 thread, {label}", last[label],
                       median_rate_of_rounds=round(medians[label], 1),
                       rounds=[round(r, 1) for r in values])
        report.notes["chain_cost_on_single_save"] = round(cost, 4)
        print(f"chain cost on a single-event save: {cost:.1%} (median of {args.rounds} rounds "
              f"each: {medians['with chain']:.0f} vs {medians['without chain']:.0f} saves/s)")

    with temporary_database(server, "verify") as url, system(url) as container:
        started = time.perf_counter()
        _fill(url, args.events)
        fill_seconds = time.perf_counter() - started
        with psycopg.connect(url, autocommit=True) as conn:
            started = time.perf_counter()
            result = audit_chain.verify(conn)
            seconds = time.perf_counter() - started
        assert result.ok, result.as_dict()
        rate = result.checked / seconds
        report.notes["verify"] = {"events": result.checked, "seconds": round(seconds, 2),
                                  "events_per_second": round(rate),
                                  "fill_events_per_second_with_chain_trigger":
                                      round(args.events / fill_seconds)}
        print(f"audit verify: {result.checked:,} events in {seconds:.1f} s = {rate:,.0f} events/s"
              f" (inserting them through the chain trigger: {args.events / fill_seconds:,.0f}/s)")
        if args.api_rounds:
            report.notes["verify_api"] = _verify_over_api(container, url, args.events,
                                                          args.api_rounds)
    report.save()
    return report


def _verify_over_api(container: Any, url: str, events: int, rounds: int) -> dict[str, Any]:
    """GET /audit/chain/verify (default range: the whole log up to 500,000 events) on a live
    uvicorn in this process, alternated with `audit verify` on a connection of its own; and
    GET /health/live every 20 ms meanwhile (answered by the event loop while the verification
    runs in a worker thread)."""
    import httpx

    from api.auth import mint_token
    from api.main import create_app
    from bench.common import JWT_SECRET
    from tests.live_server import serving

    token = {"Authorization": f"Bearer {mint_token(JWT_SECRET, 'aud', 'auditor', ['*'])}"}
    direct: list[float] = []
    api: list[float] = []
    live: list[float] = []
    with serving(create_app(container.api_context())) as base, \
            httpx.Client(base_url=base, timeout=120) as http:
        for _ in range(rounds):
            with psycopg.connect(url, autocommit=True) as conn:
                started = time.perf_counter()
                assert audit_chain.verify(conn).checked == events
                direct.append(time.perf_counter() - started)
            done = threading.Event()

            def probe(done: threading.Event = done) -> None:
                with httpx.Client(base_url=base, timeout=30) as other:
                    while not done.is_set():
                        started = time.perf_counter()
                        assert other.get("/health/live").status_code == 200
                        live.append(time.perf_counter() - started)
                        time.sleep(0.02)

            prober = threading.Thread(target=probe)
            prober.start()
            started = time.perf_counter()
            answer = http.get("/audit/chain/verify", headers=token)
            api.append(time.perf_counter() - started)
            done.set()
            prober.join()
            assert answer.status_code == 200 and answer.json()["events_checked"] == events
    during = {"probes": len(live), "p50": round(statistics.median(live) * 1000, 1),
              "max": round(max(live) * 1000, 1)}
    figures = {
        "events": events, "rounds": rounds,
        "direct_seconds": [round(x, 2) for x in direct],
        "api_seconds": [round(x, 2) for x in api],
        "api_events_per_second": [round(events / x) for x in api],
        "health_live_during_ms": during}
    print(f"GET /audit/chain/verify: {events:,} events in {min(api):.1f}-{max(api):.1f} s "
          f"(audit verify alternated: {min(direct):.1f}-{max(direct):.1f} s); /health/live "
          f"meanwhile p50 {during['p50']} ms, max {during['max']} ms")
    return figures


def parser() -> argparse.ArgumentParser:
    p = bench_parser(NAME, __doc__)
    p.add_argument("--seconds", type=float, default=2.0, help="per round (default 2)")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--events", type=int, default=300_000)
    p.add_argument("--api-rounds", type=int, default=3,
                   help="GET /audit/chain/verify rounds, alternated with audit verify (0: none)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    return main_wrapper(run, parser(), argv)


if __name__ == "__main__":
    raise SystemExit(main())
