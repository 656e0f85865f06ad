"""The warranty claims of a period: every visit with a warranty bill settled in it, each as its
claim package (projections/warranty_claim.py), for an OEM that audits a period's claims.

The finance read model only finds the visits (settlement time, a warranty bill); every package
is built from the events, in one snapshot of the log.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import psycopg

from domain.application import ServiceCore
from domain.warranty_coverage import WarrantyTerms
from projections.repair_records import stores_asked
from projections.warranty_claim import NothingToClaim, Opener, warranty_claim


def warranty_settled(conn: psycopg.Connection[Any], first: date, last: date, zone: ZoneInfo,
                     store_ids: Sequence[str]) -> list[UUID]:
    """Work orders with a warranty bill whose settlement the finance read model shows settled
    from the start of `first` to the end of `last` (store time), in settlement order."""
    start = datetime.combine(first, time(0), zone)
    end = datetime.combine(last + timedelta(days=1), time(0), zone)
    scope, params = ("TRUE", []) if "*" in store_ids else ("s.store_id = ANY(%s)",
                                                           [list(store_ids)])
    rows = conn.execute(
        f"""SELECT s.work_order_id FROM settlements s
            JOIN settlement_bills b ON b.settlement_id = s.id AND b.kind = 'warranty'
            WHERE s.settled_at >= %s AND s.settled_at < %s AND {scope}
            ORDER BY s.settled_at, s.work_order_number""",
        [start, end, *params]).fetchall()
    return [UUID(str(row[0])) for row in rows]


def warranty_claims(app: ServiceCore, conn: psycopg.Connection[Any], first: date, last: date,
                    zone: ZoneInfo, stores: Sequence[str], store_id: str | None,
                    open_pii: Opener | None = None, *, limit: int | None = None,
                    offset: int = 0, terms: WarrantyTerms | None = None,
                    ) -> tuple[int, list[dict[str, Any]]]:
    """How many visits with a warranty bill were settled in the period, and the claim package
    of `limit` of them (all: None) from `offset` on, in settlement order (each is built from
    its visit's streams: a group's quarter holds thousands)."""
    claims = []
    settled = warranty_settled(conn, first, last, zone, stores_asked(stores, store_id))
    end = None if limit is None else offset + limit
    for work_order_id in settled[offset:end]:
        try:
            claims.append(warranty_claim(app, conn, work_order_id, stores, open_pii,
                                         terms=terms, zone=zone))
        except NothingToClaim:  # its warranty lines withdrawn since, the bill drafted again
            continue
    return len(settled), claims
