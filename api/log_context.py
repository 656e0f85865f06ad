"""Who and what a log line is about: the request's correlation id, user and store.

The request middleware (`api/observe.py`) opens a `RequestLog` for every HTTP request and keeps
it in a context variable; authentication fills in the user and their stores, and the route
the store it names. The object is shared, not copied: a route's thread-pool thread gets a copy
of the context, so what it learns (the caller) must land in the same object the middleware
reads when it writes the access line. `LogContextFilter` puts the fields on every log record
emitted while the request is handled, in whichever thread. Standard library only, so that
worker processes format their lines with the same filter.
"""

from __future__ import annotations

import logging
import re
from contextvars import ContextVar, Token
from dataclasses import dataclass
from uuid import uuid4

# What a client may send as X-Correlation-ID and see kept: visible ASCII and spaces, at most
# 200 characters (the header's documented bound). Anything else gets a fresh id.
_CORRELATION_ID = re.compile(r"[\x20-\x7e]{1,200}")


@dataclass
class RequestLog:
    correlation_id: str
    user: str | None = None
    role: str | None = None
    stores: tuple[str, ...] = ()
    store: str | None = None  # the store the request names (path or query `store_id`)

    @property
    def store_field(self) -> str | None:
        """The store a line is about: the one the request names, else the caller's stores."""
        if self.store:
            return self.store
        return ",".join(self.stores) if self.stores else None


_current: ContextVar[RequestLog | None] = ContextVar("servicecore_request_log", default=None)


def correlation_id_from(header: str | None) -> str:
    """The client's X-Correlation-ID when it is printable and short enough, else a new one."""
    if header is not None and _CORRELATION_ID.fullmatch(header):
        return header
    return str(uuid4())


def begin(correlation_id: str) -> tuple[RequestLog, Token[RequestLog | None]]:
    entry = RequestLog(correlation_id)
    return entry, _current.set(entry)


def end(token: Token[RequestLog | None]) -> None:
    _current.reset(token)


def current() -> RequestLog | None:
    return _current.get()


def correlation_id(fallback: str | None = None) -> str:
    """The request's correlation id (outside a request: `fallback`, else a new one)."""
    entry = _current.get()
    if entry is not None:
        return entry.correlation_id
    return correlation_id_from(fallback)


def identify(user: str, role: str, stores: tuple[str, ...]) -> None:
    """The request's caller, once the bearer token or session cookie is verified."""
    entry = _current.get()
    if entry is not None:
        entry.user, entry.role, entry.stores = user, role, stores


def name_store(store_id: str | None) -> None:
    entry = _current.get()
    if entry is not None and store_id:
        entry.store = store_id[:40]


class LogContextFilter(logging.Filter):
    """Adds `correlation_id`, `user`, `role` and `store` to every record (None outside a
    request), and `service` (api, worker-projections, …) when the process names one."""

    def __init__(self, service: str | None = None) -> None:
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        entry = _current.get()
        record.correlation_id = entry.correlation_id if entry else None
        record.user = entry.user if entry else None
        record.role = entry.role if entry else None
        record.store = entry.store_field if entry else None
        record.service = self.service
        return True
