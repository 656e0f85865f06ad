"""ASGI middleware: the request-body limit, enforced while the body arrives; no encoded body;
a body cut off at the server's body deadline unwinds the request as its 408."""

from __future__ import annotations

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import (
    BODY_TIMED_OUT,
    BodyTimedOut,
    BodyTooLarge,
    body_timeout_problem,
    problem,
    too_large_problem,
)


class BodyLimit:
    """Refuse a request body over `max_bytes` with 413 before it is buffered.

    A declared Content-Length over the limit is refused before a byte of the body is read; a
    body without one (chunked) is counted as it arrives and refused at the first message that
    goes over, so an oversize body never reaches JSON parsing, the domain or the store. A
    body sent encoded (a Content-Encoding other than identity) is refused with 415 unread.

    A body that missed `serve`'s body deadline (servicecore/body_deadline.py) was answered 408
    by the server, which then closed the connection: the `http.disconnect` that follows is
    raised as `BodyTimedOut`, so the route unwinds as that 408 (in the access line and the
    metrics) rather than as a body it could not parse, and stores nothing.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        encoding = _encoded(scope)
        if encoding is not None and (declared or _header(scope, b"transfer-encoding")):
            await _unsupported_encoding(encoding)(scope, receive, send)
            return
        if declared is not None and declared > self.max_bytes:
            await self._refuse(scope, receive, send)
            return

        received = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            elif BODY_TIMED_OUT in scope and not started:
                raise BodyTimedOut(scope[BODY_TIMED_OUT])
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, watched_send)
        except BodyTooLarge:
            # Raised where no exception handler sees it (e.g. outside a route): answer here.
            if started:
                raise
            await self._refuse(scope, receive, send)
        except BodyTimedOut as timed_out:
            if started:
                raise
            await body_timeout_problem(timed_out)(scope, receive, watched_send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        await too_large_problem(BodyTooLarge(self.max_bytes))(scope, receive, send)


def _header(scope: Scope, wanted: bytes) -> bytes | None:
    for name, value in scope.get("headers", ()):
        if name == wanted:
            return bytes(value)
    return None


def _content_length(scope: Scope) -> int | None:
    value = _header(scope, b"content-length")
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None  # the server refuses a malformed length itself


def _encoded(scope: Scope) -> str | None:
    """The body's Content-Encoding when it is one (gzip, br, …): no route decodes a body, and
    read as it came, gzip was "JSON decode error" or a body "not UTF-8" instead of the reason."""
    value = _header(scope, b"content-encoding")
    if value is None or value.strip().lower() in (b"", b"identity"):
        return None
    return value.decode("latin-1")[:40]


def _unsupported_encoding(encoding: str) -> JSONResponse:
    detail = f"the body must be sent as it is, not encoded (Content-Encoding: {encoding})"
    response = problem(415, "unsupported-media-type", detail)
    response.headers["Connection"] = "close"  # the body is never read
    return response
