"""The FastAPI application, built around an ApiContext from the composition root."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI

from api import errors, openapi
from api.context import ApiContext
from api.deps import known_query_only
from api.middleware import BodyLimit
from api.reads import read_pool
from api.routes import (
    aftercare,
    analytics,
    appointments,
    audit_exports,
    audit_trail,
    customers,
    dispatch,
    finance,
    health,
    parts,
    progress,
    purchase_orders,
    reminders,
    settlements,
    stock,
    technicians,
    vehicles,
    work_orders,
)


def create_app(ctx: ApiContext, on_shutdown: Callable[[], None] | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        """The asyncio pool of the single-item reads lives as long as the served app."""
        pool = read_pool(ctx)
        if pool is not None:
            await pool.open()
        if ctx.positions is not None:
            ctx.positions.start()  # listening before the first ?wait_for= needs it
        app.state.read_pool = pool
        try:
            yield
        finally:
            app.state.read_pool = None
            if pool is not None:
                await pool.close()
            if on_shutdown is not None:
                on_shutdown()

    app = FastAPI(
        lifespan=lifespan,
        title="servicecore",
        description="Event-sourced after-sales core of a car dealership. Errors are "
        "application/problem+json; commands accept Idempotency-Key and If-Match.",
        version="0.1.0",
        dependencies=[Depends(known_query_only)],
    )
    app.state.ctx = ctx
    errors.install(app)
    openapi.install(app)
    app.add_middleware(BodyLimit, max_bytes=ctx.max_body_bytes)
    app.include_router(health.router)
    app.include_router(work_orders.router)
    app.include_router(customers.router)
    app.include_router(parts.router)
    app.include_router(stock.router)
    app.include_router(stock.alerts_router)
    app.include_router(purchase_orders.router)
    app.include_router(settlements.router)
    app.include_router(finance.router)
    app.include_router(aftercare.router)
    app.include_router(analytics.router)
    app.include_router(vehicles.router)
    app.include_router(reminders.router)
    app.include_router(appointments.router)
    app.include_router(technicians.router)
    app.include_router(dispatch.router)
    app.include_router(audit_trail.router)
    app.include_router(audit_exports.router)
    app.include_router(progress.links_router)
    app.include_router(progress.router)
    return app
