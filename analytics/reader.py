"""Read-only access to the published analytic snapshot (for API replicas and the query CLI).

DuckDB allows one writing process per file, so readers outside the loader never open its file:
they open the snapshot the loader publishes (analytics.publish: one of two files taking turns,
the one its JSON names) and say which position of the event log it reflects.

Readers see times in the store's time zone: a date filter cuts at midnight there, and a day,
week or month bucket starts there (a visit at 23:30 UTC belongs to the next day in Shanghai).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import duckdb

from analytics.publish import info_path, reading
from domain.common import NotFound


def snapshot_info(path: Path) -> dict[str, Any]:
    info = info_path(path)
    if not info.exists():
        raise NotFound("no analytic snapshot has been published yet: run "
                       "`servicecore worker analytics` (or `serve` with in-process workers)")
    return json.loads(info.read_text())  # type: ignore[no-any-return]


def use_zone(conn: duckdb.DuckDBPyConnection, zone: str) -> None:
    """Dates and timestamps of this connection in `zone` (an IANA name, e.g. Asia/Shanghai)."""
    ZoneInfo(zone)  # refuses a name that is not a time zone before it reaches SQL
    conn.execute(f"SET TimeZone = '{zone}'")


@contextmanager
def snapshot(path: Path, zone: str | None = None
             ) -> Iterator[tuple[duckdb.DuckDBPyConnection, dict[str, Any]]]:
    """A read-only connection to the latest snapshot (in the store's time zone when given),
    with the position it reflects."""
    snapshot_info(path)
    for attempt in range(3):
        with reading(path) as (held, info):
            try:
                conn = duckdb.connect(str(held), read_only=True)
            except duckdb.IOException:  # being brought up to date: the info just moved on
                if attempt == 2:
                    raise
                time.sleep(0.05)
                continue
            try:
                if zone is not None:
                    use_zone(conn, zone)
                yield conn, info
            finally:
                conn.close()
            return
