"""The Kafka board projection (`worker kafka-projection`) whose table another session holds
locked (a `LOCK TABLE` left open, an analyst's long transaction) never stays green.

Its batch waits on the lock while its loop says `running`; the board has no lock timeout, so
before, it turned not-ready only when SERVICECORE_DB_WAIT_DEADLINE_SECONDS cut the batch (120
s), and never with the deadline off. Like a projection of `worker projections`, it now counts
how long it has had records to apply without applying any (`stalled_seconds` on /health and
`servicecore_kafka_projection_stalled_seconds` in /metrics) and answers 503 once that passes
SERVICECORE_READY_MAX_STALL_SECONDS.
"""

from __future__ import annotations

import json
import signal
import uuid
from pathlib import Path

import psycopg

from servicecore.container import Container
from tests.integration.kafka_support import Broker, free_port, wait_until
from tests.integration.test_kafka_projection import (  # noqa: F401 - the module's fixtures
    board,
    broker,
    expected_board,
    history,
    kp_db,
    publish,
    relay,
    system,
)
from tests.integration.test_relay import get, start_worker, worker_env
from workers.kafka_projection import BOARD_TABLE
from workers.relay import KafkaRelay


def health(port: int) -> tuple[int, dict[str, object]]:
    try:
        status, _, body = get(port, "/health")
    except OSError:  # not serving yet
        return 0, {}
    return status, json.loads(body)


def stall_reasons(port: int) -> list[str]:
    status, body = health(port)
    reasons = body.get("reasons", []) if status == 503 else []
    assert isinstance(reasons, list)
    return [r for r in reasons if "has applied nothing for" in r]


def test_a_board_blocked_on_a_lock_turns_not_ready_without_a_deadline(
        system: Container, relay: KafkaRelay, broker: Broker,  # noqa: F811
        tmp_path: Path) -> None:
    history(system, "KST1", 3)
    publish(system, relay)
    group = f"group-stall-{uuid.uuid4().hex[:8]}"
    port = free_port()
    env = {**worker_env(system, broker, tmp_path, port, relay.config.topic_prefix),
           "SERVICECORE_KAFKA_PROJECTION_GROUP": group,
           "SERVICECORE_READY_MAX_STALL_SECONDS": "1",
           "SERVICECORE_DB_WAIT_DEADLINE_SECONDS": "0"}  # no deadline ends the wait
    log = tmp_path / "kafka-projection.log"
    worker = start_worker("kafka-projection", env, log)
    locker = psycopg.connect(system.database_url)
    try:
        wait_until(lambda: board(system, BOARD_TABLE) == expected_board(system), 60,
                   "the worker's board to follow the topic")
        wait_until(lambda: health(port)[0] == 200, 30, "/health to answer 200")

        # A session takes the board's table and keeps it; new work orders come in.
        locker.execute(f"LOCK TABLE {BOARD_TABLE} IN ACCESS EXCLUSIVE MODE")
        history(system, "KST2", 2)
        publish(system, relay)

        # Its batch waits on the lock, its loop stays `running`: /health says the board stands
        # still with records to apply, instead of 200 for good.
        wait_until(lambda: bool(stall_reasons(port)), 60,
                   "the worker's /health to name the stalled board")
        reason = stall_reasons(port)[0]
        assert reason.startswith(f"kafka projection {group} has applied nothing for"), reason
        status, body = health(port)
        assert status == 503 and body["status"] == "failing", body
        assert body["loops"]["kafka-projection"]["state"] == "running", body["loops"]
        assert isinstance(body["stalled_seconds"], float) and body["stalled_seconds"] >= 1.0
        metrics = get(port, "/metrics")[2]
        stalled = [line for line in metrics.splitlines()
                   if line.startswith("servicecore_kafka_projection_stalled_seconds{")]
        assert stalled and float(stalled[0].rsplit(" ", 1)[1]) >= 1.0, stalled
        assert get(port, "/health/live")[0] == 200

        # The lock is let go: the board catches up and /health answers 200 again.
        locker.rollback()
        wait_until(lambda: board(system, BOARD_TABLE) == expected_board(system), 60,
                   "the board to catch up once the lock is gone")
        wait_until(lambda: health(port)[0] == 200, 30, "/health to answer 200 again")
        assert health(port)[1]["stalled_seconds"] == 0.0
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=45) == 0, log.read_text()[-3000:]
    finally:
        locker.close()
        if worker.poll() is None:
            worker.kill()
            worker.wait(timeout=10)


def test_a_board_batch_cut_while_waiting_on_a_lock_names_the_lock_and_its_holder(
        system: Container, relay: KafkaRelay, broker: Broker,  # noqa: F811
        tmp_path: Path) -> None:
    history(system, "KST3", 2)
    publish(system, relay)
    port = free_port()
    env = {**worker_env(system, broker, tmp_path, port, relay.config.topic_prefix),
           "SERVICECORE_KAFKA_PROJECTION_GROUP": f"group-held-{uuid.uuid4().hex[:8]}",
           "SERVICECORE_DB_WAIT_DEADLINE_SECONDS": "2"}
    log = tmp_path / "kafka-projection.log"
    worker = start_worker("kafka-projection", env, log)
    locker = psycopg.connect(system.database_url)
    try:
        wait_until(lambda: board(system, BOARD_TABLE) == expected_board(system), 60,
                   "the worker's board to follow the topic")
        locker.execute(f"LOCK TABLE {BOARD_TABLE} IN ACCESS EXCLUSIVE MODE")
        history(system, "KST4", 1)
        publish(system, relay)

        # Its batch is cut at the deadline, again and again: the log says on what it waits
        # and who holds it, not a lost database.
        held = f"{BOARD_TABLE} held by pid {locker.info.backend_pid}"
        wait_until(lambda: held in log.read_text(), 60, "a log line naming the lock's holder")
        line = next(json.loads(raw) for raw in log.read_text().splitlines()
                    if held in raw)
        assert line["message"].startswith(
            "kafka projection waits on a lock another session holds: "), line
        assert line["level"] == "WARNING", line

        locker.rollback()
        wait_until(lambda: board(system, BOARD_TABLE) == expected_board(system), 60,
                   "the board to catch up once the lock is gone")
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=45) == 0, log.read_text()[-3000:]
    finally:
        locker.close()
        if worker.poll() is None:
            worker.kill()
            worker.wait(timeout=10)
