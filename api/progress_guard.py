"""Turns away a client that keeps presenting unknown progress-link tokens.

Tokens carry a 128-bit MAC and a 128-bit nonce, so guessing cannot succeed anyway; this only
stops a client from trying at volume. Per process, keyed by the client address the server sees
(behind a proxy, that is the proxy's unless the server is told to trust forwarded headers).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque

FAILURES = 20
WINDOW_SECONDS = 600.0
MAX_CLIENTS = 10_000


class Attempts:
    def __init__(self, failures: int = FAILURES, window: float = WINDOW_SECONDS) -> None:
        self.failures = failures
        self.window = window
        self._seen: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def _recent(self, client: str, now: float) -> deque[float]:
        times = self._seen.get(client)
        if times is None:
            return deque()
        while times and times[0] <= now - self.window:
            times.popleft()
        return times

    def retry_after(self, client: str) -> int | None:
        """Seconds until the client may try again, or None if it may now."""
        now = time.monotonic()
        with self._lock:
            times = self._recent(client, now)
            if len(times) < self.failures:
                return None
            return max(1, int(times[0] + self.window - now) + 1)

    def failed(self, client: str) -> None:
        now = time.monotonic()
        with self._lock:
            times = self._recent(client, now)
            times.append(now)
            self._seen[client] = times
            self._seen.move_to_end(client)
            while len(self._seen) > MAX_CLIENTS:
                self._seen.popitem(last=False)
