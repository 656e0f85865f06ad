"""Command throughput and latency through the HTTP API, and the same commands without HTTP.

The real app (composition root + FastAPI) runs under uvicorn in a subprocess on a free
127.0.0.1 port, started and stopped here; clients are threads with one keep-alive httpx.Client
each. The mix is the front-desk part of a visit (bench/workload.py): open, check-in, labor
line, part line, authorize, authorize - six POSTs, all in store S01 (so concurrent opens race
on the store's work-order counter, as in a real dealership). Each setting sends a fixed number
of requests (default 2,000) after a short warm-up. Then the same mix runs through the domain
service `WorkOrders` in this process (no FastAPI, no HTTP): the difference is the HTTP cost.

With --breakdown (on by default) one more single-client direct run is instrumented: where the
command time goes (aggregate loads, saves, encoding, decoding, key store) and how many SQL
statements and transactions one command costs. With --profile, cProfile of the direct path,
timed in CPU seconds of the client thread.

    python -m bench.http_commands [--server ...] [--requests 2000] [--clients 1,8]
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import os
import pstats
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import httpx
import psycopg

from api.auth import mint_token
from bench.common import (
    JWT_SECRET,
    RESULTS_DIR,
    ROOT,
    Measurement,
    PySpySampler,
    Report,
    Server,
    Timed,
    backend_pids,
    bench_parser,
    cpu_seconds,
    csv_ints,
    end_process,
    ensure_yardstick,
    latency_summary,
    main_wrapper,
    run_threads,
    system,
    temporary_database,
)
from bench.http_server import count_conflicts
from bench.workload import STEPS, STORE, VisitClient, direct_sender, http_sender

NAME = "http_commands"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ApiServer:
    """uvicorn in a subprocess of ours; stopped with SIGTERM (graceful), killed if it hangs."""

    def __init__(self, database_url: str, with_projections: bool) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        cmd = [sys.executable, "-m", "bench.http_server", "--database-url", database_url,
               "--port", str(self.port)]
        if with_projections:
            cmd.append("--with-projections")
        self.proc = subprocess.Popen(cmd, cwd=ROOT)
        self._wait_ready()

    def _wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"API server exited with {self.proc.returncode}")
            try:
                # live, not ready: a server without projections over a log they have not
                # caught up with is ready to serve commands, while /health reports the lag (503)
                if httpx.get(f"{self.base_url}/health/live", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError("API server did not become ready")

    def stats(self, reset: bool = False) -> dict[str, Any]:
        """Server-side timings (bench-only ASGI wrapper, see bench/http_server.py)."""
        if reset:
            response = httpx.post(f"{self.base_url}/__bench/reset", timeout=10.0)
        else:
            response = httpx.get(f"{self.base_url}/__bench/stats", timeout=10.0)
        return response.json()  # type: ignore[no-any-return]

    def stop(self) -> None:
        end_process(self.proc)


def step_p50s(clients: Sequence[VisitClient]) -> dict[str, float]:
    merged: dict[str, list[float]] = {}
    for client in clients:
        for step, values in client.by_step.items():
            merged.setdefault(step, []).extend(values)
    return {step: latency_summary(merged[step])["p50_ms"] for step in STEPS if step in merged}


def measure(threads: int, requests: int, warmup: int,
            make_sender: Callable[[int], Callable[..., Any]],
            after_warmup: Callable[[], Any] | None = None,
            ) -> tuple[Measurement, dict[str, float]]:
    clients: list[VisitClient] = []

    def make_op(i: int) -> Callable[[], int]:
        client = VisitClient(i, make_sender(i))
        clients.append(client)
        return client.next

    if warmup:
        run_threads(threads, lambda i: VisitClient(i + 100, make_sender(i)).next,
                    total_ops=warmup)
    if after_warmup is not None:
        after_warmup()
    m = run_threads(threads, make_op, total_ops=requests)
    return m, step_p50s(clients)


def http_settings(report: Report, args: argparse.Namespace, url: str) -> None:
    api = ApiServer(url, args.with_projections)
    token = mint_token(JWT_SECRET, "adv-01", "advisor", [STORE])
    headers = {"Authorization": f"Bearer {token}"}
    http_clients: list[httpx.Client] = []
    lock = threading.Lock()

    def make_sender(i: int) -> Callable[..., Any]:
        client = httpx.Client(base_url=api.base_url, timeout=30.0)
        with lock:
            http_clients.append(client)
        return http_sender(client, headers)

    try:
        for threads in args.clients:
            spy = PySpy(api.proc.pid, args) if args.py_spy and threads == 1 else None
            cpu = ServerCpu(api.proc.pid, url)
            m, steps = measure(threads, args.requests, args.warmup, make_sender,
                               after_warmup=lambda cpu=cpu: (api.stats(reset=True), cpu.start()))
            server_cpu, db_cpu = cpu.stop()
            inside = api.stats()
            report.add(f"HTTP POST, {threads} client{'s' if threads > 1 else ''}", m,
                       path="http", threads=threads, step_p50_ms=steps,
                       server_side=inside, conflicts_retried=inside.get("conflicts"),
                       server_cpu_seconds=round(server_cpu, 2), db_cpu_seconds=round(db_cpu, 2),
                       server_cpu_ms_per_command=round(server_cpu / m.ops * 1000, 3),
                       db_cpu_ms_per_command=round(db_cpu / m.ops * 1000, 3))
            print(f"    API server CPU {server_cpu / m.ops * 1000:.2f} ms per command, database "
                  f"{db_cpu / m.ops * 1000:.2f} ms ({server_cpu:.1f} s, {db_cpu:.1f} s)",
                  flush=True)
            print(f"    inside the server: request p50 {inside['server']['p50_ms']:.2f} ms "
                  f"(p99 {inside['server']['p99_ms']:.2f}), of which the domain-service call "
                  f"p50 {inside['service']['p50_ms']:.2f} ms; {inside['conflicts']} version "
                  "conflicts retried", flush=True)
            if spy is not None:
                report.notes["http_server_cpu_profile_1_client"] = spy.finish(m.ops)
        if args.floor:
            floor_settings(report, args, make_sender_raw(api.base_url, http_clients, lock),
                           headers)
    finally:
        for client in http_clients:
            client.close()
        api.stop()


class ServerCpu:
    """CPU seconds of the API server's process (every thread) and of the database's backends
    between `start()` and `stop()`: what the commands cost there, whatever else runs."""

    def __init__(self, pid: int, url: str) -> None:
        self.pid, self.url = pid, url
        self.backends: list[int] = []
        self.started = (0.0, 0.0)

    def start(self) -> None:
        self.backends = backend_pids(self.url)
        self.started = (cpu_seconds([self.pid]), cpu_seconds(self.backends))

    def stop(self) -> tuple[float, float]:
        return (cpu_seconds([self.pid]) - self.started[0],
                cpu_seconds(self.backends) - self.started[1])


def make_sender_raw(base_url: str, registry: list[httpx.Client],
                    lock: threading.Lock) -> Callable[[], httpx.Client]:
    def make() -> httpx.Client:
        client = httpx.Client(base_url=base_url, timeout=30.0)
        with lock:
            registry.append(client)
        return client

    return make


def floor_settings(report: Report, args: argparse.Namespace,
                   new_client: Callable[[], httpx.Client], headers: dict[str, str]) -> None:
    """What HTTP costs with (almost) nothing behind it, 1 client: the floor under a command."""
    # /health is a readiness check: once the commands above have been sent, a server without
    # projections answers 503 (they are behind) after the same SQL; either answer is the floor.
    floors: list[tuple[str, Callable[[httpx.Client], httpx.Response], set[int]]] = [
        ("HTTP floor: GET unknown path -> 404", lambda c: c.get("/bench-no-such-path"), {404}),
        ("HTTP floor: POST command, no token -> 401",
         lambda c: c.post("/work-orders/00000000-0000-0000-0000-000000000000/check-in",
                          json={"mileage_in": 1, "fuel_level": 1}), {401}),
        ("HTTP floor: GET /health (2 SQL queries) -> 200 or 503", lambda c: c.get("/health"),
         {200, 503}),
    ]
    for label, call, status in floors:
        def make_op(i: int, call: Any = call, status: set[int] = status) -> Callable[[], int]:
            client = new_client()

            def op() -> int:
                response = call(client)
                if response.status_code not in status:
                    raise RuntimeError(f"HTTP {response.status_code}, expected {status}")
                return 1

            return op

        run_threads(1, make_op, total_ops=args.warmup)
        m = run_threads(1, make_op, total_ops=args.floor_requests)
        report.add(label, m, rate_unit="requests", path="http-floor", threads=1)


HTTP_LAYER = ("fastapi/", "starlette/", "pydantic", "jwt/", "api/", "h11", "json/",
              "anyio/", "uvicorn/")


class PySpy:
    """Optional: py-spy (--gil: only samples holding the GIL = CPU) on the API server."""

    CATEGORIES = (
        ("psycopg socket I/O", lambda frames, s: "_communicate_gen" in frames[-1]),
        ("command: domain + eventsourcing + psycopg + key store",
         lambda frames, s: any(k in s for k in ("eventsourcing/", "domain/", "psycopg",
                                                 "keystore", "servicecore/"))),
        ("FastAPI + Starlette + pydantic (routing, deps, validation, JSON)",
         lambda frames, s: any(k in s for k in ("fastapi", "starlette", "pydantic", "jwt/",
                                                 "api/"))),
        ("uvicorn + h11 (HTTP parsing)", lambda frames, s: "h11" in s or "uvicorn/" in s
         and "protocols" in s),
        ("threadpool hand-off (anyio, threading, queue)",
         lambda frames, s: any(k in s for k in ("anyio", "threading.py", "queue.py"))),
        ("asyncio event loop", lambda frames, s: "asyncio" in s),
    )

    def __init__(self, pid: int, args: argparse.Namespace) -> None:
        self.spy = PySpySampler(args.py_spy, pid)

    def finish(self, requests: int) -> dict[str, Any]:
        stacks, seconds = self.spy.stop()
        categories: dict[str, int] = {}
        functions: dict[str, int] = {}
        total = 0
        for frames, n in stacks:
            total += n
            joined = ";".join(frames)
            name = next((label for label, test in self.CATEGORIES if test(frames, joined)),
                        "other")
            categories[name] = categories.get(name, 0) + n
            for frame in set(frames[1:]):
                functions[frame] = functions.get(frame, 0) + n
        if not total:
            return {"error": "py-spy recorded nothing (ptrace not permitted?)"}
        gil_seconds = total / self.spy.RATE
        ranked = sorted(functions.items(), key=lambda kv: -kv[1])
        http_layer = dict([(k, round(v / total, 3)) for k, v in ranked
                           if any(m in k for m in HTTP_LAYER)][:40])
        summary = {
            "what": "py-spy --gil samples in the API server during the 1-client HTTP run",
            "gil_held_share_of_wall": round(gil_seconds / seconds, 3),
            "gil_ms_per_request": round(gil_seconds / requests * 1000, 3) if requests else None,
            "categories": {k: round(v / total, 3) for k, v in
                           sorted(categories.items(), key=lambda kv: -kv[1])},
            "top_inclusive": {k: round(v / total, 3) for k, v in
                              sorted(functions.items(), key=lambda kv: -kv[1])[:40]},
            "top_http_layer": http_layer,
        }
        print(f"\nAPI server CPU (py-spy --gil, 1 client): GIL held "
              f"{summary['gil_held_share_of_wall'] * 100:.0f} % of wall time, "
              f"~{summary['gil_ms_per_request']} ms per request")
        for name, share in summary["categories"].items():
            print(f"  {share * 100:5.1f} %  {name}")
        return summary


def merge(parts: Sequence[Measurement]) -> Measurement:
    return Measurement(
        ops=sum(p.ops for p in parts), units=sum(p.units for p in parts),
        seconds=sum(p.seconds for p in parts),
        latencies=[x for p in parts for x in p.latencies],
        errors=sum(p.errors for p in parts),
        error_samples=[e for p in parts for e in p.error_samples][:5])


def direct_settings(report: Report, args: argparse.Namespace,
                    variants: Sequence[tuple[str, str, Any]], url: str) -> None:
    """Each (label, path, container) variant, interleaved in rounds so that a change in the
    machine's load hits all variants alike (other work on a 2-core machine is common)."""
    counts = [count_conflicts(container.app) for _, _, container in variants]
    for threads in args.clients:
        per_round = max(1, args.requests // args.rounds)
        parts: list[list[Measurement]] = [[] for _ in variants]
        clients: list[list[VisitClient]] = [[] for _ in variants]
        before = [dict(c) for c in counts]
        for index, (_, _, container) in enumerate(variants):
            run_threads(threads, lambda i, c=container: VisitClient(
                i + 100, direct_sender(c.work_orders)).next, total_ops=args.warmup)
            clients[index] = [VisitClient(i + 200 * index, direct_sender(container.work_orders))
                              for i in range(threads)]
        # CPU of this process (the clients and the service) and of the database's backends,
        # round by round: what a command costs whatever else the machine is doing
        cpu = [[0.0, 0.0] for _ in variants]
        backends = backend_pids(url)
        for _ in range(args.rounds):
            for index, _variant in enumerate(variants):
                mine = clients[index]
                start = (time.process_time(), cpu_seconds(backends))
                parts[index].append(run_threads(threads, lambda i, mine=mine: mine[i].next,
                                                total_ops=per_round))
                cpu[index][0] += time.process_time() - start[0]
                cpu[index][1] += cpu_seconds(backends) - start[1]
        for index, (label, path, _) in enumerate(variants):
            measurement = merge(parts[index])
            client_cpu, db_cpu = cpu[index]
            per_cpu = measurement.ops / (client_cpu + db_cpu) if client_cpu + db_cpu else None
            report.add(f"{label}, {threads} thread{'s' if threads > 1 else ''}",
                       measurement, path=path, threads=threads,
                       step_p50_ms=step_p50s(clients[index]), rounds=args.rounds,
                       conflicts_retried=counts[index]["conflicts"] - before[index]["conflicts"],
                       client_cpu_seconds=round(client_cpu, 2), db_cpu_seconds=round(db_cpu, 2),
                       commands_per_cpu_second=round(per_cpu, 1) if per_cpu else None)
            if per_cpu:
                print(f"    {per_cpu:,.0f} commands per CPU-second, client and database "
                      f"({client_cpu:.1f} s in this process, {db_cpu:.1f} s database): "
                      f"{os.cpu_count()} cores at most {per_cpu * (os.cpu_count() or 1):,.0f}/s",
                      flush=True)


WHAT_IF_ENV = {"AGGREGATE_CACHE_MAXSIZE": "10000"}


@contextlib.contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """eventsourcing reads os.environ under the explicit env: a configuration what-if."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value




def breakdown(args: argparse.Namespace, container: Any, url: str) -> dict[str, Any]:
    """Single client, direct path, instrumented: where one command's time goes."""
    app = container.app
    keys = app.personal_data.keys
    timers = {
        "app.save (whole save incl. encode + insert)": Timed(app, "save"),
        "recorder.insert_events (DB: lock table, notify, insert, commit)":
            Timed(app.recorder, "insert_events"),
        "mapper.to_stored_event (encode: JSON + topic)": Timed(app.mapper, "to_stored_event"),
        "repository.get (load aggregates incl. decode)": Timed(app.repository, "get"),
        "recorder.select_events (DB: the aggregate's events)": Timed(app.recorder, "select_events"),
        "mapper.to_domain_event (decode: JSON + reconstruct)": Timed(app.mapper, "to_domain_event"),
        "key store get_key (PII keys, own pool)": Timed(keys, "get_key"),
        "key store create_key": Timed(keys, "create_key"),
    }
    if app.snapshots is not None:
        timers["snapshot recorder.select_events (DB: snapshot lookup)"] = Timed(
            app.snapshots.recorder, "select_events")
        timers["snapshot recorder.insert_events (DB: take snapshot)"] = Timed(
            app.snapshots.recorder, "insert_events")
    datastores = {id(app.recorder.datastore): app.recorder.datastore}
    if app.snapshots is not None:
        datastores[id(app.snapshots.recorder.datastore)] = app.snapshots.recorder.datastore
    checkouts = [Timed(ds, "get_connection") for ds in datastores.values()]
    checkouts.append(Timed(container.pool, "connection"))
    statements = {"n": 0}
    original_execute = psycopg.Cursor.execute

    def counting_execute(self: Any, *a: Any, **k: Any) -> Any:
        statements["n"] += 1
        return original_execute(self, *a, **k)

    visits = args.breakdown_visits
    client = VisitClient(999, direct_sender(container.work_orders))
    psycopg.Cursor.execute = counting_execute  # type: ignore[method-assign]
    started = time.perf_counter()
    try:
        for _ in range(visits * len(STEPS)):
            client.next()
    finally:
        wall = time.perf_counter() - started
        psycopg.Cursor.execute = original_execute  # type: ignore[method-assign]
        for timer in [*timers.values(), *checkouts]:
            timer.restore()
    commands = visits * len(STEPS)
    result: dict[str, Any] = {
        "commands": commands, "seconds": round(wall, 3),
        "ms_per_command": round(wall / commands * 1000, 3),
        "sql_statements_per_command": round(statements["n"] / commands, 2),
        "connection_checkouts_per_command": round(
            sum(t.calls for t in checkouts) / commands, 2),
        "step_p50_ms": step_p50s([client]),
        "parts": {},
    }
    for label, timer in timers.items():
        result["parts"][label] = {
            "calls_per_command": round(timer.calls / commands, 2),
            "ms_per_command": round(timer.seconds / commands * 1000, 3),
            "share_of_command_time": round(timer.seconds / wall, 3),
        }
    print(f"\nwhere a direct command's time goes ({commands} commands, 1 client, "
          f"{result['ms_per_command']:.2f} ms each, {result['sql_statements_per_command']} SQL "
          f"statements and {result['connection_checkouts_per_command']} pool checkouts "
          "per command):")
    for label, part in result["parts"].items():
        print(f"  {label:<66} {part['calls_per_command']:>5.2f} calls "
              f"{part['ms_per_command']:>7.3f} ms {part['share_of_command_time'] * 100:>5.1f} %")
    print("  (nested: save includes encode + insert; get includes select + decode)")
    return result


def profile_direct(args: argparse.Namespace, container: Any, kind: str) -> None:
    client = VisitClient(777, direct_sender(container.work_orders))
    # timed in CPU seconds of this thread: waits on the database and other work on a shared
    # machine do not count (the timer's own cost inflates functions called very often)
    profile = cProfile.Profile(time.thread_time)
    profile.enable()
    for _ in range(args.profile_visits * len(STEPS)):
        client.next()
    profile.disable()
    text = io.StringIO()
    stats = pstats.Stats(profile, stream=text)
    stats.sort_stats("cumulative").print_stats(60)
    stats.sort_stats("tottime").print_stats(40)
    if args.no_save:
        print(text.getvalue())
        return
    path = RESULTS_DIR / f"{NAME}-{kind}.profile.txt"
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path.write_text(text.getvalue())
    print(f"cProfile of {args.profile_visits} direct visits: {path.relative_to(ROOT)}")


def run(args: argparse.Namespace, server: Server, yardstick: dict[str, Any] | None) -> Report:
    yardstick = ensure_yardstick(server, args, yardstick)
    report = Report(NAME, server, args, yardstick, rate_unit="commands")
    report.notes["mix"] = ("visit = open, check-in, labor line, part line, authorize x2 "
                           "(6 commands, one store); one op = one command")
    report.notes["http_server"] = ("uvicorn 1 process in a subprocess, access log off; "
                                   "projection runners " +
                                   ("running in the API process" if args.with_projections
                                    else "not running"))
    with temporary_database(server, "cmd") as url:
        if "http" in args.paths:
            http_settings(report, args, url)
        if "direct" in args.paths or args.breakdown or args.profile:
            with contextlib.ExitStack() as stack:
                container = stack.enter_context(system(url))
                variants = [("direct WorkOrders service", "direct", container)]
                if args.what_if:
                    with environment(WHAT_IF_ENV):  # read when the Application is built
                        cached = stack.enter_context(system(url))
                    variants.append(("what-if: direct + aggregate cache", "direct-cache", cached))
                    report.notes["what_if"] = (
                        "direct path with eventsourcing's aggregate cache on (env "
                        f"{WHAT_IF_ENV}; fast-forward on: a load asks only for events newer "
                        "than the cached version - no snapshot lookup, no replay); configuration "
                        "only, run interleaved with the plain direct path")
                if "direct" in args.paths:
                    direct_settings(report, args, variants, url)
                if args.breakdown:
                    report.notes["direct_breakdown"] = breakdown(args, container, url)
                if args.profile:
                    profile_direct(args, container, server.kind)
    report.save()
    return report


def parser() -> argparse.ArgumentParser:
    p = bench_parser(NAME, __doc__)
    p.add_argument("--requests", type=int, default=2000,
                   help="commands measured per setting (default 2000)")
    p.add_argument("--warmup", type=int, default=60, help="unmeasured commands first (60)")
    p.add_argument("--clients", type=csv_ints, default=[1, 8],
                   help="concurrent clients, comma-separated (default 1,8)")
    p.add_argument("--paths", type=lambda s: s.split(","), default=["http", "direct"],
                   help="http,direct (default both)")
    p.add_argument("--with-projections", action="store_true",
                   help="run the projection runners inside the API process, as the embedded "
                        "default does (default: off, commands only)")
    p.add_argument("--no-floor", dest="floor", action="store_false",
                   help="skip the HTTP floor rows (404, 401, /health with 1 client)")
    p.add_argument("--floor-requests", type=int, default=1000)
    p.add_argument("--py-spy", default=os.environ.get("PY_SPY") or shutil.which("py-spy"),
                   help="path of a py-spy binary to sample the API server's CPU during the "
                        "1-client HTTP run (default: $PY_SPY or py-spy on PATH; '' = off)")
    p.add_argument("--no-what-if", dest="what_if", action="store_false",
                   help="skip the direct run with the aggregate cache on")
    p.add_argument("--rounds", type=int, default=4,
                   help="direct variants run interleaved in this many rounds (default 4)")
    p.add_argument("--no-breakdown", dest="breakdown", action="store_false",
                   help="skip the instrumented single-client run")
    p.add_argument("--breakdown-visits", type=int, default=50)
    p.add_argument("--profile", action="store_true", help="cProfile the direct path")
    p.add_argument("--profile-visits", type=int, default=50)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    return main_wrapper(run, parser(), argv)


if __name__ == "__main__":
    raise SystemExit(main())
