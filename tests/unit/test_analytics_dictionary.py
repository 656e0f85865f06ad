"""The data dictionary of the analytic tables: every table and column carries a DuckDB comment
saying what it holds, in the loader's file and in the snapshot BI tools open."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb

from analytics.loader import REVISION, AnalyticsLoader
from analytics.schema import TABLES
from analytics.tables import create
from domain.application import ServiceCore

MONEY_SAYS_CURRENCY = re.compile(r"\bCNY\b")


def dictionary(conn: duckdb.DuckDBPyConnection) -> dict[tuple[str, str], str | None]:
    rows = conn.execute("SELECT table_name, column_name, comment FROM duckdb_columns() "
                        "WHERE NOT internal").fetchall()
    return {(table, column): comment for table, column, comment in rows}


def test_every_column_of_every_table_says_what_it_holds() -> None:
    conn = duckdb.connect()
    create(conn, REVISION)
    found = dictionary(conn)
    expected = {(t.name, c) for t in TABLES for c in t.column_names} | {
        ("analytics_position", "position"), ("analytics_position", "revision"),
        ("analytics_position", "mark")}
    assert set(found) == expected
    blank = sorted(k for k, comment in found.items() if not (comment or "").strip())
    assert blank == []
    tables = dict(conn.execute("SELECT table_name, comment FROM duckdb_tables() "
                               "WHERE NOT internal").fetchall())
    assert set(tables) == {t.name for t in TABLES} | {"analytics_position"}
    assert all((comment or "").strip() for comment in tables.values()), tables
    # every amount of money names its currency
    money = sorted((t.name, c) for t in TABLES for c, sql_type in t.columns
                   if sql_type in ("DECIMAL(18,2)", "DECIMAL(20,5)"))
    assert len(money) == 29
    assert [k for k in money if not MONEY_SAYS_CURRENCY.search(found[k] or "")] == []


def test_a_file_made_before_the_dictionary_gets_it(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    with duckdb.connect(str(path)) as old:  # tables as an older loader made them
        for table in TABLES:
            old.execute(table.ddl())
    conn = duckdb.connect(str(path))
    create(conn, REVISION)
    create(conn, REVISION)  # and again on every start
    assert None not in dictionary(conn).values()
    conn.close()


def test_the_published_snapshot_carries_the_dictionary(tmp_path: Path) -> None:
    loader = AnalyticsLoader(ServiceCore(), tmp_path / "analytics" / "servicecore.duckdb")
    try:
        assert loader.publish(force=True)
        snapshot = loader.snapshot_path
    finally:
        loader.close()
    with duckdb.connect(str(snapshot), read_only=True) as conn:
        found = dictionary(conn)
    assert found[("fact_payments", "amount")] == (
        "CNY: taken (positive) or refunded (negative)")
    assert None not in found.values()


def test_a_file_made_before_a_column_was_added_gets_it_with_its_comment(
        tmp_path: Path) -> None:
    table = TABLES[0]
    older = ", ".join(f"{c} {t}" for c, t in table.columns[:-2])
    path = tmp_path / "older.duckdb"
    with duckdb.connect(str(path)) as old:  # the table as a loader two columns ago made it
        old.execute(f"CREATE TABLE {table.name} ({older})")
        old.execute(f"INSERT INTO {table.name} ({table.column_names[0]}) VALUES ('kept')")
    with duckdb.connect(str(path)) as conn:
        create(conn, REVISION)
        found = dictionary(conn)
        row = conn.execute(f"SELECT * FROM {table.name}").fetchall()
    assert [c for (t, c) in found if t == table.name] == table.column_names
    assert all(found[(table.name, c)] for c in table.column_names[-2:])
    assert row == [("kept", *[None] * (len(table.column_names) - 1))]
