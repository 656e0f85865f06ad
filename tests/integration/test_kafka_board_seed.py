"""The Kafka board when the broker no longer holds the early messages: Kafka alone leaves the
work orders opened before them off the board for good (their later messages wait as `early`);
seeded from the event store, then consuming, the board is whole and no event counts twice."""

from __future__ import annotations

from domain.integration_events import IntegrationMapper
from servicecore.container import Container
from tests.integration.kafka_support import Broker, wait_until
from tests.integration.test_kafka_projection import (  # noqa: F401 - the module's fixtures
    Running,
    applications,
    board,
    broker,
    expected_board,
    history,
    kp_db,
    names,
    publish,
    system,
)
from tests.integration.test_relay import relay_for, set_position


def test_a_board_seeded_from_the_event_store_then_consuming_is_whole_without_doubles(
        system: Container, broker: Broker) -> None:  # noqa: F811
    # Work orders opened (and moved on) before the broker's log begins: a relay that starts
    # at the head publishes only what comes after, as if retention had dropped the rest.
    early = history(system, "KS1", 6)
    relay = relay_for(system, broker, partitions=4)
    relay.ensure_topics()
    set_position(system, relay.config.position_name,
                 system.app.recorder.max_notification_id() or 0)
    history(system, "KS1", 4, earlier=early)
    publish(system, relay)
    expected = {k: v for k, v in expected_board(system).items() if v[1] == "KS1"}
    mapper = IntegrationMapper(system.app.mapper, relay.config.topic_prefix)

    # Kafka alone: the early work orders never reach the board.
    group, table = names("s")
    alone = Running(system, relay, broker, group, table, "kp-s1")
    try:
        wait_until(lambda: alone.projection.stats.early > 0, 40, "the early skips")
    finally:
        alone.halt()
    assert not {str(i) for i in early} & set(board(system, table))

    # Seeded from the event store, then consuming from the stored offsets (none: the log's
    # beginning): every message is a repeat of a seeded version.
    group, table = names("t")
    # Its tables, nothing consumed: under a group of its own, so the consumer below joins a
    # group no member left half-joined (a broker may hold a rebalance for such a member).
    seeding = Running(system, relay, broker, names("t0")[0], table, "kp-t0")
    seeding.halt()
    seeded = seeding.projection.seed(system.app, mapper)
    assert seeded["work_orders"] >= len(expected)
    assert {k: v for k, v in board(system, table).items() if v[1] == "KS1"} == expected
    more = history(system, "KS1", 2, earlier=early[:2])  # and the visits go on
    publish(system, relay)
    expected = {k: v for k, v in expected_board(system).items() if v[1] == "KS1"}
    going_on = Running(system, relay, broker, group, table, "kp-t1")
    try:
        wait_until(lambda: {k: v for k, v in board(system, table).items() if v[1] == "KS1"}
                   == expected, 40, "the board to take the events after the seed")
    finally:
        going_on.halt()
    assert all(str(i) in board(system, table) for i in [*early, *more])
    assert going_on.projection.stats.early == 0 and going_on.projection.stats.repeats > 0
    assert all(a == v for a, v in applications(system, table).values())  # none twice

    # Seeding again changes nothing: the rows are at those versions already.
    before = board(system, table)
    seeding.projection.seed(system.app, mapper)
    assert board(system, table) == before
    assert all(a == v for a, v in applications(system, table).values())
