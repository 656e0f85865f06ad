"""Reads that narrow years of history to a few rows find those rows without reading the rest.

- `/audit/log?user_id=` over a log of millions of events: what one person did is found among
  their own events. Without an index on the user, its page and its count read every event of
  the log to keep a few (2 million events: 2 million rows read and put aside for 3 kept).
- `/stock/movements?reference=` (a stocktake's variances, a delivery note's receipts, a
  transfer by its number) over the stores' stock journal: without an index on the reference
  its count, its value and its page read every movement of the caller's stores.

The planner may scan a test's small table whole where it would not scan millions of rows: the
plans are taken with sequential scans off, and the rows each scan reads are counted."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, Self

from fastapi.testclient import TestClient

from projections.audit_index import events_listed
from projections.stock_queries import list_movements
from servicecore.container import Container
from tests.e2e.test_parts_api import get, head, new_part, post, received_part

Auth = Callable[..., dict[str, str]]


class _Cursor:
    def __init__(self, cursor: Any, statements: list[tuple[str, Any]]) -> None:
        self.cursor, self.statements = cursor, statements

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cursor.close()

    def execute(self, sql: str, params: Any = None) -> Any:
        self.statements.append((sql, params))
        return self.cursor.execute(sql, params)


class _Recorded:
    """The real connection; the statements run on it are noted (to be explained after)."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.statements: list[tuple[str, Any]] = []

    def cursor(self, **kwargs: Any) -> _Cursor:
        return _Cursor(self.conn.cursor(**kwargs), self.statements)


def _rows_read(plan: dict[str, Any]) -> int:
    """Every row a plan's scans of tables read: the ones they returned and the ones their
    filters put aside, over all their loops."""
    read = 0
    if "Relation Name" in plan:
        read += (plan["Actual Rows"] + plan.get("Rows Removed by Filter", 0)
                 + plan.get("Rows Removed by Index Recheck", 0)) * plan["Actual Loops"]
    return read + sum(_rows_read(child) for child in plan.get("Plans", ()))


def _explained(conn: Any, statements: list[tuple[str, Any]]) -> list[int]:
    """The rows each statement's scans read, sequential scans off."""
    with conn.transaction():
        conn.execute("SET LOCAL enable_seqscan = off")
        return [_rows_read(conn.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}",
                                        params).fetchone()[0][0]["Plan"])
                for sql, params in statements]


def test_one_users_events_are_read_without_reading_everyone_elses(
        client: TestClient, container: Container, auth: Auth) -> None:
    user = "clerk-" + uuid.uuid4().hex[:8]
    clerk = auth("parts_clerk", user, ["*"])
    others = auth("parts_clerk", "clerk-" + uuid.uuid4().hex[:8], ["*"])
    new_part(client, clerk)
    for _ in range(30):  # what the log holds besides: others' work
        new_part(client, others)
    new_part(client, clerk)
    auditor = auth("auditor", "aud-log-pages", ["*"])
    found = get(client, "/audit/log", auditor, user_id=user, wait_for=head(client))
    assert found["total"] == len(found["items"]) >= 2
    with container.pool.connection() as conn:
        [(logged,)] = conn.execute("SELECT count(*) FROM audit_index").fetchall()
        recorded = _Recorded(conn)
        events_listed(recorded, ["*"], event_types=[], user_id=user,  # type: ignore[arg-type]
                      store_id=None, start=None, end=None, limit=500, offset=0)
        read = _explained(conn, recorded.statements)
    assert logged > 10 * found["total"]  # the log holds others' events to put aside
    # the count and the page each read the user's own rows only
    assert read == [found["total"], found["total"]]


def test_a_references_movements_are_read_without_reading_the_stores_journal(
        client: TestClient, container: Container, auth: Auth, store_id: str) -> None:
    clerk = auth("parts_clerk", stores=[store_id, store_id + "B"])
    number = received_part(client, clerk, store_id, 40)
    for _ in range(15):  # the journal holds other receipts besides
        received_part(client, clerk, store_id, 1)
    sent = post(client, "/stock/transfers", clerk, {
        "from_store": store_id, "to_store": store_id + "B", "part_number": number, "qty": 2,
        "reason": "a car waits at the other store"}, 201)
    found = get(client, "/stock/movements", clerk, reference=sent["number"],
                wait_for=head(client))
    assert [m["type"] for m in found["items"]] == ["transfer_out"]
    with container.pool.connection() as conn:
        [(journal,)] = conn.execute("SELECT count(*) FROM stock_movements").fetchall()
        for table in ("stock_movements", "transfers"):  # the planner's figures of them now
            conn.execute(f"ANALYZE {table}")
        recorded = _Recorded(conn)
        list_movements(recorded, ["*"], reference=sent["number"])  # type: ignore[arg-type]
        read = _explained(conn, recorded.statements)
    assert journal > 10 * found["total"]
    # the transfer looked up by its number; the count and value: its row; the page: its row
    # and the transfer that names it
    assert read == [1, found["total"], 2 * found["total"]]
