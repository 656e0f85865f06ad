"""The chain's head witnessed outside the database: an append-only file of anchors.

An anchor recorded only in `servicecore_anchors` proves nothing against someone who may write
the database as its owner: they can change an event, recompute every later link and rewrite
the anchors table to match. So each anchor the application records (a day-end close,
`POST /audit/chain/anchors`, `servicecore audit anchor`) is also appended, one JSON line, to
a file outside the database (`SERVICECORE_WITNESS_PATH`, default `var/witness/
chain-anchors.jsonl`), and `audit verify` compares the chain with every line of it. Keep
that file where the database's administrators cannot rewrite it (another host, a WORM
share, `chattr +a`), and print or mail the lines too.

Each line also carries its number in the file (`line`) and the SHA-256 of the line before it
as stored, its newline included (`previous`; null on line 1), so the lines form a chain of
their own: a line removed, changed (but the last), reordered or duplicated breaks it
(`read_checked`). Lines written before the links carry neither and are reported as such.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, BinaryIO

import psycopg

from projections.chain_restored import LogBehindWitness, log_behind_witness
from projections.hash_chain import ANCHORS_TABLE, Anchor, anchor, anchor_once, anchor_row

log = logging.getLogger(__name__)
WITNESSED = ("anchor", "notification_id", "hash", "anchored_at", "anchored_by", "note")
DAY_END = "day-end"  # the note of a day-end close's anchor: "day-end <store> <day> <cashier>"


TAIL = 8192  # bytes read back at a time to find the file's last line
# An anchor's line is a few hundred bytes: a longer one is no anchor, and is passed over
# without being held (a file of gigabytes with no line break was read whole as one line).
MAX_LINE_BYTES = 64 * 1024


def line(recorded: dict[str, Any], number: int = 1, previous: bytes | None = None) -> str:
    """One anchor as the witness file holds it: a JSON object and a newline, with its number
    in the file and the SHA-256 (hex) of the line before it (`previous`, newline included)."""
    return json.dumps({**{key: recorded.get(key) for key in WITNESSED}, "line": number,
                       "previous": None if previous is None else digest(previous)},
                      ensure_ascii=False) + "\n"


def digest(stored: bytes) -> str:
    return hashlib.sha256(stored).hexdigest()


def _last_line(fd: int) -> bytes | None:
    """The file's last line as stored (its newline included), read back from the end; None
    for an empty file."""
    end = os.fstat(fd).st_size
    if end == 0:
        return None
    start = end
    while start > 0:
        start = max(0, start - TAIL)
        tail = os.pread(fd, end - start, start)
        cut = tail.rfind(b"\n", 0, len(tail) - 1)
        if cut >= 0:
            return tail[cut + 1:]
    return os.pread(fd, end, 0)


def _lines(stored: BinaryIO) -> Iterator[bytes | None]:
    """The file's lines from where `stored` is, each read `MAX_LINE_BYTES` + 1 bytes at most:
    a longer line is None, the rest of it read past a block at a time."""
    while text := stored.readline(MAX_LINE_BYTES + 1):
        if len(text) <= MAX_LINE_BYTES or text.endswith(b"\n"):
            yield text
            continue
        while (rest := stored.readline(MAX_LINE_BYTES + 1)) and not rest.endswith(b"\n"):
            pass
        yield None


def _next_number(fd: int, last: bytes | None) -> int:
    """The number the next line carries: one after the last line's, or, after a line
    written before the links (or one that is not whole), one after the lines there are."""
    if last is None:
        return 1
    try:
        return int(json.loads(last)["line"]) + 1
    except (ValueError, KeyError, TypeError, OverflowError, RecursionError):
        with open(fd, "rb", closefd=False) as stored:
            stored.seek(0)
            return sum(1 for text in _lines(stored) if text is None or text.strip()) + 1


def append(path: Path, recorded: dict[str, Any], *, once: bool = False) -> None:
    """One anchor as a JSON line at the end of `path` (created with its folder), on disk
    before this returns. Opened for appending only: nothing written before is touched.
    `once`: not if a line of the file holds that anchor already (looked for under the lock).

    Several processes may witness to one file (API processes and a worker sharing a path).
    Each line is one `write` to a file opened with O_APPEND, which Linux keeps whole on a
    local file system; it is also written under an exclusive `flock` of the file and
    written again from where a short write stopped, so lines never interleave where a
    single write could be split (a full disk, a signal, a network file system whose
    client honours `flock`) and a copier that takes the lock shared reads only whole lines.
    The line links to the one before it, read back under the same lock."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        if once and _holds(fd, recorded["anchor"]):
            return
        last = _last_line(fd)
        data = line(recorded, _next_number(fd, last), last).encode()
        rest = memoryview(data)
        while rest:
            rest = rest[os.write(fd, rest):]
        os.fsync(fd)
    finally:
        os.close(fd)  # and the lock with it


def last_anchor(path: Path) -> Anchor | None:
    """The anchor of the file's last line (None: no file, no line yet, or a last line that
    is no anchor, which `audit verify` names)."""
    if not path.is_file():
        return None
    with path.open("rb") as stored:
        fcntl.flock(stored.fileno(), fcntl.LOCK_SH)
        last = _last_line(stored.fileno())
    try:
        return None if last is None else Anchor.from_line(json.loads(last))
    except (ValueError, KeyError, TypeError, RecursionError):
        return None


def refuse_if_behind(conn: psycopg.Connection[Any], path: Path) -> None:
    """Raise `LogBehindWitness` (logged at ERROR) when the file's last anchor names a head the
    log no longer holds (`chain_restored.log_behind_witness`): an anchor of this log appended
    after it would mix two histories in one file."""
    reason = log_behind_witness(conn, last_anchor(path))
    if reason is not None:
        refused = LogBehindWitness(f"nothing more is appended to the witness file {path}: "
                                   f"{reason}")
        log.error("chain witness: %s", refused)
        raise refused


def _holds(fd: int, anchor_text: str) -> bool:
    """Whether a line of the file names `anchor_text` (`N:HEX`) as its anchor."""
    with open(fd, "rb", closefd=False) as stored:
        stored.seek(0)
        for text in _lines(stored):
            if text is None or anchor_text.encode() not in text:
                continue
            try:
                if json.loads(text).get("anchor") == anchor_text:
                    return True
            except (ValueError, AttributeError, RecursionError):
                continue
    return False


# The anchors recorded for heads from a witness file's first line on, in the order recorded.
SINCE = f"""
    SELECT anchor_id, notification_id, hash, anchored_at, anchored_by, note FROM {ANCHORS_TABLE}
    WHERE notification_id >= %s ORDER BY anchor_id"""


def lacking(conn: psycopg.Connection[Any], path: Path) -> list[dict[str, Any]]:
    """The anchors recorded in the database (by anyone: a day-end close, `audit anchor`,
    `POST /audit/chain/anchors`, the timer) for heads from the file's first line on that no
    line of the file holds, in the order they were recorded (one per `N:HEX`): those whose
    write failed, or whose process ended before it. None where there is no file or it has no
    line yet (history is not witnessed after the fact). A file that cannot be read raises
    (OSError; ValueError naming a line that is no anchor)."""
    if not path.is_file():
        return []
    held = {f"{a.notification_id}:{a.hash}" for a in read(path)}
    if not held:
        return []
    first = min(int(text.partition(":")[0]) for text in held)
    found = []
    for row in conn.execute(SINCE, (first,)).fetchall():
        recorded = anchor_row(row)
        if recorded["anchor"] not in held:
            held.add(recorded["anchor"])
            found.append(recorded)
    return found


def append_logged(path: Path | None, recorded: dict[str, Any], *, once: bool = False,
                  conn: psycopg.Connection[Any] | None = None) -> None:
    """`append`, where there is a path and an anchor; a file that cannot be written is
    logged as an error (the anchor stays recorded in the database). With `conn`, the anchors
    recorded before this one that the file lacks (`lacking`) are written first, in order,
    and nothing is written to a file whose last anchor the log no longer holds
    (`refuse_if_behind`: the database restored from a backup taken before it; logged)."""
    if path is None or "anchor_id" not in recorded:
        return
    try:
        if conn is not None:
            refuse_if_behind(conn, path)
            _catch_up(conn, path, recorded["anchor_id"])
        append(path, recorded, once=once)
    except LogBehindWitness:
        return  # logged, the anchor stays recorded in the database
    except OSError:
        log.exception("the chain anchor %s could not be written to the witness file %s",
                      recorded["anchor"], path)


def _catch_up(conn: psycopg.Connection[Any], path: Path, before: int) -> None:
    """Write the anchors recorded before anchor `before` that the file lacks. A file that
    cannot be read (`audit verify` names its line), or a database that cannot be asked, is
    logged and the anchor of the moment is appended all the same."""
    try:
        earlier = [r for r in lacking(conn, path) if r["anchor_id"] < before]
    except (ValueError, psycopg.Error) as exc:  # the database gone since: the next anchor
        log.error("the witness file %s: the anchors it lacks cannot be looked for (%s)",
                  path, exc)
        return
    for recorded in earlier:
        append(path, recorded, once=True)
    if earlier:
        log.warning("%d chain anchor(s) the witness file %s lacked are written to it now: %s",
                    len(earlier), path, ", ".join(r["anchor"] for r in earlier))


def witness(conn: psycopg.Connection[Any], path: Path | None, note: str = "",
            by: str | None = None) -> dict[str, Any]:
    """Record the chain head in the database and append it to the witness file (`path`;
    None: the database only), after any anchor recorded before it that the file lacks (its
    write failed). An empty log records nothing. A file that cannot be written is logged as
    an error: the anchor stays recorded in the database, and the next anchor writes it."""
    recorded = anchor(conn, note, by)
    append_logged(path, recorded, conn=conn)
    return recorded


def witness_once(conn: psycopg.Connection[Any], path: Path | None, note: str,
                 by: str | None, since: int) -> dict[str, Any]:
    """`witness`, unless an anchor with `note` of a head at or after notification `since` is
    recorded already (`hash_chain.anchor_once`): then that one is answered and nothing is
    recorded again; it is written to the file only if the file does not hold it (the write
    when it was recorded failed, or the process ended between its commit and the write)."""
    recorded, new = anchor_once(conn, note, by, since)
    append_logged(path, recorded, once=not new, conn=conn)
    return recorded


@dataclass
class WitnessFile:
    """A witness file read: its anchors, the lines that carry no link (written before links),
    and the first place its own chain of lines is broken (None: whole)."""
    path: Path
    anchors: list[Anchor] = field(default_factory=list)
    unlinked: list[int] = field(default_factory=list)
    broken: str | None = None

    def unlinked_note(self) -> str | None:
        """Which lines carry no link, as ranges: "lines 1-12 carry no link (…)"."""
        if not self.unlinked:
            return None
        spans: list[list[int]] = []
        for number in self.unlinked:
            if spans and spans[-1][1] == number - 1:
                spans[-1][1] = number
            else:
                spans.append([number, number])
        named = ", ".join(f"{a}-{b}" if a != b else f"{a}" for a, b in spans)
        which = "line" if len(self.unlinked) == 1 else "lines"
        return f"{self.path}: {which} {named} carry no link (written before links)"


def _break(lines: list[tuple[bytes, dict[str, Any]]]) -> str | None:
    """The first place the lines' chain is broken: a line whose number is not its place in the
    file (lines removed, reordered or duplicated) or whose link does not match the line
    before it (that line changed). Lines without a link are not checked themselves; a line
    with one after them still covers how many there are and the last one's bytes."""
    numbers: dict[int, list[int]] = {}
    for place, (_, parsed) in enumerate(lines, 1):
        if "line" in parsed:
            if type(parsed["line"]) is not int:
                return f"line {place} carries no line number ({parsed['line']!r})"
            numbers.setdefault(parsed["line"], []).append(place)
    for place, (_, parsed) in enumerate(lines, 1):
        if "line" not in parsed:
            continue
        number = parsed["line"]
        if len(numbers[number]) > 1:
            first, second = numbers[number][:2]
            return f"lines {first} and {second} both carry number {number}: a line duplicated"
        if number < place:
            return f"line {place} carries number {number}: lines out of order"
        if number > place:  # the numbers it skips are later in the file, or nowhere
            if any(place <= n < number for n in numbers):
                return f"line {place} carries number {number}: lines out of order"
            return (f"line {place} carries number {number}: {number - place} line(s) before "
                    "it removed")
        before = None if place == 1 else digest(lines[place - 2][0])
        if parsed.get("previous") != before:
            return (f"line {place - 1} changed after it was written (line {place}'s link does "
                    "not match it)" if place > 1 else "line 1 links to a line before it")
    return None


def read_checked(path: Path) -> WitnessFile:
    """Every anchor of a witness file (blank lines skipped), with its chain of lines checked;
    a line that is not an anchor names its line number (ValueError)."""
    lines: list[tuple[bytes, dict[str, Any]]] = []
    read = WitnessFile(path)
    with path.open("rb") as stored:
        fcntl.flock(stored.fileno(), fcntl.LOCK_SH)  # no line half written (`append`)
        for number, text in enumerate(_lines(stored), 1):
            if text is None:
                raise ValueError(f"{path}, line {number}: not an anchor (longer than "
                                 f"{MAX_LINE_BYTES:,} bytes)")
            if not text.strip():
                continue
            try:
                parsed = json.loads(text)
                read.anchors.append(Anchor.from_line(parsed))
            except (ValueError, KeyError, TypeError, RecursionError) as exc:
                # RecursionError: a line nested past the JSON parser's depth
                raise ValueError(f"{path}, line {number}: not an anchor ({exc})") from None
            lines.append((text, parsed))
            if "line" not in parsed:
                read.unlinked.append(len(lines))
    read.broken = _break(lines)
    return read


def read(path: Path) -> list[Anchor]:
    """Every anchor of a witness file (blank lines skipped); a line that is not one names its
    line number (ValueError)."""
    return read_checked(path).anchors


def anchors_after(conn: psycopg.Connection[Any], witnessed: Sequence[Anchor]
                  ) -> tuple[int, int] | None:
    """The anchors the database recorded for heads after the last one `witnessed` (the witness
    files read): how many, and the last one's notification id; None when there are none.
    A file cut at its end shows only here (a file cannot tell its own last lines missing)."""
    last = max((a.notification_id for a in witnessed), default=0)
    row = conn.execute(f"SELECT count(*), max(notification_id) FROM {ANCHORS_TABLE} "
                       "WHERE notification_id > %s", (last,)).fetchone()
    return None if row is None or not row[0] else (int(row[0]), int(row[1]))


def anchors_skipped(conn: psycopg.Connection[Any], published: Sequence[int]) -> list[int]:
    """The anchor ids the database recorded between the first and the last of `published`
    (the ids a topic holds) that the topic lacks: passed over by the relay (its position moved
    on by hand), or lost by the broker. Ids before the topic's first are not asked about (a
    topic's retention may have dropped them)."""
    if not published:
        return []
    held = set(published)
    rows = conn.execute(f"SELECT anchor_id FROM {ANCHORS_TABLE} WHERE anchor_id BETWEEN %s AND %s "
                        "ORDER BY anchor_id", (min(held), max(held))).fetchall()
    return [int(row[0]) for row in rows if int(row[0]) not in held]


def read_if_present(path: Path | None) -> WitnessFile | None:
    """The witness file read and checked (`read_checked`); None where there is no file
    (nothing witnessed yet)."""
    return read_checked(path) if path is not None and path.exists() else None


def day_end_note(store_id: str, business_date: str, cashier_id: str) -> str:
    return f"{DAY_END} {store_id} {business_date} {cashier_id}"


def day_end_anchors(conn: psycopg.Connection[Any], stores: Sequence[str], day: date,
                    until: datetime | None = None) -> list[dict[str, Any]]:
    """The anchors the day-end closes of `day` recorded in the caller's stores (for the
    printed report): store, cashier, `N:HEX`, when (`until`: those recorded by then)."""
    rows = conn.execute(
        f"SELECT notification_id, hash, anchored_at, note FROM {ANCHORS_TABLE} "
        "WHERE note LIKE %s AND (%s::timestamptz IS NULL OR anchored_at <= %s) "
        "ORDER BY anchor_id", (f"{DAY_END} % {day.isoformat()} %", until, until)
    ).fetchall()
    found = []
    for number, digest, at, note in rows:
        _, store, _, cashier = (note.split(" ", 3) + ["", "", "", ""])[:4]
        if "*" in stores or store in stores:
            found.append({"store_id": store, "cashier_id": cashier,
                          "anchor": f"{int(number)}:{bytes(digest).hex()}",
                          "anchored_at": at.isoformat()})
    return found
