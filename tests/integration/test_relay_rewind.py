"""A rewind the database refused to store: the relay found that the broker lost records it
acknowledged (a restart, memory storage) and went to store its position back, and that write
failed (the database away for a moment, as under the soak's faults). Nothing of the rewind may
be forgotten then: the next connection finds the loss again and sends the records again, the
events as the chain's anchors.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest

from projections import chain_witness
from servicecore.container import Container
from tests.integration.kafka_support import Applied, Broker, TopicReader, wait_until
from tests.integration.test_anchor_relay import _recorded
from tests.integration.test_relay import (  # noqa: F401
    broker,
    has_all,
    open_orders,
    published,
    relay_db,
    relay_for,
    set_position,
    system,
)
from workers.anchor_relay import read_topic


@contextmanager
def refusing_rewinds(system: Container, position_name: str) -> Iterator[None]:  # noqa: F811
    """The database refuses, for the block, to move the position `position_name` backwards."""
    name = f"refuse_rewind_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(system.database_url, autocommit=True) as conn:
        conn.execute(f"""CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
                         BEGIN RAISE EXCEPTION 'the database is away'; END $$""")
        conn.execute(f"""CREATE TRIGGER {name} BEFORE UPDATE ON projection_positions
                         FOR EACH ROW WHEN (NEW.name = '{position_name}'
                                            AND NEW.position < OLD.position)
                         EXECUTE FUNCTION {name}()""")
        try:
            yield
        finally:
            conn.execute(f"DROP TRIGGER {name} ON projection_positions")
            conn.execute(f"DROP FUNCTION {name}()")


def test_a_rewind_the_database_did_not_store_is_found_again_and_everything_resent(
        system: Container, broker: Broker) -> None:  # noqa: F811
    relay = relay_for(system, broker)
    start = system.app.recorder.max_notification_id() or 0
    set_position(system, relay.config.position_name, start)
    # a few visits, every event acknowledged by the broker
    open_orders(system, "RW1", 3)
    final = system.app.recorder.max_notification_id() or 0
    assert relay.catch_up() == final
    # the broker comes back empty; the relay finds the loss, but storing the rewind fails
    broker.restart()
    with refusing_rewinds(system, relay.config.position_name):
        relay.restart_from_stored()
        with pytest.raises(psycopg.Error):
            relay.connect()
    assert relay.position() == final and relay.stats.rewinds == 0
    # the database answers again: the relay starts over from its stored position
    relay.restart_from_stored()
    assert relay.catch_up() == final
    assert relay.stats.rewinds == 1
    # and the restarted broker holds every event again (a consumer from its start)
    expected = [row for row in published(system, final) if row[0] > start]
    reader, applied = TopicReader(broker.bootstrap, relay.mapper.topics()), Applied()
    for _, stream, version, _ in published(system, start):
        applied.gate.applied[stream] = max(version, applied.gate.applied.get(stream, 0))
    try:
        wait_until(lambda: (applied.feed(reader.poll(100)), has_all(applied, expected))[1],
                   30, "the restarted broker to hold every event again")
    finally:
        reader.close()
        relay.close()


def test_an_anchors_rewind_the_database_did_not_store_is_found_again_and_every_anchor_resent(
        system: Container, broker: Broker) -> None:  # noqa: F811
    relay = relay_for(system, broker)
    # two anchors of the chain, acknowledged by the broker with every event
    with psycopg.connect(system.database_url, autocommit=True) as conn:
        for note in ("first", "second"):
            open_orders(system, "RW2", 1)
            chain_witness.witness(conn, None, note)
    recorded = _recorded(system.database_url)
    relay.catch_up()
    assert relay.anchors.stored == recorded[-1][0]
    # the broker comes back empty; storing the anchors' rewind fails
    broker.restart()
    with refusing_rewinds(system, relay.anchors.position_name):
        relay.restart_from_stored()
        with pytest.raises(psycopg.Error):
            relay.connect()
    assert relay.anchors.rewinds == 0
    # the database answers again: the next connection goes back and sends every anchor
    relay.restart_from_stored()
    relay.catch_up()
    try:
        assert relay.anchors.rewinds == 1
        held = read_topic(broker.bootstrap, relay.anchors.topic, timeout=10)
        assert [(a["anchor_id"], a["anchor"]) for a in held] == recorded
    finally:
        relay.close()
