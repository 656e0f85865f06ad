"""The FastAPI application, built around an ApiContext from the composition root."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI

from api import docs, errors, observe, openapi
from api.booleans import lax_boolean_fields
from api.context import ApiContext
from api.deps import known_query_only
from api.hot_reads import HotReads
from api.json_bodies import JsonBodyRoute, api_routes, takes_json
from api.metrics import ApiMetrics
from api.middleware import BodyLimit
from api.reads import read_pool
from api.replays import refuse_unreplayed
from api.routes import (
    aftercare,
    analytics,
    appointments,
    audit_chain,
    audit_exports,
    audit_trail,
    campaigns,
    comebacks,
    commands,
    customers,
    day_end,
    dispatch,
    failed_parts,
    finance,
    grievances,
    health,
    insurers,
    labor_operations,
    lost_sales,
    month_end,
    oem_claims,
    on_account,
    online_bookings,
    parts,
    parts_desk,
    progress,
    progress_history,
    purchase_orders,
    reminders,
    repair_filings,
    settlements,
    stock,
    technicians,
    transfer_suggestions,
    trial_balance,
    vehicles,
    work_orders,
    write_offs,
)
from api.timestamps import UtcTimestamps

DESCRIPTION = """Event-sourced after-sales core of a car dealership (a 4S store's service
department): work orders, parts and stock, settlement and payments, customers and vehicles,
appointments, dispatch, and the audit trail.

**Sign in**: press *Authorize* and paste a bearer token (a JWT with `sub`, `role` and
`stores`). `make run` prints a manager's; mint others with
`servicecore token --user adv-li --role advisor --stores S01`. What each role may do is in
`api/auth.py`; every read and command is limited to the token's stores.

**Errors** are `application/problem+json` (RFC 9457): each operation lists the ones it can
answer. `type` names the kind of problem for programs, `title` the same for people (one title
per type), `detail` what happened; a domain refusal names its class in `code`. **Commands** answer `{id, version, notification_id, …}` with an `ETag`; send
`Idempotency-Key` to retry safely and `If-Match` to refuse a change made meanwhile (412).
Pass a command's `notification_id` as `?wait_for=` on a GET to read your own write.
"""


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
        description=DESCRIPTION,
        version="0.1.0",
        dependencies=[Depends(known_query_only)],
        docs_url=None,  # served by api/docs.py from the package's own assets
        redoc_url=None,
    )
    app.state.ctx = ctx
    errors.install(app)
    openapi.install(app)
    app.state.metrics = ApiMetrics(getattr(ctx.app.snapshots, "refused", None))
    docs.install(app)
    app.add_middleware(HotReads, api=app)  # inside the body limit and the observation
    app.add_middleware(UtcTimestamps)  # every JSON answer's timestamps, hot reads' too
    app.add_middleware(BodyLimit, max_bytes=ctx.max_body_bytes)
    app.add_middleware(observe.ObserveRequests, metrics=app.state.metrics,  # the outermost
                       db_deadline=ctx.db_deadline)
    app.include_router(stock.item_router)  # the most frequent reads first: routes are tried
    app.include_router(work_orders.router)  # in order (no path of one shadows another's)
    app.include_router(health.router)
    app.include_router(observe.router)
    app.include_router(on_account.router)  # /customers/{id}/account before /{id}/{section}
    app.include_router(customers.router)
    app.include_router(parts.router)
    app.include_router(stock.router)
    app.include_router(stock.alerts_router)
    app.include_router(purchase_orders.router)
    app.include_router(transfer_suggestions.router)
    app.include_router(settlements.router)
    app.include_router(write_offs.router)
    app.include_router(finance.router)
    app.include_router(trial_balance.router)
    app.include_router(day_end.router)
    app.include_router(month_end.router)
    app.include_router(aftercare.router)
    app.include_router(analytics.router)
    app.include_router(vehicles.router)
    app.include_router(reminders.router)
    app.include_router(appointments.router)
    app.include_router(online_bookings.router)
    app.include_router(online_bookings.link_router)
    app.include_router(technicians.router)
    app.include_router(technicians.roster_router)
    app.include_router(insurers.router)
    app.include_router(labor_operations.router)
    app.include_router(campaigns.router)
    app.include_router(campaigns.vehicle_router)
    app.include_router(lost_sales.router)
    app.include_router(oem_claims.router)
    app.include_router(oem_claims.desk_router)
    app.include_router(parts_desk.router)
    app.include_router(repair_filings.router)
    app.include_router(comebacks.router)
    app.include_router(failed_parts.router)
    app.include_router(grievances.router)
    app.include_router(dispatch.router)
    app.include_router(audit_trail.router)
    app.include_router(audit_chain.router)
    app.include_router(commands.router)
    app.include_router(audit_exports.router)
    app.include_router(progress.links_router)
    app.include_router(progress.router)
    app.include_router(progress_history.router)
    refuse_float_bodies(app)
    refuse_lax_booleans(app)
    refuse_unreplayed(api_routes(app.routes))
    return app


def refuse_float_bodies(app: FastAPI) -> None:
    """Stop at start-up if a route takes a JSON body that FastAPI alone would parse (a router
    made without `route_class=JsonBodyRoute`): its numbers would be floats, rounded past the
    17th digit, and a member named twice would pass unseen."""
    unparsed = sorted({route.path for route in api_routes(app.routes)
                       if takes_json(route) and not isinstance(route, JsonBodyRoute)})
    if unparsed:
        raise RuntimeError("routes whose JSON body would be read as floats (make their router "
                           f"with route_class=JsonBodyRoute): {', '.join(unparsed)}")


def refuse_lax_booleans(app: FastAPI) -> None:
    """Stop at start-up if a body field takes a boolean as pydantic reads one leniently (`0`,
    `"yes"`, `"off"` as true or false): a decision must be a JSON true or false."""
    fields = lax_boolean_fields(api_routes(app.routes))
    if fields:
        raise RuntimeError("body fields typed bool, not api.booleans.Boolean (a JSON true or "
                           f"false only): {', '.join(fields)}")
