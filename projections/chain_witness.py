"""The chain's head witnessed outside the database: an append-only file of anchors.

An anchor recorded only in `servicecore_anchors` proves nothing against someone who may write
the database as its owner: they can change an event, recompute every later link and rewrite
the anchors table to match. So each anchor the application records (a day-end close,
`POST /audit/chain/anchors`, `servicecore audit anchor`) is also appended, one JSON line, to
a file outside the database (`SERVICECORE_WITNESS_PATH`, default `var/witness/
chain-anchors.jsonl`), and `audit verify` compares the chain with every line of it. Keep
that file where the database's administrators cannot rewrite it (another host, a WORM
share, `chattr +a`), and print or mail the lines too.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

import psycopg

from projections.hash_chain import ANCHORS_TABLE, Anchor, anchor, anchor_once

log = logging.getLogger(__name__)
WITNESSED = ("anchor", "notification_id", "hash", "anchored_at", "anchored_by", "note")
DAY_END = "day-end"  # the note of a day-end close's anchor: "day-end <store> <day> <cashier>"


def line(recorded: dict[str, Any]) -> str:
    """One anchor as the witness file holds it: a JSON object and a newline."""
    return json.dumps({key: recorded.get(key) for key in WITNESSED}, ensure_ascii=False) + "\n"


def append(path: Path, recorded: dict[str, Any]) -> None:
    """One anchor as a JSON line at the end of `path` (created with its folder), on disk
    before this returns. Opened for appending only: nothing written before is touched.

    Several processes may witness to one file (API processes and a worker sharing a path).
    Each line is one `write` to a file opened with O_APPEND, which Linux keeps whole on a
    local file system; it is also written under an exclusive `flock` of the file and
    written again from where a short write stopped, so lines never interleave where a
    single write could be split (a full disk, a signal, a network file system whose
    client honours `flock`) and a copier that takes the lock shared reads only whole lines."""
    data = line(recorded).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        rest = memoryview(data)
        while rest:
            rest = rest[os.write(fd, rest):]
        os.fsync(fd)
    finally:
        os.close(fd)  # and the lock with it


def append_logged(path: Path | None, recorded: dict[str, Any]) -> None:
    """`append`, where there is a path and an anchor; a file that cannot be written is
    logged as an error (the anchor stays recorded in the database)."""
    if path is None or "anchor_id" not in recorded:
        return
    try:
        append(path, recorded)
    except OSError:
        log.exception("the chain anchor %s could not be written to the witness file %s",
                      recorded["anchor"], path)


def witness(conn: psycopg.Connection[Any], path: Path | None, note: str = "",
            by: str | None = None) -> dict[str, Any]:
    """Record the chain head in the database and append it to the witness file (`path`;
    None: the database only). An empty log records nothing. A file that cannot be written
    is logged as an error: the anchor stays recorded in the database."""
    recorded = anchor(conn, note, by)
    append_logged(path, recorded)
    return recorded


def witness_once(conn: psycopg.Connection[Any], path: Path | None, note: str,
                 by: str | None, since: int) -> dict[str, Any]:
    """`witness`, unless an anchor with `note` of a head at or after notification `since` is
    recorded already (`hash_chain.anchor_once`): then that one, written to the file when it
    was recorded, is answered and nothing is recorded or written again."""
    recorded, new = anchor_once(conn, note, by, since)
    if new:
        append_logged(path, recorded)
    return recorded


def read(path: Path) -> list[Anchor]:
    """Every anchor of a witness file (blank lines skipped); a line that is not one names its
    line number (ValueError)."""
    anchors = []
    with path.open(encoding="utf-8") as lines:
        fcntl.flock(lines.fileno(), fcntl.LOCK_SH)  # no line half written (`append`)
        for number, text in enumerate(lines, 1):
            if not text.strip():
                continue
            try:
                anchors.append(Anchor.parse(json.loads(text)["anchor"]))
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"{path}, line {number}: not an anchor ({exc})") from None
    return anchors


def read_if_present(path: Path | None) -> list[Anchor]:
    """The witness file's anchors, none where there is no file (nothing witnessed yet)."""
    return read(path) if path is not None and path.exists() else []


def day_end_note(store_id: str, business_date: str, cashier_id: str) -> str:
    return f"{DAY_END} {store_id} {business_date} {cashier_id}"


def day_end_anchors(conn: psycopg.Connection[Any], stores: Sequence[str], day: date
                    ) -> list[dict[str, Any]]:
    """The anchors the day-end closes of `day` recorded in the caller's stores (for the
    printed report): store, cashier, `N:HEX`, when."""
    rows = conn.execute(
        f"SELECT notification_id, hash, anchored_at, note FROM {ANCHORS_TABLE} "
        "WHERE note LIKE %s ORDER BY anchor_id", (f"{DAY_END} % {day.isoformat()} %",)
    ).fetchall()
    found = []
    for number, digest, at, note in rows:
        _, store, _, cashier = (note.split(" ", 3) + ["", "", "", ""])[:4]
        if "*" in stores or store in stores:
            found.append({"store_id": store, "cashier_id": cashier,
                          "anchor": f"{int(number)}:{bytes(digest).hex()}",
                          "anchored_at": at.isoformat()})
    return found
