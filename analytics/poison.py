"""An event that cannot be applied (its handler raises on it, its state does not decode): what
the projection runners (workers/projection_runner.py) and the analytics loader stop at after
applying every event before it. Here, where both may import it (DESIGN: folders)."""

from __future__ import annotations

from typing import Any


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
