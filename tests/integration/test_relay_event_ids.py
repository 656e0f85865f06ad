"""Kafka event ids: a re-send keeps its id, another event at the same stream version does not.

After a restore from a backup, new commands are given the stream versions the lost events had.
An event id made of stream and version alone named the new event as the lost one, and a
consumer de-duplicating by `event_id` dropped it. The id also takes the stored event's time
(`recorded_at`), so the same stored event sent again keeps it, while another event given the
same version gets one of its own. Events recorded before the upgrade keep the id they were
published under (the cut-over stored once, `kafka_event_ids`)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
import pytest

from domain.integration_events import event_id
from servicecore.container import Container, migrate
from servicecore.roles import DatabaseUrls
from tests.conftest import settings_for
from tests.integration.kafka_support import Broker, TopicReader, running_broker
from tests.integration.restore_support import restorable
from tests.integration.support import head, open_order
from tests.integration.test_relay_restored_log import req
from workers.relay import KafkaRelay, RelayConfig


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    with running_broker(tmp_path) as b:
        yield b


def published(system: Container, broker: Broker, stream: str) -> dict[int, dict[str, Any]]:
    """The messages of `stream`, by stream version, as a relay of its own (its own topics and
    position) publishes the whole log."""
    name = uuid.uuid4().hex[:6]
    config = RelayConfig(broker.bootstrap, topic_prefix=f"i{name}.", partitions=1, linger_ms=5,
                         delivery_timeout_ms=5000, max_backoff_seconds=1.0,
                         position_name=f"kafka-relay-{name}")
    relay = KafkaRelay(system.app, system.pool, config)
    try:
        relay.catch_up()
    finally:
        relay.close()
    reader, found = TopicReader(broker.bootstrap, [f"i{name}.work-orders"]), {}
    try:
        for _ in range(20):
            for record in reader.poll(200):
                body = json.loads(record.value)
                if body["stream_id"] == stream:
                    found[int(body["stream_version"])] = body
    finally:
        reader.close()
    return found


def test_another_event_at_a_lost_events_stream_version_gets_an_id_of_its_own(
        server_url: str, tmp_path: Path, broker: Broker) -> None:
    store = "E" + uuid.uuid4().hex[:5].upper()
    with restorable(server_url, "sc_event_ids", tmp_path) as db:
        system = db.start(pool_size=4)
        order = open_order(system.work_orders, store)["id"]
        db.take_backup()

        # the day's work: a job added (version 2), published
        system = db.start(pool_size=4)
        system.work_orders.add_job(req(store), UUID(order), complaint="wipers streak")
        lost = published(system, broker, order)[2]
        assert lost["payload"]["complaint"] == "wipers streak"

        # restored: the work order's version 2 is another job
        db.restore()
        system = db.start(pool_size=4)
        system.work_orders.add_job(req(store), UUID(order), complaint="door rattles")
        first = published(system, broker, order)
        new = first[2]
        assert new["payload"]["complaint"] == "door rattles"
        assert new["event_id"] != lost["event_id"]
        assert new["event_id"] == str(event_id(order, 2, new["recorded_at"]))

        # the same stored events sent again (topics made anew, a relay from event 0)
        again = published(system, broker, order)
        assert {v: m["event_id"] for v, m in again.items()} == \
            {v: m["event_id"] for v, m in first.items()}
        assert set(first) == {1, 2}


def test_events_recorded_before_the_upgrade_keep_the_id_they_were_published_under(
        server_url: str, tmp_path: Path, broker: Broker) -> None:
    store = "U" + uuid.uuid4().hex[:5].upper()
    with restorable(server_url, "sc_event_id_cut", tmp_path) as db:
        system = db.start(pool_size=4)
        order = open_order(system.work_orders, store)["id"]
        before = head(system.app)
        db.stop()
        # a database of the version before: no cut-over recorded; the upgrade records it
        with psycopg.connect(db.owner_url, autocommit=True) as conn:
            conn.execute("DELETE FROM kafka_event_ids")
        migrate(DatabaseUrls(owner=db.owner_url, app=db.app_url),
                settings_for(db.app_url, tmp_path))
        with psycopg.connect(db.owner_url, autocommit=True) as conn:
            since = conn.execute("SELECT since FROM kafka_event_ids WHERE form = 2").fetchone()
        assert since == (before + 1,)
        migrate(DatabaseUrls(owner=db.owner_url, app=db.app_url),
                settings_for(db.app_url, tmp_path))  # stored once: a later start keeps it
        with psycopg.connect(db.owner_url, autocommit=True) as conn:
            assert conn.execute("SELECT since FROM kafka_event_ids").fetchall() == [since]

        system = db.start(pool_size=4)
        system.work_orders.add_job(req(store), UUID(order), complaint="wipers streak")
        messages = published(system, broker, order)
        assert messages[1]["notification_id"] <= before
        assert messages[1]["event_id"] == str(event_id(order, 1))  # as published before
        assert messages[2]["event_id"] == str(event_id(order, 2, messages[2]["recorded_at"]))
        assert messages[2]["event_id"] != str(event_id(order, 2))
