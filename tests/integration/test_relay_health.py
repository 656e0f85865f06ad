"""A relay worker's /health and /metrics answer from what its loop keeps, not from the database:
with the database away they answer at once (before: after the pool's timeout, as `degraded`)."""

from __future__ import annotations

import psycopg

from servicecore.container import Container
from tests.integration.faults import FaultyProxy
from tests.integration.support import head, open_order
from tests.integration.test_lost_acknowledgements import behind, proxy  # noqa: F401
from workers.health import WorkerHealth
from workers.relay import KafkaRelay
from workers.relay_broker import RelayConfig


def test_a_relays_health_answers_from_memory_with_the_database_away(
        behind: Container, proxy: FaultyProxy, container: Container,  # noqa: F811
        store_id: str) -> None:
    # A relay whose database connections go through the proxy (no broker needed here).
    relay = KafkaRelay(behind.app, behind.pool, RelayConfig("127.0.0.1:9"))
    open_order(container.work_orders, store_id)
    relay.see_head()  # as its loop does, at most once a second
    seen = head(container.app)
    assert relay.head == seen
    health = WorkerHealth("relay", [relay.samples], details=relay.details,
                          troubles=relay.trouble.problems)

    # The database goes away: open connections cut, new ones refused.
    proxy.close()
    status, body = health.health()
    assert "error" not in body, body  # not `degraded` after waiting for the pool
    assert (status, body["status"], body["head"], body["behind"]) == (200, "ok", seen, seen)
    behind_rows = [s for s in relay.samples() if s.name == "servicecore_worker_events_behind"]
    assert [s.value for s in behind_rows] == [float(seen)]

    # The loop meets the database's absence and /health says so, still without reading it.
    relay._troubled(psycopg.OperationalError("connection refused"))
    status, body = health.health()
    assert status == 503 and body["reasons"][0].startswith("kafka relay cannot deliver since ")
    assert body["reasons"][0].endswith("OperationalError: connection refused")
