"""Chain anchors on Kafka: every row of `servicecore_anchors`, in anchor id order, as one message
on `<prefix>audit-anchors`, so parties outside the database's administrators (the OEM, the
group's auditors) keep their own copies of the chain's heads.

The Kafka relay publishes them (workers/relay.py) under its advisory lock, from a position of
its own (`projection_positions`, row `<relay position>:anchors`: the last anchor id the broker
acknowledged), as it does events. Anchors are few, so each is sent and acknowledged (acks=all)
before the next one and before the position moves: one key, one partition, the topic holds them
in id order; a re-send after a failure repeats anchors at the end, recognisable by `anchor_id`.
Anchor ids commit in the order they are drawn (hash_chain.ANCHOR_LOCK), so following the table
by id passes none over. Like the event relay, it compares the partition's end offset with what
the broker acknowledged (`kafka_relay_acked`) on every connection and while idle, and sends
again from the first anchor a broker that lost records no longer holds. A topic holding, past
those offsets, an anchor the database records otherwise under its id, or not at all (the
database restored from a backup behind it), stops the relay (`refuse_if_restored`).

`read_topic` reads the topic back (no consumer group) for `audit verify --witness-topic` and
`audit witness-topic`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable
from typing import Any

from psycopg_pool import ConnectionPool

from projections.chain_witness import WITNESSED
from projections.hash_chain import ANCHORS_TABLE, Anchor
from workers import relay_broker as broker
from workers import relay_offsets as offsets
from workers import relay_restored
from workers.health import Sample
from workers.relay_broker import RelayConfig
from workers.relay_offsets import AckedOffsets, Lost
from workers.relay_restored import LogBehindTopics
from workers.relay_sends import BrokerLostRecords, SendFailed

log = logging.getLogger(__name__)
TOPIC = "audit-anchors"
KEY = b"chain"  # one key: every anchor in one partition, in order
TYPE = b"chain.anchor"
BATCH = 100  # anchors per read of the table
SEND_SECONDS = 30.0  # at most this long for one acknowledgement


def anchor_topic(prefix: str) -> str:
    return prefix + TOPIC


def message(row: Any) -> bytes:
    """An anchor as the witness file holds it, with its `anchor_id`."""
    anchor_id, number, digest, at, by, note = row
    recorded = {"anchor_id": int(anchor_id), "anchor": f"{int(number)}:{bytes(digest).hex()}",
                "notification_id": int(number), "hash": bytes(digest).hex(),
                "anchored_at": at.isoformat(), "anchored_by": by, "note": note}
    return json.dumps({"anchor_id": recorded["anchor_id"],
                       **{key: recorded[key] for key in WITNESSED}},
                      ensure_ascii=False).encode()


class AnchorPublisher:
    """The anchors table followed by id onto the anchors topic (the relay's producer)."""

    def __init__(self, pool: ConnectionPool, config: RelayConfig) -> None:
        self.pool = pool
        self.topic = anchor_topic(config.topic_prefix)
        self.position_name = config.position_name + ":anchors"
        self.acked = AckedOffsets()
        self.stored = 0  # the last anchor id the broker acknowledged
        self.sent = 0
        self.rewinds = 0
        self.more = False  # the last publish stopped on its budget with anchors still to send
        self._loaded = False

    def load(self) -> None:
        """The stored position; on the first start also the acknowledged end offsets (of
        this topic only; afterwards this process knows better, as the event relay)."""
        with self.pool.connection() as conn:
            if not self._loaded:
                offsets.ensure_acked_table(conn)
                ends = offsets.load_acked(conn, self.position_name)
                self.acked.load({tp: end for tp, end in ends.items() if tp[0] == self.topic})
                self._loaded = True
            self.stored = offsets.load_position(conn, self.position_name)

    def _store(self, position: int, lost: Iterable[Lost] = ()) -> None:
        offsets.store(self.pool, self.position_name, self.acked, position, lost)
        self.stored = position

    def refuse_if_restored(self, producer: Any, checker: Any) -> None:
        """Raise `LogBehindTopics` when the topic holds, past the acknowledged end offsets the
        database holds, an anchor the database records otherwise under its anchor id, or not
        at all: the database restored from a backup behind what was published, whose next
        anchors would take the lost ones' ids (workers/relay_restored.py does the same for
        events)."""
        with self.pool.connection() as conn:
            stored = offsets.load_acked(conn, self.position_name)
        acked = {tp: end for tp, end in stored.items() if tp[0] == self.topic}
        if not acked:
            return
        held = broker.held_offsets(producer, checker, acked)
        for found in relay_restored.past_acked(checker, acked, held, _published):
            with self.pool.connection() as conn:
                recorded = {int(n): str(text) for n, text in conn.execute(
                    f"SELECT anchor_id, notification_id::text || ':' || encode(hash, 'hex') "
                    f"FROM {ANCHORS_TABLE} WHERE anchor_id = ANY(%s)",
                    ([f[2][0] for f in found],)).fetchall()}
            for (topic, partition), offset, (number, text) in found:
                if recorded.get(number) == text:
                    continue  # sent again after a failure
                there = recorded.get(number)
                refused = LogBehindTopics(
                    f"{topic}[{partition}] holds at offset {offset} chain anchor id {number} "
                    f"({text}), past what the database recorded as acknowledged, and the "
                    "database records " + ("no anchor" if there is None else there) +
                    " under that id: the database was restored from a backup behind what the "
                    "relay published, and its next anchors would take the lost ones' ids. "
                    "Nothing more is published. Save the topic (`servicecore audit "
                    "witness-topic`: the record of the anchors the restore lost), then delete "
                    "it (`servicecore kafka reset-topics --witness-topic --yes`) so that the "
                    "relay publishes the database's anchors again from the first (README: "
                    "Restoring the database from a backup)")
                log.error("kafka relay: %s", refused)
                raise refused

    def check(self, producer: Any, checker: Any) -> bool:
        """Does the broker still hold every anchor it acknowledged? If not, the position goes
        back to before the first one it lost (the start, for those acknowledged before this
        process started) and they are sent again; True when it went back."""
        if not self.acked.ends:
            return False
        lost = self.acked.lost(broker.held_offsets(producer, checker, self.acked.ends))
        if not lost:
            return False
        back_to = min(self.stored, max(0, self.acked.first_lost_id(lost) - 1))
        log.warning("kafka relay: the broker no longer holds chain anchors it acknowledged on "
                    "%s; re-sending from anchor id %d", self.topic, back_to + 1)
        self._store(back_to, lost)
        self.rewinds += 1
        return True

    def publish(self, producer: Any, budget: float | None = None) -> int:
        """Send the anchors after the position, one acknowledgement at a time, moving the
        position after each; how many were sent. With a `budget` (seconds) it stops once that
        is spent (one anchor at least) and `more` says anchors still wait: a backlog (the
        relay turned on for years of anchors, or every one sent again to a broker that came
        back empty: 8 ms each) never holds the event relay, nor a stop, for minutes. Raises on
        a failed send (the caller drops the producer and starts again from the stored
        position)."""
        deadline = None if budget is None else time.monotonic() + budget
        self.more = False
        count = 0
        while True:
            with self.pool.connection() as conn:
                rows = conn.execute(
                    f"""SELECT anchor_id, notification_id, hash, anchored_at, anchored_by, note
                        FROM {ANCHORS_TABLE} WHERE anchor_id > %s ORDER BY anchor_id
                        LIMIT %s""", (self.stored, BATCH)).fetchall()
            if not rows:
                return count
            for row in rows:
                if deadline is not None and count and time.monotonic() >= deadline:
                    self.more = True
                    return count
                broker.known_partitions(producer, self.topic)
                future = producer.send(self.topic, key=KEY, value=message(row),
                                       headers=[("type", TYPE)])
                try:
                    meta = future.get(timeout=SEND_SECONDS)
                except Exception as exc:
                    raise SendFailed(f"chain anchor {row[0]} not acknowledged: {exc!r}") from exc
                where = (meta.topic, meta.partition)
                if not self.acked.record(where, meta.offset, int(row[0]),
                                         broker.batch_offset(future, meta.offset)):
                    raise BrokerLostRecords(f"{self.topic}[{meta.partition}] acknowledged "
                                            f"offset {meta.offset}, below one acknowledged "
                                            "before")
                self._store(int(row[0]))
                self.sent += 1
                count += 1

    def samples(self) -> list[Sample]:
        return [
            Sample("servicecore_relay_anchor_position", float(self.stored),
                   help="the last chain anchor id the broker acknowledged"),
            Sample("servicecore_relay_anchors_sent_total", float(self.sent), kind="counter",
                   help="chain anchors acknowledged on the anchors topic, re-sends included"),
            Sample("servicecore_relay_anchor_rewinds_total", float(self.rewinds),
                   kind="counter", help="times the broker no longer held acknowledged "
                   "anchors and the relay went back to send them again"),
        ]


def read_topic(bootstrap_servers: str, topic: str, timeout: float = 30.0
               ) -> list[dict[str, Any]]:
    """Every anchor the topic holds, once each by `anchor_id` (re-sends repeat them), in id
    order. Reads every partition from its beginning to the end offset it had when asked;
    TimeoutError when `timeout` seconds pass without a record (a topic of years of anchors
    takes as long as it takes: some 11,000 a second). Raises ValueError for a record that is
    not an anchor, or two different anchors under one id; LookupError when the broker has no
    such topic."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap_servers, group_id=None,
                             enable_auto_commit=False, allow_auto_create_topics=False,
                             auto_offset_reset="earliest", request_timeout_ms=10_000,
                             client_id="servicecore-anchor-reader")
    try:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            raise LookupError(f"the broker {bootstrap_servers} has no topic {topic}")
        assigned = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(assigned)
        consumer.seek_to_beginning(*assigned)
        ends = consumer.end_offsets(assigned)
        found: dict[int, dict[str, Any]] = {}
        deadline = time.monotonic() + timeout
        while any(consumer.position(tp) < ends[tp] for tp in assigned):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{topic}: nothing more read for {timeout:.0f} s before "
                                   "its end")
            for records in consumer.poll(timeout_ms=500).values():
                for record in records:
                    _keep(found, record)
                deadline = time.monotonic() + timeout  # it moves on
        return [found[number] for number in sorted(found)]
    finally:
        consumer.close()


def _published(value: bytes | None) -> tuple[int, str] | None:
    """The anchor id and `N:HEX` of a record of the topic (None: not an anchor)."""
    try:
        anchor = json.loads(value or b"")
        parsed = Anchor.parse(anchor["anchor"])
        return int(anchor["anchor_id"]), f"{parsed.notification_id}:{parsed.hash}"
    except (ValueError, KeyError, TypeError):
        return None


def _keep(found: dict[int, dict[str, Any]], record: Any) -> None:
    where = f"{record.topic}[{record.partition}] offset {record.offset}"
    try:
        anchor = json.loads(record.value)
        number = int(anchor["anchor_id"])
        Anchor.parse(anchor["anchor"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{where}: not a chain anchor ({exc})") from None
    before = found.setdefault(number, anchor)
    if before["anchor"] != anchor["anchor"]:
        raise ValueError(f"{where}: anchor id {number} is {anchor['anchor']}, an earlier "
                         f"record has {before['anchor']}")

