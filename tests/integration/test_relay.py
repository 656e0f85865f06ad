"""The Kafka relay against a real Kafka-protocol broker (tansu, memory storage).

Each test relays the same database (one of its own for this module) to topics of its own.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import duckdb
import pytest
from eventsourcing.domain import Aggregate
from prometheus_client.parser import text_string_to_metric_families

from domain.application import Request
from domain.common import Caller
from domain.integration_events import INTERNAL_STREAMS, TOPICS, event_id, stream_kind
from servicecore.container import Container, build
from tests.conftest import settings_for
from tests.databases import scratch_database
from tests.integration.kafka_support import (
    Applied,
    Broker,
    TopicReader,
    free_port,
    running_broker,
    wait_until,
)
from workers.relay import KafkaRelay, RelayConfig

CUSTOMER = {"name": "陈静", "phone": "13912345678"}
VEHICLE = {"vin": "LSVAU218XN2183294", "plate": "沪A12345", "brand": "Volkswagen",
           "model": "Lavida", "year": 2022}


class Gadget(Aggregate):
    """A stream kind the mapper has never heard of."""


@pytest.fixture(scope="module")
def relay_db(server_url: str) -> Iterator[str]:
    with scratch_database(server_url, "sc_relay") as url:
        yield url


@pytest.fixture(scope="module")
def system(relay_db: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Container]:
    # small pools: the whole suite shares one PostgreSQL server's connections
    container = build(settings_for(relay_db, tmp_path_factory.mktemp("relay"), pool_size=3))
    yield container
    container.close()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    with running_broker(tmp_path) as b:
        yield b


def req(store_id: str, role: str = "advisor", user: str | None = None) -> Request:
    return Request(Caller(user or f"{role}-1", role, (store_id,), datetime.now(UTC),
                          str(uuid4())))


def relay_for(system: Container, broker: Broker, **overrides: Any) -> KafkaRelay:
    tag = uuid.uuid4().hex[:8]
    options: dict[str, Any] = {"topic_prefix": f"t{tag}.", "partitions": 3, "linger_ms": 5,
                               "position_name": f"relay-{tag}", "delivery_timeout_ms": 5000,
                               "max_backoff_seconds": 1.0, **overrides}
    return KafkaRelay(system.app, system.pool, RelayConfig(broker.bootstrap, **options))


def published(system: Container, upto: int | None = None) -> list[tuple[int, str, int, str]]:
    """(notification id, stream id, version, topic) of every event the relay should publish."""
    app, rows, start = system.app, [], 1
    while batch := app.recorder.select_notifications(start=start, limit=1000):
        for n in batch:
            if upto is not None and n.id > upto:
                return rows
            if stream_kind(n.topic)[0] not in INTERNAL_STREAMS:
                rows.append((n.id, str(n.originator_id), n.originator_version, n.topic))
        start = batch[-1].id + 1
    return rows


def has_all(applied: Applied, rows: list[tuple[int, str, int, str]]) -> bool:
    return all(applied.gate.applied.get(stream, 0) >= version for _, stream, version, _ in rows)


def every_event_on_its_topic(system: Container, broker: Broker, prefix: str, head: int,
                             seconds: float, what: str) -> None:
    """Every event up to `head` the relay publishes is read from its topic, in stream order
    (repeats skipped by stream version), within `seconds`."""
    expected = published(system, head)
    reader = TopicReader(broker.bootstrap, [prefix + t for t in TOPICS])
    applied = Applied()
    try:
        wait_until(lambda: (applied.feed(reader.poll(100)), has_all(applied, expected))[1],
                   seconds, what)
    finally:
        reader.close()
    assert applied.keys_ok


def service_visit(system: Container, store_id: str) -> dict[str, Any]:
    """A customer, a part received at cost, a work order whose part line is issued, an erasure."""
    part = "P" + uuid.uuid4().hex[:10].upper()
    inventory, wos = system.inventory, system.work_orders
    inventory.register_part(req(store_id, "manager"), part_number=part, list_price="120.00",
                            details={"name": "brake pads", "unit": "set", "category": "brake"})
    inventory.receive(req(store_id, "parts_clerk"), store_id, part, qty=5, unit_cost="37.50",
                      supplier="FAW-VW Parts", supplier_doc="DN-1")
    opened = wos.open(req(store_id), store_id=store_id, customer=dict(CUSTOMER),
                      vehicle=dict(VEHICLE), mileage=42_000, complaints=["brake noise"])
    wo_id = UUID(opened.body["id"])
    line = wos.add_part_line(req(store_id), wo_id, 1, {"part_number": part, "qty": "2"})
    line_id = line.body["line_id"]
    wos.authorize_line(req(store_id), wo_id, line_id, decision="approved", channel="phone")
    wos.issue_part(req(store_id, "parts_clerk"), wo_id, line_id)
    customer_id = UUID(opened.body["customer_id"])
    system.customers.erase(req(store_id, "manager"), customer_id, reason="customer asked (PIPL)")
    return {"work_order_id": str(wo_id), "customer_id": str(customer_id)}


# -- (a) everything, in order per stream, keyed, mapped --------------------------------------------

def test_relay_publishes_every_event_in_stream_order_without_costs_or_personal_data(
        system: Container, broker: Broker) -> None:
    # a service visit, and an event of a kind the mapper does not know
    visit = service_visit(system, "RA1")
    system.app.save(Gadget())
    relay = relay_for(system, broker)
    # the relay sends everything and its stored position reaches the head
    position = relay.catch_up()
    head = system.app.recorder.max_notification_id()
    assert position == head == relay.position()
    # a broker that lost nothing is not taken for one that did (tansu reports a partition's
    # end offset as one past the first record of its last batch)
    assert relay.lost_records() == [] and relay.stats.rewinds == 0
    expected = published(system)
    reader = TopicReader(broker.bootstrap, relay.mapper.topics())
    wait_until(lambda: (reader.poll(), len(reader.records) >= len(expected))[1], 60,
               "every published event")
    reader.close()
    records = reader.records
    assert len(records) == len(expected)  # no repeats without a failure, nothing internal
    # keyed by stream id; within each partition each stream's versions go 1, 2, 3, ...
    last: dict[str, int] = {}
    by_partition: dict[tuple[str, int], list[Any]] = {}
    for r in records:
        by_partition.setdefault((r.topic, r.partition), []).append(r)
    for rows in by_partition.values():
        for r in sorted(rows, key=lambda r: r.offset):
            event = json.loads(r.value)
            assert r.key == event["stream_id"].encode()
            assert event["stream_version"] == last.get(event["stream_id"], 0) + 1
            last[event["stream_id"]] = event["stream_version"]
    assert last == {stream: max(v for _, s, v, _ in expected if s == stream)
                    for _, stream, _, _ in expected}
    events = [json.loads(r.value) for r in records]
    by_type = {e["type"]: e for e in events}
    # the envelope
    opened = by_type["work_order.opened"]
    assert opened["stream_id"] == visit["work_order_id"]
    assert opened["actor"] == {"user_id": "advisor-1", "role": "advisor", "store_id": "RA1"}
    assert opened["schema_version"] == 1 and opened["occurred_at"]
    assert {k: v for k, v in opened["payload"]["vehicle"].items() if k != "vehicle_id"} == {
        "vin": VEHICLE["vin"], "brand": "Volkswagen", "model": "Lavida", "year": 2022}
    assert opened["event_id"] == str(event_id(opened["stream_id"], 1, opened["recorded_at"]))
    assert opened["notification_id"] in {row[0] for row in expected}
    topics = {r.topic.split(".", 1)[1] for r in records}
    assert {"work-orders", "stock", "customers", "other"} <= topics
    # no costs, no personal data, not even sealed
    for record in records:
        text = record.value.decode()
        for forbidden in ("unit_cost", '"cost"', "37.5", "陈静", "13912345678", "pii1:",
                          "沪A12345", "plate"):
            assert forbidden not in text, (forbidden, text)
    issued = by_type["work_order.parts_issued"]["payload"]
    assert issued["picks"] and set(issued["picks"][0]) == {"lot_id", "qty"}
    customer = [e for e in events if e["stream_id"] == visit["customer_id"]]
    assert [e["type"] for e in customer] == ["customer.registered", "customer.erased"]
    assert customer[0]["payload"] == {"kind": "person"}
    assert customer[1]["payload"] == {"erased": True}
    # internal streams stay inside; the unknown kind is an envelope with an empty payload
    assert not any(e["type"].startswith(("document_counter", "idempotency")) for e in events)
    gadget = by_type["gadget.created"]
    assert gadget["payload"] == {} and relay.stats.unknown >= 1


# -- (b) across a broker failure ------------------------------------------------------------------

class Writer:
    """Commands keep coming while the broker fails (opening work orders, adding jobs)."""

    def __init__(self, system: Container, store_id: str) -> None:
        self.system, self.store_id = system, store_id
        self.stop = threading.Event()
        self.commands = 0
        self.errors: list[BaseException] = []
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        wos = self.system.work_orders
        try:
            while not self.stop.is_set():
                opened = wos.open(req(self.store_id), store_id=self.store_id,
                                  customer=dict(CUSTOMER), vehicle=dict(VEHICLE),
                                  mileage=10_000, complaints=["oil change"])
                wos.add_job(req(self.store_id), UUID(opened.body["id"]), complaint="wipers")
                self.commands += 2
                self.stop.wait(0.01)
        except BaseException as exc:  # noqa: BLE001 - asserted on by the test
            self.errors.append(exc)

    def __enter__(self) -> Writer:  # noqa: PYI034
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=30)


def acked_head(relay: KafkaRelay) -> tuple[int, int]:
    """The highest notification id the broker acknowledged, contiguously, and the number of
    sends not acknowledged yet (a test-only peek at the relay)."""
    pending: list[Any] = []
    for _ in range(100):
        try:
            pending = list(relay._pending)
            break
        except RuntimeError:  # changed while copied
            continue
    head, unacked = relay.stored, 0
    for p in pending:
        if p.future is not None and not p.future.is_done:
            unacked += 1
        elif unacked == 0 and (p.future is None or p.future.succeeded()):
            head = p.notification_id
    return head, unacked


def test_relay_across_a_broker_failure_loses_nothing_and_keeps_stream_order(
        system: Container, broker: Broker) -> None:
    relay = relay_for(system, broker, select_limit=100)
    stop = threading.Event()
    thread = threading.Thread(target=relay.run, args=(stop, system.database_url), daemon=True)
    reader = TopicReader(broker.bootstrap, relay.mapper.topics())
    applied = Applied()
    try:
        with Writer(system, "RB1") as writer:
            thread.start()
            # a consumer reads along; once it holds everything the broker acknowledged, and
            # while a send is in flight, the broker is frozen and killed, and comes back empty
            killed_at = None
            deadline = time.monotonic() + 180
            while killed_at is None:
                assert time.monotonic() < deadline, "never reached a moment to kill the broker"
                applied.feed(reader.poll(100))
                if relay.stored < 200 or not has_all(applied, published(system, relay.stored)):
                    continue
                assert broker.process is not None
                os.kill(broker.process.pid, signal.SIGSTOP)
                # the writer keeps adding events: wait (bounded) for a send the frozen broker
                # has not acknowledged, on a busy machine this can take a while
                frozen_until = time.monotonic() + 10
                acked, unacked = acked_head(relay)
                while not unacked and time.monotonic() < frozen_until:
                    time.sleep(0.1)
                    acked, unacked = acked_head(relay)
                if unacked and has_all(applied, published(system, acked)):
                    killed_at = acked
                    broker.kill()
                else:
                    os.kill(broker.process.pid, signal.SIGCONT)
            broker.start()
            reader.reopen()
            time.sleep(1.0)  # commands keep coming after the restart too
        assert not writer.errors
        # the relay noticed, re-sent from its stored position, and caught up with the head
        final = system.app.recorder.max_notification_id() or 0
        wait_until(lambda: relay.stored >= final, 60, "the relay to reach the head")
        expected = published(system)
        reopened = [time.monotonic()]

        def holds_everything() -> bool:
            # a consumer that met the broker mid-restart may hold stale metadata: a fresh one
            # (from offset 0; repeats are skipped by stream version) every 30 s
            if time.monotonic() - reopened[0] > 30:
                reader.reopen()
                reopened[0] = time.monotonic()
            applied.feed(reader.poll(100))
            return has_all(applied, expected)

        wait_until(holds_everything, 150, "the consumer to hold every event")
    finally:
        stop.set()
        thread.join(timeout=20)
        reader.close()
    assert relay.stats.retries >= 1 and relay.stats.failures >= 1
    assert applied.keys_ok
    # every stream: every version exactly once, in order, across both broker lives
    streams: dict[str, list[int]] = {}
    for _, stream, version, _ in expected:
        streams.setdefault(stream, []).append(version)
    assert {s: [e["stream_version"] for e in applied.events[s]] for s in streams} == streams
    assert relay.position() == final and killed_at is not None


def set_position(system: Container, name: str, position: int) -> None:
    with system.pool.connection() as conn:
        conn.execute("""INSERT INTO projection_positions (name, position) VALUES (%s, %s)
                        ON CONFLICT (name) DO UPDATE SET position = EXCLUDED.position""",
                     (name, position))


def test_after_a_broker_restart_the_relay_resends_within_seconds_not_the_delivery_timeout(
        system: Container, broker: Broker) -> None:
    # the production timeouts (30 s delivery timeout, backoff up to 30 s); the relay starts at
    # the head, so its topics hold this test's events only
    relay = relay_for(system, broker, select_limit=100, delivery_timeout_ms=30_000,
                      max_backoff_seconds=30.0)
    start = system.app.recorder.max_notification_id() or 0
    set_position(system, relay.config.position_name, start)
    stop = threading.Event()
    thread = threading.Thread(target=relay.run, args=(stop, system.database_url), daemon=True)
    reader = TopicReader(broker.bootstrap, relay.mapper.topics())
    applied = Applied()
    for _, stream, version, _ in published(system, start):  # what it held before it started
        applied.gate.applied[stream] = max(version, applied.gate.applied.get(stream, 0))
    try:
        with Writer(system, "RR1") as writer:
            thread.start()
            # a consumer reads along (it may lag); the broker is killed while sends are in
            # flight and stays down for 4 s while commands keep coming
            deadline = time.monotonic() + 120
            while relay.stored < start + 150 or not acked_head(relay)[1]:
                assert time.monotonic() < deadline, "never saw sends in flight"
                applied.feed(reader.poll(20))
            broker.kill()
            acked_before_kill = relay.stored
            time.sleep(4.0)
            # it comes back empty
            broker.start()
            restarted = time.monotonic()
            reader.reopen()
            while time.monotonic() - restarted < 1.0:
                applied.feed(reader.poll(100))
        assert not writer.errors
        final = system.app.recorder.max_notification_id() or 0
        expected = [row for row in published(system, final) if row[0] > start]
        wait_until(lambda: (applied.feed(reader.poll(100)), has_all(applied, expected))[1], 90,
                   "the consumer to hold every event")
        took = time.monotonic() - restarted
        logging.getLogger(__name__).info("broker's return to a consumer at the head: %.1f s", took)
        wait_until(lambda: relay.stored >= final, 30, "the relay to store the head")
    finally:
        stop.set()
        thread.join(timeout=20)
        reader.close()
    # the relay noticed the dropped connection at once, and the empty broker on its return:
    # it went back over what the old broker had acknowledged and sent it again
    assert relay.stats.failures >= 1 and relay.stats.rewinds >= 1
    assert acked_before_kill > start
    # from the broker's return to a consumer holding the head: seconds, not the 30 s
    # delivery timeout (a generous bound, not a performance figure)
    assert took < 15.0, f"{took:.1f} s from the broker's return to a consumer at the head"
    # every version of every stream exactly once and in order, keyed by stream id
    assert applied.keys_ok
    streams: dict[str, list[int]] = {}
    for _, stream, version, _ in expected:
        streams.setdefault(stream, []).append(version)
    assert {s: [e["stream_version"] for e in applied.events[s]] for s in streams} == streams
    # and the restarted broker itself holds every event (a consumer from its start)
    fresh, again = TopicReader(broker.bootstrap, relay.mapper.topics()), Applied()
    for _, stream, version, _ in published(system, start):
        again.gate.applied[stream] = max(version, again.gate.applied.get(stream, 0))
    try:
        wait_until(lambda: (again.feed(fresh.poll(100)), has_all(again, expected))[1], 60,
                   "a fresh consumer to find every event on the restarted broker")
    finally:
        fresh.close()
    assert relay.position() == final


def test_a_broker_that_restarts_empty_while_the_relay_is_idle_gets_everything_again(
        system: Container, broker: Broker) -> None:
    relay = relay_for(system, broker, delivery_timeout_ms=30_000, max_backoff_seconds=30.0)
    start = system.app.recorder.max_notification_id() or 0
    set_position(system, relay.config.position_name, start)
    stop = threading.Event()
    thread = threading.Thread(target=relay.run, args=(stop, system.database_url), daemon=True)
    thread.start()
    try:
        # the relay publishes a few visits and has nothing left to send
        open_orders(system, "RI1", 3)
        head = system.app.recorder.max_notification_id() or 0
        wait_until(lambda: relay.stored >= head, 60, "the relay to reach the head")
        # the broker restarts empty while nothing is in flight; no command follows: the
        # relay's idle check finds the loss and sends everything again on its own
        broker.restart()
        expected = [row for row in published(system, head) if row[0] > start]
        reader = TopicReader(broker.bootstrap, relay.mapper.topics())
        applied = Applied()
        for _, stream, version, _ in published(system, start):
            applied.gate.applied[stream] = max(version, applied.gate.applied.get(stream, 0))
        try:
            wait_until(lambda: (applied.feed(reader.poll(100)), has_all(applied, expected))[1],
                       60, "the restarted broker to hold every event again")
            # and what comes next reaches it too
            open_orders(system, "RI1", 1)
            final = system.app.recorder.max_notification_id() or 0
            expected = [row for row in published(system, final) if row[0] > start]
            wait_until(lambda: (applied.feed(reader.poll(100)), has_all(applied, expected))[1],
                       60, "the next visit")
        finally:
            reader.close()
        wait_until(lambda: relay.stored >= final, 30, "the relay to store the head")
    finally:
        stop.set()
        thread.join(timeout=20)
    assert relay.stats.rewinds >= 1 and applied.keys_ok
    streams: dict[str, list[int]] = {}
    for _, stream, version, _ in expected:
        streams.setdefault(stream, []).append(version)
    assert {s: [e["stream_version"] for e in applied.events[s]] for s in streams} == streams


def test_acknowledged_offsets_on_topics_it_no_longer_writes_do_not_stop_the_relay(
        system: Container, broker: Broker, tmp_path: Path) -> None:
    # A relay stored its position and acknowledged offsets under one topic prefix ...
    before = relay_for(system, broker)
    open_orders(system, "RT1", 2)
    before.catch_up()
    # ... then the prefix changes (same position row) and the broker is a new, empty one: the
    # old topics are nowhere. The relay goes on from its position to the head.
    broker.kill()
    broker.start()
    after = relay_for(system, broker, position_name=before.config.position_name)
    open_orders(system, "RT1", 2)
    head = system.app.recorder.max_notification_id() or 0
    stop = threading.Event()
    thread = threading.Thread(target=after.run, args=(stop, system.database_url), daemon=True)
    thread.start()
    try:
        wait_until(lambda: after.stored >= head, 30, "the relay to reach the head")
    finally:
        stop.set()
        thread.join(timeout=20)
    assert after.trouble.since is None


# -- (c) broker down: commands work, the relay catches up later -----------------------------------

def test_with_the_broker_down_commands_work_and_the_relay_catches_up(
        system: Container, broker: Broker) -> None:
    relay = relay_for(system, broker)
    relay.catch_up()
    broker.kill()
    start = relay.stored
    stop = threading.Event()
    thread = threading.Thread(target=relay.run, args=(stop, system.database_url), daemon=True)
    thread.start()
    try:
        # the broker is down: commands are stored as usual, the relay retries with backoff
        for _ in range(5):
            opened = system.work_orders.open(req("RC1"), store_id="RC1", customer=dict(CUSTOMER),
                                             vehicle=dict(VEHICLE), mileage=1_000,
                                             complaints=["check engine light"])
            assert opened.body["number"].startswith("WO-RC1-")
        wait_until(lambda: relay.stats.failures >= 2, 60, "the relay to retry")
        assert relay.position() == start
        # the broker comes back (empty): the relay creates the topics and catches up
        broker.start()
        head = system.app.recorder.max_notification_id() or 0
        wait_until(lambda: relay.stored >= head, 90, "the relay to catch up")
    finally:
        stop.set()
        thread.join(timeout=20)
    expected = published(system, head)
    new = [row for row in expected if row[0] > start]
    reader = TopicReader(broker.bootstrap, relay.mapper.topics())
    applied = Applied()
    try:
        wait_until(lambda: (applied.feed(reader.poll(100)), has_all(applied, expected))[1],
                   60, "the events stored while the broker was down")
    finally:
        reader.close()
    got = {(e["stream_id"], e["stream_version"]) for r in reader.records
           for e in [json.loads(r.value)]}
    assert {(s, v) for _, s, v, _ in new} <= got
    # it came back empty: what it had acknowledged before was sent to it again
    assert {(s, v) for _, s, v, _ in expected} <= got and relay.stats.rewinds >= 1


# -- (d) the worker process: SIGTERM, resume, /health and /metrics --------------------------------

def worker_env(system: Container, broker: Broker, tmp: Path, port: int,
               prefix: str) -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": system.database_url,
            "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap, "SERVICECORE_KAFKA_TOPIC_PREFIX": prefix,
            "SERVICECORE_KAFKA_PARTITIONS": "3", "SERVICECORE_KAFKA_DELIVERY_TIMEOUT_MS": "5000",
            "SERVICECORE_WORKER_METRICS_PORT": str(port), "SERVICECORE_CREATE_TABLES": "false",
            "SERVICECORE_DATA_DIR": str(tmp), "SERVICECORE_JWT_SECRET": "x" * 40,
            "SERVICECORE_POOL_SIZE": "3"}


def start_worker(kind: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "servicecore.cli", "worker", kind], env=env,
                            stdout=log.open("ab"), stderr=subprocess.STDOUT)


def stored_position(system: Container, name: str = "kafka-relay") -> int:
    with system.pool.connection() as conn:
        row = conn.execute("SELECT position FROM projection_positions WHERE name = %s",
                           (name,)).fetchone()
    return int(row[0]) if row else 0


def get(port: int, path: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as answer:
            return answer.status, answer.headers["Content-Type"], answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read().decode()


def metrics_now(port: int) -> str:
    """/metrics, or "" while it does not answer in time (a worker busy catching up on a
    loaded machine): for waiting on a figure."""
    try:
        return get(port, "/metrics")[2]
    except OSError:
        return ""


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample of a /metrics answer (parsed as Prometheus does), or None."""
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == name and found.labels == labels:
                return float(found.value)
    return None


def answers(port: int, path: str) -> bool:
    try:
        return get(port, path)[0] == 200
    except OSError:
        return False


def open_orders(system: Container, store_id: str, count: int) -> None:
    for _ in range(count):
        system.work_orders.open(req(store_id), store_id=store_id, customer=dict(CUSTOMER),
                                vehicle=dict(VEHICLE), mileage=5_000, complaints=["tyres"])


def test_worker_relay_stops_cleanly_on_sigterm_and_resumes_from_its_position(
        system: Container, broker: Broker, tmp_path: Path) -> None:
    prefix = f"w{uuid.uuid4().hex[:6]}."
    port = free_port()
    env = worker_env(system, broker, tmp_path, port, prefix)
    log = tmp_path / "worker.log"
    open_orders(system, "RD1", 5)
    worker = start_worker("relay", env, log)
    try:
        # it relays to the head and says so on /metrics and /health
        head = system.app.recorder.max_notification_id() or 0
        wait_until(lambda: stored_position(system) >= head, 60, "the worker to reach the head")
        wait_until(lambda: answers(port, "/metrics"), 30, "/metrics")
        status, content_type, text = get(port, "/metrics")
        assert status == 200 and content_type.startswith("text/plain; version=0.0.4")
        assert "# TYPE servicecore_relay_acked_total counter" in text
        assert 'servicecore_worker_events_behind{worker="relay"} 0' in text
        for name in ("servicecore_relay_sent_total", "servicecore_relay_retries_total",
                     "servicecore_relay_failures_total", "servicecore_worker_events_per_second"):
            assert name in text
        status, _, body = get(port, "/health")
        assert status == 200 and json.loads(body)["status"] == "ok"
        # SIGTERM while commands keep coming: a clean exit
        open_orders(system, "RD1", 5)
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=45) == 0, log.read_text()[-3000:]
        # more commands while it is stopped; a new process resumes from the stored position
        stopped_at = stored_position(system)
        open_orders(system, "RD1", 5)
        worker = start_worker("relay", env, log)
        head = system.app.recorder.max_notification_id() or 0
        wait_until(lambda: stored_position(system) >= head, 60, "the restarted worker")
        assert stored_position(system) > stopped_at
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=45) == 0, log.read_text()[-3000:]
    finally:
        if worker.poll() is None:
            worker.kill()
    # nothing lost across the two processes; repeats (if any) are skipped by stream version
    every_event_on_its_topic(system, broker, prefix, head, 60,
                             "every event from both worker processes")


def test_worker_projections_serves_health_and_metrics_and_stops_on_sigterm(
        system: Container, broker: Broker, tmp_path: Path) -> None:
    port = free_port()
    env = worker_env(system, broker, tmp_path, port, "p.")
    log = tmp_path / "projections.log"
    worker = start_worker("projections", env, log)
    try:
        wait_until(lambda: answers(port, "/metrics"), 60, "/metrics")
        wait_until(lambda: sample(metrics_now(port), "servicecore_worker_events_behind",
                                  worker="projections", projection="work_orders") == 0, 180,
                   "the work-orders projection to catch up")
        text = get(port, "/metrics")[2]
        assert "servicecore_worker_events_per_second" in text
        assert "servicecore_worker_up" in text
        status, _, body = get(port, "/health")
        assert status == 200 and json.loads(body)["worker"] == "projections"
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=45) == 0, log.read_text()[-3000:]
        # its log is one JSON object per line, each naming the worker
        logged = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
        assert {e["service"] for e in logged} == {"worker-projections"}
        # the views run as one group (SERVICECORE_PROJECTION_GROUP, the default)
        assert any(e["message"].startswith("projections ") and "work_orders" in e["message"]
                   and e["message"].endswith("active as one group") for e in logged)
    finally:
        if worker.poll() is None:
            worker.kill()


def test_worker_analytics_publishes_a_snapshot_and_resumes_after_sigterm(
        system: Container, broker: Broker, tmp_path: Path) -> None:
    port = free_port()
    env = worker_env(system, broker, tmp_path, port, "a.")
    env["SERVICECORE_ANALYTICS_PUBLISH_SECONDS"] = "1"
    log = tmp_path / "analytics.log"
    info = tmp_path / "analytics" / "servicecore-snapshot.json"

    def published_at_head() -> bool:
        head = system.app.recorder.max_notification_id() or 0
        return info.exists() and json.loads(info.read_text())["position"] >= head

    open_orders(system, "AW1", 3)
    worker = start_worker("analytics", env, log)
    try:
        # the one DuckDB writer loads to the head and publishes a snapshot saying so
        wait_until(published_at_head, 90, "a snapshot at the head")
        wait_until(lambda: 'servicecore_worker_events_behind{worker="analytics"} 0'
                   in metrics_now(port), 60, "/metrics at the head")
        assert "servicecore_analytics_snapshot_position" in get(port, "/metrics")[2]
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=45) == 0, log.read_text()[-3000:]
        # more visits while it is stopped; a new process resumes from the position in DuckDB
        open_orders(system, "AW1", 3)
        worker = start_worker("analytics", env, log)
        wait_until(published_at_head, 90, "the restarted worker's snapshot")
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=45) == 0, log.read_text()[-3000:]
    finally:
        if worker.poll() is None:
            worker.kill()
    snapshot = duckdb.connect(str(info.with_suffix(".duckdb")), read_only=True)
    try:
        counted = snapshot.execute("SELECT count(*) FROM fact_work_orders WHERE store_id = 'AW1'")
        assert counted.fetchall() == [(6,)]
    finally:
        snapshot.close()


def test_worker_relay_health_tells_while_it_cannot_deliver_and_clears_once_it_can(
        system: Container, broker: Broker, tmp_path: Path) -> None:
    prefix = f"h{uuid.uuid4().hex[:6]}."
    port = free_port()
    env = {**worker_env(system, broker, tmp_path, port, prefix),
           "SERVICECORE_RELAY_MAX_BACKOFF_SECONDS": "1"}
    log = tmp_path / "worker.log"
    open_orders(system, "RH1", 2)
    worker = start_worker("relay", env, log)
    try:
        head = system.app.recorder.max_notification_id() or 0
        wait_until(lambda: stored_position(system) >= head, 60, "the worker to reach the head")
        wait_until(lambda: answers(port, "/health"), 30, "/health to answer 200")

        # The broker dies; commands go on. The relay retries inside its loop, which keeps
        # running: /health must still say that nothing reaches the broker.
        broker.kill()
        open_orders(system, "RH1", 2)

        def failing() -> bool:
            # `behind` comes from the head the relay reads at most every HEAD_SECONDS, so it
            # may trail the failure by up to that long.
            status, _, body = get(port, "/health")
            return (status == 503 and json.loads(body)["status"] == "failing"
                    and json.loads(body)["behind"] > 0)

        wait_until(failing, 60, "/health to report the relay failing, with events behind")
        health = json.loads(get(port, "/health")[2])
        assert any("kafka relay" in r for r in health["reasons"]), health
        assert health["behind"] > 0 and health["failing_since"], health
        assert get(port, "/health/ready")[0] == 503
        assert get(port, "/health/live")[0] == 200  # a restart of the process would not help

        # The broker is back: the relay catches up and /health clears.
        broker.start()
        head = system.app.recorder.max_notification_id() or 0
        wait_until(lambda: stored_position(system) >= head, 90, "the relay to catch up")
        wait_until(lambda: answers(port, "/health"), 30, "/health to answer 200 again")
        health = json.loads(get(port, "/health")[2])
        assert health["reasons"] == [] and health["failing_since"] is None, health
        assert health["last_error"], health  # what went wrong stays readable
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=45) == 0, log.read_text()[-3000:]
    finally:
        if worker.poll() is None:
            worker.kill()
