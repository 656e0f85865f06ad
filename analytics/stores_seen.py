"""Which stores the analytic snapshot has seen: a store with a row in any of its tables (a work
order, a stock movement, a survey, a booking request, …) in any period.

A KPI asked for a store the snapshot has never seen would answer empty rows that read as
"nothing happened there"; the KPI routes refuse such a store instead (api/routes/analytics.py),
while a store seen once answers its period, empty or not.
"""

from __future__ import annotations

import duckdb

_TABLES = ("SELECT table_name FROM information_schema.columns WHERE column_name = 'store_id' "
           "AND table_schema = 'main' ORDER BY table_name = 'dim_store' DESC, table_name")


def _tables(conn: duckdb.DuckDBPyConnection) -> list[str]:
    return [str(name) for (name,) in conn.execute(_TABLES).fetchall()]


def store_seen(conn: duckdb.DuckDBPyConnection, store_id: str) -> bool:
    """Whether any table of the snapshot holds a row of `store_id` (dim_store asked first)."""
    return any(conn.execute(f'SELECT EXISTS (SELECT 1 FROM "{table}" WHERE store_id = ?)',
                            [store_id]).fetchone() == (True,) for table in _tables(conn))


def stores_seen(conn: duckdb.DuckDBPyConnection) -> list[str]:
    """Every store any table of the snapshot holds a row of, in code point order."""
    tables = _tables(conn)
    if not tables:
        return []
    union = " UNION ".join(f'SELECT DISTINCT store_id FROM "{table}"' for table in tables)
    return sorted(str(s) for (s,) in conn.execute(union).fetchall() if s is not None)
