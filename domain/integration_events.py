"""Integration events: what leaves the event store for Kafka, made by an explicit mapper.

A stored (domain) event becomes a versioned integration event on the topic of its stream kind,
keyed by stream id. Only the fields named here are published: no internal costs or margins
(lot costs, FIFO values, journal entries, technicians' hourly cost) and no personal data
(customer names, phones, WeChat ids — even sealed —, plates, who signed for the car, notes).
Internal streams (document counters, idempotency records) are not published at all.

An event type this mapper does not know (new ones are added all the time) is published as an
envelope with an empty payload and logged once, so that consumers still see every stream
version (per-stream versions on a topic are gap-free) and nothing is leaked by default.
What each known event publishes is in domain/integration_payloads.py.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import CanMutateAggregate
from eventsourcing.persistence import Mapper, StoredEvent

from domain.common import NAMESPACE
from domain.integration_payloads import PAYLOADS
from domain.unreadable_events import NewerEvent

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
UNROUTED_TOPIC = "other"
INTERNAL_STREAMS = frozenset({"DocumentCounter", "IdempotencyRecord", "DataAccess", "ProgressLinks",
                              "PaymentReference", "RefundPayoutReference", "InvoiceNumber",
                              "RedInvoiceNumber",
                              "StatementImport", "InsurerName", "PriorVisitRef",
                              "TransfersComing", "EarnedLot", "RedeemedReference"})
# Removed at any depth of any payload: what parts and labour cost the dealer, not the customer.
COST_KEYS = frozenset({"cost", "unit_cost", "issued_cost", "hourly_cost", "fifo_value",
                       "margin", "gross_profit", "entries", "entry"})

@dataclass(frozen=True)
class Route:
    topic: str  # the suffix after the configured prefix, e.g. "work-orders"
    type_prefix: str  # e.g. "work_order" -> integration type "work_order.opened"


ROUTES: dict[str, Route] = {
    "WorkOrder": Route("work-orders", "work_order"),
    "StockItem": Route("stock", "stock_item"),
    "Part": Route("stock", "part"),
    "PurchaseOrder": Route("stock", "purchase_order"),
    "Transfer": Route("stock", "transfer"),
    "Settlement": Route("money", "settlement"),
    "CashierDay": Route("money", "cashier_day"),
    "Statement": Route("money", "bank_statement"),
    "Insurer": Route("money", "insurer"),
    "OemClaim": Route("money", "warranty_claim"),
    "RepairFiling": Route("aftercare", "repair_record_filing"),
    "FailedPart": Route("stock", "failed_part"),
    "LostSale": Route("stock", "lost_sale"),
    "Customer": Route("customers", "customer"),
    "Vehicle": Route("customers", "vehicle"),
    "FollowUp": Route("aftercare", "follow_up"),
    "Complaint": Route("aftercare", "complaint"),
    "Grievance": Route("aftercare", "grievance"),
    "Technician": Route("workshop", "technician"),
    "LaborOperation": Route("workshop", "labor_operation"),
    "Campaign": Route("workshop", "campaign"),
    "Appointment": Route("workshop", "appointment"),
    "OnlineBooking": Route("workshop", "online_booking"),
    "WorkshopDay": Route("workshop", "workshop_day"),
    "Roster": Route("workshop", "roster"),
    "ServicePlan": Route("workshop", "service_plan"),
}
TOPICS = tuple(sorted({r.topic for r in ROUTES.values()} | {UNROUTED_TOPIC}))


# -- the mapper ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Message:
    """One integration event, ready to send."""

    topic: str
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]
    type: str
    known: bool


def snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() and i else c.lower() for i, c in enumerate(name))


def event_types(aggregate: type) -> frozenset[str]:
    """The integration types this code publishes for the events of `aggregate` (a consumer
    meeting another one meets a class this code does not have: newer code published it)."""
    prefix = ROUTES[aggregate.__name__].type_prefix
    return frozenset(f"{prefix}.{snake(name)}" for name in dir(aggregate)
                     if isinstance(cls := getattr(aggregate, name), type)
                     and issubclass(cls, CanMutateAggregate))


def without_costs(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: without_costs(v) for k, v in value.items() if k not in COST_KEYS}
    if isinstance(value, list | tuple):
        return [without_costs(v) for v in value]
    return value


def _json(value: Any) -> Any:
    if isinstance(value, Decimal | UUID):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, set | frozenset):
        return sorted(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def event_id(stream_id: UUID | str, version: int, recorded: str | None = None) -> UUID:
    """Deterministic: a re-sent event keeps its id. `recorded` (the stored event's timestamp as
    its message's `recorded_at` carries it) tells apart two events given the same stream
    version, as after a restore from a backup; None: the form of events recorded before the
    cut-over (`IntegrationMapper.new_ids_since`), published under it before."""
    if recorded is None:
        return uuid5(NAMESPACE, f"integration-event/{stream_id}/{version}")
    return uuid5(NAMESPACE, f"integration-event/{stream_id}/{version}/{recorded}")


def recorded_mark(event: Any, state: bytes) -> str:
    """What an event id takes from the stored event: its timestamp (ISO 8601, as in
    `recorded_at`), or a digest of its stored state when it could not be decoded."""
    timestamp = getattr(event, "timestamp", None)
    if isinstance(timestamp, datetime):
        return timestamp.isoformat()
    return "sha256:" + hashlib.sha256(bytes(state)).hexdigest()


def stream_kind(topic: str) -> tuple[str, str]:
    """("WorkOrder", "Opened") from a stored topic "domain.work_order:WorkOrder.Opened"."""
    qualname = topic.rpartition(":")[2]
    kind, _, name = qualname.rpartition(".")
    return kind, name


class IntegrationMapper:
    """Stored event -> integration Message (or None for internal streams).

    `new_ids_since`: the first notification id whose event id takes the stored event's time
    (`event_id`); the events before it keep the id they were published under before."""

    def __init__(self, mapper: Mapper[UUID], prefix: str = "servicecore.",
                 new_ids_since: int = 1) -> None:
        self.mapper = mapper
        self.prefix = prefix
        self.new_ids_since = new_ids_since
        self.unknown: set[str] = set()

    def topics(self) -> list[str]:
        return [self.prefix + t for t in TOPICS]

    def to_message(self, notification_id: int, stored: StoredEvent) -> Message | None:
        kind, name = stream_kind(stored.topic)
        if kind in INTERNAL_STREAMS:
            return None
        event: Any = None
        try:
            event = self.mapper.to_domain_event(stored)
        except NewerEvent:  # published by a relay running the newer code, never half-read
            raise
        except Exception:  # noqa: BLE001 - an undecodable event still gets its envelope
            event = None
        recorded = None if notification_id < self.new_ids_since \
            else recorded_mark(event, stored.state)
        message = encode(notification_id, kind, name, event, str(stored.originator_id),
                         int(stored.originator_version), self.prefix, recorded=recorded)
        if not message.known and stored.topic not in self.unknown:
            self.unknown.add(stored.topic)
            log.warning("no integration mapping for %s: published with an empty payload",
                        stored.topic)
        return message


def encode(notification_id: int, kind: str, name: str, event: Any, stream_id: str,
           version: int, prefix: str = "", *, recorded: str | None = None) -> Message:
    """The integration message of one event of a published stream kind (`event` None: one that
    could not be decoded, published as an envelope); `recorded` goes into its id (`event_id`)."""
    route = ROUTES.get(kind) or Route(UNROUTED_TOPIC, snake(kind) or "unknown")
    spec = PAYLOADS.get(kind, {}).get(name) if event is not None else None
    payload = without_costs(spec(event)) if spec is not None else {}
    audit = getattr(event, "audit", None)
    event_type = f"{route.type_prefix}.{snake(name)}"
    body = {
        "event_id": str(event_id(stream_id, version, recorded)),
        "type": event_type,
        "schema_version": SCHEMA_VERSION,
        "stream_type": route.type_prefix,
        "stream_id": stream_id,
        "stream_version": version,
        "notification_id": notification_id,
        "occurred_at": audit.at if audit is not None else None,
        "recorded_at": getattr(event, "timestamp", None),
        "actor": {"user_id": audit.user_id, "role": audit.role, "store_id": audit.store_id}
        if audit is not None else None,
        "correlation_id": getattr(audit, "correlation_id", None),
        "payload": payload,
    }
    value = json.dumps(body, default=_json, ensure_ascii=False, separators=(",", ":"))
    return Message(
        topic=prefix + route.topic, key=stream_id.encode(), value=value.encode(),
        headers=[("type", event_type.encode()),
                 ("schema_version", str(SCHEMA_VERSION).encode())],
        type=event_type, known=spec is not None,
    )

