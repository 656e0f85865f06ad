"""The hash chain recomputed from the stored events, and its head kept as an anchor.

`verify` streams the event log with its stored links in notification order and recomputes every
link (domain.integrity.link); the first event whose stored bytes, link or anchor disagree is
named. `anchor` records the chain head with the time and who asked, to be printed or kept
elsewhere (a rewrite of the whole chain from some event on cannot match a head kept outside the
database). Used by `servicecore audit verify | anchor` and by the /audit/chain endpoints.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg

from domain.common import InvalidInput
from domain.integrity import GENESIS, ChainBreak, next_link
from projections.chain_time import RecordedTimes, anchor_time

# The event store's tables (servicecore/schema.py; tests/unit/test_hash_chain.py compares).
EVENTS_TABLE = "servicecore_events"
HASHES_TABLE = "servicecore_event_hashes"
ANCHORS_TABLE = "servicecore_anchors"
COMMANDS_TABLE = "servicecore_commands"

Progress = Callable[[int, int], None]
FETCH = 5_000  # notification ids per range read
LAST_ID = 2**63 - 1  # bigint's largest
ANCHOR_LOCK = "servicecore-anchors"  # advisory lock (hashtext) held while an anchor is recorded

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
    # when it was recorded, where a witness line or the topic says (projections/chain_time.py)
    anchored_at: datetime | None = field(default=None, compare=False)

    @classmethod
    def parse(cls, text: object) -> Anchor:
        """`<notification id>:<hex>`, as `audit anchor` prints it."""
        if not isinstance(text, str):  # a witness file's line changed by hand: 7, null, […]
            raise TypeError(f"an anchor looks like 1234:<64 hex digits>, not {text!r}")
        number, _, digest = text.partition(":")
        if not number.isdigit() or len(digest) != 64:
            raise ValueError(f"an anchor looks like 1234:<64 hex digits>, not {text!r}")
        bytes.fromhex(digest)
        return cls(int(number), digest.lower())

    @classmethod
    def from_line(cls, line: dict[str, Any]) -> Anchor:
        """A witness file's line (or the topic's message): its anchor and the time it was
        recorded."""
        parsed = cls.parse(line["anchor"])
        return cls(parsed.notification_id, parsed.hash, anchor_time(line.get("anchored_at")))


@dataclass(frozen=True)
class Verification:
    checked: int
    first_id: int
    last_id: int
    head_hash: str | None
    anchors_checked: int
    broken: ChainBreak | None
    # The last event an anchor kept outside the database (`anchors`: the witness file, an
    # `N:HEX` given, the topic) matched; None: none did. A chain, registry and anchors table
    # rewritten after it (the tail cut off, events appended) agree with one another: nothing
    # stored in the database alone can tell, so the answer says how far the proof reaches.
    witnessed_to: int | None = None

    @property
    def ok(self) -> bool:
        return self.broken is None

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok, "events_checked": self.checked, "from": self.first_id,
            "to": self.last_id, "head_hash": self.head_hash,
            "anchors_checked": self.anchors_checked, "witnessed_to": self.witnessed_to,
            "first_break": None if self.broken is None else {
                "notification_id": self.broken.notification_id, "reason": self.broken.reason,
                "stored": self.broken.stored, "computed": self.broken.computed},
        }


def events_and_links(columns: str) -> str:
    """The statement reading the ids from %(low)s to below %(high)s: each id of an event or
    of a link, in order, then `columns` (of the event `e`), then the stored link `h.hash`
    (null for an event without one; the event's columns null for a link without its event).
    Range by range, both tables by their index, never one sort of the whole log."""
    return f"""SELECT coalesce(e.notification_id, h.notification_id), {columns}, h.hash
               FROM (SELECT * FROM {EVENTS_TABLE}
                     WHERE notification_id >= %(low)s AND notification_id < %(high)s) e
               FULL JOIN (SELECT * FROM {HASHES_TABLE}
                          WHERE notification_id >= %(low)s AND notification_id < %(high)s) h
                    ON h.notification_id = e.notification_id
               ORDER BY 1"""


def previous_link(conn: psycopg.Connection[Any], start: int) -> bytes:
    """The stored link before notification id `start` (the genesis, 32 zero bytes, when none)."""
    row = conn.execute(f"SELECT hash FROM {HASHES_TABLE} WHERE notification_id < %s "
                       "ORDER BY notification_id DESC LIMIT 1", (start,)).fetchone()
    return bytes(row[0]) if row else GENESIS


def stored_link(conn: psycopg.Connection[Any], notification_id: int) -> dict[str, Any] | None:
    """One event exactly as the log stores it (stream, version, topic, bytes) with its link and
    the link before it: what a reviewer needs to recompute the link (domain.integrity.link)."""
    row = conn.execute(
        f"""SELECT e.originator_id, e.originator_version, e.topic, e.state, h.hash
            FROM {EVENTS_TABLE} e
            LEFT JOIN {HASHES_TABLE} h ON h.notification_id = e.notification_id
            WHERE e.notification_id = %s""", (notification_id,)).fetchone()
    if row is None:
        return None
    return {"notification_id": notification_id, "stream_id": row[0], "stream_version": row[1],
            "topic": row[2], "state": bytes(row[3] or b""),
            "hash": bytes(row[4]).hex() if row[4] is not None else None,
            "previous_hash": previous_link(conn, notification_id).hex()}


def chain_head(conn: psycopg.Connection[Any]) -> int:
    """The last notification id of the log, of its links or of the command registry,
    whichever is further (a link without its event is a break too, and so is an event the
    registry recorded and the log lost from its end)."""
    row = conn.execute(
        f"SELECT greatest((SELECT coalesce(max(notification_id), 0) FROM {EVENTS_TABLE}), "
        f"(SELECT coalesce(max(notification_id), 0) FROM {HASHES_TABLE}), "
        f"(SELECT coalesce(max(n), 0) FROM (SELECT notification_ids FROM {COMMANDS_TABLE} "
        "WHERE notification_ids[1] IS NOT NULL "  # a void save (no ids) sorts first
        "ORDER BY notification_ids[1] DESC LIMIT 1) c, unnest(c.notification_ids) n))"
    ).fetchone()
    return int(row[0]) if row else 0


def _anchors(conn: psycopg.Connection[Any], start: int, end: int,
             extra: list[Anchor]) -> dict[int, list[str]]:
    rows = conn.execute(f"SELECT notification_id, hash FROM {ANCHORS_TABLE} "
                        "WHERE notification_id BETWEEN %s AND %s", (start, end)).fetchall()
    found: dict[int, list[str]] = {}
    for number, digest in [(int(r[0]), bytes(r[1]).hex()) for r in rows] + [
            (a.notification_id, a.hash) for a in extra if start <= a.notification_id <= end]:
        known = found.setdefault(number, [])
        if digest not in known:  # one head recorded and witnessed is one anchor to check
            known.append(digest)
    return found


def verify(conn: psycopg.Connection[Any], start: int = 1, end: int | None = None, *,
           anchors: list[Anchor] | None = None,
           progress: Progress | None = None) -> Verification:
    """Recompute the chain from `start` (trusting the stored link before it) to `end` (default
    the head); the anchors recorded or given for an event in that range are checked too, and
    the command registry over the range (projections/chain_registry.py: events deleted, events
    no save recorded, ids given out twice); the first break of any is named."""
    head = conn.execute(f"SELECT coalesce(max(notification_id), 0) FROM {EVENTS_TABLE}"
                        ).fetchone()
    total_head = int(head[0]) if head else 0
    stop = chain_head(conn) if end is None else min(end, chain_head(conn))
    previous = previous_link(conn, start)
    expected = _anchors(conn, start, LAST_ID if end is None else end, anchors or [])
    outside: dict[tuple[int, str], datetime | None] = {}  # witnessed: when it was recorded
    for given in anchors or []:
        known = outside.get((given.notification_id, given.hash))
        outside[(given.notification_id, given.hash)] = known or given.anchored_at
    times = RecordedTimes(max((at for (number, _), at in outside.items()
                               if at and number < start), default=None),
                          any(outside.values()))  # projections/chain_time.py
    witnessed_to: int | None = None
    checked = anchors_checked = 0
    first = last = 0
    met: set[int] = set()  # the anchored ids met with their event
    broken: ChainBreak | None = None
    # Range by range (ids need not be dense): each range is an index scan of both tables and a
    # small in-memory sort, where one ordered full join over the whole log sorts it on disk.
    low = start
    while not broken and low <= stop:
        high = min(low + FETCH, stop + 1)
        rows = conn.cursor(binary=True).execute(
            events_and_links(f"CASE WHEN e.notification_id IS NOT NULL THEN {MESSAGE} END"),
            {"low": low, "high": high}).fetchall()
        low = high
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
            broken = times.event(number, event_message)
            if broken:
                break
            if number in expected:
                met.add(number)
            for digest in expected.get(number, ()):
                anchors_checked += 1
                if digest != computed.hex():
                    broken = ChainBreak(number, "anchor differs", digest, computed.hex())
                    break
                if (number, digest) in outside:
                    broken = times.witnessed(outside[(number, digest)])
                    if broken:
                        break
                    witnessed_to = number
            if broken:
                break
            previous, last = computed, number
            checked += 1
        if progress and rows and not broken:
            progress(last, total_head)
    if progress:
        progress(last if broken is None else broken.notification_id, total_head)
    if broken is None:
        # An anchor names an event the chain held when it was taken: one whose id no longer
        # holds an event (deleted, the later links recomputed, the log gone on after it) is a
        # break as much as one past the log's end, never an anchor passed over.
        unmet = sorted(set(expected) - met)
        if unmet:
            broken = ChainBreak(unmet[0], "anchor beyond the log" if unmet[0] > last
                                else "anchor without its event", expected[unmet[0]][0])
    from projections.chain_registry import registry_break  # it reads this module's tables

    broken = registry_break(conn, start, LAST_ID if end is None else end, broken)
    return Verification(checked, first, last, previous.hex() if checked else None,
                        anchors_checked, broken, witnessed_to)


def verify_range(start: int | None, end: int | None, head: int,
                 most: int) -> tuple[int, int]:
    """The ids one request verifies: `start` to `end` as asked, at most `most` of them. Either
    may be left out: `end` alone ends a range of `most` there, `start` alone begins one there
    (ending at the head if that is nearer), neither means the last `most` ids up to the head."""
    if start is None and end is None:
        start = max(1, head - most + 1)
        end = max(head, start)
    elif start is None:
        assert end is not None
        start = max(1, end - most + 1)
    elif end is None:
        end = min(start + most - 1, max(head, start), LAST_ID)
    if end < start:
        raise InvalidInput(f"to ({end}) is before from ({start})", field="to")
    if end - start + 1 > most:
        raise InvalidInput(
            f"from {start} to {end} is {end - start + 1:,} notification ids; a request "
            f"verifies at most {most:,}: page through the log with from and to "
            f"(from={start}&to={start + most - 1}, then from={start + most}, …)",
            field="to", max_range=most)
    return start, end


def require_in_log(start: int | None, head: int) -> None:
    """A range asked from past the head holds no event: refused, where verifying it would
    answer ok with nothing checked (an empty log without `from` still verifies)."""
    if start is not None and start > head:
        raise InvalidInput(f"from ({start}) is past the head of the log (notification id "
                           f"{head}): there is no event to verify there", field="from",
                           log_head=head)


def anchor(conn: psycopg.Connection[Any], note: str = "", by: str | None = None
           ) -> dict[str, Any]:
    """Record the chain head now (and answer it, to be kept outside the database); `by` names
    who asked (default the database role).

    Anchors are recorded one at a time (`ANCHOR_LOCK`, held to the commit), so their ids
    become visible in the order they were drawn: a reader that follows the table by id (the
    Kafka relay) never passes over one that commits late."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (ANCHOR_LOCK,))
        row = conn.execute(
            f"""INSERT INTO {ANCHORS_TABLE} (notification_id, hash, note, anchored_by)
                SELECT notification_id, hash, %s, coalesce(%s, current_user)
                FROM {HASHES_TABLE} ORDER BY notification_id DESC LIMIT 1
                RETURNING anchor_id, notification_id, hash, anchored_at, anchored_by, note""",
            (note, by)).fetchone()
    if row is None:
        return {"notification_id": 0, "hash": GENESIS.hex(), "anchored_at": None,
                "anchor": f"0:{GENESIS.hex()}"}
    return anchor_row(row)


def anchor_once(conn: psycopg.Connection[Any], note: str, by: str | None, since: int
                ) -> tuple[dict[str, Any], bool]:
    """The anchor recorded with `note` of a head at or after notification `since`, if there is
    one (False: nothing recorded now), else `anchor`'s, recorded now (True). Under the same
    lock as `anchor`, so that two callers at once record one between them: a day-end close
    answered again for its Idempotency-Key answers the anchor its first answer named."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (ANCHOR_LOCK,))
        row = conn.execute(
            f"""SELECT anchor_id, notification_id, hash, anchored_at, anchored_by, note
                FROM {ANCHORS_TABLE} WHERE note = %s AND notification_id >= %s
                ORDER BY anchor_id LIMIT 1""", (note, since)).fetchone()
        if row is not None:
            return anchor_row(row), False
        return anchor(conn, note, by), True


def anchor_row(row: Any) -> dict[str, Any]:
    """An anchors-table row (anchor_id, notification_id, hash, anchored_at, anchored_by, note)
    as the anchor is answered and written to a witness file."""
    digest = bytes(row[2]).hex()
    return {"anchor_id": int(row[0]), "notification_id": int(row[1]), "hash": digest,
            "anchored_at": row[3].isoformat(), "anchored_by": row[4], "note": row[5],
            "anchor": f"{int(row[1])}:{digest}"}


def recorded_anchors(conn: psycopg.Connection[Any], *, limit: int, offset: int
                     ) -> tuple[int, list[dict[str, Any]]]:
    """The anchors recorded in the database, newest first: how many, and one page of them."""
    total = conn.execute(f"SELECT count(*) FROM {ANCHORS_TABLE}").fetchone()
    rows = conn.execute(
        f"""SELECT anchor_id, notification_id, hash, anchored_at, anchored_by, note
            FROM {ANCHORS_TABLE} ORDER BY anchor_id DESC LIMIT %s OFFSET %s""",
        (limit, offset)).fetchall()
    return (int(total[0]) if total else 0), [anchor_row(row) for row in rows]
