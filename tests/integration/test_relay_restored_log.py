"""The database restored from a backup under the relay's topics (tansu, memory storage).

The relay's position and acknowledged offsets are restored with the log, so it would publish
again from the backup's position: events the topics already hold, then new events under the
notification ids, and stream versions (event ids), of events the restore took away. A
consumer that skips versions it applied would keep the lost event and drop the new one. The
relay finds records past what the restored database acknowledged whose events the log does
not hold, and publishes nothing until the topics are made anew; then it publishes the whole
log again, and a consumer reading them from the beginning has the log's events only.

The Kafka board's rows and offsets are restored with the log too, while the topic still holds
the lost events after them: it stops at the first (its partition's trouble), never applying
it, and once the topics are made anew it reads them from the beginning (its stored offsets
no longer match what the broker holds) and agrees with the log.

The witness topic keeps the lost anchors, under anchor ids the restored database gives again:
the relay refuses it too, until it is saved and deleted. The topics go through `servicecore
kafka reset-topics`."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
import pytest

from domain.application import Request
from domain.common import Caller
from domain.integration_events import TOPICS
from projections import chain_witness
from servicecore import cli
from servicecore.container import Container
from tests.integration.kafka_support import (
    Applied,
    Broker,
    TopicReader,
    running_broker,
    wait_until,
)
from tests.integration.restore_support import restorable
from tests.integration.support import head, open_order
from tests.integration.test_kafka_projection import Running, board, names
from workers.anchor_relay import anchor_topic, read_topic
from workers.relay import KafkaRelay, LogBehindTopics, RelayConfig


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    with running_broker(tmp_path) as b:
        yield b


def req(store_id: str) -> Request:
    return Request(Caller("adv-1", "advisor", (store_id,), datetime.now(UTC),
                          str(uuid.uuid4())))


def complaints_read(broker: Broker, prefix: str, work_order: str) -> list[str]:
    """The complaints of the work order's jobs added, as a consumer applying each stream
    version once reads them from the topics' beginning."""
    reader, applied = TopicReader(broker.bootstrap, [prefix + t for t in TOPICS]), Applied()
    try:
        for _ in range(20):
            applied.feed(reader.poll(200))
    finally:
        reader.close()
    return [e["payload"]["complaint"] for e in applied.events[work_order]
            if e["type"].endswith("job_added")]


def test_a_log_restored_behind_the_topics_stops_the_relay_until_they_are_made_anew(
        server_url: str, tmp_path: Path, broker: Broker, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    store = "R" + uuid.uuid4().hex[:5].upper()
    prefix = f"r{uuid.uuid4().hex[:6]}."
    config = RelayConfig(broker.bootstrap, topic_prefix=prefix, partitions=2, linger_ms=5,
                         delivery_timeout_ms=5000, max_backoff_seconds=1.0)
    with restorable(server_url, "sc_restore_relay", tmp_path) as db:
        group, table = names("restore")
        system = db.start(pool_size=4)
        order = open_order(system.work_orders, store)["id"]
        anchor(db.app_url, "morning")
        relay = KafkaRelay(system.app, system.pool, config)
        relay.catch_up()
        consumed = board_until(system, relay, broker, group, table, order, 1)
        db.take_backup()

        # the day's work, published: a job added to the open work order, more orders
        system = db.start(pool_size=4)
        system.work_orders.add_job(req(store), UUID(order), complaint="wipers streak")
        for _ in range(2):
            open_order(system.work_orders, store)
        noon = anchor(db.app_url, "noon")
        relay = KafkaRelay(system.app, system.pool, config)
        relay.catch_up()
        relay.close()
        assert complaints_read(broker, prefix, order) == ["wipers streak"]
        board_until(system, relay, broker, group, table, order, 2)

        # restored from the backup: the same work order's next version is another job
        db.restore()
        system = db.start(pool_size=4)
        assert board(system, table)[order] == consumed  # restored with the log
        system.work_orders.add_job(req(store), UUID(order), complaint="door rattles")
        for _ in range(3):
            open_order(system.work_orders, store)
        again = anchor(db.app_url, "evening")  # under the lost noon anchor's id
        assert again["anchor_id"] == noon["anchor_id"] and again["anchor"] != noon["anchor"]
        relay = KafkaRelay(system.app, system.pool, config)
        with pytest.raises(LogBehindTopics) as refused:
            relay.catch_up()
        relay.close()
        said = str(refused.value)
        assert "restored from a backup" in said and prefix in said, said
        # as a worker runs it: it keeps refusing, and says so where /health reads it
        relay = KafkaRelay(system.app, system.pool, config)
        stop = threading.Event()
        thread = threading.Thread(target=relay.run, args=(stop, system.database_url),
                                  daemon=True)
        thread.start()
        try:
            wait_until(lambda: "restored from a backup" in (relay.trouble.last_error or ""),
                       60, "the relay's trouble to name the restore")
            assert relay.trouble.problems() and relay.stored < head(system.app)
        finally:
            stop.set()
            thread.join(30)
        assert complaints_read(broker, prefix, order) == ["wipers streak"]  # nothing more
        # the board meets the lost job on the topic: it stops there, its row as restored
        running = Running(system, relay, broker, group, table, "kp-restored")
        try:
            wait_until(lambda: running.projection.trouble.since is not None, 60,
                       "the board to stop at a record the log does not hold")
            assert "restored from a backup" in (running.projection.trouble.last_error or "")
            assert board(system, table)[order] == consumed
        finally:
            running.halt()

        # the documented recovery: `servicecore kafka reset-topics --yes` deletes the relay's
        # topics and the board's group (not without --yes); it publishes the log again
        monkeypatch.setenv("DATABASE_URL", db.app_url)
        monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", broker.bootstrap)
        monkeypatch.setenv("SERVICECORE_KAFKA_TOPIC_PREFIX", prefix)
        monkeypatch.setenv("SERVICECORE_KAFKA_PROJECTION_GROUP", group)
        capsys.readouterr()
        assert cli.main(["kafka", "reset-topics"]) == 2
        assert "--yes" in capsys.readouterr().err
        with pytest.raises(LogBehindTopics):  # nothing was deleted
            KafkaRelay(system.app, system.pool, config).catch_up()
        assert cli.main(["kafka", "reset-topics", "--yes"]) == 0
        said = capsys.readouterr().out
        assert all(f"deleted topic {prefix + t}\n" in said for t in TOPICS), said
        assert f"deleted consumer group {group}\n" in said, said
        assert anchor_topic(prefix) not in said  # the witness topic is kept
        # which holds the lost noon anchor under the id the evening one took: refused too
        with pytest.raises(LogBehindTopics) as refused:
            KafkaRelay(system.app, system.pool, config).catch_up()
        said = str(refused.value)
        assert (f"chain anchor id {noon['anchor_id']} ({noon['anchor']})" in said
                and "restored from a backup" in said), said
        lost = read_topic(broker.bootstrap, anchor_topic(prefix))  # saved: the record of it
        assert [a["anchor"] for a in lost][-1] == noon["anchor"]
        assert cli.main(["kafka", "reset-topics", "--yes", "--witness-topic"]) == 0
        assert f"deleted topic {anchor_topic(prefix)}\n" in capsys.readouterr().out
        relay = KafkaRelay(system.app, system.pool, config)
        relay.catch_up()
        relay.close()
        assert complaints_read(broker, prefix, order) == ["door rattles"]
        # the board, started again, reads the topic made anew from its beginning
        final = board_until(system, relay, broker, group, table, order, 2)
        assert final[2:] == ("opened", 2)
        # the witness topic made anew holds the restored database's anchors alone
        assert [a["anchor"] for a in read_topic(broker.bootstrap, anchor_topic(prefix))][
            -1] == again["anchor"]


def anchor(app_url: str, note: str) -> dict[str, Any]:
    """The chain head anchored in the database (a day-end close, `audit anchor`)."""
    with psycopg.connect(app_url, autocommit=True) as conn:
        return chain_witness.witness(conn, None, note)


def board_until(system: Container, relay: KafkaRelay, broker: Broker, group: str, table: str,
                order: str, version: int) -> tuple[str, str, str, int]:
    """The board's row of `order` once its consumer has applied `version` of it."""
    running = Running(system, relay, broker, group, table, f"kp-{uuid.uuid4().hex[:6]}")
    try:
        wait_until(lambda: board(system, table).get(order, (0, 0, 0, 0))[3] >= version, 60,
                   f"the board to apply version {version}")
        assert running.projection.trouble.since is None
    finally:
        running.halt()
    return board(system, table)[order]
