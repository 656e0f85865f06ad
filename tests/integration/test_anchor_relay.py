"""The chain's anchors on Kafka (workers/anchor_relay.py), against a real Kafka-protocol broker
(tansu, memory storage): the relay publishes every anchor in id order, a re-send repeats
anchors that `anchor_id` tells apart, a broker that comes back empty gets them all again, and
`audit verify --witness-topic` names a chain rewritten behind them. These tests tamper, so
they run on a database of their own.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from projections import chain_witness
from projections.hash_chain import ANCHORS_TABLE, anchor
from servicecore import cli
from servicecore.container import Container, build
from tests.conftest import settings_for
from tests.databases import scratch_database
from tests.integration.kafka_support import Broker, TopicReader, running_broker, wait_until
from tests.integration.support import open_order
from tests.integration.test_chain_witness import _rewrite_from
from tests.integration.test_event_log_integrity import _open, opened_with_mileage
from workers.anchor_relay import read_topic
from workers.relay import KafkaRelay, RelayConfig


@pytest.fixture
def scratch(server_url: str, tmp_path: Path) -> Iterator[tuple[Container, str]]:
    with scratch_database(server_url, "sc_anchor_relay") as url:
        system = build(settings_for(url, tmp_path, pool_size=3))
        try:
            yield system, url
        finally:
            system.close()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    with running_broker(tmp_path) as b:
        yield b


def _relay(system: Container, broker: Broker, **overrides: Any) -> KafkaRelay:
    tag = uuid.uuid4().hex[:8]
    return KafkaRelay(system.app, system.pool, RelayConfig(broker.bootstrap, **{
        "topic_prefix": f"t{tag}.", "partitions": 3, "linger_ms": 5,
        "position_name": f"relay-{tag}", "delivery_timeout_ms": 5000,
        "max_backoff_seconds": 1.0, **overrides}))


def _recorded(url: str) -> list[tuple[int, str]]:
    with psycopg.connect(url) as conn:
        return [(int(a), f"{int(n)}:{bytes(h).hex()}") for a, n, h in conn.execute(
            f"SELECT anchor_id, notification_id, hash FROM {ANCHORS_TABLE} ORDER BY anchor_id")]


def _cli(url: str, relay: KafkaRelay, *args: str, capsys: pytest.CaptureFixture[str],
         monkeypatch: pytest.MonkeyPatch) -> tuple[int, list[str]]:
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", relay.config.bootstrap_servers)
    monkeypatch.setenv("SERVICECORE_KAFKA_TOPIC_PREFIX", relay.config.topic_prefix)
    code = cli.main(["audit", *args])
    return code, capsys.readouterr().out.strip().splitlines()


def test_every_anchor_is_published_in_order_and_the_topic_verifies_the_chain(
        scratch: tuple[Container, str], broker: Broker, tmp_path: Path,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    system, url = scratch
    # Three anchors over a day's work: a day-end close among them.
    _open(system, 28720)
    with psycopg.connect(url, autocommit=True) as conn:
        chain_witness.witness(conn, None, "noon")
        open_order(system.work_orders, "S01")
        chain_witness.witness(conn, None, "day-end S01 2026-12-04 csh-1")
        open_order(system.work_orders, "S01")
        chain_witness.witness(conn, None, "periodic")
    recorded = _recorded(url)
    relay = _relay(system, broker)
    relay.catch_up()
    topic = relay.anchors.topic
    assert [(a["anchor_id"], a["anchor"]) for a in read_topic(broker.bootstrap, topic)
            ] == recorded
    assert relay.anchors.stored == recorded[-1][0]

    # The acknowledgements were lost before the position was stored: the relay sends them
    # again. The topic repeats them, in order, and `anchor_id` tells the repeats apart.
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("UPDATE projection_positions SET position = 0 WHERE name = %s",
                     (relay.anchors.position_name,))
    relay.restart_from_stored()
    relay.catch_up()
    reader = TopicReader(broker.bootstrap, [topic])
    try:
        wait_until(lambda: (reader.poll(100), len(reader.records) >= 6)[1], 30, "six records")
    finally:
        reader.close()
    assert [json.loads(r.value)["anchor_id"] for r in reader.records] == [
        a for a, _ in recorded] * 2
    assert len({r.partition for r in reader.records}) == 1
    assert [a["anchor"] for a in read_topic(broker.bootstrap, topic)] == [
        a for _, a in recorded]
    shown = {s.name: s.value for s in relay.samples()}
    assert shown["servicecore_relay_anchors_sent_total"] == 6
    assert shown["servicecore_relay_anchor_position"] == recorded[-1][0]

    # The auditor verifies against the topic, and keeps a witness file made from it.
    monkeypatch.setenv("SERVICECORE_WITNESS_PATH", str(tmp_path / "none.jsonl"))
    code, out = _cli(url, relay, "verify", "--quiet", "--witness-topic", capsys=capsys,
                     monkeypatch=monkeypatch)
    answer = json.loads(out[-1])
    assert (code, answer["witness_topic_anchors"], answer["anchors_checked"]) == (0, 3, 3)
    code, out = _cli(url, relay, "witness-topic", capsys=capsys, monkeypatch=monkeypatch)
    kept = tmp_path / "from-kafka.jsonl"
    kept.write_text("\n".join(out) + "\n")
    assert code == 0 and [f"{a.notification_id}:{a.hash}" for a in chain_witness.read(kept)
                          ] == [a for _, a in recorded]

    # The owner rewrites an event, every later link and the anchors table: the database
    # checks out on its own, the anchors on Kafka name the break.
    _rewrite_from(url, opened_with_mileage(url, 28720))
    code, out = _cli(url, relay, "verify", "--quiet", capsys=capsys, monkeypatch=monkeypatch)
    assert code == 0 and "witness_topic_anchors" not in json.loads(out[-1])
    code, out = _cli(url, relay, "verify", "--quiet", "--witness-topic", capsys=capsys,
                     monkeypatch=monkeypatch)
    answer = json.loads(out[-1])
    assert code == 1 and answer["first_break"]["reason"] == "anchor differs"
    assert answer["first_break"]["notification_id"] == int(recorded[0][1].split(":")[0])


def test_a_broker_that_comes_back_empty_gets_every_anchor_again(
        scratch: tuple[Container, str], broker: Broker) -> None:
    system, url = scratch
    relay = _relay(system, broker, verify_seconds=1.0)
    stop = threading.Event()
    thread = threading.Thread(target=relay.run, args=(stop, url), daemon=True)
    thread.start()
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            for note in ("first", "second"):
                open_order(system.work_orders, "S01")
                chain_witness.witness(conn, None, note)
        recorded = _recorded(url)
        wait_until(lambda: relay.anchors.stored == recorded[-1][0], 30,
                   "the relay to publish the anchors")
        # the broker restarts empty while the relay is idle: its idle check finds the loss
        broker.restart()
        with psycopg.connect(url, autocommit=True) as conn:
            open_order(system.work_orders, "S01")
            chain_witness.witness(conn, None, "after the restart")
        recorded = _recorded(url)

        def all_there() -> bool:
            try:
                return [(a["anchor_id"], a["anchor"]) for a in read_topic(
                    broker.bootstrap, relay.anchors.topic, timeout=5)] == recorded
            except (LookupError, TimeoutError):
                return False

        wait_until(all_there, 60, "every anchor on the restarted broker", interval=0.5)
    finally:
        stop.set()
        thread.join(timeout=20)
    assert relay.anchors.rewinds >= 1 and relay.anchors.stored == recorded[-1][0]


def test_two_different_anchors_under_one_id_on_the_topic_are_refused(
        scratch: tuple[Container, str], broker: Broker, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    from kafka import KafkaProducer

    system, url = scratch
    relay = _relay(system, broker)
    relay.ensure_topics()
    # someone else writes to the topic: anchor 1 again, with another head
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap)
    for digest in ("ab", "cd"):
        producer.send(relay.anchors.topic, key=b"chain", value=json.dumps(
            {"anchor_id": 1, "anchor": f"5:{digest * 32}"}).encode()).get(timeout=30)
    producer.close()
    with pytest.raises(ValueError, match="anchor id 1 is 5:cdcd"):
        read_topic(broker.bootstrap, relay.anchors.topic)
    for args in (["verify", "--quiet", "--witness-topic"], ["witness-topic"]):
        monkeypatch.setenv("DATABASE_URL", url)
        monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", broker.bootstrap)
        monkeypatch.setenv("SERVICECORE_KAFKA_TOPIC_PREFIX", relay.config.topic_prefix)
        assert cli.main(["audit", *args]) == 2
        captured = capsys.readouterr()
        assert "anchor id 1 is 5:cdcd" in captured.err and not captured.out


def test_a_backlog_of_anchors_holds_neither_the_events_nor_a_stop(
        scratch: tuple[Container, str], broker: Broker) -> None:
    """Years of anchors when the relay is first turned on (or all of them again for a broker
    that came back empty) go out a little at a time: a visit opened meanwhile is on its topic
    long before the last anchor, and the relay stops when asked."""
    system, url = scratch
    open_order(system.work_orders, "S01")
    with psycopg.connect(url, autocommit=True) as conn:
        for n in range(2000):  # one at a time they take 8 ms each: 16 s
            anchor(conn, f"backlog {n}", "bench")
    relay = _relay(system, broker)
    stop = threading.Event()
    thread = threading.Thread(target=relay.run, args=(stop, url), daemon=True)
    thread.start()
    try:
        wait_until(lambda: relay.anchors.stored > 0, 30, "the first anchors on the topic")
        opened = open_order(system.work_orders, "S01")
        head = system.app.recorder.max_notification_id()
        wait_until(lambda: relay.stored >= head, 8, f"the visit {opened['number']} published")
        assert relay.anchors.stored < 2000
    finally:
        stop.set()
        thread.join(timeout=8)
    assert not thread.is_alive(), "the relay did not stop"


def test_a_topic_of_many_anchors_is_read_to_its_end_however_long_that_takes(
        broker: Broker) -> None:
    """`timeout` is how long the reader waits for a record, not for the whole topic: years of
    anchors (some 11,000 read a second) are read to the end."""
    from kafka import KafkaProducer
    from kafka.admin import KafkaAdminClient, NewTopic

    topic, count = f"anchors-{uuid.uuid4().hex[:8]}", 30_000
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    admin.create_topics([NewTopic(topic, 1, 1)])
    admin.close()
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, linger_ms=20)
    for n in range(1, count + 1):
        producer.send(topic, key=b"anchors", value=json.dumps({
            "anchor_id": n, "anchor": f"{n}:{'ab' * 32}", "notification_id": n,
            "hash": "ab" * 32, "anchored_at": "2026-12-05T00:00:00+00:00",
            "anchored_by": "servicecore", "note": "volume"}).encode())
    producer.flush()
    producer.close()
    found = read_topic(broker.bootstrap, topic, timeout=1.0)
    assert [a["anchor_id"] for a in found] == list(range(1, count + 1))


def test_an_anchor_the_relay_was_made_to_pass_over_is_named(
        scratch: tuple[Container, str], broker: Broker, tmp_path: Path,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """The application's role owns the relay's position: moved on past an anchor, the anchor
    never reaches the topic. `audit verify --witness-topic` names the ids the database
    recorded between the topic's first and last that the topic lacks."""
    system, url = scratch
    relay = _relay(system, broker)
    with psycopg.connect(url, autocommit=True) as conn:
        for note in ("noon", "day-end S01 2026-12-04 csh-1", "periodic"):
            open_order(system.work_orders, "S01")
            chain_witness.witness(conn, None, note)
            if note == "noon":
                relay.catch_up()
            elif note.startswith("day-end"):  # moved on past the close's anchor
                conn.execute("UPDATE projection_positions SET position = position + 1 "
                             "WHERE name = %s", (relay.anchors.position_name,))
                relay.restart_from_stored()
    relay.catch_up()
    recorded = _recorded(url)
    assert [a["anchor_id"] for a in read_topic(broker.bootstrap, relay.anchors.topic)] == [
        recorded[0][0], recorded[2][0]]

    monkeypatch.setenv("SERVICECORE_WITNESS_PATH", str(tmp_path / "none.jsonl"))
    code, out = _cli(url, relay, "verify", "--quiet", "--witness-topic", capsys=capsys,
                     monkeypatch=monkeypatch)
    answer = json.loads(out[-1])
    assert (code, answer["witness_topic_anchors"], answer["witness_topic_skipped"]) == (0, 2, 1)
    assert cli.main(["audit", "verify", "--quiet", "--witness-topic"]) == 0  # env set above
    assert (f"the topic lacks 1 anchor(s) the database recorded between its first and its "
            f"last (anchor ids {recorded[1][0]}): passed over by the relay"
            ) in capsys.readouterr().err
