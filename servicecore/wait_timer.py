"""The timer behind `serve`'s time limits on a request head and on a request body
(servicecore/server.py, servicecore/body_deadline.py).

A busy keep-alive connection waits for a head after every response, and for a body after many
heads: rather than make and cancel an asyncio timer per request, the wait notes when it began,
and one timer (at most) stays armed per connection and per limit. It is not cancelled when the
wait ends (it fires later and finds nothing to do); when it fires early for a wait that began
later, it is armed again for that one. Only the connection's end cancels it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable


class WaitTimer:
    """One connection's waits for one thing (a head, a body), each bounded by `timeout`.

    `waiting()` says whether the connection is waiting now; `expired()` is called when a wait
    has lasted `timeout` seconds and still holds. The protocol calls `watch()` after whatever
    may begin or end a wait (`stop()` where it knows the wait has ended), and `cancel()` when
    the connection is lost."""

    __slots__ = ("expired", "handle", "loop", "since", "timeout", "transport", "waiting")

    def __init__(self, loop: asyncio.AbstractEventLoop, transport: asyncio.BaseTransport,
                 timeout: float, waiting: Callable[[], bool],
                 expired: Callable[[], None]) -> None:
        self.loop = loop
        self.transport = transport
        self.timeout = timeout
        self.waiting = waiting
        self.expired = expired
        self.since: float | None = None  # when the current wait began
        self.handle: asyncio.TimerHandle | None = None

    def watch(self) -> None:
        """A wait begins if the connection waits and did not already; it ends if it does not.
        A wait that begins arms the timer unless one already is (it then fires early for
        this wait and is armed again) or the connection is closing."""
        if not self.waiting():
            self.since = None  # an armed timer finds nothing to do
        elif self.since is None:
            self.since = since = self.loop.time()
            if self.handle is None and not self.transport.is_closing():
                self.handle = self.loop.call_at(since + self.timeout, self._due)

    def restart(self) -> None:
        """The wait under way begins again now."""
        self.since = None
        self.watch()

    def stop(self) -> None:
        """The wait ends; an armed timer stays armed and finds nothing to do."""
        self.since = None

    def cancel(self) -> None:
        self.since = None
        if self.handle is not None:
            self.handle.cancel()
            self.handle = None

    def _due(self) -> None:
        self.handle = None
        since = self.since
        if since is None or self.transport.is_closing():
            return
        due = since + self.timeout
        if self.loop.time() < due:  # armed for an earlier wait: this one's time is not up
            self.handle = self.loop.call_at(due, self._due)
        elif self.waiting():
            self.expired()
