"""The analytic tables in a DuckDB file: made, given the columns added since, and their data
dictionary as comments (the tables themselves are declared in `analytics.schema`)."""

from __future__ import annotations

import duckdb

from analytics.publish import transaction
from analytics.schema import POSITION_COMMENTS, POSITION_DDL, TABLES
from analytics.schema_columns import Table


def create(conn: duckdb.DuckDBPyConnection, revision: int) -> None:
    """The tables, and their data dictionary as comments; a file made before a column was
    added (at the end) gets it, NULL, and every file gets the current comments. Only what
    differs is changed, in one transaction (some 250 statements one by one, each its own
    commit, took a fifth of a second on every start). A new file is of `revision`."""
    with transaction(conn):
        conn.execute(";\n".join([*(t.ddl() for t in TABLES), POSITION_DDL]))
        found = _dictionary(conn)
        changes: list[str] = []
        for table in TABLES:
            changes += [f"ALTER TABLE {table.name} ADD COLUMN {column} {sql_type}"
                        for column, sql_type in table.columns
                        if (table.name, column) not in found]
            wanted = [table.about, *(meaning for _, _, meaning in table.fields)]
            said = [found.get((table.name, None)),
                    *(found.get((table.name, c)) for c in table.column_names)]
            changes += [statement for statement, meaning, comment
                        in zip(table.comments(), wanted, said, strict=True) if comment != meaning]
        if ("analytics_position", "revision") not in found:  # a file from before revisions
            changes.append("ALTER TABLE analytics_position ADD COLUMN revision INTEGER")
        if ("analytics_position", "mark") not in found:  # a file from before marks
            changes.append("ALTER TABLE analytics_position ADD COLUMN mark VARCHAR")
        conn.execute(";\n".join([*changes, *POSITION_COMMENTS]))
        if conn.execute("SELECT count(*) FROM analytics_position").fetchone() == (0,):
            conn.execute("INSERT INTO analytics_position (position, revision) VALUES (0, ?)",
                         [revision])


def _dictionary(conn: duckdb.DuckDBPyConnection) -> dict[tuple[str, str | None], str | None]:
    """The comment of every column, and of every table (column None), of the open file."""
    where = "WHERE database_name = current_database() AND schema_name = 'main' AND NOT internal"
    columns = conn.execute(
        f"SELECT table_name, column_name, comment FROM duckdb_columns() {where}").fetchall()
    tables = conn.execute(f"SELECT table_name, comment FROM duckdb_tables() {where}").fetchall()
    return {**{(t, c): comment for t, c, comment in columns},
            **{(t, None): comment for t, comment in tables}}


def table_names() -> list[str]:
    return [t.name for t in TABLES]


def describe(table: Table) -> str:
    return ", ".join(f"{c} {t}" for c, t in table.columns)
