"""An event that cannot be applied (its handler raises on it, its state does not decode): what
the projection runners (workers/projection_runner.py) and the analytics loader stop at after
applying every event before it. Here, where both may import it (DESIGN: folders)."""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)


class PoisonEvent(Exception):
    """An event a view (or the analytics loader) cannot apply: every event before it is
    applied, the position stands just before it."""

    def __init__(self, view: str, position: int, topic: str, error: BaseException, *,
                 kind: str = "projection") -> None:
        self.view, self.position, self.topic, self.error = view, position, topic, error
        super().__init__(f"{kind} {view} stops at event {position} ({topic}): "
                         f"{type(error).__name__}: {error}")

    def stop(self) -> dict[str, Any]:
        """For /health: the event's position, topic and the error."""
        return {"position": self.position, "topic": self.topic,
                "error": f"{type(self.error).__name__}: {self.error}"}


class Narrowing:
    """How the projection runners and the analytics loader find the event they cannot apply.

    A batch that fails for its events (not for one of `TRANSIENT`, the database or the file
    being away, which fail the run as they are) is tried again in halves, down to one event:
    each piece commits with its position, so every event before the failing one is applied
    once, and that one is raised as a `PoisonEvent` (kept in `poison`). A later run goes
    straight to that event alone, until it is applied (the view or the fold mended).

    The class using it gives `batch_size`, `position()` (the last event applied),
    `_batch(limit)` (one batch of at most `limit` events, None for `batch_size`, in a
    transaction with its position; the number of positions it moved past),
    `_next_event(position)` (the id and topic of the first event after it) and `_poison_name`.
    """

    TRANSIENT: tuple[type[BaseException], ...] = ()
    POISON_KIND = "projection"
    batch_size: int
    poison: PoisonEvent | None = None  # the event it stopped at, until it is applied
    _stopped_at = 0  # the position it stood at when it met `poison`

    @property
    def _poison_name(self) -> str:
        raise NotImplementedError

    def position(self) -> int:
        raise NotImplementedError

    def _batch(self, limit: int | None) -> int:
        raise NotImplementedError

    def _next_event(self, position: int) -> tuple[int, str] | None:
        raise NotImplementedError

    def _transient(self, error: Exception) -> bool:
        """Whether `error` fails the run as it is (not the events'): one of `TRANSIENT`."""
        return isinstance(error, self.TRANSIENT)

    def _guarded(self) -> int:
        """The next batch, narrowed to the failing event when it fails for its events."""
        if self.poison is not None and self.position() == self._stopped_at:
            return self._narrowed(1)  # stopped there before: straight to that event alone
        try:
            return self._batch(None)
        except Exception as error:  # narrowed, then raised as a PoisonEvent
            if self._transient(error):
                raise
            if self.batch_size == 1:
                raise self._poisoned(error) from error
        return self._narrowed(max(1, self.batch_size // 2))

    def _narrowed(self, limit: int) -> int:
        """Batches of `limit` events, halved after each failure down to one event, until a
        batch's worth is applied or the log's head is reached."""
        total, known = 0, self.poison is not None
        while total < self.batch_size:
            try:
                count = self._batch(limit)
            except Exception as error:  # narrowed further, or raised
                if self._transient(error):
                    raise
                if limit == 1:
                    raise self._poisoned(error) from error
                limit = max(1, limit // 2)
                continue
            total += count
            if not count or known and self.poison is None:
                break
        return total

    def _poisoned(self, error: Exception) -> PoisonEvent:
        """The event after the position, which fails alone, as a `PoisonEvent` (kept)."""
        self._stopped_at = position = self.position()
        event, topic = self._next_event(position) or (position + 1, "?")
        self.poison = PoisonEvent(self._poison_name, event, topic, error, kind=self.POISON_KIND)
        log.error("%s", self.poison, exc_info=error)
        return self.poison
