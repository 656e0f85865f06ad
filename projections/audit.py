"""Audit reads straight from the event store: a stream's history, and its state at a moment."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any
from uuid import UUID

from domain.application import ServiceCore
from domain.common import Audit
from projections.work_orders import fold

_HIDDEN = {"originator_id", "originator_version", "timestamp", "audit", "reason", "originator_topic"}


def _events(app: ServiceCore, stream_id: UUID) -> Iterator[Any]:
    yield from app.events.get(stream_id)


def _readable(app: ServiceCore, value: Any, customer_id: UUID | None) -> Any:
    """Open sealed personal data (or show it as erased); leave everything else as stored."""
    if isinstance(value, str) and value.startswith("pii1:") and customer_id is not None:
        return app.personal_data.open(customer_id, value)
    if isinstance(value, dict):
        return {k: _readable(app, v, customer_id) for k, v in value.items()}
    if isinstance(value, list):
        return [_readable(app, v, customer_id) for v in value]
    return value


def history(app: ServiceCore, stream_id: UUID) -> list[dict[str, Any]]:
    entries = []
    customer_id: UUID | None = None
    for event in _events(app, stream_id):
        customer_id = getattr(event, "customer_id", customer_id)
        audit: Audit | None = getattr(event, "audit", None)
        changes = {k: v for k, v in vars(event).items() if k not in _HIDDEN}
        entries.append({
            "version": event.originator_version,
            "event": type(event).__qualname__,
            "recorded_at": event.timestamp,
            "actor": audit.as_dict() if audit else {},
            "reason": getattr(event, "reason", None),
            "changes": _readable(app, changes, customer_id),
        })
    return entries


def work_order_as_of(app: ServiceCore, work_order_id: UUID, at: datetime) -> dict[str, Any] | None:
    """The work order as it stood at `at` (business time of each event's audit stamp)."""
    events = [e for e in _events(app, work_order_id) if e.audit.at <= at]
    return fold(events, app.personal_data.open)


def aggregate_as_of(app: ServiceCore, stream_id: UUID, at: datetime) -> Any | None:
    """Any aggregate as it stood at `at`, replayed from its events (None if it did not exist)."""
    aggregate = None
    for event in _events(app, stream_id):
        if event.audit.at > at:
            break
        aggregate = event.mutate(aggregate)
    return aggregate


def stream_exists(app: ServiceCore, stream_id: UUID) -> bool:
    return next(iter(app.events.get(stream_id, limit=1)), None) is not None
