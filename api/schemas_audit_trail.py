"""Answers of the /audit trail endpoints (number lookup, timeline, request events, reads)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel


class AuditEntry(BaseModel):
    """One stored event: where it sits in the log, who did it, when, why, what it changed."""

    notification_id: int
    stream_type: str
    stream_id: UUID
    version: int
    event: str
    actor: dict[str, Any]
    at: datetime | None
    recorded_at: datetime
    reason: str | None
    correlation_id: str | None
    idempotency_key: str | None
    changes: dict[str, Any]


class NumberedStream(BaseModel):
    stream_type: str
    stream_id: UUID
    store_id: str | None
    work_order_id: UUID | None
    first_notification_id: int
    event_type: str
    history: str | None
    timeline: str | None


class NumberLookup(BaseModel):
    number: str
    kind: str
    work_order_id: UUID | None
    streams: list[NumberedStream]


class TimelineStream(BaseModel):
    stream_type: str
    stream_id: UUID
    events: int


class Timeline(BaseModel):
    work_order_id: UUID
    number: str
    store_id: str
    streams: list[TimelineStream]
    entries: list[AuditEntry]


class RequestEvents(BaseModel):
    correlation_id: str
    events: list[AuditEntry]


class PersonalDataReadOut(BaseModel):
    notification_id: int
    read_id: UUID
    customer_id: UUID
    user_id: str
    role: str
    store_id: str
    at: datetime
    correlation_id: str
    endpoint: str
    purpose: str
