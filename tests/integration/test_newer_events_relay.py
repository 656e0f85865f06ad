"""The Kafka relay during a rolling upgrade: an event stored by newer code than the relay's (a
later `class_version`, a class added since) is never published half-read. The relay publishes
every event before it, stays there (its position just before it), says why in its log and its
health, and publishes it once it runs the newer code. Against a real Kafka-protocol broker
(tansu), on a database of its own (the newer rows are appended behind the application's
back)."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from domain.unreadable_events import NewerEvent
from tests.integration.kafka_support import Broker, TopicReader, running_broker, wait_until
from tests.integration.newer_support import KINDS, UPGRADE, Newer, append_newer, upgraded
from tests.integration.support import open_order
from tests.integration.test_relay import published, relay_for
from tests.scratch_systems import ServedScratch, served_scratch
from workers.relay import KafkaRelay


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    with running_broker(tmp_path) as b:
        yield b


def _read_through(broker: Broker, relay: KafkaRelay, notification_id: int
                  ) -> dict[int, dict[str, Any]]:
    """The integration events on the relay's topics, by notification id, once the one of
    `notification_id` is among them."""
    reader = TopicReader(broker.bootstrap, relay.mapper.topics())
    found: dict[int, dict[str, Any]] = {}

    def read() -> bool:
        for record in reader.poll(100):
            event = json.loads(record.value)
            found[event["notification_id"]] = event
        return notification_id in found

    try:
        wait_until(read, 30, f"event {notification_id} on its topic")
    finally:
        reader.close()
    return found


@pytest.mark.parametrize("kind", KINDS)
def test_the_relay_stays_before_a_newer_event_until_it_runs_the_newer_code(
        kind: str, server_url: str, broker: Broker, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    with served_scratch(server_url, "sc_newer_relay", tmp_path / "served") as served:
        opened = open_order(served.system.work_orders, "SNEWR")
        stream_id = UUID(opened["id"])
        newer = append_newer(served.owner_url, stream_id, kind)
        open_order(served.system.work_orders, "SNEWR")  # an event after it
        relay = relay_for(served.system, broker)
        with pytest.raises(NewerEvent):
            relay.catch_up()
        assert relay.position() == newer.position - 1
        # its run loop stays there too, and says why
        with caplog.at_level(logging.ERROR, logger="workers.relay"):
            _run_until_troubled(relay, served)
        assert relay.position() == newer.position - 1
        assert any(UPGRADE in r.getMessage() and newer.topic in r.getMessage()
                   for r in caplog.records if r.levelno == logging.ERROR)
        # every event before it is published, not it nor any after it
        last = published(served.system, newer.position - 1)[-1][0]
        assert max(_read_through(broker, relay, last)) == last
        relay.close()
        _upgraded_relay_publishes_it(newer, served, broker, relay.config.position_name,
                                     monkeypatch)


def _run_until_troubled(relay: KafkaRelay, served: ServedScratch) -> None:
    stop = threading.Event()
    thread = threading.Thread(target=relay.run, args=(stop, served.app_url), daemon=True)
    thread.start()
    try:
        wait_until(lambda: "NewerEvent" in (relay.trouble.last_error or ""), 30,
                   "the relay to name the newer event")
        (problem,) = relay.trouble.problems()
        assert UPGRADE in problem
    finally:
        stop.set()
        thread.join(30)


def _upgraded_relay_publishes_it(newer: Newer, served: ServedScratch, broker: Broker,
                                 position_name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Restarted with the newer code, the relay publishes it and goes on from there."""
    with upgraded(newer, monkeypatch):
        relay = relay_for(served.system, broker, position_name=position_name)
        try:
            assert relay.catch_up() == served.system.app.recorder.max_notification_id()
            event = _read_through(broker, relay, newer.position)[newer.position]
            assert (event["stream_id"], event["stream_version"]) == (
                str(newer.stream_id), newer.version)
        finally:
            relay.close()
