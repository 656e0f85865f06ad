"""The Kafka relay's producer when it is dropped, or its network thread ends, with a produce
request in flight (tansu frozen with SIGSTOP, so the request stays unanswered).

kafka-python 2.3's network thread, force-closed with a request in flight, raised ValueError in
`abort_incomplete_batches` and ended without resolving the other batches or closing its
connections; `close()` then waited its whole timeout, raised and left the producer unclosed,
and its `__del__` on garbage collection waited another second and printed `KafkaTimeoutError`.
A live producer whose thread ended so left the relay waiting for sends nothing would resolve.
"""

from __future__ import annotations

import gc
import os
import signal
import sys
import threading
import uuid
from collections.abc import Iterator
from typing import Any, Self

import pytest

from servicecore.container import Container, build
from tests.conftest import settings_for
from tests.databases import scratch_database
from tests.integration.kafka_support import Applied, Broker, TopicReader, wait_until
from tests.integration.support import head
from tests.integration.test_relay import (  # noqa: F401
    broker,
    has_all,
    published,
    relay_for,
    service_visit,
)
from workers.relay import KafkaRelay, SendFailed


@pytest.fixture(scope="module")
def system(server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Container]:
    with scratch_database(server_url, "sc_relay_producer") as url:
        container = build(settings_for(url, tmp_path_factory.mktemp("relay-producer"),
                                       pool_size=3))
        yield container
        container.close()


class Uncaught:
    """Exceptions that end a thread, and those Python ignores in `__del__`, while it is on."""

    def __init__(self) -> None:
        self.threads: list[str] = []
        self.unraisable: list[str] = []

    def __enter__(self) -> Self:
        self._hooks = threading.excepthook, sys.unraisablehook
        threading.excepthook = lambda a: self.threads.append(
            f"{a.thread.name if a.thread else '?'}: {a.exc_type.__name__}: {a.exc_value}")
        sys.unraisablehook = lambda u: self.unraisable.append(
            f"{u.object!r}: {u.exc_type.__name__}: {u.exc_value}")
        return self

    def __exit__(self, *exc: object) -> None:
        threading.excepthook, sys.unraisablehook = self._hooks


def in_flight(producer: Any) -> int:
    """Produce requests sent and not answered (a test-only peek at the producer's client)."""
    return int(producer._sender._client.in_flight_request_count())


def frozen_with_a_request_in_flight(system: Container,
                                    tansu: Broker) -> tuple[KafkaRelay, int]:
    """A relay that published what came before; then, the broker frozen, a service visit
    handed to its producer, whose request waits for an answer. Returns the relay and the
    position it stored before the visit."""
    relay = relay_for(system, tansu, delivery_timeout_ms=120_000, max_backoff_seconds=1.0)
    service_visit(system, "PF" + uuid.uuid4().hex[:4].upper())
    relay.catch_up()
    before = relay.stored
    service_visit(system, "PF" + uuid.uuid4().hex[:4].upper())
    assert tansu.process is not None
    os.kill(tansu.process.pid, signal.SIGSTOP)
    assert relay.pump() > 0
    wait_until(lambda: in_flight(relay._producer) > 0, 10, "a produce request in flight")
    return relay, before


def everything_published(system: Container, tansu: Broker, relay: KafkaRelay) -> Applied:
    """After the broker thawed: the relay catches up, a consumer reads every event."""
    relay.restart_from_stored()
    relay.catch_up()
    assert relay.position() == head(system.app)
    expected = published(system)
    reader = TopicReader(tansu.bootstrap, relay.mapper.topics())
    applied = Applied()
    try:
        wait_until(lambda: (applied.feed(reader.poll(100)), has_all(applied, expected))[1], 60,
                   "the broker to hold every event")
    finally:
        reader.close()
    streams: dict[str, list[int]] = {}
    for _, stream, version, _ in expected:
        streams.setdefault(stream, []).append(version)
    assert applied.keys_ok
    assert {s: [e["stream_version"] for e in applied.events[s]] for s in streams} == streams
    return applied


def test_a_producer_dropped_with_a_request_in_flight_is_closed_its_thread_and_sends_ended(
        system: Container, broker: Broker) -> None:  # noqa: F811
    relay, before = frozen_with_a_request_in_flight(system, broker)
    producer = relay._producer
    thread = producer._sender
    futures = [p.future for p in relay._pending if p.future is not None]
    assert broker.process is not None
    try:
        with Uncaught() as uncaught:
            relay.restart_from_stored()  # drops the producer (as after any failure)
            assert relay.stored == before  # nothing was acknowledged
            # its network thread ended without an error, every send it held is resolved
            # (failed: never acknowledged), and it is closed: nothing is left for __del__
            wait_until(lambda: not thread.is_alive(), 10, "the thread to end")
            assert uncaught.threads == []
            assert all(f.is_done and f.failed() for f in futures)
            assert producer._closed
            del producer, futures
            gc.collect()
            assert uncaught.unraisable == []
    finally:
        os.kill(broker.process.pid, signal.SIGCONT)
    # the frozen request may still be written now: a repeat, skipped by stream version
    everything_published(system, broker, relay)
    relay.close()


def test_a_producer_whose_network_thread_ends_under_sends_is_dropped_and_all_sent_again(
        system: Container, broker: Broker) -> None:  # noqa: F811
    relay, before = frozen_with_a_request_in_flight(system, broker)
    sender = relay._producer._sender
    assert broker.process is not None
    try:
        with Uncaught() as uncaught:
            sender.force_close()  # the thread ends, as kafka-python's ends on its own errors
            wait_until(lambda: not sender.is_alive(), 10, "the thread to end")
    finally:
        os.kill(broker.process.pid, signal.SIGCONT)
    # the relay notices the next time it looks at its sends, not at the delivery timeout
    # (120 s here; kafka-python's thread would have expired them, and it has ended): it fails
    # them, keeps its position and counts it in its health details
    with pytest.raises(SendFailed, match="network thread ended"):
        relay.advance()
    assert relay.stored == before
    assert relay.details()["producer_deaths"] == 1
    assert uncaught.threads == []  # the thread ended on its own terms, every send resolved
    everything_published(system, broker, relay)
    relay.close()


def test_an_abort_for_a_fatal_error_with_a_request_in_flight_resolves_every_send(
        system: Container, broker: Broker) -> None:  # noqa: F811
    # an idempotent producer's fatal error (a fenced or out-of-sequence producer on Apache
    # Kafka; tansu refuses idempotence) makes its network thread abort the batches while it
    # runs, with the same method as a forced close: in kafka-python 2.3 it raised there on a
    # batch in flight, before resolving the others, on every turn of the thread's loop
    relay, before = frozen_with_a_request_in_flight(system, broker)
    producer = relay._producer
    futures = [p.future for p in relay._pending if p.future is not None]
    assert broker.process is not None
    try:
        producer._accumulator._abort_batches(RuntimeError("fatal"))  # the thread's own call
        assert all(f.is_done and f.failed() for f in futures)
        # nor is the aborted batch left among those the thread expires at the delivery timeout
        assert not any(producer._sender._in_flight_batches.values())
        with pytest.raises(SendFailed):
            relay.advance()
        assert relay.stored == before
    finally:
        os.kill(broker.process.pid, signal.SIGCONT)
    everything_published(system, broker, relay)
    relay.close()
