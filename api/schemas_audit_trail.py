"""Answers of the /audit trail endpoints (number lookup, timeline, request events, reads)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field


class AuditEntry(BaseModel):
    """One stored event: where it sits in the log, who did it, when, why, what it changed."""

    notification_id: int = Field(description="its place in the global log (gap-free order)")
    stream_type: str = Field(description="the aggregate: WorkOrder, Settlement, StockItem, …")
    stream_id: UUID
    version: int = Field(description="the stream's version after the event")
    event: str = Field(description="what happened, e.g. WorkOrder.CheckedIn")
    actor: dict[str, Any] = Field(description="user id, role and store of who did it")
    at: datetime | None = Field(description="when the actor did it")
    recorded_at: datetime = Field(description="when it was stored")
    reason: str | None = Field(description="why, on corrections, cancellations and overrides")
    correlation_id: str | None = Field(description="the request that stored it "
                                       "(X-Correlation-ID)")
    idempotency_key: str | None = Field(description="the request's Idempotency-Key, if any")
    changes: dict[str, Any] = Field(description="the event's fields")


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
