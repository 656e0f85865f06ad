"""The command registry (`servicecore_commands`: each save's notification ids, recorded by the
statement that stores its events) against the log: what the chain alone cannot tell. An event
deleted with its link (a tail cut off leaves a chain consistent in itself), an event put into
a gap with the later links recomputed, and an id given out twice (the tail cut off and the
sequence set back, so later saves were given the ids of the events cut) each leave a chain
that verifies, but not a registry that agrees. `hash_chain.verify` asks these over its range."""

from __future__ import annotations

from typing import Any

import psycopg

from domain.integrity import ChainBreak
from projections.hash_chain import COMMANDS_TABLE, EVENTS_TABLE, LAST_ID


def _recorded(columns: str = "n") -> str:
    """The ids the command registry recorded from `low` to `high` (with `columns` of each save,
    `c`), found through its index on each save's first id: the saves that begin in the range,
    and the few that begin before it (a statement's ids are drawn in one go under the append
    lock, so saves do not interleave and at most the last one begun before `low` reaches into
    the range; an id given out twice, `first_reused`, brings a second)."""
    return f"""
    SELECT {columns} FROM (
        SELECT notification_ids, recorded_at FROM {COMMANDS_TABLE}
        WHERE notification_ids[1] BETWEEN %(low)s AND %(high)s
        UNION ALL
        (SELECT notification_ids, recorded_at FROM {COMMANDS_TABLE}
         WHERE notification_ids[1] < %(low)s
         ORDER BY notification_ids[1] DESC LIMIT 100)) c, unnest(c.notification_ids) n
    WHERE n BETWEEN %(low)s AND %(high)s"""


RECORDED = _recorded()


def first_deleted(conn: psycopg.Connection[Any], start: int, end: int = LAST_ID) -> int | None:
    """The first notification id from `start` to `end` that a save recorded in the command
    registry (in the statement that stored its events) and that the log no longer holds: an
    event deleted, with its link or not, in the middle or at the end (where the chain left is
    consistent in itself). Reads the registry's saves of that range only."""
    row = conn.execute(
        f"""SELECT min(r.n) FROM ({RECORDED}) r WHERE NOT EXISTS (
                SELECT 1 FROM {EVENTS_TABLE} e WHERE e.notification_id = r.n)""",
        {"low": start, "high": end}).fetchone()
    return None if row is None or row[0] is None else int(row[0])


def first_unrecorded(conn: psycopg.Connection[Any], start: int, end: int = LAST_ID
                     ) -> int | None:
    """The first event from `start` to `end` that no save recorded in the command registry:
    one put into the log behind the application's back (into a gap of the ids, say, with the
    links after it recomputed, which leaves the chain whole). Events from before the registry
    existed (before its first recorded id) are not asked about."""
    row = conn.execute(
        f"""WITH recorded AS MATERIALIZED ({RECORDED})
            SELECT min(e.notification_id) FROM {EVENTS_TABLE} e
            WHERE e.notification_id BETWEEN %(low)s AND %(high)s
              AND e.notification_id >= (SELECT notification_ids[1] FROM {COMMANDS_TABLE}
                                        ORDER BY notification_ids[1] LIMIT 1)
              AND NOT EXISTS (SELECT 1 FROM recorded r WHERE r.n = e.notification_id)""",
        {"low": start, "high": end}).fetchone()
    return None if row is None or row[0] is None else int(row[0])


def first_reused(conn: psycopg.Connection[Any], start: int, end: int = LAST_ID
                 ) -> ChainBreak | None:
    """The first notification id from `start` to `end` that two saves recorded: the log cut
    back (events and links deleted) and its sequence set back, so that a later save was given
    the ids of events cut off and the chain made anew from there, whole in itself, and every
    id recorded again. `stored`: when the first save recorded it; `computed`: when the last
    one did (the cut lies between)."""
    row = conn.execute(
        f"""SELECT n, min(recorded_at), max(recorded_at)
            FROM ({_recorded("n, c.recorded_at")}) r
            GROUP BY n HAVING count(*) > 1 ORDER BY n LIMIT 1""",
        {"low": start, "high": end}).fetchone()
    if row is None:
        return None
    return ChainBreak(int(row[0]), "event replaced", row[1].isoformat(), row[2].isoformat())


def registry_break(conn: psycopg.Connection[Any], start: int, end: int,
                   broken: ChainBreak | None) -> ChainBreak | None:
    """The first break from `start` to `end`: `broken` (the chain's), or an earlier one the
    registry shows; at the chain's own break, an event deleted there (named at its own id,
    where the chain alone breaks only at the next event)."""
    for found, reason in ((first_deleted(conn, start, end), "event deleted"),
                          (first_unrecorded(conn, start, end), "event no save recorded")):
        if found is not None and (broken is None or found < broken.notification_id or (
                found == broken.notification_id and reason == "event deleted")):
            broken = ChainBreak(found, reason)
    reused = first_reused(conn, start, end)
    if reused and (broken is None or reused.notification_id < broken.notification_id):
        broken = reused
    return broken


def break_place(conn: psycopg.Connection[Any], notification_id: int) -> str:
    """Where a break stands, for the person reading it: the event the log holds at the id
    (stream, version and topic as stored now, which an edit may have changed too) and when
    the registry recorded the save that stored an event there (the database's time)."""
    event = conn.execute(f"SELECT originator_id, originator_version, topic FROM {EVENTS_TABLE} "
                         "WHERE notification_id = %s", (notification_id,)).fetchone()
    saves = [row[1] for row in conn.execute(
        f"{_recorded('n, c.recorded_at')} ORDER BY c.recorded_at",
        {"low": notification_id, "high": notification_id}).fetchall()]
    held = ("holds no event" if event is None else
            f"holds version {event[1]} of stream {event[0]} ({event[2]})")
    stored = ("no save recorded an event there" if not saves else
              "a save recorded an event there at "
              + ", and another at ".join(at.isoformat() for at in saves))
    return f"notification id {notification_id} {held}; {stored}"
