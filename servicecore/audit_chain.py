"""`servicecore audit verify | anchor`: recompute the hash chain, and keep its head outside.

`verify` streams the event log with its stored links in notification order and recomputes every
link (domain.integrity.link); the first event whose stored bytes, link or anchor disagree is
named. `anchor` records the chain head with the time, to be printed or kept elsewhere (a
rewrite of the whole chain from some event on cannot match a head kept outside the database).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg

from domain.integrity import GENESIS, ChainBreak, next_link
from servicecore.schema import ANCHORS_TABLE, EVENTS_TABLE, HASHES_TABLE

Progress = Callable[[int, int], None]
FETCH = 5_000  # notification ids per range read

# The server serializes each event exactly as domain.integrity.message does (plain byte
# concatenation, no hashing): decoding the columns into Python objects only to encode them again
# costs five times the hashing itself. The SHA-256 is computed here, outside the database.
MESSAGE = """int8send(e.notification_id) || uuid_send(e.originator_id)
             || int8send(e.originator_version)
             || int4send(octet_length(convert_to(coalesce(e.topic, ''), 'UTF8')))
             || convert_to(coalesce(e.topic, ''), 'UTF8')
             || int4send(octet_length(coalesce(e.state, ''::bytea)))
             || coalesce(e.state, ''::bytea)"""


@dataclass(frozen=True)
class Anchor:
    notification_id: int
    hash: str  # hex

    @classmethod
    def parse(cls, text: str) -> Anchor:
        """`<notification id>:<hex>`, as `audit anchor` prints it."""
        number, _, digest = text.partition(":")
        if not number.isdigit() or len(digest) != 64:
            raise ValueError(f"an anchor looks like 1234:<64 hex digits>, not {text!r}")
        bytes.fromhex(digest)
        return cls(int(number), digest.lower())


@dataclass(frozen=True)
class Verification:
    checked: int
    first_id: int
    last_id: int
    head_hash: str | None
    anchors_checked: int
    broken: ChainBreak | None

    @property
    def ok(self) -> bool:
        return self.broken is None

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok, "events_checked": self.checked, "from": self.first_id,
            "to": self.last_id, "head_hash": self.head_hash,
            "anchors_checked": self.anchors_checked,
            "first_break": None if self.broken is None else {
                "notification_id": self.broken.notification_id, "reason": self.broken.reason,
                "stored": self.broken.stored, "computed": self.broken.computed},
        }


def _previous_link(conn: psycopg.Connection[Any], start: int) -> bytes:
    row = conn.execute(f"SELECT hash FROM {HASHES_TABLE} WHERE notification_id < %s "
                       "ORDER BY notification_id DESC LIMIT 1", (start,)).fetchone()
    return bytes(row[0]) if row else GENESIS


def _last_link(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute(f"SELECT coalesce(max(notification_id), 0) FROM {HASHES_TABLE}").fetchone()
    return int(row[0]) if row else 0


def _anchors(conn: psycopg.Connection[Any], start: int,
             extra: list[Anchor]) -> dict[int, list[str]]:
    rows = conn.execute(f"SELECT notification_id, hash FROM {ANCHORS_TABLE} "
                        "WHERE notification_id >= %s", (start,)).fetchall()
    found: dict[int, list[str]] = {}
    for number, digest in [(int(r[0]), bytes(r[1]).hex()) for r in rows] + [
            (a.notification_id, a.hash) for a in extra]:
        found.setdefault(number, []).append(digest)
    return found


def verify(conn: psycopg.Connection[Any], start: int = 1, *, anchors: list[Anchor] | None = None,
           progress: Progress | None = None) -> Verification:
    """Recompute the chain from `start` (trusting the stored link before it) to the head."""
    head = conn.execute(f"SELECT coalesce(max(notification_id), 0) FROM {EVENTS_TABLE}"
                        ).fetchone()
    total_head = int(head[0]) if head else 0
    previous = _previous_link(conn, start)
    expected = _anchors(conn, start, anchors or [])
    checked = anchors_checked = 0
    first = last = 0
    broken: ChainBreak | None = None
    # Range by range (ids need not be dense): each range is an index scan of both tables and a
    # small in-memory sort, where one ordered full join over the whole log sorts it on disk.
    end = max(total_head, _last_link(conn))
    low = start
    while not broken and low <= end:
        rows = conn.cursor(binary=True).execute(
            f"""SELECT coalesce(e.notification_id, h.notification_id),
                       CASE WHEN e.notification_id IS NOT NULL THEN {MESSAGE} END, h.hash
                FROM (SELECT * FROM {EVENTS_TABLE}
                      WHERE notification_id >= %(low)s AND notification_id < %(high)s) e
                FULL JOIN (SELECT * FROM {HASHES_TABLE}
                           WHERE notification_id >= %(low)s AND notification_id < %(high)s) h
                     ON h.notification_id = e.notification_id
                ORDER BY 1""", {"low": low, "high": low + FETCH}).fetchall()
        low += FETCH
        for number, event_message, stored in rows:
            first = first or number
            if event_message is None:
                broken = ChainBreak(number, "link without event", bytes(stored).hex())
                break
            if stored is None:
                broken = ChainBreak(number, "link missing")
                break
            computed = next_link(previous, event_message)
            if computed != stored:
                broken = ChainBreak(number, "event changed", bytes(stored).hex(),
                                    computed.hex())
                break
            for digest in expected.get(number, ()):
                anchors_checked += 1
                if digest != computed.hex():
                    broken = ChainBreak(number, "anchor differs", digest, computed.hex())
                    break
            if broken:
                break
            previous, last = computed, number
            checked += 1
        if progress and rows and not broken:
            progress(last, total_head)
    if progress:
        progress(last if broken is None else broken.notification_id, total_head)
    if broken is None:
        beyond = [n for n in expected if n > last]
        if beyond:
            broken = ChainBreak(min(beyond), "anchor beyond the log", expected[min(beyond)][0])
    return Verification(checked, first, last, previous.hex() if checked else None,
                        anchors_checked, broken)


def anchor(conn: psycopg.Connection[Any], note: str = "") -> dict[str, Any]:
    """Record the chain head now (and answer it, to be kept outside the database)."""
    row = conn.execute(
        f"""INSERT INTO {ANCHORS_TABLE} (notification_id, hash, note)
            SELECT notification_id, hash, %s FROM {HASHES_TABLE}
            ORDER BY notification_id DESC LIMIT 1
            RETURNING notification_id, hash, anchored_at, anchored_by""", (note,)).fetchone()
    if row is None:
        return {"notification_id": 0, "hash": GENESIS.hex(), "anchored_at": None,
                "anchor": f"0:{GENESIS.hex()}"}
    digest = bytes(row[1]).hex()
    return {"notification_id": int(row[0]), "hash": digest, "anchored_at": row[2].isoformat(),
            "anchored_by": row[3], "anchor": f"{int(row[0])}:{digest}"}


def progress_bar(stream: Any) -> Progress:
    """A one-line progress bar with the rate, written to `stream` (stderr)."""
    started = time.perf_counter()

    def show(done: int, total: int) -> None:
        elapsed = time.perf_counter() - started
        share = done / total if total else 1.0
        bar = "#" * int(30 * share)
        rate = done / elapsed if elapsed else 0.0
        stream.write(f"\r[{bar:<30}] {done}/{total} events  {rate:,.0f} events/s")
        stream.flush()

    return show
