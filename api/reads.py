"""Single-item reads on the event loop: an asyncio connection pool, and `?wait_for=` without
a worker thread.

A GET of one item costs a few indexed lookups; run in a worker thread it paid two thread
switches per request, which on a busy machine cost more than the lookups. Routes that take
`Reads` await the read model on the app's asyncio pool (opened by the lifespan in
api/main.py) and wait for `?wait_for=` on the projection positions' announcements
(api/positions.py). Without that pool (an app served without its lifespan) they run the same
`Reading` on the thread pool's connections, as every other route does.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, ParamSpec, TypeVar

import psycopg
from fastapi import Depends, Request
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool
from starlette.concurrency import run_in_threadpool

from api.context import ApiContext
from api.deps import reached_or_behind, wait_for_projection
from projections.base import Reading, read, read_async

T = TypeVar("T")
P = ParamSpec("P")


def read_pool(ctx: ApiContext) -> AsyncConnectionPool | None:
    """The asyncio pool for `ctx` (not yet open), or None when it has no database URL."""
    if ctx.database_url is None:
        return None
    return AsyncConnectionPool(ctx.database_url, min_size=1, max_size=ctx.read_pool_size,
                               timeout=ctx.pool.timeout, open=False,
                               kwargs={"autocommit": True})


class ReadModels:
    def __init__(self, ctx: ApiContext, pool: AsyncConnectionPool | None) -> None:
        self.ctx = ctx
        self.pool = pool

    async def fetch(self, reading: Callable[P, Reading[T]], *args: P.args,
                    **kwargs: P.kwargs) -> T:
        """`reading(*args, **kwargs)` run on a pooled connection (made again for a retry)."""
        if self.pool is None:
            return await run_in_threadpool(self._fetch_in_thread, reading(*args, **kwargs))
        return await self._on_connection(lambda conn: read_async(conn, reading(*args, **kwargs)))

    def _fetch_in_thread(self, reading: Reading[T]) -> T:
        with self.ctx.pool.connection() as conn:
            return read(conn, reading)

    async def _on_connection(self, work: Callable[[AsyncConnection[Any]], Awaitable[T]]) -> T:
        """Once more on a fresh connection when the pooled one turns out dead (the database
        restarted since it was opened): a read changes nothing, so retrying is safe. A read
        still waiting after the request's deadline has its connection cut (api/db_deadline.py)
        and is not tried again: the pool is drained instead (the other connections opened
        through the middlebox that froze this one would cost the next reads a deadline each)."""
        assert self.pool is not None
        deadline = self.ctx.db_deadline
        for attempt in (1, 2):
            # getconn / putconn, not `pool.connection()`: its context manager would also
            # enter the connection's own, whose commit (a no-op in autocommit) takes the
            # connection's lock and a wait on every read
            conn = await self.pool.getconn()
            began = time.monotonic()
            try:
                with deadline.connection(conn, "an API read"):
                    return await work(conn)
            except psycopg.OperationalError:
                if deadline.seconds and time.monotonic() - began >= deadline.seconds:
                    await self.pool.drain()
                    raise
                if attempt == 2 or not conn.broken:
                    raise
            finally:
                await self.pool.putconn(conn)
            await self.pool.check()  # drop the other dead ones too
        raise AssertionError("unreachable")

    async def wait(self, name: str, notification_id: int | None) -> bool:
        """Read-your-writes, as `api.deps.wait_for_projection`."""
        positions = self.ctx.positions
        if notification_id is None or (positions is not None
                                       and positions.known(name) >= notification_id):
            return True
        if self.pool is None or positions is None:
            return await run_in_threadpool(wait_for_projection, self.ctx, name, notification_id)
        seconds = self.ctx.read_wait_max_seconds
        reached = await positions.wait_async(self._first, name, notification_id, seconds)
        return reached_or_behind(reached, name, notification_id, seconds)

    async def _first(self, sql: str, params: tuple[Any, ...]) -> Any:
        async def first(conn: AsyncConnection[Any]) -> Any:
            row = await (await conn.execute(sql, params)).fetchone()
            return row[0] if row else None

        return await self._on_connection(first)


def read_models(app: Any) -> ReadModels:
    """The reads of the app's context on the pool its lifespan opened (None: not served)."""
    return ReadModels(app.state.ctx, getattr(app.state, "read_pool", None))


async def get_reads(request: Request) -> ReadModels:
    return read_models(request.app)


Reads = Annotated[ReadModels, Depends(get_reads)]
