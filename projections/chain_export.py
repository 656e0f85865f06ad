"""A range of the event log exported raw, each event with its chain link, for a verifier
outside this code (projections/verify_chain.py; README, "Checking the chain outside the system").

The export is JSON lines: a header (the range, the link before it), one line per event in
notification order (stream id, version, topic, the stored bytes in base64, the stored link
and the link before it), the anchors the database recorded in the range, and an end line
(counts, the last link) whose absence shows a file cut short. Read range by range of
notification ids in one snapshot, so a log of millions of events is written in bounded memory.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg

from domain.integrity import GENESIS
from projections.hash_chain import (
    ANCHORS_TABLE,
    FETCH,
    HASHES_TABLE,
    anchor_row,
    events_and_links,
    previous_link,
)

FORMAT = "servicecore-chain-export/1"
ALGORITHM = ("sha256(previous link || int8be(notification_id) || uuid bytes(stream_id) || "
             "int8be(stream_version) || int4be(len(topic utf-8)) || topic utf-8 || "
             "int4be(len(state)) || state); the link before notification id 1 is 32 zero bytes")


@dataclass(frozen=True)
class StoredRow:
    """One notification id of the range as stored: the event (None: a link without its
    event) and its link (None: an event without a link), with the stored link before it."""

    notification_id: int
    stream_id: Any
    stream_version: int | None
    topic: str | None
    state: bytes | None
    hash: bytes | None
    previous_hash: bytes

    @property
    def has_event(self) -> bool:
        return self.stream_id is not None


# (row) -> True to export the event's bytes, False to withhold them (its link stays)
Visible = Callable[[StoredRow], bool]


@dataclass
class Tally:
    events: int = 0
    withheld: int = 0
    links_without_event: int = 0
    anchors: int = 0
    last_id: int | None = None
    last_hash: str | None = None


def stored_rows(conn: psycopg.Connection[Any], start: int, end: int,
                limit: int | None = None) -> Iterator[StoredRow]:
    """The events and links from `start` to `end` in notification order, at most `limit`
    notification ids (an event, a link without its event), range by range of ids."""
    before = previous_link(conn, start)
    low, count = start, 0
    while low <= end and (limit is None or count < limit):
        high = min(low + FETCH, end + 1)
        rows = conn.execute(
            events_and_links("e.originator_id, e.originator_version, e.topic, e.state"),
            {"low": low, "high": high}).fetchall()
        low = high
        for number, stream_id, version, topic, state, stored in rows:
            if limit is not None and count >= limit:
                return
            link = bytes(stored) if stored is not None else None
            yield StoredRow(int(number), stream_id, version, topic,
                            None if stream_id is None else bytes(state or b""), link, before)
            count += 1
            before = link if link is not None else before


def header(conn: psycopg.Connection[Any], start: int, end: int, head: int,
           stores: list[str]) -> dict[str, Any]:
    """The export's first line: its range, and the stored link before it with that link's
    notification id (null and 32 zero bytes before the first event)."""
    row = conn.execute(f"SELECT notification_id, hash FROM {HASHES_TABLE} "
                       "WHERE notification_id < %s ORDER BY notification_id DESC LIMIT 1",
                       (start,)).fetchone()
    return {"kind": "export", "format": FORMAT, "algorithm": ALGORITHM, "from": start,
            "to": end, "previous_notification_id": int(row[0]) if row else None,
            "previous_hash": (bytes(row[1]) if row else GENESIS).hex(), "log_head": head,
            "exported_at": datetime.now(UTC).isoformat(), "stores": stores}


def row_line(row: StoredRow, visible: bool) -> dict[str, Any]:
    """One notification id as the export holds it."""
    link = {"hash": None if row.hash is None else row.hash.hex(),
            "previous_hash": row.previous_hash.hex()}
    if not row.has_event:
        return {"kind": "link", "notification_id": row.notification_id, **link}
    if not visible:
        return {"kind": "withheld", "notification_id": row.notification_id, **link}
    return {"kind": "event", "notification_id": row.notification_id,
            "stream_id": str(row.stream_id), "stream_version": row.stream_version,
            "topic": row.topic or "", "state": base64.b64encode(row.state or b"").decode(),
            **link}


def range_anchors(conn: psycopg.Connection[Any], start: int, end: int
                  ) -> Iterator[dict[str, Any]]:
    """The anchors the database recorded for a head from `start` to `end`, in anchor order."""
    with conn.cursor() as cursor:
        cursor.execute(f"SELECT anchor_id, notification_id, hash, anchored_at, anchored_by, "
                       f"note FROM {ANCHORS_TABLE} WHERE notification_id BETWEEN %s AND %s "
                       "ORDER BY anchor_id", (start, end))
        for row in cursor:
            yield {"kind": "anchor", **anchor_row(row)}


def export_lines(conn: psycopg.Connection[Any], rows: list[StoredRow] | Iterator[StoredRow],
                 start: int, end: int, head: int, *, visible: Visible | None = None,
                 stores: list[str] | None = None, tally: Tally | None = None,
                 next_from: int | None = None) -> Iterator[str]:
    """The export as text lines: header, the anchors recorded from `start` to `end` (first,
    so a verifier knows them as it meets their events), `rows` (each withheld where `visible`
    says so) and the end line. `end` is the last id the export covers: every event and link
    from `start` to it is in `rows`."""
    counted = tally if tally is not None else Tally()
    yield _text(header(conn, start, end, head, stores or ["*"]))
    for anchored in range_anchors(conn, start, end):
        counted.anchors += 1
        yield _text(anchored)
    for row in rows:
        shown = visible is None or visible(row)
        line = row_line(row, shown)
        if line["kind"] == "event":
            counted.events += 1
        elif line["kind"] == "withheld":
            counted.withheld += 1
        else:
            counted.links_without_event += 1
        counted.last_id = row.notification_id
        counted.last_hash = line["hash"] or counted.last_hash
        yield _text(line)
    yield _text({"kind": "end", "from": start, "to": end, "events": counted.events,
                 "withheld": counted.withheld,
                 "links_without_event": counted.links_without_event,
                 "anchors": counted.anchors, "last_notification_id": counted.last_id,
                 "last_hash": counted.last_hash, "next_from": next_from})


def _text(line: dict[str, Any]) -> str:
    return json.dumps(line, ensure_ascii=False, default=str) + "\n"


__all__ = ["ALGORITHM", "FORMAT", "GENESIS", "StoredRow", "Tally", "Visible", "export_lines",
           "stored_rows"]
