"""The whole system under load while its infrastructure fails, and what must hold afterwards.

`soak()` starts the real pieces on a database of its own: the API (uvicorn, real HTTP), the
projections (the group runner), the analytics loader and the Kafka relay to a real tansu
broker, all in one process under one supervisor as `serve` runs its loops; front desks drive
service visits (tests/integration/soak_desks.py) while the faults of
tests/integration/soak_faults.py are applied in turn, and it waits until every piece has
caught up. test_soak.py then checks what is promised (nothing lost, nothing doubled, every
view its rebuild, every loop healthy, every event on the broker); `bench/soak.py` runs the
same for longer.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import httpx
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from analytics.loader import AnalyticsLoader
from analytics.rebuild import rebuild as rebuild_analytics
from analytics.schema import TABLES
from api.main import create_app
from domain.integration_events import INTERNAL_STREAMS, stream_kind
from servicecore.container import Container, build, migrate
from servicecore.roles import DatabaseUrls
from servicecore.schema import COMMANDS_TABLE, EVENTS_TABLE
from tests.conftest import settings_for
from tests.databases import app_role_url, scratch_database
from tests.integration.kafka_support import Applied, Broker, TopicReader, wait_until
from tests.integration.soak_broker import lacking, route_of
from tests.integration.soak_desks import Desk, Ledger
from tests.integration.soak_faults import Faults
from tests.integration.tcp_proxy import TcpProxy
from tests.live_server import serving
from workers.projection_rebuild import rebuild

__all__ = ["rebuild", "rebuild_analytics", "route_of"]
from workers.relay import KafkaRelay, RelayConfig

SETTLE_SECONDS = 120.0  # for the system to catch up once the faults stop (outcomes, not timing)
# Short deadlines (defaults 120 s, 30 s, 10 s), so that a frozen connection costs seconds
LOOP_DEADLINE_SECONDS = 5.0  # SERVICECORE_DB_WAIT_DEADLINE_SECONDS: projections, relay, ...
REQUEST_DEADLINE_SECONDS = 3.0  # SERVICECORE_REQUEST_DB_DEADLINE_SECONDS: API requests
CONNECT_SECONDS = 4  # connect_timeout: a connection made while frozen fails, and is made again


class Follower:
    """A consumer reading along the relay's topics the whole time, across the broker's lives
    (told of each restart: a broker back empty starts its offsets at 0 again), applying each
    stream's versions once, in order, as `workers/relay_consumer.py` documents."""

    def __init__(self, bootstrap: str, topics: list[str]) -> None:
        self.reader = TopicReader(bootstrap, topics)
        self.applied = Applied()
        self.stop = threading.Event()
        self.restarted = threading.Event()
        self.thread = threading.Thread(target=self.run, name="follower", daemon=True)

    def run(self) -> None:
        while not self.stop.is_set():
            if self.restarted.is_set():
                self.restarted.clear()
                self.reader.reopen()
            self.applied.feed(self.reader.poll(100))

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=30)
        self.reader.close()


@dataclass
class Outcome:
    """What a soak did and saw, for the checks and for bench/soak.py's summary."""

    system: Container
    relay: KafkaRelay
    loader: AnalyticsLoader
    broker: Broker
    base_url: str
    ledger: Ledger
    faults: Faults
    follower: Follower
    seconds: float = 0.0
    health: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        attempts = [s for statuses in self.ledger.statuses.values() for s in statuses]
        return {"seconds": round(self.seconds, 1), "visits": self.ledger.visits,
                "commands": len(self.ledger.answers), "attempts": len(attempts),
                "retried": sum(1 for s in self.ledger.statuses.values() if len(s) > 1),
                "answers_503": attempts.count(503),
                "dropped_connections": sum(1 for s in attempts if isinstance(s, str)),
                "undecided_looked_up": len(self.ledger.looked_up),
                "faults": self.faults.applied, "backends_terminated": self.faults.terminated,
                "connections_frozen": self.faults.frozen,
                "head": head(self.system), "relay_rewinds": self.relay.stats.rewinds,
                "relay_retries": self.relay.stats.retries,
                "relay_producer_deaths": self.relay.stats.producer_deaths,
                "loop_restarts": {n: s["restarts"] for n, s in self.health["loops"].items()}}


def head(system: Container) -> int:
    return system.app.recorder.max_notification_id() or 0


@dataclass
class Rig:
    """The pieces a soak runs on: the database as its owner (for the faults), the system on
    the application's role, the proxy every connection of the system goes through, the
    broker."""

    owner_url: str
    system: Container
    proxy: TcpProxy
    broker: Broker


def through(proxy: TcpProxy, url: str) -> str:
    """`url` with its host and port the proxy's, and CONNECT_SECONDS to connect."""
    params = conninfo_to_dict(url)
    return make_conninfo(**{**params, "host": "127.0.0.1", "port": str(proxy.port),
                            "connect_timeout": str(CONNECT_SECONDS)})


def proxied(url: str) -> TcpProxy:
    params = conninfo_to_dict(url)
    host, port = str(params.get("host") or "127.0.0.1"), int(params.get("port") or 5432)
    return TcpProxy(os.path.join(host, f".s.PGSQL.{port}") if host.startswith("/")
                    else (host, port))


@contextmanager
def soak_rig(server_url: str, tmp: Path) -> Iterator[Rig]:
    """A database of its own (the faults end every connection to it), migrated as in
    production; the system built on it as the application's role, every connection through a
    freezable proxy, with short deadlines; a tansu broker."""
    with scratch_database(server_url, "sc_soak") as owner_url:
        app_url = app_role_url(owner_url)
        migrate(DatabaseUrls(owner=owner_url, app=app_url), settings_for(app_url, tmp / "m"))
        proxy = proxied(app_url)
        try:
            system = build(settings_for(
                through(proxy, app_url), tmp / "var", pool_size=6, projection_batch_size=50,
                db_wait_deadline_seconds=LOOP_DEADLINE_SECONDS,
                request_db_deadline_seconds=REQUEST_DEADLINE_SECONDS))
            broker = Broker(tmp)
            broker.start()
            try:
                yield Rig(owner_url, system, proxy, broker)
            finally:
                system.close()
                broker.kill()
        finally:
            proxy.stop()


def soak(rig: Rig, auth: Callable[..., dict[str, str]], *, desks: int = 3, rounds: int = 1,
         gap: float = 1.5) -> Outcome:
    """Load and faults for `rounds` times the fault schedule; then wait (bounded) until every
    piece has caught up. The system is left running for the checks."""
    system, broker = rig.system, rig.broker
    relay = KafkaRelay(system.app, system.pool, RelayConfig(
        broker.bootstrap, topic_prefix=f"soak{uuid.uuid4().hex[:6]}.", partitions=3,
        linger_ms=5, delivery_timeout_ms=5000, max_backoff_seconds=1.0))
    system.start_projections()
    loader = system.start_analytics()
    assert system.supervisor is not None
    system.supervisor.start("kafka-relay", relay.run)
    follower = Follower(broker.bootstrap, relay.mapper.topics())
    faults = Faults(rig.owner_url, broker, rig.proxy, broker_lives=[follower.restarted.set])
    ledger, stop = Ledger(), threading.Event()
    started = time.monotonic()
    with serving(create_app(system.api_context())) as base_url:
        outcome = Outcome(system, relay, loader, broker, base_url, ledger, faults, follower)
        follower.thread.start()
        staff = [Desk(base_url, auth, f"SK{n}{uuid.uuid4().hex[:4].upper()}", ledger, stop)
                 for n in range(desks)]
        for desk in staff:
            desk.thread.start()
        try:
            faults.run(rounds, gap, stop)
            stop.wait(gap)  # load on a system that had no fault for a while too
        finally:
            stop.set()
            for desk in staff:
                desk.thread.join(timeout=120)
        settle(outcome)
        outcome.seconds = time.monotonic() - started
        return outcome


def settle(outcome: Outcome) -> None:
    """Every piece at the head of the log and /health saying ok (bounded: a piece that never
    catches up fails the soak here)."""
    system, relay = outcome.system, outcome.relay
    final = head(system)

    seen: dict[str, Any] = {}

    def caught_up() -> bool:
        with system.pool.connection() as conn:
            positions: dict[str, int] = dict(conn.execute("SELECT name, position FROM projection_positions")
                             .fetchall())
        with loaded(outcome.loader) as cur:
            row = cur.execute("SELECT position FROM analytics_position").fetchone()
        analytics = int(row[0]) if row else 0
        seen.update(views={v.name: positions.get(v.name, 0) for v in system.views},
                    relay=relay.stored, analytics=analytics)
        return (all(p >= final for p in seen["views"].values())
                and relay.stored >= final and seen["analytics"] >= final)

    try:
        wait_until(caught_up, SETTLE_SECONDS, "every projection, the relay and the analytics "
                   "loader to reach the head of the log", 0.2)
    except AssertionError as exc:
        behind = {n: p for n, p in seen.get("views", {}).items() if p < final}
        raise AssertionError(f"{exc}: head {final}, views behind {behind}, relay "
                             f"{seen.get('relay')}, analytics {seen.get('analytics')}, loops "
                             f"{system.loop_states()}") from None

    def healthy() -> bool:
        answer = httpx.get(outcome.base_url + "/health", timeout=10)
        outcome.health = answer.json()
        return answer.status_code == 200 and all(
            s["state"] in ("running", "idle") for s in outcome.health["loops"].values())

    wait_until(healthy, SETTLE_SECONDS, "/health to answer 200 with every loop running", 0.2)


def published(system: Container) -> list[tuple[int, str, int, str]]:
    """(notification id, stream id, version, stream kind) of every event the relay publishes."""
    rows, start = [], 1
    while batch := system.app.recorder.select_notifications(start=start, limit=1000):
        for n in batch:
            kind = stream_kind(n.topic)[0]
            if kind not in INTERNAL_STREAMS:
                rows.append((n.id, str(n.originator_id), n.originator_version, kind))
        start = batch[-1].id + 1
    return rows


def saves_by_key(system: Container) -> dict[str, set[str]]:
    """Per Idempotency-Key, the saves (command ids of the registry) holding its events."""
    found: dict[str, set[str]] = defaultdict(set)
    with system.pool.connection() as conn:
        for key, command in conn.execute(
                "SELECT e.key, c.command_id::text FROM (SELECT notification_id, substring("
                "convert_from(state, 'UTF8') from '\"idempotency_key\":\"([^\"]*)\"') AS key "
                f"FROM {EVENTS_TABLE}) AS e JOIN (SELECT command_id, unnest(notification_ids) "
                f"AS id FROM {COMMANDS_TABLE}) AS c ON c.id = e.notification_id "
                "WHERE e.key IS NOT NULL"):
            found[key].add(command)
    return found


def view_rows(system: Container) -> dict[str, list[str]]:
    rows: dict[str, list[str]] = {}
    with system.pool.connection() as conn:
        for view in system.views:
            for table in view.tables:
                rows[table] = sorted(str(r) for r in conn.execute(f"SELECT * FROM {table}"))
    return rows


@contextmanager
def loaded(loader: AnalyticsLoader) -> Iterator[duckdb.DuckDBPyConnection]:
    """A cursor on the running loader's DuckDB file, between two of its batches (its own
    connection is its thread's: a call from another thread while it works is refused)."""
    with loader.lock:
        cur = loader.conn.cursor()
        try:
            yield cur
        finally:
            cur.close()


def duck_rows(conn: duckdb.DuckDBPyConnection) -> dict[str, list[tuple[Any, ...]]]:
    return {t.name: conn.execute(f"SELECT * FROM {t.name} ORDER BY ALL").fetchall()
            for t in TABLES}


def broker_holds(outcome: Outcome, expected: list[tuple[int, str, int, str]],
                 timeout: float = 60.0) -> list[Any]:
    """A fresh consumer on the broker's present life reads until it holds every event."""
    reader = TopicReader(outcome.broker.bootstrap, outcome.relay.mapper.topics())
    applied = Applied()
    try:
        def holds() -> bool:
            applied.feed(reader.poll(200))
            return all(applied.gate.applied.get(s, 0) >= v for _, s, v, _ in expected)

        try:
            wait_until(holds, timeout, "the broker to hold every published event")
        except AssertionError as exc:
            raise AssertionError(f"{exc}:\n{lacking(outcome.relay, expected, reader, applied)}"
                                 ) from None
        return list(reader.records)
    finally:
        reader.close()


def decode(record: Any) -> dict[str, Any]:
    return json.loads(record.value)  # type: ignore[no-any-return]
