"""Every event class, stored at every `class_version` from 1 up to its class's, is read by
every decoder this code has (the application's mapper: aggregates and the Kafka relay; the
views' reader, decoded and as stored; the analytics source, decoded or handed to DuckDB as
stored) as the mapper reads it and without `NewerEvent` (the analytics source reads a state
stored with no number as it is, its folds taking what it lacks as absent); stored one above
its class's, each decoder refuses it. A version added to a class with its upcaster is so read
everywhere at once."""

from __future__ import annotations

import importlib
import json
import pkgutil
from typing import Any
from uuid import uuid4

import pytest
from eventsourcing.domain import AggregateEvent
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic, resolve_topic

import analytics.loader  # noqa: F401 - registers the analytics handlers
import domain
from analytics.events import _VERSIONS, EventSource
from analytics.fold import HANDLERS
from analytics.set_based import SET_BASED, SHARED
from domain.application import ServiceCore
from domain.integration_events import INTERNAL_STREAMS, IntegrationMapper, stream_kind
from domain.unreadable_events import NewerEvent
from workers.event_batches import EventReader, Row

for _module in pkgutil.iter_modules(domain.__path__):
    importlib.import_module(f"domain.{_module.name}")

# what an upcaster of some class reads of the state it upcasts (the rest it only adds)
NEEDED: dict[str, Any] = {"lines": [], "line": {}, "endpoint": "GET /work-orders"}


def _classes(cls: type = AggregateEvent) -> list[type]:
    """The event classes the domain stores (those its topics resolve to)."""
    found: list[type] = []
    for sub in cls.__subclasses__():
        topic = f"{sub.__module__}:{sub.__qualname__}"
        if sub.__module__.startswith("domain.") and _resolved(topic) is sub:
            found.append(sub)
        found.extend(_classes(sub))
    return sorted(set(found), key=get_topic)


def _resolved(topic: str) -> Any:
    try:
        return resolve_topic(topic)
    except Exception:  # noqa: BLE001 - a class made on the fly, under no topic of its own
        return None


CLASSES = _classes()
CASES = [(cls, version) for cls in CLASSES
         for version in range(1, getattr(cls, "class_version", 1) + 2)]


def _stored(cls: type, version: int) -> StoredEvent:
    state: dict[str, Any] = {"timestamp": {"_type_": "datetime_iso",
                                           "_data_": "2026-12-07T10:00:00+00:00"}, **NEEDED}
    if version > 1:  # the mapper writes no class_version for a class at version 1
        state["class_version"] = version
    return StoredEvent(originator_id=uuid4(), originator_version=1, topic=get_topic(cls),
                       state=json.dumps(state, separators=(",", ":")).encode())


def _plain(state: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in state.items()
            if k not in ("originator_id", "originator_version", "timestamp")}


def test_every_domain_event_class_is_listed() -> None:
    names = {get_topic(c).partition(":")[2] for c in CLASSES}
    assert {"Settlement.PaymentTaken", "Settlement.RefundApproved",
            "Customer.AccountChargeEnded", "WorkOrder.Opened"} <= names


@pytest.mark.parametrize(("cls", "version"), CASES,
                         ids=[f"{c.__qualname__}-v{v}" for c, v in CASES])
def test_each_decoder_reads_every_version_up_to_its_class_and_refuses_the_next(
        cls: type, version: int) -> None:
    _VERSIONS.clear()
    app = ServiceCore()
    current = getattr(cls, "class_version", 1)
    stored = _stored(cls, version)
    row = Row(1, stored.originator_id, 1, stored.topic, stored.state)
    reader = EventReader(app)
    relay = IntegrationMapper(app.mapper)
    names = sorted(HANDLERS)
    source = EventSource(app, names, SET_BASED, SHARED)
    app.recorder.insert_events([stored])
    qualname = stored.topic.partition(":")[2]
    published = stream_kind(stored.topic)[0] not in INTERNAL_STREAMS
    if version > current:
        with pytest.raises(NewerEvent):
            app.mapper.to_domain_event(stored)
        with pytest.raises(NewerEvent):
            reader.decode(row)
        with pytest.raises(NewerEvent):
            reader.stored(row)
        if published:  # an internal stream's events are never decoded by the relay
            with pytest.raises(NewerEvent):
                relay.to_message(1, stored)
        if qualname in names:
            with pytest.raises(NewerEvent):
                source.read(0, 10)
        return
    expected = _plain(vars(app.mapper.to_domain_event(stored)))
    assert "class_version" not in expected
    assert _plain(vars(reader.decode(row))) == expected
    assert _plain(json.loads(reader.stored(row).json)) == expected
    assert (relay.to_message(1, stored) is not None) == published
    if qualname not in names:
        return
    # the analytics source reads a state with no number as stored (as before classes had
    # versions: its folds read what a v1 state lacks as absent), the others as the mapper does
    read_as = _plain(json.loads(stored.state)) if version == 1 else expected
    batch = source.read(0, 10)
    if batch.raw:  # handed to DuckDB as stored (past its number): what the mapper reads
        state = json.loads(batch.raw[0][3])
        assert state.pop("class_version", 1) == (1 if version == 1 else current)
        assert _plain(state) == read_as
    else:
        (event,) = batch.events
        assert _plain(event._state) == read_as

def test_a_batch_of_current_states_with_an_older_one_is_not_read_as_stored() -> None:
    """The analytics fast check: set-based kinds at their class's version pass as stored, but
    one of them at an older numbered version (it needs its upcaster) sends the batch to the
    decoder, and one at a newer version stops it. (A state with no number, stored before its
    class had versions, is read as stored: the folds read what it lacks as absent.)"""
    set_based = [c for c in CLASSES if get_topic(c).partition(":")[2] in SET_BASED + SHARED]
    versioned = [c for c in set_based if getattr(c, "class_version", 1) > 1]
    assert versioned
    highest = max(getattr(c, "class_version", 1) for c in set_based)
    for odd in versioned:
        current = getattr(odd, "class_version", 1)
        for version in [v for v in (current - 1, current + 1) if v > 1]:
            _VERSIONS.clear()
            app = ServiceCore()
            # every kind at its class's version; those numbered below the highest left out
            # (their number would send the batch to the per-state check on its own)
            events = [_stored(c, getattr(c, "class_version", 1)) for c in set_based
                      if getattr(c, "class_version", 1) in (1, highest) and c is not odd]
            events.append(_stored(odd, version))
            app.recorder.insert_events(events)
            source = EventSource(app, sorted(HANDLERS), SET_BASED, SHARED)
            if version > current:
                with pytest.raises(NewerEvent):
                    source.read(0, 100)
                continue
            batch = source.read(0, 100)
            assert batch.raw == [], (odd, version)
            last = [e for e in batch.events if e.originator_id == str(events[-1].originator_id)]
            assert "class_version" not in last[0]._state

