"""Which records the broker acknowledged where: per partition, the end offset the broker must
report while it holds what it acknowledged (one past the first offset of the last acknowledged
batch: batches are written whole, and some brokers — tansu 0.6 — report the log end as that,
not as one past the last record), kept in PostgreSQL with the relay's position; and, for the
records acknowledged since the process started, the lowest notification id in each block of
offsets.

A broker can lose records it acknowledged: one with memory storage (tansu in the tests) or
without a volume comes back empty after a restart, an unclean leader election truncates a
partition, someone deletes and re-creates a topic. When a partition's end offset on the broker
is below that, the relay goes back to the lowest notification id among the records at or above
the broker's end offset (to the very start when some of them were acknowledged before this
process started: their ids are not known here) and sends them again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

BLOCK = 1024  # offsets per entry of the notification-id index
ACKED_TABLE = "kafka_relay_acked"
ACKED_DDL = f"""CREATE TABLE IF NOT EXISTS {ACKED_TABLE} (
    relay text NOT NULL, topic text NOT NULL, partition int NOT NULL,
    acked_end bigint NOT NULL, updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (relay, topic, partition))"""

Partition = tuple[str, int]  # (topic, partition)


@dataclass(frozen=True)
class Lost:
    """Records the broker acknowledged on a partition and no longer holds."""

    partition: Partition
    held_end: int  # the broker's log end offset now
    acked_end: int  # one past the first offset of the last batch it acknowledged


class AckedOffsets:
    """Per partition: the acknowledged log end offset and where notification ids sit."""

    def __init__(self) -> None:
        self.ends: dict[Partition, int] = {}
        self.changed: set[Partition] = set()
        self._first: dict[Partition, int] = {}  # lowest offset acknowledged in this process
        self._backwards: dict[Partition, int] = {}  # a later acknowledgement at a lower offset
        self._blocks: dict[Partition, dict[int, int]] = {}  # offset // BLOCK -> lowest id

    def load(self, ends: Mapping[Partition, int]) -> None:
        """Start from the stored ends (a new process knows no offsets of its own yet)."""
        self.ends = dict(ends)
        self.changed.clear()
        self._first.clear()
        self._backwards.clear()
        self._blocks.clear()

    def record(self, partition: Partition, offset: int, notification_id: int,
               batch_offset: int | None = None) -> bool:
        """Note an acknowledged record (`batch_offset`: the first offset of its batch); False
        when it lies below a batch acknowledged before: the partition's log went backwards,
        the broker lost records."""
        if offset < self.ends.get(partition, 0):
            # the broker wrote it where acknowledged records were: they are gone even if the
            # end offset climbs back over them
            self._backwards[partition] = min(offset, self._backwards.get(partition, offset))
            return False
        base = offset if batch_offset is None else min(batch_offset, offset)
        self.ends[partition] = max(self.ends.get(partition, 0), base + 1)
        self.changed.add(partition)
        self._first.setdefault(partition, offset)
        blocks = self._blocks.setdefault(partition, {})
        block = offset // BLOCK
        blocks[block] = min(blocks.get(block, notification_id), notification_id)
        return True

    def lost(self, held: Mapping[Partition, int]) -> list[Lost]:
        """The partitions whose end offset on the broker (`held`; absent = 0) is below the
        acknowledged one, or whose log went backwards under an acknowledgement."""
        now = {p: min(held.get(p, 0), self._backwards.get(p, end)) for p, end in self.ends.items()}
        return [Lost(p, now[p], end) for p, end in sorted(self.ends.items()) if now[p] < end]

    def first_lost_id(self, lost: Iterable[Lost]) -> int:
        """The lowest notification id among the lost records; 0 when some of them were
        acknowledged before this process started (their ids are not known here)."""
        lowest: int | None = None
        for item in lost:
            first = self._first.get(item.partition)
            if first is None or item.held_end < first:
                return 0
            blocks = self._blocks.get(item.partition, {})
            ids = [nid for block, nid in blocks.items() if block >= item.held_end // BLOCK]
            if ids:
                lowest = min(ids) if lowest is None else min(lowest, *ids)
        return lowest or 0

    def forget_lost(self, lost: Iterable[Lost]) -> None:
        """The broker holds up to `held_end` now: offsets above it will be written again."""
        for item in lost:
            p = item.partition
            self._backwards.pop(p, None)
            self.ends[p] = item.held_end
            self.changed.add(p)
            blocks = self._blocks.get(p, {})
            for block in [b for b in blocks if b * BLOCK >= item.held_end]:
                del blocks[block]
            if p in self._first and item.held_end <= self._first[p]:
                del self._first[p]
                self._blocks.pop(p, None)

    def take_changed(self) -> dict[Partition, int]:
        changed = {p: self.ends[p] for p in self.changed}
        self.changed.clear()
        return changed


# -- PostgreSQL -------------------------------------------------------------------------------

def load_position(conn: psycopg.Connection[Any], name: str) -> int:
    row = conn.execute("SELECT position FROM projection_positions WHERE name = %s",
                       (name,)).fetchone()
    return int(row[0]) if row else 0


def save_position(conn: psycopg.Connection[Any], name: str, position: int) -> None:
    conn.execute("""INSERT INTO projection_positions (name, position) VALUES (%s, %s)
                    ON CONFLICT (name) DO UPDATE SET position = EXCLUDED.position,
                        updated_at = now()""", (name, position))


def store(pool: ConnectionPool, name: str, acked: AckedOffsets, position: int,
          lost: Iterable[Lost] = ()) -> None:
    """The position and the changed acknowledged end offsets, in one transaction. For a
    rewind, `lost`'s partitions are stored at what the broker holds now and forgotten in
    `acked` only once that committed: a rewind the database did not take is found again on
    the next connection, never skipped."""
    lost = list(lost)
    changed = acked.take_changed()
    try:
        with pool.connection() as conn, conn.transaction():
            save_position(conn, name, position)
            save_acked(conn, name, {**changed, **{i.partition: i.held_end for i in lost}})
    except BaseException:
        acked.changed.update(changed)
        raise
    acked.forget_lost(lost)
    acked.changed.difference_update(i.partition for i in lost)


def ensure_acked_table(conn: psycopg.Connection[Any]) -> None:
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('servicecore-kafka-relay'))")
        conn.execute(ACKED_DDL)


def new_ids_since(conn: psycopg.Connection[Any]) -> int:
    """The first notification id whose Kafka event id takes the stored event's time
    (servicecore/schema.py EVENT_ID_CUT, stored by the migration to schema 9; 1 where no
    cut-over row is stored: every event takes it)."""
    row = conn.execute("SELECT since FROM kafka_event_ids WHERE form = 2").fetchone()
    return 1 if row is None else int(row[0])


def load_acked(conn: psycopg.Connection[Any], relay: str) -> dict[Partition, int]:
    rows = conn.execute(f"SELECT topic, partition, acked_end FROM {ACKED_TABLE} WHERE relay = %s",
                        (relay,)).fetchall()
    return {(str(t), int(p)): int(end) for t, p, end in rows}


def save_acked(conn: psycopg.Connection[Any], relay: str, ends: Mapping[Partition, int]) -> None:
    if ends:
        conn.cursor().executemany(
            f"""INSERT INTO {ACKED_TABLE} (relay, topic, partition, acked_end)
                VALUES (%s, %s, %s, %s)
                ON CONFLICT (relay, topic, partition) DO UPDATE
                SET acked_end = EXCLUDED.acked_end, updated_at = now()""",
            [(relay, t, p, end) for (t, p), end in ends.items()])
