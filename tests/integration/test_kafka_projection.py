"""The work-order board fed from Kafka (workers.kafka_projection) against a real broker (tansu).

The relay publishes a history of work orders to a 4-partition work-orders topic; KafkaProjection
instances in one consumer group split the partitions and build a board equal to the statuses
of the PostgreSQL read model `wo_view`. Each test has its own consumer group and board table.
"""

from __future__ import annotations

import json
import signal
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest

from domain.application import Request
from domain.common import Caller
from domain.integration_events import stream_kind
from servicecore.container import Container, build
from tests.conftest import settings_for
from tests.databases import scratch_database
from tests.integration.kafka_support import Broker, free_port, running_broker, wait_until
from tests.integration.test_relay import answers, get, set_position, start_worker, worker_env
from workers.kafka_projection import BOARD_TABLE, KafkaProjection, KafkaProjectionConfig
from workers.kafka_resume import Stored
from workers.projection_runner import ProjectionRunner
from workers.relay import KafkaRelay, RelayConfig

PARTITIONS = 4
CUSTOMER = {"name": "王磊", "phone": "13800001111"}
VEHICLE = {"vin": "LSVAU218XN2183294", "plate": "沪B54321", "brand": "Volkswagen", "model": "Lavida",
           "year": 2022}


@pytest.fixture(scope="module")
def kp_db(server_url: str) -> Iterator[str]:
    with scratch_database(server_url, "sc_kproj") as url:
        yield url


@pytest.fixture(scope="module")
def system(kp_db: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Container]:
    container = build(settings_for(kp_db, tmp_path_factory.mktemp("kproj"), pool_size=4))
    yield container
    container.close()


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    with running_broker(tmp_path_factory.mktemp("tansu")) as b:
        yield b


@pytest.fixture(scope="module")
def relay(system: Container, broker: Broker) -> KafkaRelay:
    tag = uuid.uuid4().hex[:8]
    r = KafkaRelay(system.app, system.pool, RelayConfig(
        broker.bootstrap, topic_prefix=f"k{tag}.", partitions=PARTITIONS, linger_ms=5,
        position_name=f"relay-{tag}", delivery_timeout_ms=5000, max_backoff_seconds=1.0))
    r.ensure_topics()
    return r


def req(store_id: str) -> Request:
    return Request(Caller("advisor-1", "advisor", (store_id,), datetime.now(UTC), str(uuid4())))


def history(system: Container, store_id: str, count: int,
            earlier: list[UUID] | None = None) -> list[UUID]:
    """Open `count` work orders (some checked in, some with a job added, some cancelled); move
    some `earlier` ones on too."""
    wos, opened = system.work_orders, []
    for n in range(count):
        wo_id = UUID(wos.open(req(store_id), store_id=store_id, customer=dict(CUSTOMER),
                              vehicle=dict(VEHICLE), mileage=20_000 + n,
                              complaints=["noise"]).body["id"])
        opened.append(wo_id)
        if n % 3 != 2:
            wos.check_in(req(store_id), wo_id, mileage_in=20_000 + n, fuel_level=50)
        if n % 2 == 0:
            wos.add_job(req(store_id), wo_id, complaint="wipers")
        if n % 4 == 3:
            wos.cancel(req(store_id), wo_id, reason="customer changed their mind")
    for n, wo_id in enumerate(earlier or []):
        if n % 4 == 2:
            wos.cancel(req(store_id), wo_id, reason="parts too expensive")
        elif n % 4 == 0:
            wos.add_job(req(store_id), wo_id, complaint="air conditioning")
    return opened


def publish(system: Container, relay: KafkaRelay) -> None:
    relay.catch_up()


def expected_board(system: Container) -> dict[str, tuple[str, str, str, int]]:
    """id -> (number, store_id, status, stream version) from wo_view and the event log."""
    view = next(v for v in system.views if v.name == "work_orders")
    ProjectionRunner(system.app, system.pool, view).catch_up()
    versions: dict[str, int] = {}
    app, start = system.app, 1
    while batch := app.recorder.select_notifications(start=start, limit=1000):
        for n in batch:
            if stream_kind(n.topic)[0] == "WorkOrder":
                versions[str(n.originator_id)] = max(versions.get(str(n.originator_id), 0),
                                                     n.originator_version)
        start = batch[-1].id + 1
    with system.pool.connection() as conn:
        rows = conn.execute("SELECT id::text, number, store_id, status FROM wo_view").fetchall()
    return {i: (number, store, status, versions[i]) for i, number, store, status in rows}


def board(system: Container, table: str) -> dict[str, tuple[str, str, str, int]]:
    with system.pool.connection() as conn:
        try:
            rows = conn.execute(f"SELECT work_order_id::text, number, store_id, status, "
                                f"stream_version FROM {table}").fetchall()
        except psycopg.errors.UndefinedTable:
            return {}
    return {i: (number, store, status, v) for i, number, store, status, v in rows}


def applications(system: Container, table: str) -> dict[str, tuple[int, int]]:
    with system.pool.connection() as conn:
        rows = conn.execute(f"SELECT work_order_id::text, applications, stream_version "
                            f"FROM {table}").fetchall()
    return {i: (a, v) for i, a, v in rows}


def stored_offsets(system: Container, group: str) -> dict[int, int]:
    with system.pool.connection() as conn:
        rows = conn.execute("SELECT partition, next_offset FROM kafka_offsets "
                            "WHERE consumer_group = %s", (group,)).fetchall()
    return {int(p): int(o) for p, o in rows}


class Running:
    """A KafkaProjection's run loop in a thread."""

    def __init__(self, system: Container, relay: KafkaRelay, broker: Broker, group: str,
                 table: str, name: str, **overrides: Any) -> None:
        settings: dict[str, Any] = {
            "session_timeout_ms": 6000, "heartbeat_interval_ms": 2000, "poll_timeout_ms": 200,
            "max_poll_records": 50, "max_backoff_seconds": 1.0, **overrides}
        self.projection = KafkaProjection(system.pool, KafkaProjectionConfig(
            broker.bootstrap, relay.config.topic_prefix + "work-orders", group_id=group,
            board_table=table, client_id=name, **settings))
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.projection.run, args=(self.stop, ""),
                                       name=name, daemon=True)
        self.thread.start()

    @property
    def partitions(self) -> set[int]:
        return {p for _, p in set(self.projection.assigned)}

    def halt(self) -> None:
        self.stop.set()
        self.thread.join(timeout=30)
        assert not self.thread.is_alive()


def names(tag: str) -> tuple[str, str]:
    suffix = uuid.uuid4().hex[:8]
    return f"group-{tag}-{suffix}", f"kboard_{tag}_{suffix}"


def split(a: Running, b: Running) -> bool:
    pa, pb = a.partitions, b.partitions
    return bool(pa) and bool(pb) and not pa & pb and pa | pb == set(range(PARTITIONS))


def counted(a: Running, b: Running, total: int) -> None:
    """Wait until the members' counts reach `total`: a member counts a batch just after its
    transaction commits, so the board can be complete a moment before the counts are."""
    wait_until(lambda: a.projection.stats.applied + b.projection.stats.applied >= total, 10,
               "the members to count what they applied")


# -- (a) two instances split the partitions and build the board together -----------------------

def test_two_instances_split_the_partitions_and_build_the_board(
        system: Container, relay: KafkaRelay, broker: Broker) -> None:
    group, table = names("a")
    first = Running(system, relay, broker, group, table, "kp-a1")
    second = Running(system, relay, broker, group, table, "kp-a2")
    try:
        # the group settles with both members before anything is published
        wait_until(lambda: split(first, second), 40, "two members sharing the partitions")
        history(system, "KA1", 12)
        publish(system, relay)
        expected = expected_board(system)
        wait_until(lambda: board(system, table) == expected, 40, "the board to match wo_view")
        # each member built its own, disjoint share of the board
        total = sum(v for *_, v in expected.values())
        counted(first, second, total)
        assert split(first, second)
        assert first.projection.stats.applied > 0 and second.projection.stats.applied > 0
        assert first.projection.stats.applied + second.projection.stats.applied == total
        assert {s for _, _, s, _ in expected.values()} >= {"opened", "checked_in", "cancelled"}
        assert all(a == v for a, v in applications(system, table).values())
    finally:
        first.halt()
        second.halt()


# -- (b) one instance stops mid-way: the other takes over from the stored offsets ---------------

def test_a_stopped_instance_s_partitions_move_on_from_the_stored_offsets(
        system: Container, relay: KafkaRelay, broker: Broker) -> None:
    group, table = names("b")
    first = Running(system, relay, broker, group, table, "kp-b1")
    second = Running(system, relay, broker, group, table, "kp-b2")
    try:
        wait_until(lambda: split(first, second), 40, "two members sharing the partitions")
        earlier = history(system, "KB1", 8)
        publish(system, relay)
        handed_over = second.partitions
        expected = expected_board(system)
        wait_until(lambda: board(system, table) == expected, 40, "the board to match wo_view")
        counted(first, second, sum(v for *_, v in expected.values()))
        assert first.projection.stats.applied > 0 and second.projection.stats.applied > 0
        # the second stops (leaves the group); more history arrives
        second.halt()
        at_stop = stored_offsets(system, group)
        history(system, "KB1", 6, earlier)
        publish(system, relay)
        expected = expected_board(system)
        wait_until(lambda: first.partitions == set(range(PARTITIONS)), 40,
                   "the first member to take over every partition")
        wait_until(lambda: board(system, table) == expected, 40, "the board to match wo_view")
        # the first went on from the second's stored offsets: nothing was applied twice
        counted(first, second, sum(v for *_, v in expected.values()))
        assert first.projection.stats.repeats == 0 and second.projection.stats.repeats == 0
        assert first.projection.stats.applied + second.projection.stats.applied == sum(
            v for *_, v in expected.values())
        assert all(a == v for a, v in applications(system, table).values())
        # (a partition handed over before the second stored any offset for it has none at stop)
        after = stored_offsets(system, group)
        assert all(after.get(p, 0) >= at_stop.get(p, 0) for p in handed_over), (after, at_stop)
        assert first.projection.stats.rebalances >= 2
    finally:
        first.halt()
        if second.thread.is_alive():
            second.halt()


# -- (c) the same messages again change nothing -------------------------------------------------

def test_messages_fed_again_are_skipped_by_stream_version(
        system: Container, relay: KafkaRelay, broker: Broker) -> None:
    group, table = names("c")
    history(system, "KC1", 4)
    publish(system, relay)
    expected = expected_board(system)
    total = sum(v for *_, v in expected.values())
    first = Running(system, relay, broker, group, table, "kp-c1")
    try:
        wait_until(lambda: board(system, table) == expected, 40, "the board to match wo_view")
    finally:
        first.halt()
    before = board(system, table)
    ends = stored_offsets(system, group)
    assert sum(ends.values()) == total  # the topic holds each work-order event once
    # every stored offset back to the start: a new member reads everything again
    with system.pool.connection() as conn:
        conn.execute("UPDATE kafka_offsets SET next_offset = 0 WHERE consumer_group = %s",
                     (group,))
    again = Running(system, relay, broker, group, table, "kp-c2")
    try:
        wait_until(lambda: again.projection.stats.repeats >= total, 40,
                   "the member to read every message again")
        wait_until(lambda: stored_offsets(system, group) == ends, 10, "the offsets to catch up")
    finally:
        again.halt()
    assert again.projection.stats.applied == 0 and again.projection.stats.early == 0
    assert board(system, table) == before == expected
    assert all(a == v for a, v in applications(system, table).values())


# -- (d) the worker process ----------------------------------------------------------------------

def test_worker_kafka_projection_builds_the_board_and_stops_on_sigterm(
        system: Container, relay: KafkaRelay, broker: Broker, tmp_path: Path) -> None:
    history(system, "KD1", 3)
    publish(system, relay)
    expected = expected_board(system)
    group = f"group-d-{uuid.uuid4().hex[:8]}"
    port = free_port()
    env = {**worker_env(system, broker, tmp_path, port, relay.config.topic_prefix),
           "SERVICECORE_KAFKA_PROJECTION_GROUP": group}
    log = tmp_path / "kafka-projection.log"
    worker = start_worker("kafka-projection", env, log)
    try:
        wait_until(lambda: board(system, "kafka_work_order_board") == expected, 60,
                   "the worker's board to match wo_view")
        wait_until(lambda: answers(port, "/health"), 30, "/health")
        status, _, body = get(port, "/health")
        assert status == 200 and json.loads(body)["worker"] == "kafka-projection"
        text = get(port, "/metrics")[2]
        assert 'servicecore_kafka_projection_partitions{worker="kafka-projection"} 4' in text
        assert "servicecore_kafka_projection_applied_total" in text
        # every message read and its offset stored, whichever partitions the work orders of
        # this module hashed to (three alone may leave one empty, whose offset none stores)
        stored = stored_offsets(system, group)
        assert set(stored) <= set(range(PARTITIONS))
        assert sum(stored.values()) == sum(v for *_, v in expected.values())
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=45) == 0, log.read_text()[-3000:]
    finally:
        if worker.poll() is None:
            worker.kill()


def test_worker_kafka_projection_health_tells_while_a_record_cannot_be_applied(
        system: Container, broker: Broker, tmp_path: Path) -> None:
    from kafka import KafkaProducer

    # A topic of its own: the record that cannot be read stays out of the other tests' way.
    tag = uuid.uuid4().hex[:8]
    own = KafkaRelay(system.app, system.pool, RelayConfig(
        broker.bootstrap, topic_prefix=f"p{tag}.", partitions=PARTITIONS, linger_ms=5,
        position_name=f"relay-{tag}", delivery_timeout_ms=5000, max_backoff_seconds=1.0))
    own.ensure_topics()
    opened = history(system, "KH1", 3)
    publish(system, own)
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap)
    bad = producer.send(f"p{tag}.work-orders", key=b"x", value=b"not json",
                        partition=0).get(10).offset
    producer.close()
    port = free_port()
    env = {**worker_env(system, broker, tmp_path, port, f"p{tag}."),
           "SERVICECORE_KAFKA_PROJECTION_GROUP": f"group-h-{tag}"}
    log = tmp_path / "kafka-projection.log"
    worker = start_worker("kafka-projection", env, log)
    try:
        # The worker's loop keeps retrying the batch that holds the record; /health says so.
        def failing() -> bool:
            try:
                status, _, body = get(port, "/health")
            except OSError:
                return False
            return status == 503 and json.loads(body)["status"] == "failing"

        wait_until(failing, 60, "/health to report the kafka projection failing")
        health = json.loads(get(port, "/health")[2])
        assert any("kafka projection cannot apply" in r and "JSONDecodeError" in r
                   for r in health["reasons"]), health
        assert health["failing_since"] and "JSONDecodeError" in health["last_error"], health
        assert f"PoisonRecord: p{tag}.work-orders[0] stops at offset {bad}: JSONDecodeError" \
            in health["last_error"], health
        assert get(port, "/health/live")[0] == 200
        # Every record before it, and those of the other partitions, are applied all the same
        # (before: the batch that held it rolled back whole, every retry).
        latest = {str(w): v for w, v in expected_board(system).items()
                  if w in {str(o) for o in opened}}
        wait_until(lambda: {w: v for w, v in board(system, BOARD_TABLE).items()
                            if w in latest} == latest, 30, "the good records to be applied")
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=45) == 0, log.read_text()[-3000:]
    finally:
        if worker.poll() is None:
            worker.kill()


# -- (e) the broker goes away and comes back empty ----------------------------------------------

@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[Broker]:
    """A broker of the test's own: it is killed and restarted (empty) under the test."""
    with running_broker(tmp_path) as b:
        yield b


def own_relay(system: Container, broker: Broker, tag: str,
              make_topics: bool = True) -> KafkaRelay:
    r = KafkaRelay(system.app, system.pool, RelayConfig(
        broker.bootstrap, topic_prefix=f"{tag}.", partitions=PARTITIONS, linger_ms=5,
        position_name=f"relay-{tag}", delivery_timeout_ms=5000, max_backoff_seconds=1.0))
    if make_topics:
        r.ensure_topics()
    return r


def relay_until_done(relay: KafkaRelay, timeout: float = 60) -> None:
    """Relay to the head; a broker that restarted fails the first tries (its producer is
    gone with it): a new connection each time, as the relay's own loop does."""
    def done() -> bool:
        try:
            relay.catch_up()
        except Exception:  # noqa: BLE001 - the broker is still coming back
            relay.close()
            return False
        return True

    wait_until(done, timeout, "the relay to publish everything", interval=0.5)


def test_worker_kafka_projection_health_tells_while_the_broker_is_gone_and_clears_once_back(
        system: Container, own_broker: Broker, tmp_path: Path) -> None:
    tag = f"u{uuid.uuid4().hex[:8]}"
    relay = own_relay(system, own_broker, tag)
    opened = history(system, "KU1", 2)
    publish(system, relay)
    port = free_port()
    env = {**worker_env(system, own_broker, tmp_path, port, f"{tag}."),
           "SERVICECORE_KAFKA_PROJECTION_GROUP": f"group-u-{tag}",
           "SERVICECORE_KAFKA_PROJECTION_UNREACHABLE_SECONDS": "2"}
    log = tmp_path / "kafka-projection.log"
    worker = start_worker("kafka-projection", env, log)

    def health() -> tuple[int, dict[str, Any]]:
        try:
            status, _, body = get(port, "/health")
        except OSError:
            return 0, {}
        return status, json.loads(body)

    try:
        wait_until(lambda: {str(i) for i in opened} <= set(board(system, "kafka_work_order_board")),
                   60, "the worker to apply the work orders")
        wait_until(lambda: health()[0] == 200, 30, "/health to answer 200")
        # The broker dies. poll() only returns empty batches; /health must still tell.
        own_broker.kill()
        wait_until(lambda: health()[0] == 503, 60, "/health to report the broker gone")
        body = health()[1]
        assert body["status"] == "failing", body
        assert any("kafka projection" in r and "CoordinatorUnreachable" in r
                   and "no group coordinator reachable" in r for r in body["reasons"]), body
        assert body["failing_since"] and body["coordinator_lost_since"], body
        assert get(port, "/health/live")[0] == 200  # a restart of the process would not help
        metrics = get(port, "/metrics")[2]
        assert ('servicecore_kafka_projection_coordinator_reachable{worker="kafka-projection"} '
                '0.0') in metrics
        # The broker is back (empty): the coordinator answers again and /health clears.
        own_broker.start()
        wait_until(lambda: health()[0] == 200, 60, "/health to answer 200 again")
        body = health()[1]
        assert body["reasons"] == [] and body["failing_since"] is None, body
        assert body["last_error"], body  # what went wrong stays readable
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=45) == 0, log.read_text()[-3000:]
    finally:
        if worker.poll() is None:
            worker.kill()


@pytest.mark.parametrize("resent", [True, False], ids=["everything-again", "new-events-only"])
def test_after_the_broker_comes_back_empty_every_new_event_is_applied_once(
        system: Container, own_broker: Broker, resent: bool) -> None:
    tag = f"r{uuid.uuid4().hex[:8]}"
    relay = own_relay(system, own_broker, tag)
    group, table = names("r")
    earlier = history(system, "KR1", 6)
    publish(system, relay)
    # The relay sent everything again (as after a failure, without idempotence: tansu): the
    # topic holds every event twice, the stored offsets are twice the number of events.
    relay.close()
    set_position(system, relay.config.position_name, 0)
    publish(system, relay)
    expected = expected_board(system)
    total = sum(v for *_, v in expected.values())
    member = Running(system, relay, own_broker, group, table, "kp-r1")
    try:
        wait_until(lambda: board(system, table) == expected, 60, "the board to match wo_view")
        wait_until(lambda: sum(stored_offsets(system, group).values()) == 2 * total, 30,
                   "the member to read every record")
        assert member.projection.stats.replaced == 0
        # The broker restarts empty; the relay finds that it lost what it acknowledged and sends
        # every event again (once), then the new ones, for new and existing work orders: the
        # new log is shorter than the stored offsets, so they would be skipped.
        own_broker.restart()
        # (a member that joins again before the relay made the topics again is handed no
        # partitions by tansu; it starts a new consumer: see the test below)
        relay.ensure_topics()
        if not resent:
            # a relay that does not know what the broker acknowledged goes on from its
            # position: the new log holds the new events only
            with system.pool.connection() as conn:
                conn.execute("DELETE FROM kafka_relay_acked WHERE relay = %s",
                             (relay.config.position_name,))
            relay = KafkaRelay(system.app, system.pool, relay.config)
        history(system, "KR1", 2, earlier)
        relay_until_done(relay)
        assert (relay.stats.rewinds >= 1) == resent
        expected = expected_board(system)
        wait_until(lambda: board(system, table) == expected, 90,
                   "the board to hold every event published after the restart")
    finally:
        member.halt()
    # the partitions were read again from their beginning; nothing was applied twice
    assert member.projection.stats.replaced >= 1
    assert all(a == v for a, v in applications(system, table).values())


# -- (f) the broker hands out another assignment than the leader made -------------------------

@pytest.mark.parametrize("poll_ms", [200, 5], ids=["poll-200ms", "poll-5ms"])
def test_a_member_started_before_its_topic_exists_takes_the_partitions_once_it_is_made(
        system: Container, broker: Broker, poll_ms: int) -> None:
    """tansu hands a member that joins again with its member id the assignment of the group's
    first generation: none, made while the topic did not exist. The member, leading the group,
    sees that it was handed less than it assigned itself and joins again as a new member.

    With a poll shorter than the join's round trips (a loaded machine), the join that the new
    topic started completes after the poll gave up on it: kafka-python then never takes its
    assignment (`workers.kafka_resume.take_lost_join`)."""
    relay = own_relay(system, broker, f"l{uuid.uuid4().hex[:8]}", make_topics=False)
    group, table = names("l")
    member = Running(system, relay, broker, group, table, "kp-l1", metadata_max_age_ms=1000,
                     poll_timeout_ms=poll_ms)
    try:
        wait_until(lambda: member.projection.stats.rebalances >= 1, 40,
                   "the member to join its group (no topic yet: no partitions)")
        assert member.partitions == set()
        history(system, "KL1", 5)
        relay.ensure_topics()
        publish(system, relay)
        wait_until(lambda: member.partitions == set(range(PARTITIONS)), 60,
                   "the member to hold every partition of the topic made after it joined")
        expected = expected_board(system)
        mine = {k: v for k, v in expected.items() if v[1] == "KL1"}
        wait_until(lambda: {k: v for k, v in board(system, table).items()
                            if v[1] == "KL1"} == mine, 40, "the board to hold the new orders")
        assert member.projection.stats.reassigned >= 1
        assert all(a == v for a, v in applications(system, table).values())
    finally:
        member.halt()


def test_a_record_that_cannot_be_applied_stops_its_partition_alone_after_the_ones_before_it(
        system: Container) -> None:
    suffix = uuid.uuid4().hex[:8]
    projection = KafkaProjection(system.pool, KafkaProjectionConfig(
        "127.0.0.1:1", "t.work-orders", group_id=f"g-p{suffix}", board_table=f"kb_p{suffix}",
        offsets_table=f"ko_p{suffix}"))
    projection.ensure_tables()
    first, second = str(uuid4()), str(uuid4())

    def opened(wo_id: str, number: str, offset: int) -> SimpleNamespace:
        return SimpleNamespace(offset=offset, value=json.dumps({
            "stream_id": wo_id, "stream_version": 1, "type": "work_order.opened",
            "actor": {"store_id": "KP1"}, "payload": {"number": number}}).encode())

    p0, p1 = ("t.work-orders", 0), ("t.work-orders", 1)
    batch = {p0: [opened(first, "WO-P-1", 7), SimpleNamespace(offset=8, value=b"not json"),
                  opened(str(uuid4()), "WO-P-3", 9)],
             p1: [opened(second, "WO-P-2", 3)]}
    with pytest.raises(json.JSONDecodeError):
        projection.apply(batch)  # one transaction: nothing of the batch stays
    poison = projection._apply_apart(batch)
    assert poison is not None and (poison.partition, poison.offset) == (0, 8)
    assert str(poison).startswith("t.work-orders[0] stops at offset 8: JSONDecodeError")
    assert board(system, f"kb_p{suffix}") == {first: ("WO-P-1", "KP1", "opened", 1),
                                              second: ("WO-P-2", "KP1", "opened", 1)}
    assert projection.stored([p0, p1]) == {p0: Stored(8, (first, 1)), p1: Stored(4, (second, 1))}


def test_offsets_stored_before_events_were_kept_migrate_and_then_keep_the_last_event(
        system: Container) -> None:
    suffix = uuid.uuid4().hex[:8]
    offsets, table = f"koffsets_m_{suffix}", f"kboard_m_{suffix}"
    with system.pool.connection() as conn:
        # kafka_offsets as the projection made it before it kept the last event
        conn.execute(f"""CREATE TABLE {offsets} (
            consumer_group text NOT NULL, topic text NOT NULL, partition int NOT NULL,
            next_offset bigint NOT NULL, updated_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (consumer_group, topic, partition))""")
        conn.execute(f"INSERT INTO {offsets} (consumer_group, topic, partition, next_offset) "
                     "VALUES ('g-m', 't.work-orders', 0, 42)")
    projection = KafkaProjection(system.pool, KafkaProjectionConfig(
        "127.0.0.1:1", "t.work-orders", group_id="g-m", board_table=table,
        offsets_table=offsets))
    projection.ensure_tables()
    assert projection.stored([("t.work-orders", 0)]) == {("t.work-orders", 0): Stored(42)}
    wo_id = str(uuid4())
    value = json.dumps({"stream_id": wo_id, "stream_version": 1, "type": "work_order.opened",
                        "actor": {"store_id": "KM1"}, "payload": {"number": "WO-M-1"}}).encode()
    assert projection.apply({("t.work-orders", 0): [SimpleNamespace(offset=42, value=value)]}) == 1
    assert projection.stored([("t.work-orders", 0)]) == {
        ("t.work-orders", 0): Stored(43, (wo_id, 1))}
    assert board(system, table)[wo_id] == ("WO-M-1", "KM1", "opened", 1)


def test_a_member_that_lost_its_partition_mid_batch_never_takes_a_new_row_back(
        system: Container) -> None:
    """A member kicked out of its group while it applies a batch (a long pause: its session
    timed out) commits after the member that took its partition over. For a work order the
    board did not have yet, neither found a row to lock: the later commit must not put the
    row back to the older version it folded, or every later message of that work order would
    wait as `early` for good."""
    suffix = uuid.uuid4().hex[:8]
    config = KafkaProjectionConfig(
        "127.0.0.1:1", "t.work-orders", group_id=f"g-z{suffix}", board_table=f"kb_z{suffix}",
        offsets_table=f"ko_z{suffix}")
    zombie, owner = KafkaProjection(system.pool, config), KafkaProjection(system.pool, config)
    zombie.ensure_tables()
    wo_id, tp = str(uuid4()), ("t.work-orders", 0)

    def message(version: int) -> SimpleNamespace:
        kind = "work_order.opened" if version == 1 else "work_order.checked_in"
        return SimpleNamespace(offset=version - 1, value=json.dumps({
            "stream_id": wo_id, "stream_version": version, "type": kind,
            "actor": {"store_id": "KZ1"}, "payload": {"number": "WO-Z-1"}}).encode())

    write = zombie._write

    def late_write(conn: Any, rows: Any, **kwargs: Any) -> None:
        # the owner applies versions 1-3 and commits while the zombie's batch is open
        applier = threading.Thread(target=owner.apply, args=({tp: [message(v) for v in
                                                                   (1, 2, 3)]},))
        applier.start()
        applier.join(30)
        write(conn, rows, **kwargs)

    zombie._write = late_write  # type: ignore[method-assign]
    assert zombie.apply({tp: [message(1)]}) == 1
    assert board(system, config.board_table)[wo_id] == ("WO-Z-1", "KZ1", "checked_in", 3)
    # the owner goes on: version 4 is applied, not left waiting as early
    assert owner.apply({tp: [message(4)]}) == 1
    assert board(system, config.board_table)[wo_id][3] == 4
