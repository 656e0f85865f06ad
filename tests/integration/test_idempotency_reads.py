"""A keyed command over HTTP reads its Idempotency-Key's record once: the route looks it up
first (api/replays.py) and, finding none, the command's first attempt does not read it again.
Counted at the event store: the statements that select the key's stream (the database is
the real one; the recorder's two select methods are only counted)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

import pytest
from fastapi.testclient import TestClient

from domain.idempotency import IdempotencyRecord
from servicecore.container import Container
from tests.integration.support import CUSTOMER, VEHICLE

Auth = Callable[..., dict[str, str]]


def test_a_keyed_command_reads_its_key_once_and_its_retry_once(
        container: Container, client: TestClient, auth: Auth, store_id: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = container.app.recorder
    read: list[UUID] = []

    def counted(select: Callable[..., Any]) -> Callable[..., Any]:
        def selecting(originator_id: UUID, *args: Any, **kwargs: Any) -> Any:
            read.append(originator_id)
            return select(originator_id, *args, **kwargs)
        return selecting

    # a cold load selects a stream's snapshot and events in one statement; a cached one,
    # the events after it
    for name in ("select_state", "select_events"):
        monkeypatch.setattr(recorder, name, counted(getattr(recorder, name)))
    advisor = auth("advisor", "adv-reads", [store_id])
    key = f"open-{store_id}-reads"
    record = IdempotencyRecord.create_id("adv-reads", key)
    body = {"store_id": store_id, "customer": CUSTOMER, "vehicle": VEHICLE, "mileage": 42_000,
            "complaints": ["brake noise at low speed"]}

    first = client.post("/work-orders", json=body, headers={**advisor, "Idempotency-Key": key})
    assert first.status_code == 201, first.text
    assert read.count(record) == 1  # the route's look-up; the command's does not repeat it

    read.clear()
    retry = client.post("/work-orders", json=body, headers={**advisor, "Idempotency-Key": key})
    assert retry.status_code == 201 and retry.headers["Idempotent-Replayed"] == "true"
    assert retry.json() == first.json()
    assert read.count(record) <= 1  # found (or cached) at the route, answered from there
