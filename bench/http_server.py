"""The real API (servicecore.container.build + api.main.create_app) under uvicorn, for the
command benchmark. Started and stopped by bench.http_commands; not meant to be run by hand.

    python -m bench.http_server --database-url URL --port PORT [--with-projections]

Uvicorn runs one process with its default settings, except that the access log is off
(one log line per request would be measured too). The app is wrapped, in this process only, by
a thin ASGI layer that times each request inside the server, each domain-service call and each
read-model query function the stock and parts routes call, and
answers two bench-only paths: GET /__bench/stats (timings, saves, retried version conflicts)
and POST /__bench/reset.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import json
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from bench.common import latency_summary, quiet_logging, system

SERVICE_METHODS = ("open", "check_in", "add_labor_line", "add_part_line", "authorize_line",
                   "diagnose", "dispatch", "clock_on", "clock_off", "complete_job",
                   "quality_check", "cancel", "add_job", "reprice_line", "issue_part",
                   "return_part", "reserve_line")
# read-model query functions as the route modules imported them (timed as "query")
QUERY_FUNCTIONS = {"api.routes.stock": ("get_stock", "list_stock", "list_movements", "valuation"),
                   "api.routes.parts": ("search_parts", "get_part")}


def count_conflicts(app: Any) -> dict[str, int]:
    """Wrap app.save to count the IntegrityErrors (version conflicts) the service retried."""
    from eventsourcing.persistence import IntegrityError

    counts = {"saves": 0, "conflicts": 0}
    lock = threading.Lock()
    save = app.save

    def counting_save(*args: Any, **kwargs: Any) -> Any:
        try:
            result = save(*args, **kwargs)
        except IntegrityError:
            with lock:
                counts["conflicts"] += 1
            raise
        with lock:
            counts["saves"] += 1
        return result

    app.save = counting_save
    return counts


class Instrumented:
    """ASGI wrapper: server-side time per request and per domain-service call."""

    def __init__(self, app: Any, work_orders: Any, counts: dict[str, int]) -> None:
        self.app = app
        self.counts = counts
        self.server: list[float] = []
        self.service: list[float] = []
        self.query: list[float] = []
        for name in SERVICE_METHODS:
            method = getattr(work_orders, name, None)
            if method is not None:
                setattr(work_orders, name, self._timed(method, self.service))
        for module_name, names in QUERY_FUNCTIONS.items():
            module = importlib.import_module(module_name)
            for name in names:
                if hasattr(module, name):
                    setattr(module, name, self._timed(getattr(module, name), self.query))

    @staticmethod
    def _timed(method: Callable[..., Any], into: list[float]) -> Callable[..., Any]:
        @functools.wraps(method)
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                into.append(time.perf_counter() - started)

        return timed

    def stats(self) -> dict[str, Any]:
        return {"requests": len(self.server), "server": latency_summary(self.server),
                "service_calls": len(self.service), "service": latency_summary(self.service),
                "query_calls": len(self.query), "query": latency_summary(self.query),
                **self.counts}

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"].startswith("/__bench/"):
            if scope["path"] == "/__bench/reset":
                self.server.clear()
                self.service.clear()
                self.query.clear()
                self.counts.update(saves=0, conflicts=0)
            body = json.dumps(self.stats()).encode()
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"application/json")]})
            await send({"type": "http.response.body", "body": body})
            return
        started = time.perf_counter()
        await self.app(scope, receive, send)
        self.server.append(time.perf_counter() - started)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.http_server", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--database-url", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--with-projections", action="store_true")
    args = p.parse_args(argv)
    quiet_logging()

    import uvicorn

    from api.main import create_app

    with system(args.database_url) as container:
        counts = count_conflicts(container.app)
        if args.with_projections:
            container.start_projections()
        ctx = container.api_context()
        app = Instrumented(create_app(ctx), ctx.work_orders, counts)
        config = uvicorn.Config(app, host="127.0.0.1", port=args.port, log_level="warning",
                                access_log=False)
        uvicorn.Server(config).run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
