"""/health/live, /health/ready and /health: for load balancers, orchestrators and operators.

`live`: the process answers (503 only when an in-process loop ended for good). `ready`: 503
while the database does not answer, an in-process loop is down, a projection lags more than
SERVICECORE_READY_MAX_LAG events or has stood still with events to apply for
SERVICECORE_READY_MAX_STALL_SECONDS. `/health`: the same status as `ready`, with the details,
and 503 `degraded` while the Kafka relay (where KAFKA_BOOTSTRAP_SERVERS is set) has published
nothing for SERVICECORE_RELAY_MAX_STALL_SECONDS with events to publish: the process stays ready,
since commands never wait for Kafka, but the relay's silence is seen where the API is watched.
All three answer within a second, database or not (api/health_check.py).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import Ctx
from api.health_check import HealthCheck
from api.json_bodies import JsonBodyRoute

router = APIRouter(tags=["health"], route_class=JsonBodyRoute)


def _check(ctx: Ctx) -> HealthCheck:
    if ctx.health is None:
        raise RuntimeError("the API context was built without a health check")
    return ctx.health


@router.get("/health/live")
async def live(ctx: Ctx) -> Any:
    status, body = _check(ctx).live()
    return JSONResponse(body, status_code=status)


@router.get("/health/ready")
async def ready(ctx: Ctx) -> Any:
    status, body = await _check(ctx).ready()
    return JSONResponse(body, status_code=status)


@router.get("/health")
async def health(ctx: Ctx) -> Any:
    status, body = await _check(ctx).report()
    return JSONResponse(body, status_code=status)
