"""Every request observed: its log context, its access line, its metrics.

`ObserveRequests` is the outermost middleware of the app. It takes the correlation id (the
client's `X-Correlation-ID` or a new one), opens the request's log context (api/log_context.py)
so that every line logged while the request is handled carries it with the user and store,
answers the id in `X-Correlation-ID`, bounds the request's waits on PostgreSQL
(api/db_deadline.py), and at the end writes one access line (`servicecore.access`,
in place of uvicorn's) and records the request in the Prometheus metrics. An error no handler
answered is logged here, in the request's context, and answered 500 (503 when the database is
away) as problem+json.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from fastapi.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import log_context
from api.db_deadline import DbDeadline
from api.errors import database_unavailable_problem, internal_problem, unavailable
from api.json_bodies import JsonBodyRoute
from api.metrics import UNMATCHED, ApiMetrics
from domain.request_target import redacted_target

access_log = logging.getLogger("servicecore.access")
log = logging.getLogger(__name__)


class ObserveRequests:
    def __init__(self, app: ASGIApp, metrics: ApiMetrics,
                 db_deadline: DbDeadline | None = None) -> None:
        self.app = app
        self.metrics = metrics
        self.db_deadline = db_deadline or DbDeadline()  # the request's waits on PostgreSQL

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        entry, token = log_context.begin(
            log_context.correlation_id_from(header_value(scope, b"x-correlation-id")))
        correlation_header = (b"x-correlation-id", entry.correlation_id.encode("latin-1"))
        started = time.perf_counter()
        status: int | None = None
        sent = 0

        async def observed_send(message: Message) -> None:
            nonlocal status, sent
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", ()))
                if not any(name.lower() == b"x-correlation-id" for name, _ in headers):
                    headers.append(correlation_header)
                message = {**message, "headers": headers}
            elif message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
            await send(message)

        self.metrics.in_flight.inc()
        try:
            with self.db_deadline.request():
                await self.app(scope, receive, observed_send)
        except asyncio.CancelledError:
            status = status or 499  # the client went away before an answer
            raise
        except Exception as exc:
            if status is not None:
                log.exception("error after the answer had started")
                raise
            answer = database_unavailable_problem(exc) if unavailable(exc) else internal_problem()
            log.error("unexpected error; answered %d", answer.status_code, exc_info=exc)
            await answer(scope, receive, observed_send)
        finally:
            self.metrics.in_flight.dec()
            self._done(scope, status or 500, sent, time.perf_counter() - started)
            log_context.end(token)

    def _done(self, scope: Scope, status: int, sent: int, seconds: float) -> None:
        route = getattr(scope.get("route"), "path", None) or UNMATCHED
        method = scope["method"]
        self.metrics.observe(method, route, status, seconds)
        if not access_log.isEnabledFor(logging.INFO):
            return
        target = redacted_target(
            scope["path"], scope.get("query_string", b"").decode("latin-1"))
        client = scope.get("client")
        address = f"{client[0]}:{client[1]}" if client else "-"
        # made and handled as `access_log.info` would, less its search of the stack for the
        # caller's file and line, which the line does not show
        access_log.handle(access_log.makeRecord(
            access_log.name, logging.INFO, __file__, 0, '%s "%s %s HTTP/%s" %d %.1f ms',
            (address, method, target, scope.get("http_version", "1.1"), status,
             seconds * 1000), None, extra={
                "method": method, "path": target, "route": route, "status": status,
                "duration_ms": round(seconds * 1000, 2), "bytes": sent, "client": address}))


def header_value(scope: Scope, name: bytes) -> str | None:
    """The first value of a request header (`name` in lower case), as Starlette reads it."""
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


router = APIRouter(route_class=JsonBodyRoute)


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request,
                  accept: Annotated[str | None, Header()] = None) -> Any:
    """Prometheus metrics of this API process (no token: counts and timings by route
    template, nothing about customers; keep it inside the network, like /health)."""
    metrics: ApiMetrics = request.app.state.metrics
    health = request.app.state.ctx.health
    if health is not None:
        metrics.health.report = (await health.report())[1]
    body, content_type = metrics.exposition(accept)
    return Response(body, media_type=None, headers={"Content-Type": content_type})
