"""`/audit/log?user_id=` over a log of millions of events: what one person did is found among
their own events. Without an index on the user, its page and its count read every event of the
log to keep a few (2 million events: 2 million rows read and put aside for 3 kept)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, Self

from fastapi.testclient import TestClient

from projections.audit_index import events_listed
from servicecore.container import Container
from tests.e2e.test_parts_api import get, head, new_part

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
    """Every row a plan's scans read: the ones they returned and the ones their filters put
    aside, over all their loops."""
    read = 0
    if "Scan" in plan["Node Type"]:
        read += (plan["Actual Rows"] + plan.get("Rows Removed by Filter", 0)
                 + plan.get("Rows Removed by Index Recheck", 0)) * plan["Actual Loops"]
    return read + sum(_rows_read(child) for child in plan.get("Plans", ()))


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
        with conn.transaction():
            # the planner may scan a test's small table whole; a log of millions it may not
            conn.execute("SET LOCAL enable_seqscan = off")
            events_listed(recorded, ["*"], event_types=[], user_id=user,  # type: ignore[arg-type]
                          store_id=None, start=None, end=None, limit=500, offset=0)
            read = [_rows_read(conn.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}",
                                            params).fetchone()[0][0]["Plan"])
                    for sql, params in recorded.statements]
    assert logged > 10 * found["total"]  # the log holds others' events to put aside
    # the count and the page each read the user's own rows only
    assert read == [found["total"], found["total"]]
