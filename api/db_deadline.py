"""How long an API request may hold a PostgreSQL connection waiting for an answer.

A connection that stays open but stops forwarding (a stuck pooler, NAT or middlebox) is not
noticed by TCP, and a request waiting on one would hold its pool slot for good: after as many
such requests as the pool has connections, the API would answer nothing but 503s while it
looks alive. The composition root hands over servicecore/deadline.py's watchdog: every
connection a request draws from the process's pool (sync routes, the event store's saves)
and every connection of the asyncio read pool (api/reads.py) and of /health's check
(api/health_check.py) is cut once it has been held `seconds` without an answer. The request
then fails with a lost connection, answered 503 problem+json as any other (api/errors.py:
retryable, Retry-After; a save whose outcome cannot be decided names its command id).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

# watch(connection, seconds, what): cut the connection if the block still runs after `seconds`
Watch = Callable[[Any, float | None, str], AbstractContextManager[None]]
# scope(seconds, what): the pooled connections drawn inside are watched for `seconds`
Scope = Callable[[float | None, str], AbstractContextManager[None]]


def _unwatched(conn: Any, seconds: float | None, what: str) -> AbstractContextManager[None]:
    return nullcontext()


def _unscoped(seconds: float | None, what: str) -> AbstractContextManager[None]:
    return nullcontext()


@dataclass(frozen=True)
class DbDeadline:
    """`seconds` (0: no limit) and the watchdog's two ways of holding a wait to it."""

    seconds: float = 0.0
    watch: Watch = _unwatched
    scope: Scope = _unscoped

    def request(self) -> AbstractContextManager[None]:
        """Around a request: each pooled connection it draws is watched until handed back."""
        return self.scope(self.seconds, "an API request")

    def connection(self, conn: Any, what: str) -> AbstractContextManager[None]:
        """Around a block on a connection of its own (not drawn from the process's pool)."""
        return self.watch(conn, self.seconds, what)
