"""The Kafka board during a rolling upgrade: an integration event a relay running newer code
published (a later `schema_version`, or a type of an event class this code does not have) is
not folded as this code knows it nor passed over. Its partition stops at that record (the ones
before it applied, its offset not stored past them), and the board goes on from there once it
runs the newer code. Records are applied as the poll hands them over, in PostgreSQL."""

from __future__ import annotations

import json
import uuid
from types import SimpleNamespace
from uuid import uuid4

import pytest

from domain.integration_events import SCHEMA_VERSION
from servicecore.container import Container
from tests.integration.newer_support import UPGRADE
from tests.integration.test_kafka_projection import board
from workers import kafka_board, relay_consumer
from workers.kafka_projection import KafkaProjection, KafkaProjectionConfig
from workers.kafka_resume import Stored

NEWER = {"schema": {"type": "work_order.checked_in", "schema_version": SCHEMA_VERSION + 1},
         "type": {"type": "work_order.towed", "schema_version": SCHEMA_VERSION}}


@pytest.mark.parametrize("kind", list(NEWER))
def test_a_partition_stops_at_a_newer_integration_event_until_upgraded(
        kind: str, container: Container, monkeypatch: pytest.MonkeyPatch) -> None:
    suffix = uuid.uuid4().hex[:8]
    projection = KafkaProjection(container.pool, KafkaProjectionConfig(
        "127.0.0.1:1", "t.work-orders", group_id=f"g-n{suffix}", board_table=f"kb_n{suffix}",
        offsets_table=f"ko_n{suffix}"))
    projection.ensure_tables()
    wo_id, tp = str(uuid4()), ("t.work-orders", 0)

    def record(version: int, **fields: object) -> SimpleNamespace:
        return SimpleNamespace(offset=version - 1, value=json.dumps({
            "event_id": f"e-{version}", "stream_id": wo_id, "stream_version": version,
            "type": "work_order.opened", "schema_version": SCHEMA_VERSION,
            "actor": {"store_id": "KN1"}, "payload": {"number": "WO-N-1"}, **fields}).encode())

    batch = {tp: [record(1), record(2, **NEWER[kind]),
                  record(3, type="work_order.delivered")]}
    poison = projection._apply_apart(batch)
    assert poison is not None and (poison.partition, poison.offset) == (0, 1)
    assert type(poison.error).__name__ == "NewerMessage" and UPGRADE in str(poison)
    assert board(container, f"kb_n{suffix}")[wo_id] == ("WO-N-1", "KN1", "opened", 1)
    assert projection.stored([tp]) == {tp: Stored(1, (wo_id, 1))}
    # Restarted with the newer code: the rest of the partition is applied.
    monkeypatch.setattr(relay_consumer, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    monkeypatch.setattr(kafka_board, "TYPES", kafka_board.TYPES | {"work_order.towed"})
    assert projection._apply_apart({tp: batch[tp][1:]}) is None
    assert board(container, f"kb_n{suffix}")[wo_id][2:] == ("delivered", 3)
