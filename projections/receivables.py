"""Receivables: open balances of settled bills by payer, aged from the day each was settled.

The balances are the finance view's; the plate comes from the work-order view and, for the
roles that may read customers' personal data, the customer's name and phone from the
customers view (`with_contacts`): the answer names whose data it showed, to be recorded.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import psycopg

from domain.money import CENT
from domain.payer_name import payer_name, payer_name_key
from domain.pii import ERASED
from projections.base import rows as _rows
from projections.finance_queries import _where, shown
from projections.oem_claims import PAID

# (key, the first and last day of debt the bucket holds; None: no end)
BUCKETS = (("days_0_30", 0, 30), ("days_31_60", 31, 60), ("days_61_90", 61, 90),
           ("days_over_90", 91, None))


def _bucket_sums() -> str:
    sums = []
    for key, first, last in BUCKETS:
        when = f"age_days >= {first}" if first else "TRUE"
        if last is not None:
            when += f" AND age_days <= {last}"
        sums.append(f"coalesce(sum(outstanding) FILTER (WHERE {when}), 0) AS {key}")
    return ", ".join(sums)


def _groups(where: str, bills: tuple[int, int] | None) -> str:
    """One row per payer with an open balance and how many of its bills are open. With
    `bills` (offset, limit), the group's open bills from that offset on, at most the limit of
    them, oldest first, each with its plate, the day it was settled (in the store's zone) and
    its age on the day asked for: a group's totals and aging cover every bill all the same."""
    listed = "'[]'::jsonb AS open_bills"
    if bills is not None:
        first, last = bills[0], bills[0] + bills[1]
        listed = f"""coalesce(jsonb_agg(jsonb_build_object(
            'settlement_id', settlement_id, 'settlement_number', settlement_number,
            'work_order_number', work_order_number, 'plate', plate, 'vin', payer->>'vin',
            'claim_number', coalesce(payer->>'claim_number', oem_claim_number),
            'claim_status', claim_status, 'invoice_no', invoice_no,
            'settled_on', settled_on, 'age_days', age_days, 'billed', billed::text,
            'paid', paid::text, 'written_off', written_off::text,
            'outstanding', outstanding::text, 'due_on', due_on,
            'days_overdue', greatest(settled_on + age_days - due_on, 0)) ORDER BY open_no)
            FILTER (WHERE outstanding <> 0 AND open_no > {first:d} AND open_no <= {last:d}),
            '[]') AS open_bills"""
    return f"""SELECT kind, payer_key, (array_agg(payer ORDER BY settled_at DESC,
            settlement_id DESC))[1] - 'vin' - 'claim_number' AS payer,
        array_agg(DISTINCT coalesce(payer->>'insurer', payer->>'oem'))
            FILTER (WHERE payer ? 'insurer' OR payer ? 'oem') AS typed,
        count(*) AS bills, sum(billed) AS billed, sum(allowances) AS allowances,
        sum(paid) AS paid, sum(written_off) AS written_off, sum(outstanding) AS outstanding,
        max(age_days) FILTER (WHERE outstanding <> 0) AS oldest_age_days, {_bucket_sums()},
        coalesce(sum(outstanding) FILTER (WHERE due_on < settled_on + age_days), 0)
            AS overdue,
        count(*) FILTER (WHERE outstanding <> 0) AS open_bills_count, {listed}
        FROM (SELECT *, %s::date - settled_on AS age_days, row_number() OVER (
                PARTITION BY kind, payer_key, outstanding <> 0
                ORDER BY settled_on, settlement_number, settlement_id) AS open_no FROM (
            SELECT b.kind, {RESOLVED} AS payer_key, b.payer, b.settlement_id, b.invoice_no,
                b.total - b.allowances AS billed, b.allowances, b.paid, b.written_off,
                b.total - b.allowances - b.paid - b.written_off AS outstanding,
                s.number AS settlement_number, b.due_on,
                s.work_order_number, w.plate, s.settled_at,
                (s.settled_at AT TIME ZONE %s)::date AS settled_on,
                c.oem_claim_number, {CLAIM_STATUS} AS claim_status
            FROM settlement_bills b JOIN settlements s ON s.id = b.settlement_id
            LEFT JOIN wo_view w ON w.id = s.work_order_id {NAMES} {CLAIMS}
            WHERE {where} AND b.status = 'settled' AND b.kind <> 'internal') AS bills
        ) AS aged
        GROUP BY kind, payer_key HAVING sum(outstanding) <> 0"""


OPEN_BILLS_DEFAULT = 100
# A warranty bill's claim at the OEM (the claims desk's view, projections/oem_claims.py): the
# OEM's claim number and the status the desk lists it by (`not_submitted` before it is sent).
CLAIMS = ("LEFT JOIN oem_claims c ON b.kind = 'warranty' "
          "AND c.work_order_id = s.work_order_id")
CLAIM_STATUS = (f"CASE WHEN b.kind <> 'warranty' THEN NULL WHEN c.claim_id IS NULL "
                f"THEN 'not_submitted' WHEN {PAID} THEN 'paid' ELSE c.status END")
# An insurance bill's payer resolved through the insurer master (projections/insurers.py): the
# insurer whose name or alias has the typed name's key, else that key as before.
NAMES = ("LEFT JOIN insurer_names n ON b.kind = 'insurance' AND n.key = b.payer_key")
RESOLVED = "coalesce(n.insurer_id::text, b.payer_key)"


def receivables(conn: psycopg.Connection[Any], stores: Sequence[str], *,
                aged_on: date | None = None, zone: str = "Asia/Shanghai",
                kind: str | None = None, payer_key: str | None = None,
                store_id: str | None = None, limit: int = 200,
                offset: int = 0, bills_limit: int = OPEN_BILLS_DEFAULT,
                bills_offset: int = 0) -> dict[str, Any]:
    """Open balances of settled bills by payer: customers, insurers, the OEM.

    A group holds many bills, each with its own VIN (the OEM's) or claim number (an
    insurer's): `payer` names the payer alone, `open_bills_count` counts the bills with a
    balance and `open_bills` lists them, oldest first, from `bills_offset` on, at most
    `bills_limit` of them — settlement and work-order number, plate, VIN or claim number, tax
    invoice, the day it was settled and its age in days on `aged_on`, billed, paid,
    outstanding; an OEM bill its claim's number at the OEM (`claim_number`) and `claim_status`
    (`not_submitted` before it is sent) — so each can be chased and matched to its remittance (an insurer with years
    of claims has thousands; `payer_key` narrows the list to one payer to page through them).
    An insurer, or the OEM (the vehicle's brand), is one group however its name was typed
    (`domain/payer_name.py`: full-width or ASCII, spacing, case): its `payer_key` is the name's
    `payer_name_key`, its `payer` the name as typed on its most recently settled bill (in the
    kept form), `names_typed` every name its bills were recorded under; `payer_key` finds it by
    any typed form too.
    A name (or alias) of an insurer in the master groups its bills under that insurer,
    whenever they were recorded: `payer_key` is then the insurer's id, `insurer` its code,
    short and official name (None for names of no insurer).
    Each group's `aging` splits its outstanding by age (0-30, 31-60, 61-90, over 90 days), over
    all its bills; the page's `aging` does so for every group listed by the filters, not only
    this page's; `store_id` lists the bills of one store alone. A bill charged to the customer's account (挂账) has its `due_on` and its
    `days_overdue` on `aged_on`; each group and the page sum what is `overdue`."""
    aged_on = aged_on or datetime.now(ZoneInfo(zone)).date()
    where, params = _where(stores, {"kind": ("b.kind = %s", kind),
                                    "store": ("b.store_id = %s", store_id)}, "b.store_id")
    if payer_key is not None:  # an insurer's or the OEM's as typed, or a key as listed
        names = _names_of(conn, payer_key)
        if names:  # an insurer of the master, by its id or a name: the bills of all its names
            where += " AND b.kind = 'insurance' AND b.payer_key = ANY(%s)"
            params.append(names)
        else:
            where += " AND b.payer_key IN (%s, %s)"
            params += [payer_key, payer_name_key(payer_key)]
    args = [aged_on, zone, *params]
    keys = [key for key, _, _ in BUCKETS]
    sums = ", ".join(f"coalesce(sum({key}), 0) AS {key}" for key in keys)
    [totals] = _rows(conn, f"""SELECT count(*) AS n, coalesce(sum(outstanding), 0) AS outstanding,
        coalesce(sum(overdue), 0) AS overdue, {sums} FROM ({_groups(where, None)}) AS listed""", args)
    items = _rows(conn, f"""{_groups(where, (bills_offset, bills_limit))}
        ORDER BY kind, outstanding DESC, payer_key LIMIT %s OFFSET %s""",
                  [*args, limit, offset])
    masters = _insurers(conn, [i["payer_key"] for i in items if i["kind"] == "insurance"])
    for item in items:
        item["aging"] = {key: item.pop(key) for key in keys}
        item["overdue"] = str(Decimal(item["overdue"]).quantize(CENT))
        item["customer_name"] = item["customer_phone"] = None
        typed = item.pop("typed") or []
        for named in ("insurer", "oem"):
            if item["payer"].get(named):
                item["payer"][named] = payer_name(item["payer"][named])
        if item["kind"] == "insurance":
            item["insurer"] = masters.get(item["payer_key"])
        if item["kind"] in ("insurance", "warranty"):
            item["names_typed"] = sorted({payer_name(name) for name in typed})
    return shown({"total": totals["n"], "limit": limit, "offset": offset,
                  "aged_on": aged_on.isoformat(), "outstanding": totals["outstanding"],
                  "overdue": str(Decimal(totals["overdue"]).quantize(CENT)),
                  "aging": {key: totals[key] for key in keys}, "items": items})


def _names_of(conn: psycopg.Connection[Any], payer_key: str) -> list[str]:
    """The keys of every name of the master's insurer `payer_key` is the id or a name of
    (none: no insurer of the master), so that the narrowed list reads them by the index."""
    found = _rows(conn, """SELECT key FROM insurer_names WHERE insurer_id = (
        SELECT insurer_id FROM insurer_names WHERE key = %s
        UNION SELECT id FROM insurers WHERE id::text = %s LIMIT 1)""",
                  [payer_name_key(payer_key), payer_key])
    return [str(row["key"]) for row in found]


def _insurers(conn: psycopg.Connection[Any], keys: list[str]) -> dict[str, dict[str, Any]]:
    """The master's insurers among the groups' keys: id, code, short and official name."""
    found = _rows(conn, """SELECT id::text AS id, code, short_name, name, active FROM insurers
        WHERE id::text = ANY(%s)""", [keys]) if keys else []
    return {row["id"]: row for row in found}


def with_contacts(conn: psycopg.Connection[Any],
                  items: list[dict[str, Any]]) -> list[tuple[UUID, str]]:
    """Fill the customer groups' `customer_name` and `customer_phone` (the first phone) from
    the customers view (an erased customer's read as erased); answers the customers whose
    data the items now show, with the store each was registered in."""
    wanted = {UUID(item["payer_key"]) for item in items if item["kind"] == "customer"}
    if not wanted:
        return []
    found = {row["id"]: row for row in _rows(
        conn, """SELECT id, store_id, name, phones[1] AS phone, erased FROM customers
        WHERE id = ANY(%s)""", [list(wanted)])}
    shown_for = []
    for item in items:
        row = found.get(UUID(item["payer_key"])) if item["kind"] == "customer" else None
        if row is None:
            continue
        if row["erased"]:
            item["customer_name"] = item["customer_phone"] = ERASED
            continue
        item["customer_name"], item["customer_phone"] = row["name"], row["phone"]
        shown_for.append((row["id"], str(row["store_id"])))
    return shown_for
