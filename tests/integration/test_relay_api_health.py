"""The Kafka relay as the API's /health sees it, whichever process runs the relay.

Scaled out, the relay is a worker of its own (`worker relay`); when it died or stood still, only
that worker's /health said so. The API's /health (and /metrics) now show the relay's stored
position, its lag behind the log's head and when it last moved, and answer 503 `degraded` once a
configured relay has had events to publish without moving for SERVICECORE_RELAY_MAX_STALL_SECONDS;
/health/ready stays 200 (commands never wait for Kafka). Without KAFKA_BOOTSTRAP_SERVERS the
relay's row is shown, never a reason.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from api.main import create_app
from servicecore.container import Container, build
from tests.conftest import settings_for
from tests.databases import scratch_database
from tests.integration.kafka_support import Broker, wait_until
from tests.integration.support import head, open_order
from tests.integration.test_relay import broker, relay_for  # noqa: F401
from workers.relay_broker import POSITION_NAME
from workers.relay_offsets import save_position
from workers.supervisor import Supervisor

STALL_SECONDS = 1.0


@pytest.fixture(scope="module")
def relay_db(server_url: str) -> Iterator[str]:
    with scratch_database(server_url, "sc_relay_api") as url:
        yield url


@contextmanager
def process(url: str, tmp: Path, **overrides: Any) -> Iterator[Container]:
    """A process of the system on the database; its readiness counts neither lag nor stalls
    (no projections run here), so what /health adds is the relay's part alone."""
    system = build(settings_for(url, tmp, pool_size=3).model_copy(update={
        "ready_max_lag": 0, "ready_max_stall_seconds": 0,
        "relay_max_stall_seconds": STALL_SECONDS, **overrides}))
    try:
        yield system
    finally:
        system.close()


@contextmanager
def api(url: str, tmp: Path, **overrides: Any) -> Iterator[tuple[Container, TestClient]]:
    with process(url, tmp, **overrides) as system, \
            TestClient(create_app(system.api_context())) as client:
        yield system, client


def store_position(system: Container, position: int) -> None:
    """The relay's row, written as the relay writes it (workers/relay_offsets.py)."""
    with system.pool.connection() as conn:
        save_position(conn, POSITION_NAME, position)


def forget_relay(system: Container) -> None:
    with system.pool.connection() as conn:
        conn.execute("DELETE FROM projection_positions WHERE name = %s", (POSITION_NAME,))


def health(client: TestClient) -> tuple[int, dict[str, Any]]:
    answer = client.get("/health")
    return answer.status_code, answer.json()


def relay_gauges(client: TestClient) -> dict[str, float]:
    text = client.get("/metrics").text
    return {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples
            if s.name.startswith(("servicecore_relay_", "servicecore_ready"))}


def test_a_relay_stood_still_behind_the_head_makes_health_degraded_not_unready(
        relay_db: str, tmp_path: Path) -> None:
    store_id = "RA" + uuid.uuid4().hex[:6].upper()
    with api(relay_db, tmp_path, kafka_bootstrap_servers="127.0.0.1:9") as (system, client):
        # The relay published up to the first order, then its worker stopped.
        open_order(system.work_orders, store_id)
        store_position(system, head(system.app))
        status, body = health(client)
        assert status == 200 and body["status"] == "ok", body
        assert body["relay"]["lag"] == 0 and body["relay"]["configured"] is True
        moved_at = body["relay"]["moved_at"]
        assert moved_at is not None

        # A second order: one event or more to publish, and nobody publishes it.
        open_order(system.work_orders, store_id)
        position, now = body["relay"]["position"], head(system.app)
        wait_until(lambda: health(client)[0] == 503, 30, "/health to see the relay stand still")
        status, body = health(client)
        assert body["status"] == "degraded", body
        relay = body["relay"]
        assert (relay["position"], relay["lag"], relay["moved_at"]) == \
            (position, now - position, moved_at)
        assert relay["stalled_seconds"] >= STALL_SECONDS
        [reason] = body["reasons"]
        assert reason.startswith("kafka relay has published nothing for "), reason
        assert f"with {now - position} events to publish" in reason
        assert f"position {position}, last moved {moved_at}" in reason

        # The process still serves: ready, and /metrics says so, with the relay's gauges.
        ready = client.get("/health/ready")
        assert (ready.status_code, ready.json()) == (200, {"status": "ok", "reasons": []})
        gauges = relay_gauges(client)
        assert gauges["servicecore_ready"] == 1.0
        assert gauges["servicecore_relay_lag_events"] == float(now - position)
        assert gauges["servicecore_relay_stalled_seconds"] >= STALL_SECONDS

        # The relay catches up: healthy again.
        store_position(system, now)
        status, body = health(client)
        assert (status, body["status"], body["reasons"]) == (200, "ok", []), body
        assert body["relay"]["lag"] == 0 and body["relay"]["stalled_seconds"] == 0
        forget_relay(system)


def test_without_a_configured_relay_its_row_is_shown_and_never_a_reason(
        relay_db: str, tmp_path: Path) -> None:
    store_id = "RN" + uuid.uuid4().hex[:6].upper()
    with api(relay_db, tmp_path, kafka_bootstrap_servers=None) as (system, client):
        forget_relay(system)
        open_order(system.work_orders, store_id)
        status, body = health(client)
        assert status == 200 and "relay" not in body, body  # no Kafka here, ever

        # A relay ran once (Kafka since taken out of the deployment): its row is left behind.
        store_position(system, head(system.app))
        open_order(system.work_orders, store_id)
        wait_until(lambda: health(client)[1]["relay"]["stalled_seconds"] >= STALL_SECONDS, 30,
                   "the relay's row to stand still behind the head")
        status, body = health(client)
        assert (status, body["status"], body["reasons"]) == (200, "ok", []), body
        assert body["relay"]["configured"] is False and body["relay"]["lag"] > 0
        forget_relay(system)


def test_a_running_relay_keeps_health_green_and_its_stop_shows(
        relay_db: str, tmp_path: Path, broker: Broker) -> None:  # noqa: F811
    store_id = "RM" + uuid.uuid4().hex[:6].upper()
    with api(relay_db, tmp_path, kafka_bootstrap_servers=broker.bootstrap) as (system, client):
        # `worker relay`: a process of its own beside the API.
        with process(relay_db, tmp_path / "relay",
                     kafka_bootstrap_servers=broker.bootstrap) as worker:
            relay = relay_for(worker, broker, position_name=POSITION_NAME)
            supervisor = Supervisor(worker.database_url, first_backoff=0.2, max_backoff=0.5)
            supervisor.start("kafka-relay", relay.run)
            try:
                for _ in range(3):
                    open_order(system.work_orders, store_id)
                    last = head(system.app)
                    wait_until(lambda last=last: health(client)[1]["relay"]["position"] >= last,
                               60, "the relay to publish the order")
                    status, body = health(client)
                    assert (status, body["status"]) == (200, "ok"), body
                    assert body["relay"]["moved_at"] is not None
            finally:
                supervisor.stop()

        # The relay is gone; the orders are not.
        open_order(system.work_orders, store_id)
        wait_until(lambda: health(client)[1]["status"] == "degraded", 30,
                   "/health to see the stopped relay")
        assert health(client)[1]["relay"]["lag"] > 0
        assert client.get("/health/ready").status_code == 200
        forget_relay(system)
