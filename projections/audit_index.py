"""The audit index: one row per stored event saying where it sits and what it refers to.

It finds; the event store answers. Per notification id: stream, type, version, who (store,
user, role), correlation id, idempotency key, business time, the document number the event
names (a work-order or settlement number), the work order it refers to (a stock item's issue
or return for that work order, any event of its settlement, follow-up or complaint, or of a
complaint case registered about the visit, a technician's assignment or clock, a cashier's
money for its settlement), the customer it concerns and, for a read of a bank statement's
payers, that statement (for the reads of personal data). The audit endpoints look
notification ids up here and read the events themselves from the event store.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg

from domain.cashier_day import CashierDay
from domain.data_access import DataAccess
from domain.failed_part import FailedPart
from domain.follow_up import Complaint, FollowUp
from domain.grievance import Grievance
from domain.oem_claim import OemClaim
from domain.repair_filing import RepairFiling
from domain.settlement import Settlement
from domain.stock import StockItem
from domain.work_order import WorkOrder
from projections.audit import customer_of
from projections.base import Index, ReadModel, page, rows, store_scope
from projections.batch_rows import insert_rows
from projections.stock_batch import work_order_of

# Streams that belong to one work order: their first event names it, the later ones do not.
BELONGING = (Settlement.Event, FollowUp.Event, Complaint.Event, OemClaim.Event,
             RepairFiling.Event, Grievance.Event, FailedPart.Event)
COLUMNS = ("notification_id", "stream_id", "stream_type", "version", "event_type", "store_id",
           "user_id", "role", "correlation_id", "idempotency_key", "business_at", "number",
           "work_order_id", "customer_id", "statement_id")


def _uuid(value: Any) -> UUID | None:
    if isinstance(value, UUID):
        return value
    try:
        return UUID(str(value)) if value else None
    except ValueError:
        return None


def _number(event: Any) -> str | None:
    for name in ("number", "work_order_number"):
        value = getattr(event, name, None)
        if isinstance(value, str):
            return value
    return None


class AuditIndexView(ReadModel):
    name = "audit_index"
    # 2: a read of a bank statement's payers names the statement (`statement_id`); 3: every
    # step of a complaint case about a visit refers to it (before: its registration only);
    # 4: every custody step of a failed part tagged on a visit refers to it (before: the tag)
    revision = 4
    tables = {  # noqa: RUF012
        "audit_index": """
            notification_id bigint PRIMARY KEY, stream_id uuid NOT NULL,
            stream_type text NOT NULL, version integer NOT NULL, event_type text NOT NULL,
            store_id text, user_id text, role text, correlation_id text, idempotency_key text,
            business_at timestamptz, number text, work_order_id uuid, customer_id uuid,
            statement_id uuid""",
        "audit_index_streams": """
            stream_id uuid PRIMARY KEY, work_order_id uuid NOT NULL""",
    }
    indexes = (
        Index("audit_index", "audit_index_stream_idx", "(stream_id, version)"),
        Index("audit_index", "audit_index_correlation_idx", "(correlation_id)"),
        Index("audit_index", "audit_index_work_order_idx",
              "(work_order_id, notification_id) WHERE work_order_id IS NOT NULL"),
        Index("audit_index", "audit_index_number_idx", "(number) WHERE number IS NOT NULL"),
        Index("audit_index", "audit_index_customer_idx",
              "(customer_id, notification_id) WHERE customer_id IS NOT NULL"),
        Index("audit_index", "audit_index_statement_idx",
              "(statement_id, notification_id) WHERE statement_id IS NOT NULL"),
        Index("audit_index", "audit_index_type_idx", "(event_type, business_at)"),
        # /audit/log?user_id=: what one person did, found among their own events (without it
        # each page and its count read the whole log, millions of events, for a few)
        Index("audit_index", "audit_index_user_idx",
              "(user_id, notification_id) WHERE user_id IS NOT NULL"),
    )
    added_columns = (("audit_index", "statement_id uuid"),)

    def apply(self, conn: psycopg.Connection[Any], events: Sequence[tuple[int, Any]],
              suffix: str = "") -> None:
        owners = self._preload(conn, events, suffix)
        new_owners: list[tuple[UUID, UUID]] = []
        batch = []
        for notification_id, event in events:
            if isinstance(event, BELONGING) and isinstance(
                    owner := getattr(event, "work_order_id", None), UUID):
                owners[event.originator_id] = owner
                new_owners.append((event.originator_id, owner))
            batch.append(self._row(notification_id, event, owners))
        if new_owners:
            with conn.cursor() as cur:
                cur.executemany(f"INSERT INTO audit_index_streams{suffix} (stream_id, "
                                f"work_order_id) VALUES (%s, %s)", new_owners)
        insert_rows(conn, f"audit_index{suffix}", COLUMNS, batch)

    @staticmethod
    def _preload(conn: psycopg.Connection[Any], events: Sequence[tuple[int, Any]],
                 suffix: str) -> dict[UUID, UUID]:
        """The work orders of the settlements, follow-ups, complaints and complaint cases this
        batch touches."""
        wanted = {e.originator_id for _, e in events if isinstance(e, BELONGING)}
        wanted |= {e.settlement_id for _, e in events
                   if isinstance(e, CashierDay.MoneyIn | CashierDay.MoneyOut)}
        if not wanted:
            return {}
        found = conn.execute(f"SELECT stream_id, work_order_id FROM audit_index_streams{suffix} "
                             f"WHERE stream_id = ANY(%s)", (list(wanted),))
        return {row[0]: row[1] for row in found}

    @staticmethod
    def _row(notification_id: int, event: Any, owners: dict[UUID, UUID]) -> tuple[Any, ...]:
        audit = getattr(event, "audit", None)
        event_type = type(event).__qualname__
        return (
            notification_id, event.originator_id, event_type.split(".")[0],
            event.originator_version, event_type,
            audit.store_id if audit else None, audit.user_id if audit else None,
            audit.role if audit else None, audit.correlation_id if audit else None,
            audit.idempotency_key if audit else None, audit.at if audit else None,
            _number(event), _work_order(event, owners), customer_of(event),
            event.statement_id if isinstance(event, DataAccess.PersonalDataRead) else None,
        )


def _work_order(event: Any, owners: dict[UUID, UUID]) -> UUID | None:
    """The work order an event refers to, if any."""
    if isinstance(event, WorkOrder.Event):
        return event.originator_id
    if isinstance(event, BELONGING):
        return owners.get(event.originator_id)
    if isinstance(event, CashierDay.MoneyIn | CashierDay.MoneyOut):
        return owners.get(event.settlement_id)
    if isinstance(event, StockItem.Event) and isinstance(key := getattr(event, "key", None), str):
        return work_order_of(key)[0]
    return _uuid(getattr(event, "work_order_id", None))


# -- queries: each answers notification ids (or streams); the event store answers the rest ---

def work_order_events(conn: psycopg.Connection[Any],
                      work_order_id: UUID) -> list[tuple[int, str, UUID]]:
    """Every event referring to the work order, and its appointment's whole stream, in log
    order: (notification id, stream type, stream id) each."""
    found = conn.execute(
        """SELECT notification_id, stream_type, stream_id FROM audit_index
           WHERE work_order_id = %(wo)s
           UNION
           SELECT a.notification_id, a.stream_type, a.stream_id FROM audit_index a
           WHERE a.stream_id IN (
               SELECT stream_id FROM audit_index
               WHERE work_order_id = %(wo)s AND stream_type = 'Appointment')
           ORDER BY notification_id""", {"wo": work_order_id})
    return [(row[0], row[1], row[2]) for row in found]


def request_events(conn: psycopg.Connection[Any], correlation_id: str,
                   stores: Sequence[str], *, limit: int | None = None,
                   offset: int = 0) -> tuple[int, list[int]]:
    """How many events carry the correlation id in the caller's stores (one request's; a
    client may send the same id with every request of a long import), and the notification
    ids of `limit` of them from `offset` on, in log order."""
    scope, params = store_scope(stores)
    found = page(conn, f"""SELECT notification_id FROM audit_index
        WHERE correlation_id = %s AND {scope}""", [correlation_id, *params],
                 order_by="notification_id", limit=limit, offset=offset)
    return found["total"], [row["notification_id"] for row in found["items"]]


def personal_data_reads(conn: psycopg.Connection[Any], customer_id: UUID | None,
                        stores: Sequence[str], *, statement_id: UUID | None = None,
                        limit: int, offset: int) -> tuple[int, list[int]]:
    """How many recorded reads of the customer's personal data (or of the payers of the
    bank statement, given its id instead) there are, and the notification ids of one page of
    them, newest first."""
    key, value = ("customer_id", customer_id) if statement_id is None else (
        "statement_id", statement_id)
    scope, params = store_scope(stores)
    found = page(conn, f"""SELECT notification_id FROM audit_index
        WHERE {key} = %s AND stream_type = %s AND {scope}""",
                 [value, DataAccess.__name__, *params], order_by="notification_id DESC",
                 limit=limit, offset=offset)
    return found["total"], [row["notification_id"] for row in found["items"]]


def events_listed(conn: psycopg.Connection[Any], stores: Sequence[str], *,
                  event_types: Sequence[str], user_id: str | None, store_id: str | None,
                  start: datetime | None, end: datetime | None, limit: int,
                  offset: int) -> tuple[int, list[int]]:
    """How many events of these types (any, if none), by this user, in this store and with a
    business time in [start, end] there are in the caller's stores, and the notification ids of
    one page of them, in log order."""
    scope, params = store_scope(stores)
    where = [scope]
    for clause, value in (("event_type = ANY(%s)", list(event_types) or None),
                          ("user_id = %s", user_id), ("store_id = %s", store_id),
                          ("business_at >= %s", start), ("business_at <= %s", end)):
        if value is not None:
            where.append(clause)
            params.append(value)
    found = page(conn, f"SELECT notification_id FROM audit_index WHERE {' AND '.join(where)}",
                 params, order_by="notification_id", limit=limit, offset=offset)
    return found["total"], [row["notification_id"] for row in found["items"]]


def streams_numbered(conn: psycopg.Connection[Any], number: str,
                     stores: Sequence[str]) -> list[dict[str, Any]]:
    """The streams whose events name this number, first named first."""
    scope, params = store_scope(stores)
    return sorted(rows(conn, f"""SELECT DISTINCT ON (stream_id) stream_id, stream_type,
            store_id, work_order_id, notification_id AS first_notification_id, event_type
        FROM audit_index WHERE number = %s AND {scope}
        ORDER BY stream_id, notification_id""", [number, *params]),
                  key=lambda row: row["first_notification_id"])


def streams_named(conn: psycopg.Connection[Any], stream_ids: Sequence[UUID],
                  stores: Sequence[str]) -> list[dict[str, Any]]:
    """These streams as `streams_numbered` answers them, each by its first event (through
    the stream index: an invoice number's reservation and its settlement)."""
    scope, params = store_scope(stores)
    return sorted(rows(conn, f"""SELECT DISTINCT ON (stream_id) stream_id, stream_type,
            store_id, work_order_id, notification_id AS first_notification_id, event_type
        FROM audit_index WHERE stream_id = ANY(%s) AND {scope}
        ORDER BY stream_id, version""", [list(stream_ids), *params]),
                  key=lambda row: row["first_notification_id"])
