"""What `/health` says of the projection runners: the poison events they stop at, the views
that hold their locks without completing a batch."""

from __future__ import annotations

from typing import Any

from workers.projection_runner import ProjectionRunner


def stops(runners: list[ProjectionRunner]) -> dict[str, dict[str, Any]]:
    """The poison event each view stopped at (for /health), by view: position, topic, error."""
    return {r.position_name: p.stop() for r in runners if (p := r.poison) is not None}


def stalls(runners: list[ProjectionRunner], seconds: float) -> list[str]:
    """The views that have held their lock `seconds` or more without completing a batch (for
    /health; a view stopped at a poison event says so in `stops`); 0: not checked."""
    if not seconds:
        return []
    return [f"projection {r.position_name} has applied nothing for {stalled:.0f} s: "
            + (f"its tables are locked by another session ({r.blocked})" if r.blocked
               else "no batch completed") + f" (more than {seconds:g} s)" for r in runners
            if r.poison is None and (stalled := r.stalled_seconds()) >= seconds]
