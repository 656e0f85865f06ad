"""Every event the domain admits fits one Kafka message, and the relay publishes it: the
largest work order a store may write is settled and its draft reaches the broker; a command
whose event would be larger than the relay's limit is refused before anything is stored; a
stored event over the limit stops the relay at it, named on /health and /metrics, never
skipped (real PostgreSQL, a real Kafka-protocol broker: tansu)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from uuid import UUID

import pytest

from domain.common import InvalidInput
from domain.message_size import MAX_MESSAGE_BYTES
from domain.work_order import WorkOrder
from domain.work_order_lines import labor_line
from domain.work_order_state import MAX_LINES
from servicecore.container import Container, build
from tests.conftest import settings_for
from tests.databases import scratch_database
from tests.integration.kafka_support import Broker, TopicReader, wait_until
from tests.integration.support import open_order, with_profile
from tests.integration.test_relay import broker, relay_for, req, set_position  # noqa: F401
from workers.relay import MessageTooLarge

# a labor line's description at its longest (the API takes 500 characters), in Chinese
DESCRIPTION = ("更换前制动片并检查制动盘磨损情况" * 32)[:500]
SMALL_LIMIT = 64 * 1024


@pytest.fixture(scope="module")
def system(server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Container]:
    """A database of the module's own: the relay reads the log from its start."""
    with scratch_database(server_url, "sc_relay_message_size") as url:
        container = build(settings_for(url, tmp_path_factory.mktemp("relay"), pool_size=3))
        yield container
        container.close()


def ready_to_settle(system: Container, store_id: str, lines: int) -> UUID:
    """A visit of one job with `lines` approved labor lines of the longest description, done
    and passed by quality control."""
    wos = system.work_orders
    work_order_id = UUID(open_order(wos, store_id)["id"])
    wos.check_in(req(store_id), work_order_id, mileage_in=42_010, fuel_level=40)

    def add_lines(session: Any, wo: WorkOrder) -> None:  # one save, as many requests would
        audit = session.audit(wo.store_id)
        while len(wo.lines) < lines:
            line_id = wo.add_line(audit, labor_line(wo.next_line_id(), 1, {
                "op_code": f"OP-{len(wo.lines):04d}", "description": DESCRIPTION,
                "hours": "1.5", "hourly_rate": "300.00"}))
            wo.authorize_line(audit, line_id, "approved", "in_person", None)

    wos._on(req(store_id), work_order_id, add_lines)
    technician = f"tech-{store_id}"
    with_profile(system.technicians, req(store_id, "manager"), technician, store_id)
    wos.dispatch(req(store_id, "manager"), work_order_id, 1, technician_id=technician)
    wos.clock_on(req(store_id, "technician", technician), work_order_id, 1)
    wos.clock_off(req(store_id, "technician", technician), work_order_id, 1)
    wos.complete_job(req(store_id, "technician", technician), work_order_id, 1)
    checked = wos.quality_check(req(store_id, "manager"), work_order_id, 1, passed=True)
    assert checked.body["status"] == "ready_for_settlement", checked.body
    return work_order_id


def drafts(reader: TopicReader) -> list[Any]:
    return [r for r in reader.records if json.loads(r.value)["type"] == "settlement.drafted"]


def test_the_largest_work_order_is_settled_and_its_draft_reaches_the_broker(
        system: Container, broker: Broker) -> None:  # noqa: F811
    """Found in a probe: a work order of 1,000 labor lines with 500-character Chinese
    descriptions (its documented limits) was settled, and its draft was a 1.71 MB message: the
    producer refused it (max_request_size 1 MiB) on every try, and the relay never got past
    it. The relay's limit (8 MiB by default) takes it, and what comes after."""
    work_order_id = ready_to_settle(system, "RM1", MAX_LINES)
    drafted = system.settlements.draft(req("RM1", "cashier"), work_order_id)
    after = open_order(system.work_orders, "RM1")
    relay = relay_for(system, broker)
    assert relay.catch_up() == system.app.recorder.max_notification_id()
    reader = TopicReader(broker.bootstrap, relay.mapper.topics())
    wait_until(lambda: (reader.poll(), bool(drafts(reader)))[1], 60, "the draft")
    reader.close()
    [draft] = drafts(reader)
    assert draft.key.decode() == drafted.body["id"]
    assert 1_500_000 < len(draft.value) < MAX_MESSAGE_BYTES
    assert len(json.loads(draft.value)["payload"]["bills"]["customer"]["lines"]) == MAX_LINES
    assert relay.stored >= after["notification_id"]


def test_a_command_whose_event_would_be_over_the_limit_is_refused_and_nothing_stored(
        server_url: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    """With a limit of 64 KiB, the draft of 100 such lines (about 170 KB published) is 422
    naming the event, its size and the limit; the log's head does not move, and the work order
    can still be settled once it fits (here: a store whose limit is the default)."""
    with scratch_database(server_url, "sc_relay_message_refused") as url:
        small = build(settings_for(url, tmp_path_factory.mktemp("small"), pool_size=3,
                                   kafka_max_message_bytes=SMALL_LIMIT))
        try:
            work_order_id = ready_to_settle(small, "RM2", 100)
            head = small.app.recorder.max_notification_id()
            with pytest.raises(InvalidInput, match="nothing was stored") as refused:
                small.settlements.draft(req("RM2", "cashier"), work_order_id)
            extra = refused.value.extra
            assert (extra["event"], extra["limit"]) == ("Settlement.Drafted", SMALL_LIMIT)
            assert 150_000 < extra["size"] < 250_000
            assert small.app.recorder.max_notification_id() == head
        finally:
            small.close()
        default = build(settings_for(url, tmp_path_factory.mktemp("default"), pool_size=3,
                                     create_tables=False))
        try:
            assert default.settlements.draft(req("RM2", "cashier"), work_order_id).notification_id
        finally:
            default.close()


def test_a_stored_event_over_the_relays_limit_stops_it_there_named_never_skipped(
        system: Container, broker: Broker) -> None:  # noqa: F811
    """A draft stored under the default limit, relayed with a limit of 64 KiB (a lowered
    setting): everything before it is published, the relay stops at it and says which event,
    stream, size and limit on /health and /metrics; with the limit raised again, it and what
    follows are published."""
    start = system.app.recorder.max_notification_id() or 0
    work_order_id = ready_to_settle(system, "RM3", 100)
    drafted = system.settlements.draft(req("RM3", "cashier"), work_order_id)
    after = open_order(system.work_orders, "RM3")
    small = relay_for(system, broker, max_message_bytes=SMALL_LIMIT)
    set_position(system, small.config.position_name, start)  # this visit's events on
    with pytest.raises(MessageTooLarge, match="SERVICECORE_KAFKA_MAX_MESSAGE_BYTES"):
        small.catch_up()
    assert small.stored == drafted.notification_id - 1  # everything before it, not it
    report = small.details()["message_too_large"]
    assert report["notification_id"] == drafted.notification_id
    assert report["stream_id"] == drafted.body["id"]
    assert report["type"] == "settlement.drafted"
    assert report["limit"] == SMALL_LIMIT < report["size"]
    [sample] = [s for s in small.samples() if s.name == "servicecore_relay_message_too_large_bytes"]
    assert sample.value == report["size"]
    assert dict(sample.labels)["notification_id"] == str(drafted.notification_id)
    assert dict(sample.labels)["stream_id"] == drafted.body["id"]
    with pytest.raises(MessageTooLarge):  # again, at the same event: never skipped
        small.catch_up()
    assert small.stored == drafted.notification_id - 1
    small.close()

    raised = relay_for(system, broker, position_name=small.config.position_name,
                       topic_prefix=small.config.topic_prefix)
    assert raised.catch_up() >= after["notification_id"]
    assert raised.details()["message_too_large"] is None
