"""Lists of what has waited since a moment, in the store's calendar days: the settled visits
whose repair record is not filed (projections/repair_filings.py), the visits whose warranty
claim is not submitted (projections/oem_claims.py). One shape of query: the caller's stores
(or one of them), waiting at least `older_than_days` days before `today`, the longest waiting
first, each row with the day it began and the days since."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import psycopg

from projections.base import page, store_scope


@dataclass(frozen=True)
class Waiting:
    """What a list reads: `columns` of `source` (no parameters in either) where `conditions`
    hold; `since` the moment it waits from, its store's day answered as `day` and the days
    since as `days`; `store` the column of the row's store; `then` orders rows that waited
    from the same moment."""

    columns: str
    source: str
    conditions: Sequence[str]
    since: str
    day: str
    days: str
    store: str
    then: str


def waiting(conn: psycopg.Connection[Any], stores: Sequence[str], what: Waiting, *,
            timezone: str, today: date, store_id: str | None, older_than_days: int,
            limit: int, offset: int) -> dict[str, Any]:
    """One page of the rows of `what` waiting at least `older_than_days` days on `today`."""
    scope, params = store_scope(stores, what.store)
    day = f"({what.since} AT TIME ZONE %s)::date"
    clauses = [scope, *what.conditions, f"%s::date - {day} >= %s"]
    params += [today, timezone, older_than_days]
    if store_id is not None:
        clauses.append(f"{what.store} = %s")
        params.append(store_id)
    sql = f"""SELECT {what.columns}, {day}::text AS {what.day},
                     %s::date - {day} AS {what.days}
              FROM {what.source} WHERE {" AND ".join(clauses)}"""
    return page(conn, sql, [timezone, today, timezone, *params],
                order_by=f"{what.since}, {what.then}", limit=limit, offset=offset)
