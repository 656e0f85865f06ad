"""Publishing the analytic snapshot without copying the whole file each time.

Readers in other processes open `servicecore-snapshot.duckdb` read-only. It is a hard link to
one of two files, `…-snapshot-a.duckdb` and `…-snapshot-b.duckdb`, that take turns:

1. The loader brings the file the link does NOT point to up to date in place, from its own
   connection (ATTACH): the rows of keyed tables changed since that file's position
   (`last_notification_id`) are deleted and inserted again, growing facts get their new
   notification ids, and the position moves, in one DuckDB transaction; then CHECKPOINT and
   DETACH, so the file is whole and has no WAL. (Or, when that was slower the last time it was
   timed, a whole copy of the loader's file replaces it: see `Publisher`.)
2. A hard link to it replaces the stable name (an atomic rename), and the JSON beside it says
   its position.

Nobody can be reading the file being brought up to date: DuckDB takes a shared lock on a file
it opens read-only and ATTACH asks for the exclusive one, so a reader in another process that
still holds it (opened two publications ago) makes ATTACH fail; readers in this process say
which file they hold (`reading`). Then, and the first time this process publishes into a file
(its tables may predate a column), the file is made as before: CHECKPOINT, copy, atomic rename
— a new file, while a reader of the old one keeps reading what it opened.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from analytics.schema import TABLES

_open_here: Counter[str] = Counter()  # snapshot files read by this process, by name
_registry = threading.Lock()


def snapshot_path(path: Path) -> Path:
    """The stable name readers open (a hard link to the latest of the two files)."""
    return path.with_name(path.stem + "-snapshot.duckdb")


def turns(path: Path) -> tuple[Path, Path]:
    return (path.with_name(path.stem + "-snapshot-a.duckdb"),
            path.with_name(path.stem + "-snapshot-b.duckdb"))


def info_path(path: Path) -> Path:
    return snapshot_path(path).with_suffix(".json")


@contextmanager
def transaction(conn: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """One DuckDB transaction: committed when the block ends, rolled back if it raises."""
    conn.execute("BEGIN")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


@contextmanager
def reading(path: Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    """The current snapshot file of the loader's `path` and its info, held for reading by
    this process until the block ends (the publisher will not bring it up to date in place)."""
    with _registry:
        info = json.loads(info_path(path).read_text())
        held = snapshot_path(path).with_name(info["file"]) if info.get("file") else \
            snapshot_path(path)
        _open_here[str(held)] += 1
    try:
        yield held, info
    finally:
        with _registry:
            _open_here[str(held)] -= 1


class Publisher:
    """Publishes the loader's tables (its connection, its file) as the read-only snapshot.

    Which way is cheaper depends on the file's size, what changed and the machine: in place
    costs about the same whatever the size (statements per table, a commit), a copy grows with
    the file, and a small file copies faster from the page cache than it is brought up to date
    (bench/README.md, "Analytics"). So each publication takes the way that was cheaper the last
    time it was timed, and every `retry_every`-th publication times the other way again;
    `prefer` fixes the way instead (when it can be).
    """

    retry_every = 20

    def __init__(self, conn: duckdb.DuckDBPyConnection, path: Path,
                 prefer: str | None = None) -> None:
        self.conn = conn
        self.path = path
        self.prefer = prefer
        self.fresh: set[Path] = set()  # files this process wrote whole (current schema)
        self.seconds: dict[str, float] = {}  # the last time each way took
        self.count = 0
        self.last_way = ""

    def _wants_in_place(self) -> bool:
        if self.prefer is not None:
            return self.prefer == "in place"
        if "in place" not in self.seconds:
            return True
        cheaper = min(self.seconds, key=self.seconds.__getitem__)
        if self.count % self.retry_every == 0:
            return cheaper != "in place"
        return cheaper == "in place"

    def current(self) -> Path | None:
        try:
            linked = os.stat(snapshot_path(self.path))
        except FileNotFoundError:
            return None
        for candidate in turns(self.path):
            try:
                if os.stat(candidate).st_ino == linked.st_ino:
                    return candidate
            except FileNotFoundError:
                continue
        return None

    def publish(self, position: int) -> str:
        """Bring the other file to `position` and point the stable name at it; answers how:
        "in place" or "copy"."""
        a, b = turns(self.path)
        target = b if self.current() == a else a
        self.count += 1
        started = time.perf_counter()
        way = "in place" if target in self.fresh and self._wants_in_place() and \
            self._in_place(target, position) else "copy"
        if way == "copy":
            self._copy(target)
        self.seconds[way] = time.perf_counter() - started
        link = target.with_suffix(".link.tmp")
        link.unlink(missing_ok=True)
        try:
            os.link(target, link)
        except OSError:  # a file system without hard links: the stable name is a copy
            shutil.copyfile(target, link)
        info = {"position": position, "published_at": datetime.now().astimezone().isoformat(),
                "file": target.name, "how": way}
        tmp_info = info_path(self.path).with_suffix(".json.tmp")
        tmp_info.write_text(json.dumps(info))
        with _registry:  # readers here see the new file and its info together
            os.replace(link, snapshot_path(self.path))
            os.replace(tmp_info, info_path(self.path))
        self.last_way = way
        return way

    def _copy(self, target: Path) -> None:
        self.conn.execute("CHECKPOINT")
        tmp = target.with_suffix(".tmp")
        shutil.copyfile(self.path, tmp)
        os.replace(tmp, target)
        self.fresh.add(target)

    def _in_place(self, target: Path, position: int) -> bool:
        with _registry:
            if _open_here[str(target)] > 0 or not target.exists():
                return False
            try:
                self.conn.execute(f"ATTACH '{target}' AS snap")
            except duckdb.IOException:  # a reader in another process still holds it
                return False
        try:
            try:
                found = self.conn.execute(
                    "SELECT position FROM snap.analytics_position").fetchone()
            except duckdb.CatalogException:  # not a snapshot of ours
                return False
            since = int(found[0]) if found else -1
            if not 0 <= since <= position:
                return False
            with transaction(self.conn):
                for table in TABLES:
                    _bring_up_to_date(self.conn, table.name, table.key, since)
                self.conn.execute("UPDATE snap.analytics_position SET position = ?, mark = "
                                  "(SELECT mark FROM main.analytics_position)", [position])
            self.conn.execute("CHECKPOINT snap")
            return True
        finally:
            self.conn.execute("DETACH snap")


def _bring_up_to_date(conn: duckdb.DuckDBPyConnection, table: str, key: tuple[str, ...],
                      since: int) -> None:
    if not key:  # a growing fact: rows are only ever added
        conn.execute(f"INSERT INTO snap.{table} SELECT * FROM main.{table} "
                     f"WHERE notification_id > ?", [since])
        return
    same = " AND ".join(f"m.{k} IS NOT DISTINCT FROM s.{k}" for k in key)
    conn.execute(f"DELETE FROM snap.{table} s WHERE EXISTS (SELECT 1 FROM main.{table} m "
                 f"WHERE m.last_notification_id > ? AND {same})", [since])
    conn.execute(f"INSERT INTO snap.{table} SELECT * FROM main.{table} "
                 f"WHERE last_notification_id > ?", [since])
