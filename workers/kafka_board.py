"""The Kafka projection's PostgreSQL side: the board's table and a poll batch in one transaction;
and the board seeded from the event store (`seed`), for when the broker no longer holds the
early messages (retention, a topic re-created): Kafka alone could then never give a work order
opened before them its first versions, and every later message of it would wait as `early`."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from psycopg_pool import ConnectionPool

from domain.integration_events import ROUTES, IntegrationMapper, event_types, stream_kind
from domain.unreadable_events import UPGRADE
from domain.work_order import WorkOrder
from servicecore.deadline import limit_transaction
from workers import kafka_resume as resume
from workers.health import RateMeter
from workers.kafka_resume import Stored, identity
from workers.relay_consumer import NewerMessage, decode
from workers.relay_restored import first_not_in_log, named, not_in_log

if TYPE_CHECKING:
    from workers.kafka_health import KafkaProjectionStats
    from workers.kafka_projection import KafkaProjectionConfig

log = logging.getLogger("workers.kafka_projection")  # its lines keep the projection's name


TYPES = event_types(WorkOrder)  # every type of the work-orders topic this code knows


def known(event: dict[str, Any]) -> dict[str, Any]:
    """The integration event, unless its type is of a class this code does not have (newer
    code published it: the board cannot tell whether it changes the status): NewerMessage."""
    if event.get("type") not in TYPES:
        raise NewerMessage(f"integration event {event.get('event_id')} has type "
                           f"{event.get('type')!r}, of an event class this code does not "
                           f"have: {UPGRADE}")
    return event


# integration event type -> the board status it leaves (other types only move the version)
STATUS: dict[str, str] = {
    "work_order.opened": "opened",
    "work_order.checked_in": "checked_in",
    "work_order.job_dispatched": "in_progress",
    "work_order.back_in_progress": "in_progress",
    "work_order.ready_for_settlement": "ready_for_settlement",
    "work_order.settlement_reversed": "ready_for_settlement",
    "work_order.settled": "settled",
    "work_order.delivered": "delivered",
    "work_order.closed": "closed",
    "work_order.cancelled": "cancelled",
}


@dataclass
class _Row:
    number: str | None
    store_id: str | None
    status: str | None
    version: int
    updated_at: Any
    applications: int
    dirty: bool = False


class BoardRows:
    """The board's rows and the partitions' stored offsets, for `KafkaProjection`."""

    pool: ConnectionPool
    config: KafkaProjectionConfig
    stats: KafkaProjectionStats
    meter: RateMeter
    _tables_ready: bool

    def ensure_tables(self) -> None:
        if self._tables_ready:
            return
        c = self.config
        with self.pool.connection() as conn, conn.transaction():
            # members starting together would race on CREATE TABLE IF NOT EXISTS
            conn.execute("SELECT pg_advisory_xact_lock(hashtext('servicecore-kafka-projection'))")
            conn.execute(f"""CREATE TABLE IF NOT EXISTS {c.board_table} (
                work_order_id uuid PRIMARY KEY, number text, store_id text, status text,
                stream_version int NOT NULL, updated_at timestamptz,
                applications int NOT NULL DEFAULT 0)""")
            resume.ensure_offsets_table(conn, c.offsets_table)
        self._tables_ready = True

    def stored(self, partitions: Iterable[tuple[str, int]]) -> dict[tuple[str, int], Stored]:
        """Each partition's stored next offset and the event of the record before it."""
        wanted = list(partitions)
        if not wanted:
            return {}
        with self.pool.connection() as conn:
            found = resume.load_stored(conn, self.config.offsets_table, self.config.group_id,
                                       {t for t, _ in wanted})
        return {tp: found[tp] for tp in wanted if tp in found}

    def apply(self, batch: Mapping[tuple[str, int], list[Any]]) -> int:
        """One transaction: the rows of every event in `batch` (per partition, in offset order)
        and the next offset of each partition. Returns the number of events applied."""
        events: list[dict[str, Any]] = []
        next_offsets: dict[tuple[str, int], Stored] = {}
        for tp, records in batch.items():
            if not records:
                continue
            for record in records:
                events.append(known(decode(record.value)))
            last = max(records, key=lambda r: int(r.offset))
            next_offsets[tp] = Stored(int(last.offset) + 1, identity(last.value))
        if not next_offsets:
            return 0
        c = self.config
        applied = repeats = early = 0
        with self.pool.connection() as conn, conn.transaction():
            limit_transaction(conn, c.deadline_seconds)  # the server ends it too once stuck
            # a record of an event the log does not hold (the database restored from a backup
            # behind the topic) is never applied: its partition stops there (PoisonRecord)
            stray = first_not_in_log(conn, [named(e) for e in events if "notification_id" in e])
            if stray is not None:
                raise not_in_log(*stray)
            ids = sorted({str(e["stream_id"]) for e in events})
            rows: dict[str, _Row] = {}
            for wo_id, number, store_id, status, version, updated_at, applications in conn.execute(
                    f"""SELECT work_order_id::text, number, store_id, status, stream_version,
                               updated_at, applications
                        FROM {c.board_table} WHERE work_order_id = ANY(%s::uuid[])
                        ORDER BY work_order_id FOR UPDATE""", (ids,)).fetchall():
                rows[wo_id] = _Row(number, store_id, status, int(version), updated_at,
                                   int(applications))
            for event in events:
                stream_id, version = str(event["stream_id"]), int(event["stream_version"])
                row = rows.get(stream_id)
                last = row.version if row is not None else 0
                if version <= last:
                    repeats += 1
                    continue
                if version > last + 1:
                    early += 1
                    log.info("kafka projection: %s version %d arrived before %d; skipped (the "
                             "relay sends it again after its predecessors)",
                             stream_id, version, last + 1)
                    continue
                if row is None:
                    row = rows[stream_id] = _Row(None, None, None, 0, None, 0)
                self._evolve(row, event)
                row.version, row.applications, row.dirty = version, row.applications + 1, True
                applied += 1
            # only newer: a row this batch found no row to lock for may have been written
            # meanwhile by a member that took the partition over (this one lost it mid-batch)
            self._write(conn, [(k, r) for k, r in rows.items() if r.dirty], only_newer=True)
            resume.save_stored(conn, c.offsets_table, c.group_id, next_offsets)
        self.stats.applied += applied
        self.stats.repeats += repeats
        self.stats.early += early
        self.stats.batches += 1
        self.meter.mark(len(events))
        return applied

    def _write(self, conn: Any, rows: list[tuple[str, _Row]], *, only_newer: bool = False,
               ) -> None:
        """Upsert `rows`; `only_newer`: leave a row the board holds at this version or later."""
        if not rows:
            return
        table = self.config.board_table
        newer = f" WHERE {table}.stream_version < EXCLUDED.stream_version" if only_newer else ""
        with conn.cursor() as cur:
            cur.executemany(
                f"""INSERT INTO {table} (work_order_id, number, store_id, status,
                        stream_version, updated_at, applications)
                    VALUES (%s, %s, %s, %s, %s, %s, %s)
                    ON CONFLICT (work_order_id) DO UPDATE SET number = EXCLUDED.number,
                        store_id = EXCLUDED.store_id, status = EXCLUDED.status,
                        stream_version = EXCLUDED.stream_version,
                        updated_at = EXCLUDED.updated_at,
                        applications = EXCLUDED.applications{newer}""",
                [(k, r.number, r.store_id, r.status, r.version, r.updated_at, r.applications)
                 for k, r in rows])

    def seed(self, app: Any, mapper: IntegrationMapper, batch: int = 5000) -> dict[str, int]:
        """Fold every event of the board's topic in the event store, up to the log's head now,
        into the board, each as the relay maps it to its message (`mapper`: the relay's topic
        prefix), and write the rows in one transaction. A row the board already holds at that
        version or later (consumed meanwhile) stays. Nothing is asked of the broker and the
        stored offsets stay: consuming goes on from them (from the log's beginning when none
        is stored), the messages of the versions seeded are repeats and skipped by their
        stream version, the later ones are applied, so no event counts twice."""
        self.ensure_tables()
        kinds = {kind for kind, route in ROUTES.items()
                 if mapper.prefix + route.topic == self.config.topic}
        head = int(app.recorder.max_notification_id() or 0)
        rows: dict[str, _Row] = {}
        start, events = 1, 0
        while start <= head:
            found = app.recorder.select_notifications(start=start, limit=batch, stop=head)
            if not found:
                break
            for stored in found:
                message = mapper.to_message(stored.id, stored) \
                    if stream_kind(stored.topic)[0] in kinds else None
                if message is None:
                    continue
                event = decode(message.value)
                row = rows.setdefault(str(event["stream_id"]), _Row(None, None, None, 0, None, 0))
                self._evolve(row, event)
                row.version, row.applications = int(event["stream_version"]), row.applications + 1
                events += 1
            start = found[-1].id + 1
        with self.pool.connection() as conn, conn.transaction():
            self._write(conn, sorted(rows.items()), only_newer=True)
        log.info("kafka projection %s: board %s seeded from the event store up to %d: %d events "
                 "of %d work orders", self.config.group_id, self.config.board_table, head,
                 events, len(rows))
        return {"head": head, "events": events, "work_orders": len(rows)}

    @staticmethod
    def _evolve(row: _Row, event: Mapping[str, Any]) -> None:
        payload = event.get("payload") or {}
        if event.get("type") == "work_order.opened":
            actor = event.get("actor") or {}
            row.number = payload.get("number", row.number)
            row.store_id = actor.get("store_id", row.store_id)
        status = STATUS.get(str(event.get("type")))
        if status is not None:
            row.status = status
        row.updated_at = event.get("occurred_at") or event.get("recorded_at") or row.updated_at
