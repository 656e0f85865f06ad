"""What this code does with what newer code wrote (a rolling upgrade): an integration event of a
later schema, a snapshot of a later aggregate version, an event of a later class version or of
a class added since. None of them is read as this code knows it (tests/integration/
test_newer_events.py runs the processes against such events in PostgreSQL)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import uuid4

import pytest
from eventsourcing.domain import Snapshot
from eventsourcing.persistence import StoredEvent

from domain.application import ServiceCore
from domain.common import Audit
from domain.integration_events import SCHEMA_VERSION
from domain.snapshot_seal import NEWER, SealedSnapshots
from domain.stock import StockItem
from domain.unreadable_events import NewerEvent
from domain.work_order import WorkOrder
from workers.relay_consumer import NewerMessage, decode

UPGRADE = "this process runs older code than the event's writer: upgrade it"
AUDIT = Audit("clerk-1", "parts_clerk", "S01", datetime(2026, 5, 1, tzinfo=UTC), "corr-1")


def _message(schema_version: Any) -> bytes:
    return json.dumps({"event_id": "e-1", "type": "work_order.opened", "stream_id": "s-1",
                       "stream_version": 1, "schema_version": schema_version,
                       "payload": {}}).encode()


def test_a_consumer_refuses_an_integration_event_of_a_later_schema() -> None:
    assert decode(_message(SCHEMA_VERSION))["type"] == "work_order.opened"
    with pytest.raises(NewerMessage) as raised:
        decode(_message(SCHEMA_VERSION + 1))
    assert "e-1 (work_order.opened)" in str(raised.value) and UPGRADE in str(raised.value)


def test_a_snapshot_taken_by_newer_code_is_passed_over_for_the_events() -> None:
    app = ServiceCore()
    item = StockItem(store_id="S01", part_number="06L115562", unit="pc",
                     min_stock=Decimal(0), audit=AUDIT)
    store = SealedSnapshots(app.mapper, app.snapshots.recorder if app.snapshots else None,
                            b"k" * 32)
    taken = Snapshot.take(item)
    assert store.decoded(store.mapper.to_stored_event(taken)) is not None
    taken.state["class_version"] = StockItem.class_version + 1
    assert store.decoded(store.mapper.to_stored_event(taken)) is None
    assert store.refused[NEWER] == 1


@pytest.mark.parametrize("kind", ["version", "topic"])
def test_the_mapper_refuses_an_event_newer_than_its_class(kind: str) -> None:
    app = ServiceCore()
    event = WorkOrder.JobAdded(originator_id=uuid4(), originator_version=2,
                               timestamp=datetime(2026, 5, 1, tzinfo=UTC),
                               complaint="a rattle", audit=AUDIT)  # type: ignore[call-arg]
    stored = app.mapper.to_stored_event(event)
    state = json.loads(stored.state)
    topic = stored.topic
    if kind == "version":
        state["class_version"] = 2
    else:
        topic = "domain.work_order:WorkOrder.Towed"
    newer = StoredEvent(stored.originator_id, 2, topic, json.dumps(state).encode())
    with pytest.raises(NewerEvent) as raised:
        app.mapper.to_domain_event(newer)
    assert (raised.value.stream_id, raised.value.version, raised.value.topic) == (
        stored.originator_id, 2, topic)
    assert UPGRADE in str(raised.value)
    assert app.mapper.to_domain_event(stored).complaint == "a rattle"  # type: ignore[attr-defined]
