"""One PostgreSQL connection pool per process: the event store and the read side share it.

eventsourcing builds a pool of its own for the application recorder (kept open at
POSTGRES_POOL_SIZE connections), and the read models, the key store and the positions had a
second one. `share_pool` hands the library the process's one pool instead, through
`EventStorePool`: the library's code reads rows as dicts, ours as tuples, so a connection lent
to the library gets dict rows and is handed back with tuple rows.

Outside the pool a process holds only connections that must stay one session: the health
check's (api/health_check.py, never waiting behind the pool) and each running projection's
advisory-lock / LISTEN connection (workers/projection_runner.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

from psycopg import Connection
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.errors import ReadOnlySqlTransaction
from psycopg.rows import dict_row, tuple_row
from psycopg_pool import ConnectionPool

from domain.application import ServiceCore
from domain.common import causes
from servicecore.deadline import DeadlinePassed, pooled_limit, watch
from servicecore.settings import Settings

# A server that vanishes without closing its connections (a host powered off, a dropped route)
# is noticed within about a minute instead of the kernel's defaults (two hours idle before the
# first keepalive probe; some fifteen minutes of retransmissions for a statement in flight):
# probes after 30 s of silence, every 10 s, 3 unanswered end the connection, and data sent
# but not acknowledged for 60 s ends it too. A request, a projection's batch or the relay then
# fails with a connection error (503, a retried batch) instead of hanging. A URL that names any
# of these keeps its own values (libpq ignores them on a Unix socket).
TCP_KEEPALIVES = {"keepalives": "1", "keepalives_idle": "30", "keepalives_interval": "10",
                  "keepalives_count": "3", "tcp_user_timeout": "60000"}


# A connection the network accepts but that never answers its start-up (a middlebox that
# stopped forwarding: the kernels keep acknowledging, so neither keepalives nor the user
# timeout end it) fails after this many seconds, instead of holding for good the thread that
# opens it (one of the pool's few connecting threads: with them all held the pool never grows
# again, and every request waits its pool timeout and answers 503). A URL that names
# connect_timeout keeps its own.
CONNECT_TIMEOUT = {"connect_timeout": "10"}


def with_keepalives(url: str) -> str:
    """`url` with TCP_KEEPALIVES added unless it sets any of them, and CONNECT_TIMEOUT
    unless it sets it."""
    given = conninfo_to_dict(url)
    added = {} if any(key in given for key in TCP_KEEPALIVES) else dict(TCP_KEEPALIVES)
    if "connect_timeout" not in given:
        added.update(CONNECT_TIMEOUT)
    return make_conninfo(url, **added) if added else url


def open_pool(database_url: str, settings: Settings) -> ConnectionPool:
    """The process's pool, sized by the settings; a wait for a connection ends after
    `pool_timeout_seconds` (then 503), never psycopg_pool's 30 s."""
    return DeadlinePool(
        database_url, deadline_seconds=settings.db_wait_deadline_seconds,
        min_size=settings.pool_min_size,
        max_size=max(settings.pool_size, settings.pool_min_size),
        timeout=settings.pool_timeout_seconds, max_idle=settings.pool_max_idle_seconds,
        kwargs={"autocommit": True}, name="servicecore", open=True)


class DeadlinePool(ConnectionPool):
    """A pool whose `check()` (a loop's first step after a failure) cuts a pooled connection
    that does not answer within `deadline_seconds` (servicecore/deadline.py) and discards it,
    instead of waiting for good on one that stopped forwarding; a thread (a request) under
    `pooled_waits` has each connection it draws watched.

    Once a watched connection is cut, the pool is drained (`drain()`: the idle connections
    closed at once, those lent out closed when handed back, new ones opened): what froze one
    connection froze the others opened through the same middlebox, and each would otherwise
    cost the next request or batch that draws it a whole deadline. Closing one costs no
    round trip."""

    def __init__(self, conninfo: str, *, deadline_seconds: float = 0.0, **kwargs: Any) -> None:
        self.deadline_seconds = deadline_seconds
        super().__init__(conninfo, **kwargs)

    def check_connection(self, conn: Connection[Any]) -> None:  # type: ignore[override]
        limit = pooled_limit()  # a request's is shorter than the pool's own
        with watch(conn, limit[0] if limit else self.deadline_seconds,
                   "a pooled connection's check"):
            ConnectionPool.check_connection(conn)

    @contextmanager
    def connection(self, timeout: float | None = None) -> Iterator[Connection[Any]]:
        """As the pool's; in a thread under `pooled_waits`, the connection is watched. A
        connection whose server refused a write as read-only drains the pool: sessions keep
        the read-only setting they started with (`ALTER DATABASE … SET
        default_transaction_read_only`), and a failover's standby stays one, so the next use
        must draw a session opened after it."""
        with super().connection(timeout) as conn:
            limit = pooled_limit()
            try:
                with watch(conn, *limit) if limit is not None else nullcontext():
                    yield conn
            except DeadlinePassed:
                if limit is not None:
                    self.drain()
                raise
            except Exception as error:
                if any(isinstance(c, ReadOnlySqlTransaction) for c in causes(error)):
                    self.drain()
                raise


class EventStorePool:
    """The shared pool as eventsourcing's PostgresDatastore uses it (rows as dicts)."""

    def __init__(self, pool: ConnectionPool) -> None:
        self.shared = pool

    @property
    def kwargs(self) -> dict[str, Any]:
        """How to open a connection of its own (the recorder's commit check after a loss)."""
        conninfo, kwargs = self.shared.conninfo, self.shared.kwargs or {}
        assert isinstance(conninfo, str) and isinstance(kwargs, dict), "open_pool() made it"
        return {**conninfo_to_dict(conninfo), **kwargs}

    def open(self, wait: bool = False, timeout: float = 30.0) -> None:
        """Opened by the container; the library asks before every checkout."""

    @contextmanager
    def connection(self, timeout: float | None = None) -> Iterator[Connection[Any]]:
        with self.shared.connection(timeout) as conn:
            conn.row_factory = dict_row  # type: ignore[assignment]
            try:
                yield conn
            finally:
                conn.row_factory = tuple_row

    def check(self) -> None:
        self.shared.check()

    def close(self, timeout: float = 5.0) -> None:
        """The container closes the shared pool, after the application."""


def share_pool(app: ServiceCore, pool: ConnectionPool) -> None:
    """Make the application's recorder draw from `pool` (its own, never opened, is closed)."""
    datastore = app.recorder.datastore  # type: ignore[attr-defined]
    datastore.pool.close()
    datastore.pool = EventStorePool(pool)
