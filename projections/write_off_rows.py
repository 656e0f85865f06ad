"""The finance view's rows of write-offs: one per write-off (or OEM charge-back) of a settlement's
warranty or insurance bill, with who took it back, when and why (domain/receivable_adjustment.py),
and the queries behind `GET /settlements/{id}/write-offs` and `GET /write-offs`.

Each row keeps the bill's outstanding right after the write-off, and after its taking back: the
receivable as the finance clerk saw it then (a charge-back leaves the paid bill's outstanding as
it was: it is owed back to the OEM, not taken off the receivable).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

import psycopg

from domain.settlement import Settlement
from projections.base import page, rows, store_scope
from projections.finance_batch import Ctx
from projections.receivables import NAMES, RESOLVED

TABLES = {
    "write_offs": """
        settlement_id uuid NOT NULL, write_off_id text NOT NULL, store_id text NOT NULL,
        notification_id bigint NOT NULL, settlement_number text, bill text NOT NULL,
        kind text NOT NULL, amount numeric NOT NULL, reference text, reason text NOT NULL,
        written_off_by text NOT NULL, written_off_role text NOT NULL,
        written_off_at timestamptz NOT NULL, outstanding_after numeric NOT NULL,
        reversed_by text, reversed_role text, reversed_at timestamptz, reversal_reason text,
        outstanding_after_reversal numeric,
        PRIMARY KEY (settlement_id, write_off_id)""",
}
# the bill's outstanding as the settlement read shows it (a warranty or insurance bill is
# never expensed)
OUTSTANDING = """SELECT total - allowances - paid - written_off FROM {settlement_bills}
                 WHERE settlement_id = %s AND kind = %s"""


def written_off(ctx: Ctx, event: Settlement.ReceivableWrittenOff) -> None:
    """After the bill's row took the amount off. A write-off stored before write-offs had
    ids is known as the aggregate knows it: its settlement number and its place (`-W1`)."""
    outstanding = ctx.one(OUTSTANDING, (event.originator_id, event.bill))[0]
    ctx.run("""INSERT INTO {write_offs} (settlement_id, write_off_id, store_id, notification_id,
               settlement_number, bill, kind, amount, reference, reason, written_off_by,
               written_off_role, written_off_at, outstanding_after)
               SELECT s.id, coalesce(%s, s.number || '-W' || (
                          SELECT count(*) + 1 FROM {write_offs} w WHERE w.settlement_id = s.id)),
                      s.store_id, %s, s.number, %s, %s, %s, %s, %s, %s, %s, %s, %s
               FROM {settlements} s WHERE s.id = %s""",
            (event.write_off_id, ctx.notification_id, event.bill, event.kind, event.amount,
             event.reference, event.reason, event.audit.user_id, event.audit.role,
             event.audit.at, outstanding, event.originator_id))


def write_off_reversed(ctx: Ctx, event: Settlement.WriteOffReversed) -> None:
    outstanding = ctx.one(OUTSTANDING, (event.originator_id, event.bill))[0]
    ctx.run("""UPDATE {write_offs} SET reversed_by = %s, reversed_role = %s, reversed_at = %s,
               reversal_reason = %s, outstanding_after_reversal = %s
               WHERE settlement_id = %s AND write_off_id = %s""",
            (event.audit.user_id, event.audit.role, event.audit.at, event.reason, outstanding,
             event.originator_id, event.write_off_id))


COLUMNS = """write_off_id, settlement_number, bill, kind, round(amount, 2)::text AS amount,
             reference, reason, written_off_by, written_off_role, written_off_at,
             round(outstanding_after, 2)::text AS outstanding_after,
             reversed_at IS NOT NULL AS reversed, reversed_by, reversed_role, reversed_at,
             reversal_reason, round(outstanding_after_reversal, 2)::text
                 AS outstanding_after_reversal"""


def list_write_offs(conn: psycopg.Connection[Any], stores: Sequence[str], settlement_id: UUID,
                    *, limit: int, offset: int) -> dict[str, Any] | None:
    """The settlement's write-offs, the first booked first; None for a settlement the view
    does not hold in the caller's stores."""
    scope, params = store_scope(stores)
    found = rows(conn, f"SELECT 1 AS found FROM settlements WHERE id = %s AND {scope}",
                 [settlement_id, *params])
    if not found:
        return None
    return page(conn, f"SELECT {COLUMNS}, notification_id FROM write_offs "
                      "WHERE settlement_id = %s", [settlement_id],
                order_by="notification_id, write_off_id", limit=limit, offset=offset)


def write_offs_over(conn: psycopg.Connection[Any], stores: Sequence[str], *, zone: str,
                    store_id: str | None = None, date_from: date | None = None,
                    date_to: date | None = None, kind: str | None = None, limit: int,
                    offset: int) -> dict[str, Any]:
    """Every write-off and charge-back of the caller's stores booked on the days asked for
    (the day it was booked, in the stores' time zone), the latest first, with the settlement
    each is on; `amount` sums every listed row, `reversed_amount` those taken back since and
    `net_amount` what stands, over all the rows the filters list, not only the page's."""
    where, params = store_scope(stores)
    day = "(written_off_at AT TIME ZONE %s)::date"
    for clause, value in ((f"{day} >= %s", date_from), (f"{day} <= %s", date_to)):
        if value is not None:
            where += f" AND {clause}"
            params += [zone, value]
    for column, text in (("store_id", store_id), ("kind", kind)):
        if text is not None:
            where += f" AND {column} = %s"
            params.append(text)
    sql = (f"SELECT settlement_id::text AS settlement_id, store_id, {COLUMNS}, "
           f"notification_id FROM write_offs WHERE {where}")
    found = page(conn, sql, params, order_by="notification_id DESC, write_off_id",
                 limit=limit, offset=offset)
    sums = rows(conn, f"""SELECT round(coalesce(sum(amount), 0), 2)::text AS amount,
        round(coalesce(sum(amount) FILTER (WHERE reversed_at IS NOT NULL), 0), 2)::text
            AS reversed_amount,
        round(coalesce(sum(amount) FILTER (WHERE reversed_at IS NULL), 0), 2)::text
            AS net_amount
        FROM write_offs WHERE {where}""", params)[0]
    return {**found, **sums}


_ZERO = Decimal("0.00")
# Who a bill is charged to, in the accountant's order, named as the receivables name them (the
# bill's kind: `warranty` the OEM, `insurance` the insurer); each with its bill.
PAYERS = (("customer", "customer"), ("insurance", "insurance"), ("warranty", "warranty"),
          ("internal", "internal"))


def write_offs_by_payer(conn: psycopg.Connection[Any], stores: Sequence[str], *, zone: str,
                        date_from: date, date_to: date,
                        store_id: str | None = None) -> dict[str, Any]:
    """The write-offs and charge-backs booked from `date_from` to `date_to` (as `GET
    /write-offs` lists them), summed per payer — customer, insurer, OEM, internal, each
    listed, with nothing: 0.00 —, and per insurer or OEM within them (resolved as the
    receivables group them: an insurer of the master under its id, else the typed name's
    key); `amount`, `reversed_amount` and `net_amount` over all of them."""
    where, params = store_scope(stores, "w.store_id")
    day = "(w.written_off_at AT TIME ZONE %s)::date"
    where += f" AND {day} >= %s AND {day} <= %s"
    params += [zone, date_from, zone, date_to]
    if store_id is not None:
        where += " AND w.store_id = %s"
        params.append(store_id)
    sums = """count(*) AS count, round(coalesce(sum(amount), 0), 2) AS amount,
        round(coalesce(sum(amount) FILTER (WHERE reversed_at IS NOT NULL), 0), 2)
            AS reversed_amount,
        round(coalesce(sum(amount) FILTER (WHERE reversed_at IS NULL), 0), 2) AS net_amount"""
    found = rows(conn, f"""SELECT bill, payer_key,
        (array_agg(typed ORDER BY written_off_at DESC, write_off_id))[1] AS payer, {sums}
        FROM (SELECT w.*, {RESOLVED} AS payer_key,
                     coalesce(b.payer->>'insurer', b.payer->>'oem') AS typed
              FROM write_offs w JOIN settlement_bills b
                  ON b.settlement_id = w.settlement_id AND b.kind = w.bill
              {NAMES}
              WHERE {where}) AS listed
        GROUP BY bill, payer_key ORDER BY bill, amount DESC, payer_key""", params)
    groups = []
    for payer, bill in PAYERS:
        mine = [{k: v for k, v in row.items() if k != "bill"} for row in found
                if row["bill"] == bill]
        totals = {k: sum((row[k] for row in mine), _ZERO if k != "count" else 0)
                  for k in ("count", "amount", "reversed_amount", "net_amount")}
        groups.append({"payer": payer, "bill": bill, **totals,
                       "payers": mine if payer in ("insurance", "warranty") else []})
    return {"date_from": date_from.isoformat(), "date_to": date_to.isoformat(),
            "store_id": store_id, "payers": groups,
            **{k: sum((g[k] for g in groups), _ZERO)
               for k in ("amount", "reversed_amount", "net_amount")}}
