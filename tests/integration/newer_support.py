"""Events written by newer code than the code under test (a rolling upgrade: an older process
beside a newer one), and that newer code itself, for tests/integration/test_newer_events*.py.

A newer event is appended to a stream as the newer process would store it: the stream's last
event with its `class_version` one above its class's here ("version"), or its state under a
topic no class here answers to, an event class added since ("topic"). `upgraded` makes this
process the newer code: the class at that version with its upcaster, or the added class.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from uuid import UUID

import psycopg
import pytest
from eventsourcing.utils import clear_topic_cache, register_topic, resolve_topic

from analytics import events as analytics_events
from servicecore.schema import EVENTS_TABLE

ADDED_TOPIC = "domain.work_order:WorkOrder.Towed"  # a class the newer code adds
UPGRADE = "this process runs older code than the event's writer: upgrade it"
KINDS = ("version", "topic")


class Newer:
    """The newer event appended: its stream, version, topic, notification id, the
    class_version it was stored with (None: an added class) and the class it came from."""

    def __init__(self, stream_id: UUID, version: int, topic: str, position: int,
                 stored: int | None, cls: type) -> None:
        self.stream_id, self.version, self.topic = stream_id, version, topic
        self.position, self.stored, self.cls = position, stored, cls


def append_newer(url: str, stream_id: UUID, kind: str) -> Newer:
    """The stream's next version, stored as newer code would store it (see the module)."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(f"SELECT originator_version, topic, state FROM {EVENTS_TABLE} "
                           "WHERE originator_id = %s ORDER BY originator_version DESC LIMIT 1",
                           (stream_id,)).fetchone()
        assert row is not None
        version, topic, state = int(row[0]) + 1, str(row[1]), json.loads(bytes(row[2]))
        cls = resolve_topic(topic)
        stored: int | None = None
        if kind == "version":
            stored = state["class_version"] = getattr(cls, "class_version", 1) + 1
        else:
            topic = ADDED_TOPIC
        found = conn.execute(
            f"INSERT INTO {EVENTS_TABLE} (originator_id, originator_version, topic, state) "
            "VALUES (%s, %s, %s, %s) RETURNING notification_id",
            (stream_id, version, topic, json.dumps(state).encode())).fetchone()
        assert found is not None
    return Newer(stream_id, version, topic, int(found[0]), stored, cls)


def stream_and_head(url: str, stream_id: UUID) -> tuple[int, int]:
    """The stream's last version and the log's head (what a refused command leaves as it
    was)."""
    with psycopg.connect(url) as conn:
        row = conn.execute(f"SELECT (SELECT max(originator_version) FROM {EVENTS_TABLE} "
                           "WHERE originator_id = %s), (SELECT max(notification_id) FROM "
                           f"{EVENTS_TABLE})", (stream_id,)).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


@contextmanager
def upgraded(newer: Newer, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This process as the newer code that wrote `newer`: its class at the stored version
    (the state reads the same: an upcaster that changes nothing), or the class it added."""
    analytics_events._VERSIONS.clear()  # a restarted process knows nothing of the old code
    if newer.stored is not None:
        known = newer.stored - 1
        monkeypatch.setattr(newer.cls, "class_version", newer.stored, raising=False)
        monkeypatch.setattr(newer.cls, f"upcast_v{known}_v{newer.stored}",
                            staticmethod(_unchanged), raising=False)
        try:
            yield
        finally:
            analytics_events._VERSIONS.clear()
        return
    added: Any = type("Towed", (newer.cls,), {"__module__": "domain.work_order",
                                              "__qualname__": "WorkOrder.Towed"})
    register_topic(ADDED_TOPIC, added)
    try:
        yield
    finally:
        clear_topic_cache()
        analytics_events._VERSIONS.clear()


def _unchanged(state: dict[str, Any]) -> None:
    """The newer code's upcaster to the stored version: the state reads the same."""
