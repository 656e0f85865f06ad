"""What /health reads of the analytics loader: its position and when it last made progress.

Kept in memory by the loader after each batch, so that the health checks never call its DuckDB
connection (which refuses a second caller at once) nor wait for its lock (held for a whole
batch). The loader is stalled while the log holds events beyond its position and it has
loaded nothing for a while: a read of the log waiting on a lock, a batch that does not return.
"""

from __future__ import annotations

import time
from typing import Any

from analytics.poison import PoisonEvent
from workers.supervisor import describe
from workers.supervisor import progress as loop_progress


class LoadProgress:
    loaded_position: int = 0  # the position its last batch committed
    # when it last loaded, or found nothing to load (monotonic); None while its loop is not
    # running (its supervisor reports that loop: starting, restarting, ended)
    progress_at: float | None = None
    poison: PoisonEvent | None = None  # reported as the event it stopped at, not as a stall
    # since when (time.time()) its runs fail, and the latest failure: set when a run fails
    # (not at a poison event), cleared once a run has loaded and published a whole round, so
    # that a loader started again is not ready before it has (a full disk fails each run
    # after its start, which would answer 200 for a moment each time)
    failing_since: float | None = None
    failure: str | None = None

    def _failed(self, error: BaseException) -> None:
        self.failure = describe(error)
        if self.failing_since is None:
            self.failing_since = time.time()

    def failing_reason(self) -> str | None:
        """/health's reason while its runs fail (None when they do not)."""
        return failing_reason(self.failing_since, self.failure)

    def _progressed(self) -> None:
        if self.progress_at is not None:
            self.progress_at = time.monotonic()
        loop_progress()  # for its supervisor's ERROR rule (workers/supervisor.py)

    def stalled_seconds(self, head: int) -> float:
        """How long it has loaded nothing while the log, whose head is `head`, held events
        beyond its position (0: none to load, its loop not running, or stopped at a poison
        event)."""
        since = self.progress_at
        if since is None or self.poison is not None or head <= self.loaded_position:
            return 0.0
        return time.monotonic() - since

    def quiet_seconds(self) -> float:
        """How long it has loaded nothing, events to load or not (0 as `stalled_seconds`)."""
        since = self.progress_at
        return 0.0 if since is None or self.poison is not None else time.monotonic() - since

    def progress(self) -> dict[str, Any]:
        """Its position, and when it last loaded or found nothing to load (time.time(); None
        when `stalled_seconds` would be 0 whatever the head), for the API's /health."""
        quiet = self.quiet_seconds()
        return {"position": self.loaded_position,
                "loaded_at": time.time() - quiet if self.progress_at is not None
                and self.poison is None else None,
                "failing_since": self.failing_since, "failure": self.failure}


def failing_reason(since: float | None, failure: str | None) -> str | None:
    """/health's reason for a loader whose runs have failed since `since` (time.time())."""
    if since is None:
        return None
    at = time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(since))
    return (f"analytics loader failing since {at}: {failure}; ready again once it has "
            "loaded and published a round")


def stall_reason(position: int, head: int, stalled: float, seconds: float) -> str:
    """/health's reason for a loader stalled `stalled` seconds, past the allowed `seconds`."""
    return (f"analytics loader has loaded nothing for {stalled:.0f} s at position {position} "
            f"with the log's head at {head} (more than {seconds:g} s)")
