"""The time limit on a request body, kept by `serve`'s protocol (servicecore/server.py).

The header timeout bounds the request head; nothing bounded the body after it: a client could
send `Content-Length: 200000` (or a chunked head) and then a byte every few seconds, or nothing
more, and the request waited for ever, holding its task, its buffers and whatever the route had
drawn before reading the body (a pooled connection, for a route that reads it in a
dependency). Many such clients took the server.

The whole body must arrive within `body_timeout` seconds of the end of its head. When it has
not, the server answers 408 problem+json (…/problems/body-timeout) with `Connection: close`,
closes the connection and logs one warning naming the client and the route; the app's next
receive() gets the disconnect, raised as `BodyTimedOut` (api/middleware.py), so the route
unwinds before anything is stored. An answer that had already begun cannot become a 408: the
connection is closed, which the client sees as a cut answer.

One total deadline, no minimum transfer rate: the body is bounded in size
(`SERVICECORE_MAX_BODY_BYTES`, 256 KiB by default), so the deadline alone bounds how long a
request is held, whatever the pace; a rate rule would bound nothing more, would cut off a slow
but steady client the deadline lets finish, and would cost bookkeeping on every chunk.

Kept in the protocol, not in an ASGI middleware: it sees the parser's own "body complete"
(Content-Length or chunked, httptools and h11 alike), whoever reads the body and whenever, and
it costs nothing for a body that arrives with its head (most of them): a timer is armed only
when a body is still incomplete after the bytes at hand are parsed, at most one per connection,
and not cancelled when the body completes (it fires later, finds nothing to do).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from api.errors import BODY_TIMED_OUT, body_timeout_body
from domain.request_target import redacted_target
from servicecore.wait_timer import WaitTimer


class BodyTimer:
    """The deadline both protocols share (a `WaitTimer`, servicecore/wait_timer.py); each says
    when a body is pending and how it answers (`_body_pending`, `_can_answer`,
    `_answer_body_timeout`)."""

    body_timeout: float = 30.0
    _body_wait: WaitTimer
    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport
    client: tuple[str, int] | None
    logger: logging.Logger
    cycle: Any  # uvicorn's RequestResponseCycle of the latest request head
    flow: Any  # uvicorn's FlowControl

    def _body_pending(self) -> bool:
        """A request head is complete and its body is not."""
        raise NotImplementedError

    def _can_answer(self) -> bool:
        """No answer has begun on the connection since the pending body's head."""
        raise NotImplementedError

    def _answer_body_timeout(self, body: bytes) -> None:
        raise NotImplementedError

    def _time_bodies(self, transport: asyncio.Transport) -> None:
        """On a new connection."""
        self._body_wait = WaitTimer(self.loop, transport, self.body_timeout,
                                    self._body_pending, self._body_late)

    @property
    def _body_timer(self) -> asyncio.TimerHandle | None:
        return self._body_wait.handle

    def _watch_body(self) -> None:
        """After the bytes at hand are parsed: note when a pending body's wait began."""
        self._body_wait.watch()

    def _body_late(self) -> None:
        if self.flow.read_paused or self.cycle.waiting_for_100_continue:
            # The server is the one not reading (the app has not taken the bytes it holds, a
            # pipelined request waits its turn) or the client waits for its 100 Continue: the
            # client's time starts again from now.
            self._body_wait.restart()
        else:
            self._cut_body_off()

    def _cut_body_off(self) -> None:
        cycle = self.cycle
        scope = cycle.scope
        answered = self._can_answer()
        scope[BODY_TIMED_OUT] = self.body_timeout
        if answered:
            self._answer_body_timeout(body_timeout_body(self.body_timeout))
        # The app's answer, if it still makes one, goes nowhere; its receive() gets the
        # disconnect now rather than when the transport reports the connection lost.
        cycle.disconnected = True
        cycle.message_event.set()
        self.transport.close()
        client = f"{self.client[0]}:{self.client[1]}" if self.client else "a client"
        route = getattr(scope.get("route"), "path", None) or redacted_target(scope["path"])
        self.logger.warning("%s sent no complete request body within %g s of its head (%s %s); "
                            "%s its connection", client, self.body_timeout, scope["method"],
                            route, "answered 408 and closed" if answered
                            else "its answer had begun: closed")
