"""An event whose rows the server refuses (SQLSTATE class 54, program limit exceeded: here an
index row over the btree limit). psycopg raises it as an OperationalError, as it does a lost
connection; it used to be taken for the database being away: the batch was never narrowed, so
the events before it in the batch were never applied, nothing named the event, the log said
"lost the database", and in a group every view waited a restart's backoff per batch behind it.
It is a poison event like any other: the view applies the events before it, stops on it and
names it, and the other views of its group go on. So does a record of the Kafka board."""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any
from uuid import uuid4

import psycopg
import pytest
from eventsourcing.utils import resolve_topic

from analytics.poison import PoisonEvent
from projections.base import Index, ReadModel
from servicecore.container import Container
from tests.integration.kafka_support import wait_until
from tests.integration.support import head
from tests.integration.test_kafka_projection import board
from tests.integration.test_poison_events import _ids, _log, poised
from tests.integration.test_projection_group import _fresh, _position, _receipts, _view
from workers.kafka_projection import KafkaProjection, KafkaProjectionConfig
from workers.kafka_resume import Stored
from workers.projection_group import ProjectionGroup
from workers.projection_runner import ProjectionRunner
from workers.supervisor import Supervisor
from workers.view_verify import verify_view


class Noted(ReadModel):
    """One row per event with an indexed note; the event `poison` gets a note too long for the
    index (random, so that it does not compress below the limit)."""

    def __init__(self, name: str, table: str = "noted") -> None:
        self.name, self.table = name, table
        self.tables = {table: "id bigint PRIMARY KEY, note text NOT NULL"}
        self.indexes = (Index(table, f"{table}_note_idx", "(note)"),)
        self.poison = 0

    def apply(self, conn: psycopg.Connection[Any], events: Sequence[tuple[int, Any]],
              suffix: str = "") -> None:
        with conn.cursor() as cur:
            cur.executemany(f"INSERT INTO {self.table}{suffix} (id, note) VALUES (%s, %s)", [
                (nid, secrets.token_hex(4000) if nid == self.poison else "")
                for nid, _ in events])


def test_a_row_the_server_refuses_stops_the_view_after_the_events_before_it(
        container: Container, store_id: str) -> None:
    view = Noted("zz_noted")
    runner, events, suffix = poised(container, store_id, view, receipts=3, at=3)
    poison, topic = events[3]

    # One batch would hold every event: the three before the refused one are applied.
    with pytest.raises(PoisonEvent) as raised:
        runner.run_batch()
    assert (raised.value.position, raised.value.topic) == (poison, topic)
    assert "ProgramLimitExceeded: index row size" in str(raised.value)
    assert _position(container, runner.position_name) == events[2][0]
    assert _ids(container, f"noted{suffix}") == [nid for nid, _ in events[:3]]

    # Mended: the rest follows, every event once.
    view.poison = 0
    runner.catch_up()
    assert _ids(container, f"noted{suffix}") == [nid for nid, _ in events]


def test_a_row_the_server_refuses_in_a_group_holds_back_neither_its_view_nor_the_others(
        container: Container, store_id: str) -> None:
    start = head(container.app)
    suffix = "_pq" + uuid4().hex[:4]
    stock, view = _view(container, "stock"), Noted("zz_noted")
    _fresh(container, stock, suffix, start)
    _fresh(container, view, suffix, start)
    runners = [ProjectionRunner(container.app, container.pool, v, suffix=suffix)
               for v in (stock, view)]
    supervisor = Supervisor(container.database_url, first_backoff=0.2, max_backoff=0.5)
    group = ProjectionGroup(
        container.app, container.pool, runners,
        on_alone=lambda r: supervisor.start("alone-" + r.position_name, r.run, r.is_connected))
    _receipts(container, store_id, 3)
    events = _log(container, start, head(container.app))
    poison, topic = events[3]
    view.poison = poison
    supervisor.start("group", group.run, group.is_connected)
    try:
        last = head(container.app)
        wait_until(lambda: _position(container, runners[0].position_name) == last, 30,
                   "the stock view to reach the head")
        wait_until(lambda: _position(container, runners[1].position_name) == events[2][0],
                   30, "the noted view to apply the events before the refused one")
        alone = "alone-" + runners[1].position_name
        wait_until(lambda: supervisor.states().get(alone, {}).get("restarts", 0) >= 1, 30,
                   "the noted view's own loop to stop on the refused event")
        error = supervisor.states()[alone]["last_error"]
        assert f"stops at event {poison} ({topic}): ProgramLimitExceeded" in error
        # the group runs on without it (it used to be started again after every round)
        wait_until(lambda: supervisor.states()["group"]["state"] == "running", 30,
                   "the group to run on")
        assert _ids(container, f"noted{suffix}") == [nid for nid, _ in events[:3]]
    finally:
        supervisor.stop()


def test_a_board_record_the_server_refuses_stops_its_partition_after_the_ones_before_it(
        container: Container) -> None:
    suffix = uuid4().hex[:8]
    table = f"kb_r{suffix}"
    projection = KafkaProjection(container.pool, KafkaProjectionConfig(
        "127.0.0.1:1", "t.work-orders", group_id=f"g-r{suffix}", board_table=table,
        offsets_table=f"ko_r{suffix}"))
    projection.ensure_tables()
    with container.pool.connection() as conn:  # an index added for lookups by number
        conn.execute(f"CREATE INDEX {table}_number_idx ON {table} (number)")
    first, second = str(uuid4()), str(uuid4())

    def opened(wo_id: str, number: str, offset: int) -> SimpleNamespace:
        return SimpleNamespace(offset=offset, value=json.dumps({
            "stream_id": wo_id, "stream_version": 1, "type": "work_order.opened",
            "actor": {"store_id": "KR1"}, "payload": {"number": number}}).encode())

    p0, p1 = ("t.work-orders", 0), ("t.work-orders", 1)
    batch = {p0: [opened(first, "WO-R-1", 7), opened(str(uuid4()), secrets.token_hex(4000), 8),
                  opened(str(uuid4()), "WO-R-3", 9)],
             p1: [opened(second, "WO-R-2", 3)]}
    with pytest.raises(psycopg.errors.ProgramLimitExceeded):
        projection.apply(batch)  # one transaction: nothing of the batch stays
    poison = projection._apply_apart(batch)
    assert poison is not None and (poison.partition, poison.offset) == (0, 8)
    assert str(poison).startswith("t.work-orders[0] stops at offset 8: ProgramLimitExceeded")
    assert board(container, table) == {first: ("WO-R-1", "KR1", "opened", 1),
                                       second: ("WO-R-2", "KR1", "opened", 1)}
    assert projection.stored([p0, p1]) == {p0: Stored(8, (first, 1)), p1: Stored(4, (second, 1))}


def test_a_verification_of_a_view_stopped_on_a_refused_row_reports_where_it_stops(
        container: Container, store_id: str) -> None:
    start = head(container.app)
    _receipts(container, store_id, 2)
    events = _log(container, start, head(container.app))
    tag = uuid4().hex[:8]
    view = Noted(f"zz_noted_{tag}", table=f"noted_{tag}")
    poison, topic = events[-1]
    view.handles = tuple({resolve_topic(t) for _, t in events})  # a short rebuild from 0
    view.poison = poison
    _fresh(container, view, "", start)
    with pytest.raises(PoisonEvent):
        ProjectionRunner(container.app, container.pool, view).catch_up()

    # The live view stands just before the event: its verification says so (it used to raise).
    checked = verify_view(container.app, container.pool, view)
    assert checked.stopped_at is not None
    assert (checked.stopped_at["position"], checked.stopped_at["topic"]) == (poison, topic)
    assert checked.stopped_at["error"].startswith("ProgramLimitExceeded: index row size")
