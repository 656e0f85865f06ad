"""`audit views` for the analytic tables: a DuckDB file (the published snapshot, or the loader's
own file while no process holds it) compared with the tables loaded again from the event log
into a scratch file, up to the position the file says it reflects.

The compared file is attached read-only to the scratch file's connection, and its position is
read there: while it is attached no other process may write it (the publisher then makes the
next snapshot as a copy), so when the scratch file stands at that position the two are
compared at one position; a file that moved on while the scratch file was loading is caught
up with first. Rows are compared as multisets (EXCEPT ALL, every column): a row changed in
the file counts as one row only in the file ("extra") and one only in the rebuild ("missing").
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from analytics.loader import BATCH_SIZE, AnalyticsLoader
from analytics.publish import info_path, snapshot_path
from analytics.schema import TABLES
from analytics.schema_columns import Table
from domain.application import ServiceCore

KEYS_SHOWN = 5


@dataclass
class FileCheck:
    """One DuckDB file compared with the tables loaded again up to its position."""

    file: str
    position: int
    rows: int  # rows of the file compared
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)  # those that differ
    # the log's head, where the file's position stands past it (nothing to compare it with:
    # a loader would pass over the events stored up to that position)
    past_the_log: int | None = None

    @property
    def ok(self) -> bool:
        return not self.tables and self.past_the_log is None


@dataclass
class AnalyticsCheck:
    files: list[FileCheck]
    events: int
    seconds: float

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.files)

    def as_dict(self) -> dict[str, Any]:
        return {"view": "analytics", "ok": self.ok, "events": self.events,
                "seconds": round(self.seconds, 3),
                "files": [{"file": c.file, "ok": c.ok, "position": c.position, "rows": c.rows,
                           "tables": c.tables, "past_the_log": c.past_the_log}
                          for c in self.files]}


def files_to_verify(path: Path) -> list[Path]:
    """The published snapshot (the file its JSON names), and the loader's own file when no
    process holds it (a stopped loader; a running one keeps it open for writing)."""
    found: list[Path] = []
    if info_path(path).exists():
        info = json.loads(info_path(path).read_text())
        found.append(snapshot_path(path).with_name(info["file"]) if info.get("file")
                     else snapshot_path(path))
    if path.exists():
        try:
            duckdb.connect(str(path), read_only=True).close()
        except duckdb.IOException:  # the loader holds it
            pass
        else:
            found.append(path)
    return found


def verify_files(app: ServiceCore, files: list[Path], *, zone: str,
                 batch_size: int = BATCH_SIZE, shown: int = KEYS_SHOWN,
                 scratch_dir: Path | None = None) -> AnalyticsCheck:
    """Each of `files` compared with one scratch load, brought up to each file's position in
    turn (the lowest first)."""
    started = time.perf_counter()
    ordered = sorted(files, key=_position_of)
    with tempfile.TemporaryDirectory(dir=scratch_dir, prefix="verify-") as scratch:
        loader = AnalyticsLoader(app, Path(scratch) / "verify.duckdb", batch_size=batch_size,
                                 zone=zone)
        try:
            checks = [_verify_one(loader, target, shown) for target in ordered]
            events = loader.processed
        finally:
            loader.close()
    return AnalyticsCheck(checks, events, time.perf_counter() - started)


def _position_of(path: Path) -> int:
    with duckdb.connect(str(path), read_only=True) as conn:
        found = conn.execute("SELECT position FROM analytics_position").fetchone()
    return int(found[0]) if found else 0


def _verify_one(loader: AnalyticsLoader, target: Path, shown: int) -> FileCheck:
    """Load up to the file's position, attach it, and compare once both stand at one
    position (loading further while the file moved on meanwhile)."""
    until = _position_of(target)
    while True:
        if loader.position() < until:
            loader.source.until = until
            loader.catch_up()
            head = loader.app.recorder.max_notification_id() or 0
            if until > head:  # a file never stands past the events stored
                return FileCheck(str(target), until, 0, past_the_log=head)
        conn = loader.conn
        conn.execute("ATTACH ? AS compared (READ_ONLY)", [str(target)])
        try:
            found = conn.execute("SELECT position FROM compared.analytics_position").fetchone()
            until = int(found[0]) if found else 0
            if until < loader.position():  # files are compared in the order of their positions
                raise RuntimeError(f"{target} went back to position {until}: not compared")
            if until == loader.position():
                rows, tables = 0, {}
                for table in TABLES:
                    count, diff = _compare(conn, table, shown)
                    rows += count
                    if diff:
                        tables[table.name] = diff
                return FileCheck(str(target), until, rows, tables)
        finally:
            conn.execute("DETACH compared")


def _compare(conn: duckdb.DuckDBPyConnection, table: Table,
             shown: int) -> tuple[int, dict[str, Any]]:
    """The file's rows of `table`, and how they differ from the rebuild's (empty: not)."""
    columns = ", ".join(table.column_names)
    key = ", ".join(table.key or table.column_names[:2])
    diff: dict[str, Any] = {}
    keys: dict[str, list[Any]] = {}
    for kind, first, second in (("missing", "main", "compared"), ("extra", "compared", "main")):
        found = conn.execute(
            f"""SELECT count(*) OVER (), {key}
                FROM (SELECT {columns} FROM {first}.{table.name}
                      EXCEPT ALL SELECT {columns} FROM {second}.{table.name})
                ORDER BY {key} LIMIT ?""", [max(1, shown)]).fetchall()
        diff[kind] = int(found[0][0]) if found else 0
        keys[kind] = [row[1] if len(row) == 2 else list(row[1:]) for row in found[:shown]]
    total = conn.execute(f"SELECT count(*) FROM compared.{table.name}").fetchone()
    if not diff["missing"] and not diff["extra"]:
        return int(total[0]) if total else 0, {}
    return int(total[0]) if total else 0, {**diff, "keys": {k: v for k, v in keys.items() if v}}
