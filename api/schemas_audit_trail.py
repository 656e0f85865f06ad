"""Answers of the /audit trail endpoints (number lookup, timeline, request events, reads) and
of /audit/chain (the hash chain verified, its anchors)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field

from api.paging import PageOf
from api.schemas import Actor, Body, example


class AuditEntry(BaseModel):
    """One stored event: where it sits in the log, who did it, when, why, what it changed."""

    notification_id: int = Field(description="its place in the global log (gap-free order)")
    stream_type: str = Field(description="the aggregate: WorkOrder, Settlement, StockItem, …")
    stream_id: UUID
    version: int = Field(description="the stream's version after the event")
    event: str = Field(description="what happened, e.g. WorkOrder.CheckedIn")
    actor: Actor | None = Field(description="who did it (null: an event without an audit "
                                "stamp; none is stored)")
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


class InvoiceUse(BaseModel):
    """The bill a tax invoice number is recorded on in one store, or the credit a red-letter
    invoice number writes off against an invoiced bill."""

    store_id: str
    invoice_no: str
    red_letter: bool = Field(description="a red-letter invoice (红字发票) of a credit")
    bill: str
    settlement_id: UUID
    settlement_number: str
    work_order_number: str
    refund_id: str | None = Field(default=None, description="the credit, for a red number")
    cancels: str | None = Field(default=None, description="the blue invoice a red one "
                                "writes off")


class NumberLookup(BaseModel):
    number: str
    kind: str = Field(description="work_order, settlement, purchase_order, transfer, or "
                      "tax_invoice")
    work_order_id: UUID | None
    streams: list[NumberedStream]
    invoices: list[InvoiceUse] = Field(default_factory=list, description=(
        "a tax invoice number: the bill or credit that has it, in each store asked"))


class TimelineStream(BaseModel):
    stream_type: str
    stream_id: UUID
    events: int


class Timeline(PageOf[AuditEntry]):
    """One page of a visit's events across its streams, in log order (paged as a stream's
    history is); `streams` counts the whole visit's events per stream."""

    work_order_id: UUID
    number: str
    store_id: str
    streams: list[TimelineStream]


class RequestEvents(BaseModel):
    """One page of the events a request stored, in log order, as every list is paged."""

    correlation_id: str
    total: int = Field(description="how many events carry the correlation id")
    limit: int = Field(description="the page size asked for")
    offset: int = Field(description="how many were skipped")
    items: list[AuditEntry] = Field(description="this page, in log order")
    events: list[AuditEntry] = Field(description="the same page (its name before pages)")


class PersonalDataReadOut(BaseModel):
    notification_id: int
    read_id: UUID
    customer_id: UUID | None = Field(description="the customer read (null: a statement's payers)")
    statement_id: UUID | None = Field(description=(
        "the bank statement whose payers were read (null: a customer's read)"))
    statement_lines: list[int] = Field(description=(
        "the statement's lines whose payer was shown (empty: a customer's read)"))
    user_id: str
    role: str
    store_id: str
    at: datetime
    correlation_id: str
    endpoint: str = Field(description=(
        "method and target asked, the values of personal query parameters redacted "
        "(GET /work-orders?customer_phone=[redacted]&limit=5)"))
    purpose: str


class ChainBreakOut(BaseModel):
    """Where recomputing the chain first disagreed with what is stored."""

    notification_id: int = Field(description="the first event (or link, or anchor) that fails")
    reason: str = Field(description="event changed, link missing, link without event, anchor "
                        "differs, or anchor beyond the log")
    stored: str | None = Field(description="the stored link or the anchor (hex)")
    computed: str | None = Field(description="the link recomputed from the stored event (hex)")


class ChainVerification(BaseModel):
    """`servicecore audit verify`'s answer over one range, and where the next range begins."""

    ok: bool = Field(description="no break in the range, nor in the witness file's chain of "
                     "lines (a break is still a 200)")
    events_checked: int = Field(description="events whose link was recomputed and matched")
    from_: int = Field(alias="from", description="the first notification id met (0: none)")
    to: int = Field(description="the last notification id whose link matched (0: none)")
    head_hash: str | None = Field(description="the link at `to` (hex): the range's head")
    anchors_checked: int = Field(description="anchors recorded for an event of the range "
                                 "that were compared (in the database or the witness file)")
    witness_anchors: int = Field(description="anchors read from the server's witness file "
                                 "outside the database (those in the range are compared)")
    witness_break: str | None = Field(description=(
        "where the witness file's own chain of lines is broken (a line removed, changed, "
        "reordered or duplicated), e.g. `line 3 carries number 4: 1 line(s) before it "
        "removed`; null: whole"))
    anchors_not_witnessed: int | None = Field(description=(
        "anchors the database recorded for heads after the witness file's last (its last "
        "lines lost, or not written there; a file cannot show its own tail cut), not a "
        "break; null: none, or no witness file"))
    witnessed_to: int | None = Field(description=(
        "the last event of the range a witness file anchor matched (null: none did); the "
        "events after it are checked against the database alone, which cannot show a tail "
        "cut off or events added there with the chain, registry and anchors rewritten"))
    first_break: ChainBreakOut | None
    restored: str | None = Field(description=(
        "what a break at a witnessed anchor the database does not record either means: the "
        "database was restored from a backup taken before it (or the log cut there), how far "
        "the log agrees with the witness, and what to do, as `audit verify` says it; null: "
        "no such break"))
    range_from: int = Field(description="the range verified, as asked (or defaulted)")
    range_to: int
    log_head: int = Field(description="the last notification id of the log (or of its links)")
    next_from: int | None = Field(description="where the next range begins (null: at the head)")


class SnapshotBreakOut(BaseModel):
    stream_id: UUID
    version: int
    reason: str = Field(description="`snapshot differs from its events` or `snapshot without "
                        "its event`")


class SnapshotVerification(BaseModel):
    """`servicecore audit verify`'s snapshot check over one page of snapshotted streams."""

    ok: bool = Field(description="every snapshot of the page equals its stream's replay")
    snapshots_checked: int
    snapshot_break: SnapshotBreakOut | None
    streams_checked: int = Field(description="snapshotted streams replayed in this page")
    next_after: UUID | None = Field(description="pass as `after` for the next page (null: "
                                    "no stream left, or a break)")


class ChainEvent(BaseModel):
    """One event exactly as the log stores it, with its link and the link before it: recompute
    sha256(previous ‖ notification id ‖ stream id ‖ version ‖ topic ‖ state) as
    `domain.integrity.link` does and compare it with `hash`."""

    notification_id: int
    stream_id: UUID
    stream_version: int
    event_type: str = Field(description="e.g. WorkOrder.CheckedIn")
    topic: str = Field(description="the stored topic, as hashed")
    state: str = Field(description="the stored bytes, base64 (personal data inside is sealed)")
    hash: str | None = Field(description="its link (hex); null: the link is missing, a break")
    previous_hash: str = Field(description="the link before it (hex; zeros before the first)")


class AnchorIn(Body):
    model_config = example({"note": "day-end S01 2026-12-03"})

    note: str = Field(default="", max_length=500,
                      description="why the head is recorded (a day-end, an audit visit)")


class AnchorOut(BaseModel):
    anchor_id: int
    notification_id: int = Field(description="the chain head's event")
    hash: str = Field(description="its link (hex)")
    anchor: str = Field(description="`N:HEX`: keep it outside the database; "
                        "`servicecore audit verify --anchor N:HEX` checks it")
    anchored_at: datetime
    anchored_by: str = Field(description="the token's user (sub); a database role where "
                             "`servicecore audit anchor` recorded it")
    note: str
