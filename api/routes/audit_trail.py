"""/audit: finding things for an auditor — a document number's streams, one visit's timeline
across its streams, every event of one request, every event of a kind in a period (the sample
an auditor draws: discounts, refunds, scrap, reversals …), and who read a customer's personal
data or a bank statement's payers.

The audit index finds notification ids; the events themselves come from the event store.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, time
from functools import cache
from typing import Annotated, Any
from uuid import UUID
from zoneinfo import ZoneInfo

from eventsourcing.domain import DomainEvent
from fastapi import APIRouter, Depends, Query, Response

from api.dates import DayOrMoment, ordered, plain_moment, zone_plus
from api.deps import Ctx, Offset, WaitFor, wait_for_projection
from api.json_bodies import JsonBodyRoute
from api.numbers import Plain
from api.paging import Limit, PageOf
from api.pii_reads import PiiReader, pii_reader, statement_entries
from api.schemas_audit_trail import (
    AuditEntry,
    NumberLookup,
    PersonalDataReadOut,
    RequestEvents,
    Timeline,
)
from domain.common import InvalidInput, NotFound
from domain.counter import parse_number
from domain.data_access import DataAccess
from domain.days import plain_day
from domain.invoice_number import InvoiceNumber, invoice_number
from domain.work_order import WorkOrder
from projections import audit
from projections.audit_index import (
    events_listed,
    personal_data_reads,
    request_events,
    streams_named,
    streams_numbered,
    work_order_events,
)

router = APIRouter(prefix="/audit", tags=["audit"], route_class=JsonBodyRoute)
VIEW = "audit_index"
Auditor = Annotated[PiiReader, Depends(pii_reader("audit.trail"))]
HISTORY = {
    "WorkOrder": "/work-orders/{}/history",
    "Settlement": "/settlements/{}/history",
    "Appointment": "/appointments/{}/history",
    "FollowUp": "/follow-ups/{}/history",
    "Complaint": "/complaints/{}/history",
    "Grievance": "/grievances/{}/history",
    "ProgressLinks": "/progress-links/{}/history",
    "PurchaseOrder": "/purchase-orders/{}/history",
    "Transfer": "/stock/transfers/{}/history",
}
OWN_STREAM = {"WO": "WorkOrder", "SET": "Settlement", "PO": "PurchaseOrder", "TR": "Transfer"}
DOCUMENT_PREFIX = re.compile(rf"(?:{'|'.join(OWN_STREAM)})-", re.IGNORECASE)


def _fresh(ctx: Ctx, response: Response, wait_for: int | None) -> None:
    if not wait_for_projection(ctx, VIEW, wait_for):
        response.headers["X-Read-Model-Stale"] = "true"


def _visible(reading: PiiReader, store_id: str | None) -> bool:
    return "*" in reading.stores or store_id in reading.stores


@router.get("/lookup", response_model=NumberLookup, responses={404: {"description": (
    "No stream names the document number; no bill or credit of the stores asked has the "
    "tax invoice number")}})
def lookup(ctx: Ctx, reading: Auditor, response: Response,
           number: Annotated[str, Query(max_length=40, description=(
               "WO-S01-2026-000123, SET-S01-2026-000001, PO-S01-2026-000004, "
               "TR-S01-2026-000002, or a tax invoice (发票) number, blue or red"))],
           store_id: Annotated[str | None, Query(max_length=40, description=(
               "a tax invoice number's store (default: the token's stores, or with a token "
               "for every store the group's configured stores)"))] = None,
           wait_for: WaitFor = None) -> Any:
    """Which streams a work-order, settlement, purchase-order or transfer number names, with
    links to their history and to the visit's timeline; the stream the number belongs to comes
    first; one of those prefixes with a malformed rest is 422. Any other text is a tax invoice
    number: the settlement whose bill has it (or whose credit has it as its red-letter
    invoice), found through the number's reservation in each store asked, and the
    reservation."""
    try:
        wanted = parse_number(number)
    except InvalidInput:
        if DOCUMENT_PREFIX.match(number.strip()):
            raise  # a mistyped document number: 422
        return _invoice_lookup(ctx, reading, response, invoice_number(number), store_id,
                               wait_for)
    _fresh(ctx, response, wait_for)
    with ctx.pool.connection() as conn:
        found = streams_numbered(conn, str(wanted), reading.stores)
    if not found:
        raise NotFound(f"no stream names {wanted}")
    own = OWN_STREAM[wanted.prefix]
    found.sort(key=lambda row: row["stream_type"] != own)
    return _answer(str(wanted), wanted.kind, found)


def _answer(number: str, kind: str, found: list[dict[str, Any]],
            invoices: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    streams = [{
        **row,
        "history": HISTORY[row["stream_type"]].format(row["stream_id"])
        if row["stream_type"] in HISTORY else None,
        "timeline": f"/audit/work-orders/{row['work_order_id']}/timeline"
        if row["work_order_id"] else None,
    } for row in found]
    work_orders = {row["work_order_id"] for row in found if row["work_order_id"]}
    return {"number": number, "kind": kind,
            "work_order_id": next(iter(work_orders)) if len(work_orders) == 1 else None,
            "streams": streams, "invoices": invoices or []}


def _invoice_lookup(ctx: Ctx, reading: PiiReader, response: Response, number: str,
                    store_id: str | None, wait_for: int | None) -> dict[str, Any]:
    """A tax invoice number through its reservations: one read of the event store per store
    asked (the reservation's id is the store and the number), no index of its own."""
    if not number:
        raise InvalidInput("number is required")
    if store_id is not None:
        stores = [store_id] if _visible(reading, store_id) else []
    elif "*" in reading.stores:
        stores = sorted(ctx.settlements.stores)
        if not stores:
            raise InvalidInput("a tax invoice number is looked up in one store's invoices: "
                               "name the store (store_id)", field="store_id")
    else:
        stores = list(reading.stores)
    invoices = [use for store in stores if (use := _invoice_use(ctx, store, number))]
    if not invoices:
        raise NotFound(f"no settlement has invoice {number}"
                       + (f" in {', '.join(stores)}" if stores else ""))
    _fresh(ctx, response, wait_for)
    ids = [InvoiceNumber.create_id(u["store_id"], number) for u in invoices]
    with ctx.pool.connection() as conn:
        found = streams_named(conn, [*ids, *(u["settlement_id"] for u in invoices)],
                              reading.stores)
    found.sort(key=lambda row: row["stream_type"] != "Settlement")
    return _answer(number, "tax_invoice", found, invoices)


def _invoice_use(ctx: Ctx, store_id: str, number: str) -> dict[str, Any] | None:
    """The use the reservation names: its first, or the one that took it again after a
    rejected credit let it go (`Retaken`)."""
    events: list[Any] = list(ctx.app.events.get(InvoiceNumber.create_id(store_id, number)))
    if not events or not isinstance(getattr(events[0], "settlement_id", None), UUID):
        return None  # no reservation: the id is the store and the number, nothing else
    held = [e for e in events if isinstance(getattr(e, "settlement_id", None), UUID)][-1]
    refund_id = getattr(held, "refund_id", None)
    return {"store_id": store_id, "invoice_no": events[0].invoice_no,
            "red_letter": getattr(held, "cancels", None) is not None, "bill": held.bill,
            "settlement_id": held.settlement_id,
            "settlement_number": held.settlement_number,
            "work_order_number": held.work_order_number, "refund_id": refund_id,
            "cancels": getattr(held, "cancels", None)}


@router.get("/work-orders/{work_order_id}/timeline", response_model=Timeline)
def timeline(work_order_id: UUID, ctx: Ctx, reading: Auditor, response: Response,
             limit: Limit = 500, offset: Offset = 0, wait_for: WaitFor = None) -> Any:
    """The visit across its streams, in log order: the work order, the stock items' issues and
    returns for it, its settlement, follow-up, complaint, the complaint cases (投诉) registered
    about it and its warranty claim at the OEM, the technicians' assignments and clocks for it,
    its appointment, and the cashier's money for its settlement. One page of it, as a
    stream's history is paged (`total`, `limit`, `offset`, `items`); `streams` counts the
    whole visit's events per stream."""
    _fresh(ctx, response, wait_for)
    opened = next(iter(ctx.app.events.get(work_order_id, lte=1)), None)
    if not isinstance(opened, WorkOrder.Opened) or not _visible(reading,
                                                                opened.audit.store_id):
        raise NotFound(f"work order {work_order_id} not found")
    with ctx.pool.connection() as conn:
        found = work_order_events(conn, work_order_id)
    streams: dict[UUID, dict[str, Any]] = {}
    for _, stream_type, stream_id in found:
        stream = streams.setdefault(stream_id, {
            "stream_type": stream_type, "stream_id": stream_id, "events": 0})
        stream["events"] += 1
    opener = reading.opener()
    items = [audit.entry(n, event, opener, opened.customer_id) for n, event in audit.events_at(
        ctx.app, [n for n, _, _ in found[offset:offset + limit]])]
    reading.record_opened(opener, opened.audit.store_id, "work-order timeline")
    return {"work_order_id": work_order_id, "number": opened.number,
            "store_id": opened.audit.store_id, "streams": list(streams.values()),
            "total": len(found), "limit": limit, "offset": offset, "items": items}


@router.get("/events", response_model=RequestEvents)
def events_of_request(ctx: Ctx, reading: Auditor, response: Response,
                      correlation_id: Annotated[str, Query(min_length=1, max_length=200)],
                      limit: Limit = 500, offset: Offset = 0,
                      wait_for: WaitFor = None) -> Any:
    """Every event one request stored, across all streams, in log order, a page at a time
    (`total`, `limit`, `offset`: a client may send one correlation id with many requests)."""
    _fresh(ctx, response, wait_for)
    with ctx.pool.connection() as conn:
        total, ids = request_events(conn, correlation_id, reading.stores, limit=limit,
                                    offset=offset)
    opener = reading.opener()
    entries: list[dict[str, Any]] = reading.audit_entries(
        [audit.entry(n, event, opener) for n, event in audit.events_at(ctx.app, ids)])
    if entries:
        reading.record_opened(opener, entries[0]["actor"]["store_id"], "events of a request",
                              entries)
    return {"correlation_id": correlation_id, "total": total, "limit": limit, "offset": offset,
            "items": entries, "events": entries}


class AuditLogPage(PageOf[AuditEntry]):
    """One page of the events asked for, in log order."""


Bound = Annotated[str | None, Query(max_length=40, description=(
    "a moment with its time zone (2026-03-01T10:00:00+08:00) or a day in the store's time "
    "zone (from: its start, to: its end)")), DayOrMoment]


def _subclasses(cls: type) -> Iterator[type]:
    sub: type
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


@cache
def _event_types() -> frozenset[str]:
    return frozenset(cls.__qualname__ for cls in _subclasses(DomainEvent)
                     if cls.__module__.startswith("domain."))


def _bound(name: str, value: str | None, timezone: str, *, end: bool) -> datetime | None:
    """A period's bound: a moment with its zone, or a day's start (`from`) or end (`to`)."""
    if value is None:
        return None
    day = plain_day(value)
    if day is not None:
        return datetime.combine(day, time.max if end else time.min, ZoneInfo(timezone))
    moment = plain_moment(zone_plus(value))
    if moment is None:  # DayOrMoment let it through: only when called otherwise
        raise InvalidInput(f"{name} must be a day (2026-03-01) or a moment with its time zone "
                           "(2026-03-01T10:00:00+08:00)", field=name)
    return moment


@router.get("/log", response_model=AuditLogPage)
def audit_log(ctx: Ctx, reading: Auditor, response: Response,
              event_type: Annotated[str | None, Query(max_length=2000, description=(
                  "e.g. Settlement.DiscountGiven, or several separated by commas: "
                  "Settlement.DiscountGiven,StockItem.Scrapped (none: every type)"))] = None,
              user_id: Annotated[str | None, Query(max_length=200)] = None,
              store_id: Annotated[str | None, Query(max_length=40)] = None,
              start: Annotated[Bound, Query(alias="from")] = None,
              end: Annotated[Bound, Query(alias="to")] = None,
              limit: Limit = 500, offset: Offset = 0, wait_for: WaitFor = None) -> Any:
    """Every event of these types, by this user, in this store, with a business time in the
    period, in the caller's stores, in log order and paged: who, when, why (`reason`) and what
    changed, as a visit's timeline shows each event. The audit index finds them; the events
    come from the event store."""
    types = [t.strip() for t in (event_type or "").split(",") if t.strip()]
    unknown = sorted(set(types) - _event_types())
    if unknown:
        raise InvalidInput(f"unknown event type {unknown[0]!r}: a stream and an event, e.g. "
                           "Settlement.DiscountGiven", unknown=unknown)
    low = _bound("from", start, ctx.timezone, end=False)
    high = _bound("to", end, ctx.timezone, end=True)
    ordered(low, high, first_name="from", last_name="to")
    _fresh(ctx, response, wait_for)
    with ctx.pool.connection() as conn:
        total, ids = events_listed(conn, reading.stores, event_types=types, user_id=user_id,
                                   store_id=store_id, start=low, end=high, limit=limit,
                                   offset=offset)
    opener = reading.opener()
    found = audit.events_at(ctx.app, ids)
    items = reading.audit_entries([audit.entry(n, event, opener) for n, event in found])
    reading.record(((customer, event.audit.store_id) for _, event in found
                    if (customer := audit.customer_of(event)) in opener.opened), "audit log",
                   statement_entries(items))
    return {"total": total, "limit": limit, "offset": offset, "items": items}


class PersonalDataReadPage(PageOf[PersonalDataReadOut]):
    """One page of the recorded reads of a customer's personal data (or of a statement's
    payers), newest first."""


@router.get("/personal-data-reads", response_model=PersonalDataReadPage)
def reads_of_personal_data(ctx: Ctx, reading: Auditor, response: Response,
                           customer_id: UUID | None = None,
                           statement_id: UUID | None = None,
                           limit: Annotated[int, Query(ge=1, le=1000), Plain] = 100,
                           offset: Offset = 0,
                           wait_for: WaitFor = None) -> Any:
    """Who read the customer's personal data (or the payers of the bank statement: exactly
    one of the two is named), when, through which endpoint and in which request; newest
    first."""
    if (customer_id is None) == (statement_id is None):
        both = customer_id is not None
        raise InvalidInput("name the customer (customer_id) or the bank statement "
                           f"(statement_id){', not both' if both else ''}",
                           field="statement_id" if both else "customer_id")
    _fresh(ctx, response, wait_for)
    with ctx.pool.connection() as conn:
        total, ids = personal_data_reads(conn, customer_id, reading.stores,
                                         statement_id=statement_id, limit=limit,
                                         offset=offset)
    found = []
    for notification_id, event in reversed(audit.events_at(ctx.app, ids)):
        if isinstance(event, DataAccess.PersonalDataRead):
            found.append({
                "notification_id": notification_id, "read_id": event.originator_id,
                "customer_id": event.customer_id, "statement_id": event.statement_id,
                "statement_lines": event.statement_lines, "user_id": event.audit.user_id,
                "role": event.audit.role, "store_id": event.audit.store_id,
                "at": event.audit.at, "correlation_id": event.audit.correlation_id,
                "endpoint": event.endpoint, "purpose": event.purpose})
    return {"total": total, "limit": limit, "offset": offset, "items": found}

