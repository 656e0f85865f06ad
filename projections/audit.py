"""Audit reads straight from the event store: a stream's history, events by notification id
(what the audit index found), and a stream's state at a moment.

Personal data in an answer is opened with the customer's key (or shown as erased) by a
`PersonalDataOpener`, which remembers whose data came out in the clear so that the read can be
recorded.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import takewhile
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing import persistence
from psycopg.rows import tuple_row

from domain.aggregate_loads import replay as replayed
from domain.application import ServiceCore
from domain.common import Audit
from domain.customer import Customer
from domain.oem_claim import OemClaim
from domain.pii import ERASED, PersonalData
from domain.settlement import Settlement
from domain.technician import Technician
from domain.unreadable_events import applying
from domain.work_order import WorkOrder
from projections.as_of_start import reached_version, trusted_starts
from projections.base import stored_event
from projections.work_order_doc import fold
from projections.work_order_doc_settlement import SETTLEMENT_EVENTS, settled

_HIDDEN = {"originator_id", "originator_version", "timestamp", "audit", "reason", "originator_topic"}
_RUN_GAP = 64  # ids this close are read in one range query (the few between are dropped)
STREAM_CHUNK = 1000  # events of one stream read in one query


class PersonalDataOpener:
    """Opens sealed personal data and remembers which customers' data it showed in the clear."""

    def __init__(self, personal_data: PersonalData) -> None:
        self.personal_data = personal_data
        self.opened: set[UUID] = set()

    def __call__(self, customer_id: UUID, token: str | None) -> str | None:
        value = self.personal_data.open(customer_id, token)
        if value is not None and value != ERASED:
            self.opened.add(customer_id)
        return value

    def readable(self, value: Any, customer_id: UUID | None) -> Any:
        """Sealed tokens opened (or shown as erased); everything else as stored."""
        if isinstance(value, str) and value.startswith("pii1:") and customer_id is not None:
            return self(customer_id, value)
        if isinstance(value, dict):
            return {k: self.readable(v, customer_id) for k, v in value.items()}
        if isinstance(value, list):
            return [self.readable(v, customer_id) for v in value]
        return value


def stream_events(app: ServiceCore, stream_id: UUID, *, gt: int | None = None,
                  lte: int | None = None) -> Iterator[Any]:
    """The stream's events in order (after version `gt`, up to `lte`), read STREAM_CHUNK at a
    time: the event store reads a stream whole into memory, and a busy part's stock item
    gathers hundreds of thousands of events over the years."""
    after = gt
    while True:
        count = 0
        for event in app.events.get(stream_id, gt=after, lte=lte, limit=STREAM_CHUNK):
            count += 1
            after = event.originator_version
            yield event
        if count < STREAM_CHUNK:
            return


_events = stream_events


def customer_of(event: Any, default: UUID | None = None) -> UUID | None:
    """Whose personal data an event may carry: its customer, or the customer stream's own id."""
    if isinstance(event, Customer.Event):
        return event.originator_id
    found = getattr(event, "customer_id", None)
    return found if isinstance(found, UUID) else default


def history(app: ServiceCore, stream_id: UUID,
            opener: PersonalDataOpener | None = None) -> list[dict[str, Any]]:
    opener = opener or PersonalDataOpener(app.personal_data)
    entries = []
    customer_id: UUID | None = None
    for event in _events(app, stream_id):
        customer_id = customer_of(event, customer_id)
        entries.append(_history_entry(event, opener, customer_id))
    return entries


def actor(event: Any) -> dict[str, Any] | None:
    """Who did it: the one shape of `actor` in a history and in the timeline (user, role,
    store, business time, request and its idempotency key); None for an event without an
    audit stamp (none is stored)."""
    audit: Audit | None = getattr(event, "audit", None)
    return audit.as_dict() if audit else None


def reason_of(event: Any) -> str | None:
    """Why it was done: the event's `reason`, or the reason an override of its own names
    (a purchase-order receipt above what was outstanding keeps `over_delivery_reason`; the
    customer's decision on an estimate line keeps it as its `note`, which a change of mind
    requires, and so does a technician's attendance, which a correction of a recorded day
    requires; a claim resubmitted to the OEM says what was corrected in `changes`; a job or a
    booked slot released says `why`). A reason about the customer may be sealed (a complaint
    case's reopening): the history opens it as it opens the changes."""
    if isinstance(event, (WorkOrder.LineAuthorized, Technician.AttendanceRecorded)):
        return event.note
    if isinstance(event, OemClaim.Resubmitted):
        return event.changes
    return getattr(event, "reason", None) or getattr(event, "over_delivery_reason", None) \
        or getattr(event, "why", None)


def _history_entry(event: Any, opener: PersonalDataOpener,
                   customer_id: UUID | None) -> dict[str, Any]:
    changes = {k: v for k, v in vars(event).items() if k not in _HIDDEN}
    return {
        "version": event.originator_version,
        "event": type(event).__qualname__,
        "recorded_at": event.timestamp,
        "actor": actor(event),
        "reason": opener.readable(reason_of(event), customer_id),
        "changes": opener.readable(changes, customer_id),
    }


@dataclass(frozen=True)
class StreamPage:
    """One page of a stream's history, and what its first event says about the stream."""

    kind: str  # the first event's type: "WorkOrder.Opened"
    store_id: str | None  # the store of the first event's actor
    page: dict[str, Any]  # {total, limit, offset, items}


def history_page(app: ServiceCore, stream_id: UUID, *, limit: int, offset: int,
                 opener: PersonalDataOpener | None = None) -> StreamPage | None:
    """The page `history(...)[offset:offset + limit]` would be, reading from the store only the
    stream's last version (the total), its first event and the page's events: a page of a
    stock item's 100,000 events costs the page, not the stream, as it did. None: no stream.

    A stream's versions run 1, 2, … without gaps, so the page is versions offset+1 to
    offset+limit. The customer whose personal data an event may carry is named by the stream's
    first event (a work order's, an appointment's) or is the stream itself (a customer's): no
    later event names one, so the page's events are opened as the whole history opens them.
    """
    last = app.recorder.select_events(stream_id, desc=True, limit=1)
    if not last:
        return None
    first = next(iter(app.events.get(stream_id, lte=1)))
    audit: Audit | None = getattr(first, "audit", None)
    opener = opener or PersonalDataOpener(app.personal_data)
    customer_id = customer_of(first)
    items = []
    for event in app.events.get(stream_id, gt=offset, lte=offset + limit):
        customer_id = customer_of(event, customer_id)
        items.append(_history_entry(event, opener, customer_id))
    return StreamPage(
        kind=type(first).__qualname__, store_id=audit.store_id if audit else None,
        page={"total": last[0].originator_version, "limit": limit, "offset": offset,
              "items": items})


def entry(notification_id: int, event: Any, opener: PersonalDataOpener,
          customer_id: UUID | None = None) -> dict[str, Any]:
    """One event of any stream as an audit line: where it sits, who, when, why, what changed."""
    audit: Audit | None = getattr(event, "audit", None)
    event_type = type(event).__qualname__
    changes = {k: v for k, v in vars(event).items() if k not in _HIDDEN}
    customer = customer_of(event, customer_id)
    return {
        "notification_id": notification_id,
        "stream_type": event_type.split(".")[0],
        "stream_id": event.originator_id,
        "version": event.originator_version,
        "event": event_type,
        "actor": actor(event),
        "at": audit.at if audit else None,
        "recorded_at": event.timestamp,
        "reason": opener.readable(reason_of(event), customer),
        "correlation_id": audit.correlation_id if audit else None,
        "idempotency_key": audit.idempotency_key if audit else None,
        "changes": opener.readable(changes, customer),
    }


def _runs(ids: Sequence[int]) -> Iterator[tuple[int, int]]:
    """Sorted ids grouped into (first, last) ranges whose neighbours are at most _RUN_GAP apart."""
    first = last = ids[0]
    for notification_id in ids[1:]:
        if notification_id - last > _RUN_GAP:
            yield first, last
            first = notification_id
        last = notification_id
    yield first, last


def events_at(app: ServiceCore, notification_ids: Iterable[int]) -> list[tuple[int, Any]]:
    """The stored events with these notification ids, in log order, as domain events."""
    wanted = sorted(set(notification_ids))
    if not wanted:
        return []
    keep = set(wanted)
    found = []
    for first, last in _runs(wanted):
        for notification in app.recorder.select_notifications(
                start=first, limit=last - first + 1, stop=last):
            if notification.id in keep:
                found.append((notification.id, app.mapper.to_domain_event(notification)))
    return found


def work_order_as_of(app: ServiceCore, work_order_id: UUID, at: datetime,
                     opener: PersonalDataOpener | None = None) -> dict[str, Any] | None:
    """The work order as it stood at `at` (business time of each event's audit stamp), with
    the insurer's assessment and the drafted bills its settlement then held, and the totals
    they give, as the view shows them. Each stream is replayed up to its first event stamped
    after `at` (`events_until`), as every `as_of` replay: an event stored after it though
    stamped earlier (its request waited for the stream) was decided on the state it made."""
    events = events_until(app, work_order_id, at)
    doc = fold(events, opener or PersonalDataOpener(app.personal_data), app.mapper.transcoder)
    if doc is None:
        return None
    for e in events_until(app, Settlement.create_id(work_order_id), at):
        if isinstance(e, SETTLEMENT_EVENTS):
            settled(stored_event(e, app.mapper.transcoder), doc)
    return doc


def events_until(app: ServiceCore, stream_id: UUID, at: datetime) -> list[Any]:
    """The stream's events up to `at` (business time of each event's audit stamp), in order:
    the replay stops at the first event after it."""
    found = []
    for event in _events(app, stream_id):
        if event.audit.at > at:
            break
        found.append(event)
    return found


def folded_as_of(app: ServiceCore, stream_id: UUID, at: datetime, kind: type,
                 fold: Callable[[Any, Any], Any]) -> Any | None:
    """What `fold` (the state before an event, None before the first; the event) makes of
    the stream's events up to `at` (`events_until`); None before its first event, or when
    the stream is not of `kind` (the route's aggregate's `Event`: another kind's id is
    unknown at every moment). An event `fold` cannot apply is raised as the UnreadableEvent
    naming it."""
    doc = None
    for event in events_until(app, stream_id, at):
        if not isinstance(event, kind):
            return None
        try:
            doc = fold(doc, event)
        except Exception as error:
            raise applying(event, error) from error
    return doc


def aggregate_as_of(app: ServiceCore, stream_id: UUID, at: datetime) -> Any | None:
    """Any aggregate as it stood at `at` (None if it did not exist): replayed from its latest
    trusted snapshot at or before the version `at` reaches, or from its first event
    (projections/as_of_start.py)."""
    reach = reached_version(app, stream_id, at)
    if reach is None:
        return replay(takewhile(lambda event: event.audit.at <= at, _events(app, stream_id)))
    start = next(trusted_starts(app, stream_id, reach))
    return replay(stream_events(app, stream_id, gt=start.version, lte=reach), start.aggregate)


def replay(events: Iterable[Any], aggregate: Any | None = None) -> Any | None:
    """The aggregate these events (in order, from its first, or from the state `aggregate`
    they follow) make (None: no events and no state); an event it cannot apply is raised as
    the UnreadableEvent naming it."""
    return replayed(aggregate, events)


def stream_exists(app: ServiceCore, stream_id: UUID) -> bool:
    return next(iter(app.events.get(stream_id, limit=1)), None) is not None


# servicecore/schema.py APPEND_LOCK (tests/integration/test_save_faults.py checks they agree).
APPEND_LOCK_SQL = "SELECT pg_advisory_xact_lock(hashtext('servicecore-append'))"
# servicecore/schema.py VOID_COMMANDS (tests/integration/test_final_lookup.py checks they agree).
VOID_COMMANDS_SQL = ("INSERT INTO servicecore_commands (command_id, notification_ids) "
                     "SELECT unnest(%s::uuid[]), '{}' ON CONFLICT (command_id) DO NOTHING")


class SaveStillCommitting(persistence.OperationalError):
    """A save holding the append lock did not finish within the lookup's wait: a statement
    of this command id may be committing, so neither answer is final yet (503, ask again)."""

    def __init__(self, command_id: UUID) -> None:
        super().__init__(f"command {command_id}: a save is still committing")
        self.command_id = command_id


def stored_command(conn: psycopg.Connection[Any], command_id: UUID,
                   wait_seconds: float | None = None) -> dict[str, Any] | None:
    """Whether a save with this command id was stored, and its events' notification ids.

    Final either way. Read under the append lock, so a save still committing is waited for
    (`wait_seconds` at most: then `SaveStillCommitting`). Not stored, the command id is voided
    in the same transaction (VOID_COMMANDS_SQL): a statement of it that a stuck middlebox still
    holds on its way to a live backend fails on the key when it arrives, events and all.
    """
    committing = False
    try:
        with conn.transaction():
            if wait_seconds:
                conn.execute("SELECT set_config('lock_timeout', %s, true)",
                             (f"{max(1, round(wait_seconds * 1000))}ms",))
            conn.execute(APPEND_LOCK_SQL)
            row = conn.cursor(row_factory=tuple_row).execute(
                "SELECT notification_ids, recorded_at FROM servicecore_commands "
                "WHERE command_id = %s", (command_id,)).fetchone()
            if row is None:
                conn.execute(VOID_COMMANDS_SQL, ([command_id],))
    except psycopg.errors.LockNotAvailable:
        committing = True
    if committing:  # raised outside the handler: no server error behind it, a plain 503
        raise SaveStillCommitting(command_id)
    if row is None or not row[0]:
        return None
    notification_ids, recorded_at = row
    return {"command_id": command_id, "stored": True,
            "notification_ids": list(notification_ids), "recorded_at": recorded_at}
