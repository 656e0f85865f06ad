"""A rolling upgrade: this process runs older code than the one that stored an event (its
`class_version` above its class's here, or a class this code does not have). Nothing reads it
as this code knows it: a command on its stream is a retryable 503 that stores nothing, a view
and the analytics loader stop just before it, say so in the log and on /health, and go on by
themselves once the process runs the newer code (restarted with it). The tests append the
newer rows behind the application's back, so each runs on a database of its own."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from fastapi.testclient import TestClient

from analytics.loader import AnalyticsLoader
from analytics.poison import PoisonEvent
from api.main import create_app
from domain.integration_events import IntegrationMapper
from domain.unreadable_events import NewerEvent
from servicecore.container import build
from tests.conftest import settings_for
from tests.integration.kafka_support import wait_until
from tests.integration.newer_support import (
    KINDS,
    UPGRADE,
    Newer,
    append_newer,
    stream_and_head,
    upgraded,
)
from tests.integration.support import http_open, open_order
from tests.scratch_systems import ServedScratch, served_scratch

PROBLEM = "https://servicecore.dev/problems/newer-event"


@pytest.fixture
def served(server_url: str, tmp_path: Path) -> Iterator[ServedScratch]:
    """A served system on a database of its own: the newer rows break its log for others."""
    with served_scratch(server_url, "sc_newer", tmp_path / "served") as made:
        yield made


def _with_a_job(client: TestClient, auth: Any, store: str) -> UUID:
    """A work order opened over HTTP with one job added: its id."""
    work_order_id = UUID(http_open(client, auth, store)["id"])
    added = client.post(f"/work-orders/{work_order_id}/jobs", json={
        "complaint": "a rattle from the rear"}, headers=auth("advisor", stores=[store]))
    assert added.status_code == 200, added.text
    return work_order_id


@pytest.mark.parametrize("kind", KINDS)
def test_a_command_on_a_stream_with_a_newer_event_is_a_retryable_503_that_stores_nothing(
        kind: str, served: ServedScratch, auth: Any, caplog: pytest.LogCaptureFixture) -> None:
    store = "SNEWC"
    work_order_id = _with_a_job(served.client, auth, store)
    newer = append_newer(served.owner_url, work_order_id, kind)
    before = stream_and_head(served.owner_url, work_order_id)
    with caplog.at_level(logging.ERROR, logger="api.errors"):
        answer = served.client.post(f"/work-orders/{work_order_id}/jobs", json={
            "complaint": "a squeak when braking"}, headers=auth("advisor", stores=[store]))
    assert answer.status_code == 503, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert int(answer.headers["Retry-After"]) > 0
    problem = answer.json()
    assert problem["type"] == PROBLEM
    assert (problem["stream_id"], problem["version"], problem["topic"]) == (
        str(work_order_id), newer.version, newer.topic)
    assert problem["class_version"] == newer.stored
    assert UPGRADE in problem["detail"] and "nothing was stored" in problem["detail"]
    # nothing stored: the stream and the log as they were
    assert stream_and_head(served.owner_url, work_order_id) == before
    assert any(UPGRADE in r.getMessage() and r.levelno == logging.ERROR
               for r in caplog.records)


@pytest.mark.parametrize("kind", KINDS)
def test_a_view_stops_before_a_newer_event_and_goes_on_once_upgraded(
        kind: str, served: ServedScratch, auth: Any, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    store = "SNEWV"
    work_order_id = _with_a_job(served.client, auth, store)
    newer = append_newer(served.owner_url, work_order_id, kind)
    advisor = auth("advisor", stores=[store])
    # The older process: its work orders view stops just before the newer event.
    system = build(settings_for(served.app_url, tmp_path / "older"))
    try:
        system.views = [v for v in system.views if v.name == "work_orders"]
        with caplog.at_level(logging.ERROR):
            system.start_projections()
            with TestClient(create_app(system.api_context())) as viewer:
                wait_until(lambda: "work_orders" in system.stops(), 30,
                           "the work orders view to stop at the newer event")
                stop = system.stops()["work_orders"]
                assert (stop["position"], stop["topic"]) == (newer.position, newer.topic)
                assert stop["error"].startswith("NewerEvent") and UPGRADE in stop["error"]
                health = viewer.get("/health")
                assert health.status_code == 503
                assert any(f"stops at event {newer.position} ({newer.topic})" in reason
                           and UPGRADE in reason for reason in health.json()["reasons"])
                # the view stands before it: the work order as the events before it say
                assert viewer.get(f"/work-orders/{work_order_id}",
                                  headers=advisor).json()["version"] == newer.version - 1
        assert any(r.levelno == logging.ERROR and UPGRADE in r.getMessage()
                   and f"event {newer.position} ({newer.topic})" in r.getMessage()
                   for r in caplog.records)
    finally:
        system.close()
    # Restarted with the newer code: the view applies it and goes on.
    with upgraded(newer, monkeypatch):
        system = build(settings_for(served.app_url, tmp_path / "newer"))
        try:
            system.views = [v for v in system.views if v.name == "work_orders"]
            system.start_projections()
            with TestClient(create_app(system.api_context())) as viewer:
                read = viewer.get(f"/work-orders/{work_order_id}", headers=advisor,
                                  params={"wait_for": newer.position})
                assert read.status_code == 200, read.text
                assert read.json()["version"] == newer.version
                assert "work_orders" not in system.stops()
        finally:
            system.close()


@pytest.mark.parametrize("kind", KINDS)
def test_the_analytics_loader_and_the_relay_mapper_stop_before_a_newer_event(
        kind: str, served: ServedScratch, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    store = "SNEWA"
    container = served.system
    opened = open_order(container.work_orders, store)
    newer = append_newer(served.owner_url, UUID(opened["id"]), kind)
    open_order(container.work_orders, store)  # an event after it
    loader = AnalyticsLoader(container.app, tmp_path / "analytics.duckdb")
    try:
        with pytest.raises(PoisonEvent) as raised:
            loader.catch_up()
        assert (raised.value.position, raised.value.topic) == (newer.position, newer.topic)
        assert isinstance(raised.value.error, NewerEvent)
        assert UPGRADE in str(raised.value)
        assert loader.position() == newer.position - 1
        with pytest.raises(PoisonEvent):  # met again: it stays there
            loader.run_batch()
        assert loader.position() == newer.position - 1
    finally:
        loader.close()
    # The relay publishes nothing of it (no payload without the fields it does not know).
    (stored,) = container.app.recorder.select_notifications(start=newer.position, limit=1)
    with pytest.raises(NewerEvent):
        IntegrationMapper(container.app.mapper).to_message(stored.id, stored)
    _upgraded_loader_goes_on(newer, container, tmp_path, monkeypatch)


def _upgraded_loader_goes_on(newer: Newer, container: Any, tmp_path: Path,
                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Restarted with the newer code, the loader loads the newer event and what follows."""
    with upgraded(newer, monkeypatch):
        loader = AnalyticsLoader(container.app, tmp_path / "analytics.duckdb")
        try:
            loader.catch_up()
            assert loader.poison is None
            assert loader.position() == container.app.recorder.max_notification_id()
        finally:
            loader.close()
