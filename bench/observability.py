"""What observing a request costs: the API's outermost middleware (log context, correlation
id, access line, Prometheus metrics), timed in one process without a server or a database.

    .venv/bin/python -m bench.observability [--requests 5000] [--rounds 7]

A one-route FastAPI app is called through ASGI directly, as uvicorn would call it: bare, then
wrapped in `api.observe.ObserveRequests` with the access line filtered out (metrics and context
only), written as JSON, and written as text (both to /dev/null). The variants take turns,
round after round; each round's figure is the mean CPU time of this process per request
(process_time: on a shared, busy machine wall time mostly measures the neighbours; wall time
is kept beside it), and the median round is reported with the spread. Writes
bench/results/observability.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import statistics
import time
from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp, Message

from api.metrics import ApiMetrics
from api.observe import ObserveRequests
from bench.common import RESULTS_DIR, _git, machine_info, package_versions, stderr
from servicecore import logs

VARIANTS = ("bare", "observed, access line off", "observed, JSON line", "observed, text line")


def make_app(observed: bool) -> ASGIApp:
    app = FastAPI()

    @app.get("/work-orders/{work_order_id}")
    async def read(work_order_id: str) -> dict[str, str]:
        return {"id": work_order_id}

    if observed:
        app.add_middleware(ObserveRequests, metrics=ApiMetrics())
    return app


async def per_request(app: ASGIApp, requests: int) -> tuple[float, float]:
    """Mean CPU seconds and wall seconds per request over `requests` ASGI calls."""

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        return None

    started, cpu = time.perf_counter(), time.process_time()
    for n in range(requests):
        scope: dict[str, Any] = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
            "scheme": "http", "path": f"/work-orders/{n}", "raw_path": b"", "query_string": b"",
            "root_path": "", "headers": [(b"host", b"bench"), (b"x-correlation-id", b"bench")],
            "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000)}
        await app(scope, receive, send)
    return ((time.process_time() - cpu) / requests,
            (time.perf_counter() - started) / requests)


def configure(variant: str, sink: Any) -> None:
    fmt = "text" if "text" in variant else "json"
    logs.configure(fmt, "api", "WARNING" if "off" in variant or variant == "bare" else "INFO",
                   stream=sink)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    apps = {v: make_app(v != "bare") for v in VARIANTS}
    rounds: dict[str, list[float]] = {v: [] for v in VARIANTS}
    walls: dict[str, list[float]] = {v: [] for v in VARIANTS}
    with open(os.devnull, "w") as sink:
        for variant in VARIANTS:  # warm-up
            configure(variant, sink)
            asyncio.run(per_request(apps[variant], 500))
        for r in range(args.rounds):
            for variant in VARIANTS:
                configure(variant, sink)
                cpu, wall = asyncio.run(per_request(apps[variant], args.requests))
                rounds[variant].append(cpu)
                walls[variant].append(wall)
            stderr(f"round {r + 1}/{args.rounds} done")
    logging.getLogger().handlers.clear()

    bare = statistics.median(rounds["bare"])
    figures = {v: {"cpu_us_per_request_median": round(statistics.median(t) * 1e6, 1),
                   "cpu_us_per_request_min": round(min(t) * 1e6, 1),
                   "cpu_us_per_request_max": round(max(t) * 1e6, 1),
                   "cpu_us_added_to_bare": round((statistics.median(t) - bare) * 1e6, 1),
                   "wall_us_per_request_median": round(statistics.median(walls[v]) * 1e6, 1)}
               for v, t in rounds.items()}
    result = {"benchmark": "observability", "figures": figures,
              "conditions": {"requests_per_round": args.requests, "rounds": args.rounds,
                             "machine": machine_info(), "packages": package_versions(),
                             "git": _git(), "transport": "direct ASGI calls, no server"}}
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / "observability.json").write_text(json.dumps(result, indent=2) + "\n")
    for variant, figure in figures.items():
        print(f"{variant:28} {figure['cpu_us_per_request_median']:7.1f} CPU µs/request "
              f"(+{figure['cpu_us_added_to_bare']:.1f}; rounds "
              f"{figure['cpu_us_per_request_min']}-{figure['cpu_us_per_request_max']}; wall "
              f"{figure['wall_us_per_request_median']} µs)")


if __name__ == "__main__":
    main()
