"""When a view that left its projection group (workers/projection_group.py, `_leave`) goes back
to it: once its own loop has shown it healthy again, not at its first good batch.

A view leaves its group when it fails there on its own (a poison event, its tables held locked
by another session). Many such failures are passing (a nightly lock, a brief poison mended by a
deploy); a view that never went back would leave the group a set of loops of their own, each
with its own transactions, lock connection and wake-ups. So the loop of a view that left
(`projection-<view>`) hands the view back to its group after a batch of its own once all of:

- `seconds` (SERVICECORE_PROJECTION_REJOIN_SECONDS; 0: never) have passed since its last
  failed batch, doubled for each time it left the group before in this process (at most
  `MAX_DOUBLINGS` times): a view whose failures come back sooner than that stays alone, so it
  does not go back and forth (each time it leaves, the group's batch that met its failure
  is rolled back and its views applied one by one for a round);
- it has applied `batches` (`REJOIN_BATCHES`) batches of its own since that failure, each
  with events it handles: a batch without them writes nothing to its tables, so it would
  not meet a lock still held there;
- its last batch was not full: it is at the head, near the group's views.

The hand-over (`ProjectionRunner.run`, `ProjectionGroup.take_back`): the view's loop, between
two batches, lets its advisory lock go and ends (the supervisor forgets it: `HandedOver`); the
group takes the lock on its own lock connection before it applies the view again, and asks
again each second while another process's runner holds it (on standby there, as any view).
Only one holder applies the view at a time, and every batch commits the view's rows with its
position, so nothing is applied twice or skipped across the hand-over.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from workers.projection_runner import ProjectionRunner

REJOIN_BATCHES = 3
MAX_DOUBLINGS = 4  # a view that left five times waits 16 x `seconds` clean before it goes back


class Rejoin:
    def __init__(self, seconds: float, batches: int = REJOIN_BATCHES) -> None:
        self.seconds = seconds  # 0: a view that left stays alone
        self.batches = batches

    def quiet(self, runner: ProjectionRunner) -> float:
        """How long the view must have run without a failure before it goes back."""
        return self.seconds * (1 << min(max(runner.leaves - 1, 0), MAX_DOUBLINGS))

    def ready(self, runner: ProjectionRunner, count: int) -> bool:
        """(In the view's own loop, after a batch of `count` events.) Whether it goes back."""
        if not self.seconds or count >= runner.batch_size or runner.clean_batches < self.batches:
            return False
        since = runner.failed_at if runner.failed_at is not None else float("-inf")
        return time.monotonic() - since >= self.quiet(runner)
