"""The Kafka relay's side of the broker: its settings, topics, producer, the consumer that asks
for end offsets, and the checks that tell a dropped connection or a broker that lost records
from a slow broker.
"""

from __future__ import annotations

import logging
import socket
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from domain.message_size import MAX_MESSAGE_BYTES
from workers.relay_offsets import Partition

log = logging.getLogger(__name__)
POSITION_NAME = "kafka-relay"
# What a record batch of one message adds to its key, value and headers (a batch header of 61
# bytes, the record's lengths and attributes as varints), with room to spare.
RECORD_ROOM = 1024


@dataclass(frozen=True)
class RelayConfig:
    bootstrap_servers: str
    topic_prefix: str = "servicecore."
    partitions: int = 6
    replication_factor: int = 1
    idempotence: str = "auto"  # auto | on | off
    linger_ms: int = 20
    batch_bytes: int = 512 * 1024
    select_limit: int = 1000
    max_unacked: int = 20_000
    delivery_timeout_ms: int = 30_000
    max_backoff_seconds: float = 30.0
    stall_seconds: float = 2.0  # sends without progress for this long: check the broker
    verify_seconds: float = 5.0  # while idle: does the broker still hold what it acknowledged?
    compression_type: str | None = None
    max_message_bytes: int = MAX_MESSAGE_BYTES  # key + value + headers; larger: not sent
    position_name: str = POSITION_NAME
    # a wait on PostgreSQL longer than this has its connection cut (servicecore/deadline.py)
    deadline_seconds: float = 0.0


def ensure_topics(config: RelayConfig, topics: Iterable[str]) -> None:
    from kafka.admin import KafkaAdminClient, NewTopic
    from kafka.errors import TopicAlreadyExistsError

    admin = KafkaAdminClient(bootstrap_servers=config.bootstrap_servers,
                             client_id="servicecore-relay-admin", request_timeout_ms=10_000)
    largest = {"max.message.bytes": str(config.max_message_bytes + RECORD_ROOM)}
    try:
        for topic in topics:
            try:
                admin.create_topics([NewTopic(topic, config.partitions, config.replication_factor,
                                              topic_configs=largest)])
            except TopicAlreadyExistsError:
                pass
    finally:
        admin.close()


def producer_options(config: RelayConfig, idempotent: bool) -> dict[str, Any]:
    """acks=all, one request in flight (per-partition order), topics never auto-created (a
    broker's default partition count is not ours). Idempotent: kafka-python retries inside
    the producer (the broker drops duplicates). Not idempotent: no retries inside the producer;
    the relay's own restart from its stored position is the retry, so a broker that lost
    acknowledged records (a restart) gets them again."""
    c = config
    options: dict[str, Any] = {
        "bootstrap_servers": c.bootstrap_servers, "client_id": "servicecore-relay",
        "acks": "all", "enable_idempotence": idempotent,
        "max_in_flight_requests_per_connection": 1, "linger_ms": c.linger_ms,
        "batch_size": c.batch_bytes, "allow_auto_create_topics": False,
        "compression_type": c.compression_type, "delivery_timeout_ms": c.delivery_timeout_ms,
        "request_timeout_ms": max(1000, min(30_000, c.delivery_timeout_ms - c.linger_ms - 1)),
        "max_block_ms": 10_000, "reconnect_backoff_max_ms": 1_000,
        "max_request_size": c.max_message_bytes + RECORD_ROOM,
    }
    if not idempotent:
        options["retries"] = 0
    return options


def fetch_options(max_message_bytes: int) -> dict[str, int]:
    """A consumer's fetch sizes that take the relay's largest message whole: per partition,
    per fetch, and the response's frame, which kafka-python refuses over 1,000,000 bytes by
    default (a fetch that held a 2 MB message failed with InvalidReceiveError)."""
    largest = max_message_bytes + RECORD_ROOM
    return {"max_partition_fetch_bytes": largest, "fetch_max_bytes": largest,
            "receive_message_max_bytes": largest + 1024 * 1024}


def new_checker(config: RelayConfig) -> Any:
    """A consumer without a group that only asks for end offsets (bounded waits)."""
    from kafka import KafkaConsumer

    return KafkaConsumer(bootstrap_servers=config.bootstrap_servers,
                         client_id="servicecore-relay-check", group_id=None,
                         enable_auto_commit=False, allow_auto_create_topics=False,
                         request_timeout_ms=5_000, reconnect_backoff_max_ms=1_000)


class TopicGone(Exception):
    """The broker's metadata no longer has a topic the relay writes to (deleted, a broker that
    came back empty, or for a moment during a leader election): reconnect and check."""


def known_partitions(producer: Any, topic: str) -> set[int]:
    """The partitions of `topic` in the producer's metadata, without waiting (the relay asks
    for every topic once when it connects, so an unknown topic is one the broker dropped)."""
    metadata = getattr(producer, "_metadata", None)
    partitions = (metadata.partitions_for_topic(topic) if metadata is not None
                  else producer.partitions_for(topic))
    if partitions is None:
        raise TopicGone(f"the broker does not know topic {topic} any more")
    return set(partitions)


def held_offsets(producer: Any, checker: Any,
                 partitions: Iterable[Partition]) -> dict[Partition, int]:
    """The broker's log end offset of each partition; a partition its topic does not have
    (re-created with fewer partitions) is left out. Raises when the broker does not answer
    in time or no longer knows a topic."""
    from kafka import TopicPartition

    wanted = sorted(set(partitions))
    existing = {t: known_partitions(producer, t) for t in {t for t, _ in wanted}}
    asked = [TopicPartition(t, p) for t, p in wanted if p in existing[t]]
    ends = checker.end_offsets(asked) if asked else {}
    return {(tp.topic, tp.partition): int(end) for tp, end in ends.items()}


def batch_offset(future: Any, offset: int) -> int:
    """The first offset of an acknowledged record's batch (kafka-python keeps the batch's
    result on the record's future); the record's own offset when it cannot tell."""
    value = getattr(getattr(future, "_produce_future", None), "value", None)
    if isinstance(value, tuple) and value and isinstance(value[0], int) and 0 <= value[0] <= offset:
        return value[0]
    return offset


def broker_answers(bootstrap_servers: str, timeout: float = 0.5) -> bool:
    """Does any bootstrap server accept a TCP connection?"""
    for server in bootstrap_servers.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            with socket.create_connection((host.strip("[]") or "localhost", int(port)), timeout):
                return True
        except (OSError, ValueError):
            continue
    return False


def wait_for_broker(stop: threading.Event, seconds: float, bootstrap_servers: str) -> None:
    """The relay's backoff: `seconds`, or until `stop`; a broker that did not answer ends it
    early as soon as it answers again."""
    deadline = time.monotonic() + seconds
    if broker_answers(bootstrap_servers):
        stop.wait(seconds)
        return
    log.info("kafka relay: the broker does not answer; retrying as soon as it does")
    while not stop.is_set() and time.monotonic() < deadline:
        if broker_answers(bootstrap_servers):
            log.info("kafka relay: the broker answers again")
            return
        stop.wait(min(0.25, max(0.0, deadline - time.monotonic())))


def producer_id_refused(producer: Any) -> bool:
    """Did the broker refuse the idempotent producer an id (InitProducerId failed)?"""
    manager = getattr(producer, "_transaction_manager", None)
    if manager is None:
        return False
    try:
        return bool(manager.has_fatal_error()) and not manager.has_producer_id()
    except Exception:  # noqa: BLE001 - a private API of kafka-python; assume not
        return False


def fail_fast_on_dropped_connections(producer: Any) -> bool:
    """kafka-python 2.3: when a produce request fails on the client side (the connection
    dropped, the request timed out) and the batch has no retries left, its sender hands an
    exception *instance* to code that calls it like a class; the `TypeError` is swallowed by
    the errback and the batch stays unresolved until the delivery timeout. Replace that errback
    on this producer's sender so such batches fail at once with the connection error (3.x
    does the same). Returns whether it applied (not on other versions)."""
    import kafka

    sender: Any = getattr(producer, "_sender", None)
    module = sys.modules.get(type(sender).__module__) if sender is not None else None
    response = getattr(module, "PartitionResponse", None)
    if (response is None or not hasattr(sender, "_failed_produce")
            or not hasattr(sender, "_complete_batch")
            or not str(getattr(kafka, "__version__", "")).startswith("2.3")):
        return False

    def failed_produce(batches: list[Any], node_id: int, error: BaseException) -> None:
        log.debug("produce request to node %s failed: %r", node_id, error)
        kind = error if isinstance(error, type) else type(error)
        for batch in batches:
            sender._complete_batch(batch, response(error=kind, error_message=str(error)))

    sender._failed_produce = failed_produce
    return True


def abort_drained_batches_on_close(producer: Any) -> bool:
    """kafka-python 2.3: a force-closed producer's network thread aborts its unfinished batches
    with `RecordAccumulator._abort_batches`, which takes each out of its partition's queue and
    raises ValueError for one already drained into a request in flight (the same happens on a
    fatal error of an idempotent producer). The thread ends there: the other batches are never
    resolved and its connections never closed, so `close()` waits its whole timeout in flush,
    raises `KafkaTimeoutError` and leaves the producer unclosed, and on garbage collection its
    `__del__` waits another second (in whatever thread collects it) and prints the same error.
    The relay force-closes whenever it drops a producer (a database fault while sends are in
    flight, a stuck broker). Replace that method on this producer's accumulator with one that
    aborts a drained batch as well (as kafka-python's own repository has since). Returns
    whether it applied (not on other versions)."""
    import kafka

    accumulator: Any = getattr(producer, "_accumulator", None)
    if (accumulator is None or not hasattr(accumulator, "_abort_batches")
            or not hasattr(accumulator, "_incomplete") or not hasattr(accumulator, "_tp_lock")
            or not str(getattr(kafka, "__version__", "")).startswith("2.3")):
        return False

    forget_in_flight = getattr(getattr(producer, "_sender", None),
                               "_maybe_remove_from_inflight_batches", None)

    def abort_batches(error: BaseException) -> None:
        for batch in accumulator._incomplete.all():
            tp = batch.topic_partition
            with accumulator._tp_lock(tp):
                batch.records.close()
                queued = accumulator._batches.get(tp)
                if queued is not None and batch in queued:
                    queued.remove(batch)  # not drained yet; a drained one is in flight
            if batch.final_state is None:
                batch.abort(error)
            if forget_in_flight is not None:  # else its delivery timeout finds it aborted
                forget_in_flight(batch)
            accumulator.deallocate(batch)

    accumulator._abort_batches = abort_batches
    return True


def sender_alive(producer: Any) -> bool:
    """Does the producer's network thread still run (it sends and resolves every future)?"""
    sender = getattr(producer, "_sender", None)
    return sender is None or not hasattr(sender, "is_alive") or bool(sender.is_alive())


def close_producer(producer: Any, timeout: float) -> bool:
    """Close at once: what it still holds fails instead of being sent. kafka-python's
    close(timeout=0) raises in its flush and leaves the sender thread running (it would go on
    sending to a broker that came back), so the sender is stopped first; every batch it holds,
    in flight or not, is aborted (`abort_drained_batches_on_close`), so the close returns once
    the thread has ended, within `timeout`. Returns whether the producer is closed (its thread
    ended); one that is not is logged: kafka-python would try again when it is collected."""
    sender = getattr(producer, "_sender", None)
    try:
        if sender is not None and hasattr(sender, "force_close"):
            sender.force_close()
        producer.close(timeout=timeout)
    except Exception:
        log.debug("closing the producer failed", exc_info=True)
    closed = bool(getattr(producer, "_closed", True)) and (sender is None
                                                           or not sender_alive(producer))
    if not closed:
        log.warning("kafka relay: a dropped producer did not close within %.1f s", timeout)
    return closed
