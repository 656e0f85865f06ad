"""What one read costs the API process in CPU, measured in one process without a server.

    .venv/bin/python -m bench.read_cpu [--requests 2000] [--rounds 5] [--profile N]

The real app (`api.main.create_app` on the composition root, its lifespan run: the asyncio
read pool and the positions listener as `serve` has them, the access log written as JSON to
/dev/null) is called through ASGI directly, as uvicorn calls it, on a fresh database holding a
few stock items and front-desk visits: `GET /stock/{store}/{part}`, the same with
`?wait_for=` a position already reached, `GET /work-orders/{id}` and `GET /health`. The
requests take turns, round after round; each round's figure is the CPU time of this process
per request (`time.process_time`: on a shared, busy machine wall time mostly measures the
neighbours), and the median round is reported with the spread. Beside it, counted in a round
of their own: Python function calls per request (cProfile), SQL statements sent per request
(every psycopg cursor's `execute`, whichever thread) and connections drawn from the read
pool. `--profile N` prints the N costliest functions of each request (own time, cProfile).

uvicorn's own work (parsing the request, writing the answer) is not in these figures:
bench/http_reads.py measures the served process whole, in requests per API CPU-second.
Writes bench/results/read_cpu-<server-kind>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import logging
import os
import pstats
import statistics
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from api.auth import mint_token
from api.main import create_app
from bench.common import (
    JWT_SECRET,
    RESULTS_DIR,
    Server,
    _git,
    bench_parser,
    machine_info,
    main_wrapper,
    package_versions,
    stderr,
    system,
    temporary_database,
)
from bench.http_reads import build_dataset
from bench.workload import STORE
from servicecore import logs

NAME = "read_cpu"
Call = Callable[[], Awaitable[tuple[int, bytes]]]


class Counted:
    """Counts the calls of `owner.attribute` (from any thread) until `restore()`."""

    def __init__(self, owner: Any, attribute: str) -> None:
        self.owner, self.attribute = owner, attribute
        self.original = getattr(owner, attribute)
        self.calls = 0
        self.lock = threading.Lock()
        original, counted = self.original, self

        if asyncio.iscoroutinefunction(original):
            async def wrapper(*args: Any, **kwargs: Any) -> Any:
                counted.calls += 1
                return await original(*args, **kwargs)
        else:
            def wrapper(*args: Any, **kwargs: Any) -> Any:  # type: ignore[misc]
                with counted.lock:
                    counted.calls += 1
                return original(*args, **kwargs)
        setattr(owner, attribute, wrapper)

    def restore(self) -> None:
        setattr(self.owner, self.attribute, self.original)


class Asgi:
    """Requests to the app as uvicorn makes them (keep-alive HTTP/1.1, a client address)."""

    def __init__(self, app: Any, token: str) -> None:
        self.app = app
        self.headers = [(b"host", b"bench"), (b"user-agent", b"bench-read-cpu"),
                        (b"accept", b"*/*"), (b"authorization", f"Bearer {token}".encode())]

    async def get(self, path: str, query: bytes = b"") -> tuple[int, bytes]:
        status, body = 0, bytearray()

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                body.extend(message.get("body", b""))

        scope = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"},
                 "http_version": "1.1", "method": "GET", "scheme": "http", "path": path,
                 "raw_path": path.encode(), "query_string": query, "root_path": "",
                 "headers": list(self.headers), "client": ("127.0.0.1", 50000),
                 "server": ("127.0.0.1", 8000), "state": {}}
        await self.app(scope, receive, send)
        return status, bytes(body)


def requests(client: Asgi, parts: Sequence[str], work_orders: Sequence[str],
             reached: int) -> dict[str, Call]:
    """One call per kind of request, each taking the next item in turn."""
    turn = {"n": 0}

    def nth(items: Sequence[str]) -> str:
        turn["n"] += 1
        return items[turn["n"] % len(items)]

    return {
        "GET /stock/{store}/{part}": lambda: client.get(f"/stock/{STORE}/{nth(parts)}"),
        "GET /stock/{store}/{part}?wait_for=<reached>": lambda: client.get(
            f"/stock/{STORE}/{nth(parts)}", f"wait_for={reached}".encode()),
        "GET /work-orders/{id}": lambda: client.get(f"/work-orders/{nth(work_orders)}"),
        "GET /health": lambda: client.get("/health"),
    }


async def per_request(call: Call, n: int) -> float:
    """CPU seconds of this process per request, over `n` requests (each must answer 200)."""
    cpu = time.process_time()
    for _ in range(n):
        status, body = await call()
        if status != 200:
            raise RuntimeError(f"answered {status}: {body[:300]!r}")
    return (time.process_time() - cpu) / n


async def counts(call: Call, n: int, top: int) -> dict[str, Any]:
    """Function calls, SQL statements and read-pool checkouts per request; the top costs."""
    executes = [Counted(psycopg.Cursor, "execute"), Counted(psycopg.AsyncCursor, "execute")]
    checkouts = Counted(AsyncConnectionPool, "getconn")
    profile = cProfile.Profile(time.thread_time)  # this thread's CPU: no waits counted
    try:
        profile.enable()
        for _ in range(n):
            await call()
        profile.disable()
    finally:
        for counted in (*executes, checkouts):
            counted.restore()
    stats = pstats.Stats(profile)
    found: dict[str, Any] = {
        "function_calls_per_request": round(stats.total_calls / n, 1),  # type: ignore[attr-defined]
        "sql_statements_per_request": round(sum(c.calls for c in executes) / n, 2),
        "read_pool_checkouts_per_request": round(checkouts.calls / n, 2)}
    if top:
        out = io.StringIO()
        shown = pstats.Stats(profile, stream=out)
        shown.sort_stats("tottime").print_stats(top)
        shown.sort_stats("cumulative").print_stats(top)
        found["profile"] = out.getvalue()
    return found


async def measure(url: str, args: argparse.Namespace) -> dict[str, Any]:
    data = build_dataset(url, args.parts, args.visits)
    with system(url) as container:
        container.start_projections()  # as `serve` runs them (idle once caught up)
        app = create_app(container.api_context())
        lifespan: AbstractAsyncContextManager[Any] = app.router.lifespan_context(app)
        async with lifespan:
            manager = mint_token(JWT_SECRET, "mgr-01", "manager", [STORE])
            client = Asgi(app, manager)
            reached = await caught_up(client)
            calls = requests(client, data.parts, data.work_orders, reached)
            for call in calls.values():  # warm-up: the middleware stack, pools, caches
                await per_request(call, 200)
            rounds: dict[str, list[float]] = {name: [] for name in calls}
            for r in range(args.rounds):
                for name, call in calls.items():
                    rounds[name].append(await per_request(call, args.requests))
                stderr(f"round {r + 1}/{args.rounds} done")
            figures = {}
            for name, call in calls.items():
                taken = rounds[name]
                figures[name] = {
                    "cpu_us_per_request_median": round(statistics.median(taken) * 1e6, 1),
                    "cpu_us_per_request_min": round(min(taken) * 1e6, 1),
                    "cpu_us_per_request_max": round(max(taken) * 1e6, 1),
                    **await counts(call, min(args.requests, 500), args.profile)}
            return figures


async def caught_up(client: Asgi) -> int:
    """The lowest projection position once every projection has applied the whole log."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        status, body = await client.get("/health")
        projections = json.loads(body).get("projections", {})
        if status == 200 and all(p["lag"] == 0 for p in projections.values()):
            return int(min(p["position"] for p in projections.values()))
        await asyncio.sleep(0.3)
    raise RuntimeError("the projections did not catch up within 120 s")


def run(args: argparse.Namespace, server: Server, yardstick: dict[str, Any] | None) -> None:
    with open(os.devnull, "w") as sink:
        logs.configure("json", "api", "INFO", stream=sink)  # the access line, as `serve`
        try:
            with temporary_database(server, NAME) as url:
                figures = asyncio.run(measure(url, args))
        finally:
            logging.getLogger().handlers.clear()
    result = {"benchmark": NAME, "server_kind": server.kind,
              "figures": {name: {k: v for k, v in f.items() if k != "profile"}
                          for name, f in figures.items()},
              "conditions": {"requests_per_round": args.requests, "rounds": args.rounds,
                             "machine": machine_info(), "packages": package_versions(),
                             "git": _git(), "transport": "direct ASGI calls, no server"}}
    if not args.no_save:
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        path = RESULTS_DIR / f"{NAME}-{server.kind}.json"
        path.write_text(json.dumps(result, indent=2) + "\n")
    for name, figure in figures.items():
        print(f"{name:46} {figure['cpu_us_per_request_median']:7.1f} CPU µs/request "
              f"(rounds {figure['cpu_us_per_request_min']}-{figure['cpu_us_per_request_max']}); "
              f"{figure['function_calls_per_request']:,.0f} calls, "
              f"{figure['sql_statements_per_request']:g} SQL, "
              f"{figure['read_pool_checkouts_per_request']:g} checkouts per request")
        if "profile" in figure:
            print(figure["profile"])


def parser() -> argparse.ArgumentParser:
    p = bench_parser(NAME, __doc__)
    p.add_argument("--requests", type=int, default=2000, help="requests per kind per round")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--parts", type=int, default=20)
    p.add_argument("--visits", type=int, default=20)
    p.add_argument("--profile", type=int, default=0, metavar="N",
                   help="print the N costliest functions of each request (cProfile)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    return main_wrapper(run, parser(), argv)


if __name__ == "__main__":
    raise SystemExit(main())
