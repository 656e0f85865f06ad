"""Customer complaint cases and suggestions (投诉建议): each case as its last step left it.

One row per Grievance stream: the store, the customer, what it is about (a visit, a car, the
follow-up call it came from), channel, category, severity, the OEM's case number, its status
and owner, the deadlines it was registered with, when it was first contacted, resolved (and
whether the customer accepted) and closed, how many actions and reopenings it took, who did
the last step and when, and the older register's complaint it carries on (`moved_from`: its
id, opening time and opener, as `servicecore complaints migrate` registered it; else null). The customer's words stay sealed here as in the event (`words`), and
so does the resolution (`resolution`: staff's text about the customer, sealed since the step's
v2): the read opens them with the customer's key, so an erasure needs nothing of them. A
resolution stored in clear before v2 is scrubbed here when the customer is erased (its event
cannot change: README, "Customer complaint cases").
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from domain.customer import Customer
from domain.grievance import Grievance
from domain.pii import ERASED, TOKEN_PREFIX
from projections.base import Index, ReadModel, page, rows, store_scope


class GrievancesView(ReadModel):
    name = "grievances"
    # 2: the resolution sealed (Grievance.Resolved v2), one in clear scrubbed by the customer's
    # erasure; the cases listed per customer (the customer 360). 3: `moved_from`, the older
    # register's complaint a case carries on (Grievance.Registered v2)
    revision = 3
    tables = {  # noqa: RUF012
        "grievances": """
            grievance_id uuid PRIMARY KEY, store_id text NOT NULL, customer_id uuid NOT NULL,
            kind text NOT NULL, channel text NOT NULL, category text NOT NULL,
            severity text NOT NULL, oem_case_no text, work_order_id uuid,
            work_order_number text, vin text, follow_up_id uuid, words text NOT NULL,
            status text NOT NULL, owner text, contact_due timestamptz, close_due timestamptz,
            contacted_at timestamptz, resolved_at timestamptz, resolution text,
            accepted boolean, closed_at timestamptz, actions integer NOT NULL DEFAULT 0,
            reopened integer NOT NULL DEFAULT 0, registered_at timestamptz NOT NULL,
            registered_by text NOT NULL, changed_at timestamptz NOT NULL,
            changed_by text NOT NULL, changed_role text NOT NULL, version integer NOT NULL,
            moved_from jsonb""",
    }
    indexes = (Index("grievances", "grievances_store_idx", "(store_id, status, registered_at)"),
               Index("grievances", "grievances_customer_idx", "(customer_id, registered_at)"))
    handles = (Grievance.Event, Customer.Erased)

    def apply(self, conn: psycopg.Connection[Any], events: Sequence[tuple[int, Any]],
              suffix: str = "") -> None:
        with conn.cursor() as cur:
            for _, e in events:
                cur.execute(*(_scrubbed(e, suffix) if isinstance(e, Customer.Erased)
                              else _statement(e, suffix)))


def _scrubbed(e: Customer.Erased, s: str) -> tuple[str, Sequence[Any]]:
    """An erased customer's resolutions kept in clear (stored before they were sealed) read
    as erased; the sealed ones need nothing: their key is gone."""
    return (f"""UPDATE grievances{s} SET resolution = %s WHERE customer_id = %s
                AND resolution IS NOT NULL AND left(resolution, %s) <> %s""",
            (ERASED, e.originator_id, len(TOKEN_PREFIX), TOKEN_PREFIX))


def _statement(e: Any, s: str) -> tuple[str, Sequence[Any]]:
    at = e.audit.at
    stamp = (at, e.audit.user_id, e.audit.role, e.originator_version)
    if isinstance(e, Grievance.Registered):
        return (f"""INSERT INTO grievances{s} (grievance_id, store_id, customer_id, kind,
                    channel, category, severity, oem_case_no, work_order_id, work_order_number,
                    vin, follow_up_id, words, status, contact_due, close_due, registered_at,
                    registered_by, changed_at, changed_by, changed_role, version, moved_from)
                    VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 'registered',
                            %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
                (e.originator_id, e.store_id, e.customer_id, e.kind, e.channel, e.category,
                 e.severity, e.oem_case_no, e.work_order_id, e.work_order_number, e.vin,
                 e.follow_up_id, e.words, e.contact_due, e.close_due, at, e.audit.user_id,
                 *stamp, None if e.moved_from is None else Jsonb(e.moved_from)))
    if isinstance(e, Grievance.Assigned):
        change = ("owner = %s, status = CASE WHEN status = 'registered' THEN 'assigned' "
                  "ELSE status END")
        values: list[Any] = [e.owner]
    elif isinstance(e, Grievance.Contacted):
        change, values = "status = 'in_progress', contacted_at = %s", [at]
    elif isinstance(e, Grievance.ActionTaken):
        change, values = "actions = actions + 1", []
    elif isinstance(e, Grievance.Resolved):
        change = "status = 'resolved', resolved_at = %s, resolution = %s, accepted = %s"
        values = [at, e.resolution, e.accepted]
    elif isinstance(e, Grievance.Closed):
        change, values = "status = 'closed', closed_at = %s", [at]
    else:  # Reopened
        change = "status = 'in_progress', closed_at = NULL, reopened = reopened + 1"
        values = []
    return (f"""UPDATE grievances{s} SET {change}, changed_at = %s, changed_by = %s,
                changed_role = %s, version = %s WHERE grievance_id = %s""",
            [*values, *stamp, e.originator_id])


# -- queries ----------------------------------------------------------------------------------

# Late for its first contact (a complaint not contacted by `contact_due`), or for its closure
# (not closed by `close_due`): a suggestion has no deadline and is never late.
LATE = """(contact_due IS NOT NULL AND contacted_at IS NULL AND status <> 'closed'
           AND contact_due < n.now)
          OR (close_due IS NOT NULL AND status <> 'closed' AND close_due < n.now)"""
COLUMNS = """grievance_id::text AS id, store_id, customer_id::text AS customer_id, kind,
    channel, category, severity, oem_case_no, work_order_id::text AS work_order_id,
    work_order_number, vin, follow_up_id::text AS follow_up_id, status, owner, contact_due,
    close_due, contacted_at, resolved_at, resolution, accepted, closed_at, actions, reopened,
    registered_at, registered_by, changed_at, changed_by, changed_role, version, moved_from,
    (contact_due IS NOT NULL AND contacted_at IS NULL AND status <> 'closed'
     AND contact_due < n.now) AS contact_late,
    (CASE WHEN close_due IS NOT NULL AND closed_at IS NOT NULL THEN closed_at <= close_due
     END) AS closed_on_time,
    (close_due IS NOT NULL AND status <> 'closed' AND close_due < n.now) AS close_late"""


NOW = "grievances, (SELECT %s::timestamptz AS now) AS n"


def list_grievances(conn: psycopg.Connection[Any], stores: Sequence[str], *, now: datetime,
                    store_id: str | None = None, status: str | None = None,
                    category: str | None = None, kind: str | None = None,
                    overdue: bool | None = None, limit: int = 50,
                    offset: int = 0) -> dict[str, Any]:
    """The cases of the caller's stores (or `store_id`'s), by status, category and kind;
    `overdue`: only those late (or, false, only those not); the oldest registration first.
    The `resolution` as stored (sealed: the caller opens it)."""
    scope, scoped = store_scope(stores)
    params: list[Any] = [now, *scoped]
    clauses = [scope]
    for column, value in (("store_id", store_id), ("status", status), ("category", category),
                          ("kind", kind)):
        if value is not None:
            clauses.append(f"{column} = %s")
            params.append(value)
    if overdue is not None:
        clauses.append(f"{'' if overdue else 'NOT '}coalesce(({LATE}), false)")
    sql = f"SELECT {COLUMNS} FROM {NOW} WHERE {' AND '.join(clauses)}"
    return page(conn, sql, params, order_by="registered_at, id", limit=limit, offset=offset)


def overdue_grievances(conn: psycopg.Connection[Any], stores: Sequence[str], *,
                       now: datetime, limit: int = 50, offset: int = 0) -> dict[str, Any]:
    """The complaints of `stores` late for first contact or closure, the earliest due first."""
    scope, scoped = store_scope(stores)
    sql = f"SELECT {COLUMNS} FROM {NOW} WHERE {scope} AND ({LATE})"
    return page(conn, sql, [now, *scoped], order_by="least(CASE WHEN contacted_at IS NULL THEN "
                "contact_due END, close_due), id", limit=limit, offset=offset)


def customer_grievances(conn: psycopg.Connection[Any], customer_id: Any, *, now: datetime,
                        limit: int, offset: int) -> dict[str, Any]:
    """The customer's cases in every store, newest first, as the list shows them plus their
    sealed `words` (the caller opens them) and `open` (not closed)."""
    sql = (f"SELECT {COLUMNS}, words, status <> 'closed' AS open FROM {NOW} "
           "WHERE customer_id = %s")
    return page(conn, sql, [now, customer_id], order_by="registered_at DESC, id",
                limit=limit, offset=offset)


def get_grievance(conn: psycopg.Connection[Any], grievance_id: Any, stores: Sequence[str], *,
                  now: datetime) -> dict[str, Any] | None:
    """One case with its sealed `words` (the caller opens them), or None (unknown, or in a
    store the caller does not cover)."""
    scope, scoped = store_scope(stores)
    found = rows(conn, f"SELECT {COLUMNS}, words FROM {NOW} WHERE grievance_id = %s "
                       f"AND {scope}", [now, grievance_id, *scoped])
    return found[0] if found else None
