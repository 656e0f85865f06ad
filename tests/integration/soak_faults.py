"""The soak's faults: what an operator, a network or a crash does to the infrastructure under
load. Each is a plain function of a `Faults` (the database as its owner, the broker), applied
in a fixed order so that every run meets every kind. This module holds no tests itself.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from servicecore.schema import APPEND_LOCK, EVENTS_TABLE
from tests.integration.kafka_support import Broker
from tests.integration.tcp_proxy import TcpProxy

FAULTS = "soak-faults"  # the faults' own connections, never terminated by them
PAUSE_SECONDS = 2.5  # how long the database is held still (a table or the append lock)
OUTAGE_SECONDS = 6.0  # longer than the pool waits for a connection (5 s): clients get 503s
FREEZE_SECONDS = 7.0  # longer than every deadline of the soak's system (requests, loops, connect)


@dataclass
class Faults:
    owner_url: str  # the soak's own database, as its owner: no other test's connections
    broker: Broker
    proxy: TcpProxy  # the system's every connection goes through it
    applied: list[str] = field(default_factory=list)
    terminated: int = 0
    frozen: int = 0  # connections open when the proxy stopped forwarding
    broker_lives: list[Callable[[], None]] = field(default_factory=list)  # told of a restart

    def _admin(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.owner_url, autocommit=True, application_name=FAULTS)

    def _server(self) -> psycopg.Connection[Any]:
        """On the server's maintenance database: it stays reachable when the soak's is not."""
        return psycopg.connect(make_conninfo(self.owner_url, dbname="postgres"),
                               autocommit=True, application_name=FAULTS)

    @property
    def database(self) -> str:
        return str(conninfo_to_dict(self.owner_url)["dbname"])

    def _terminate(self, where: str) -> None:
        with self._server() as conn:
            rows = conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND application_name <> %s "
                f"AND {where}", (self.database, FAULTS)
            ).fetchall()
        self.terminated += sum(1 for (done,) in rows if done)

    # -- the faults ---------------------------------------------------------------------------

    def terminate_all(self) -> None:
        """Every connection of the application ends (an operator's pg_terminate_backend, a
        failover): the API's pool, the projections' and the relay's lock connections, the
        log watch, the analytics loader's reads."""
        self._terminate("backend_type = 'client backend'")

    def terminate_lock_holders(self) -> None:
        """Only the connections that hold advisory locks: the projections' and the relay's."""
        self._terminate("pid IN (SELECT pid FROM pg_locks WHERE locktype = 'advisory' "
                        "AND granted)")

    def pause_event_table(self) -> None:
        """The event table held under an exclusive lock for a while: every save and every
        read of the log waits (a migration or a VACUUM FULL gone wrong)."""
        with self._admin() as conn, conn.transaction():
            conn.execute(f"LOCK TABLE {EVENTS_TABLE} IN ACCESS EXCLUSIVE MODE")
            time.sleep(PAUSE_SECONDS)

    def pause_appends_then_terminate(self) -> None:
        """Saves queue on the append lock; then every connection ends while they wait."""
        with self._admin() as conn:
            conn.execute(f"SELECT pg_advisory_lock({APPEND_LOCK})")
            time.sleep(PAUSE_SECONDS)
            self.terminate_all()

    def refuse_connections(self) -> None:
        """A failover window: every connection ends and new ones are refused for longer than
        a request waits for one, so commands are answered 503 (or their save's fate is
        undecided) and the clients retry them with their keys once the database is back."""
        allow = "ALTER DATABASE {} WITH ALLOW_CONNECTIONS {}"
        with self._server() as conn:
            conn.execute(sql.SQL(allow).format(sql.Identifier(self.database), sql.SQL("false")))
            try:
                self.terminate_all()
                time.sleep(OUTAGE_SECONDS)
            finally:
                conn.execute(sql.SQL(allow).format(sql.Identifier(self.database),
                                                   sql.SQL("true")))

    def freeze_connections(self) -> None:
        """A middlebox stuck for everything: no connection of the system is forwarded, those
        open and those made now alike, none is closed, for longer than a request, a loop or
        a connect waits on the database; then it forwards again. The deadlines cut what waits
        (503s, loops started again), connects time out, and all resumes after the thaw."""
        self.frozen += self.proxy.freeze(new_too=True)
        try:
            time.sleep(FREEZE_SECONDS)
        finally:
            self.proxy.thaw()

    def restart_broker(self) -> None:
        """tansu killed and started again at once: memory storage, it comes back empty (its
        topics gone, offsets from 0 again)."""
        self.broker.restart()
        self._tell_readers()

    def stop_start_broker(self) -> None:
        """tansu down for a while with sends in flight, then started empty."""
        self.broker.kill()
        time.sleep(PAUSE_SECONDS)
        self.broker.start()
        self._tell_readers()

    def _tell_readers(self) -> None:
        for reopen in self.broker_lives:
            reopen()

    # -- the schedule -------------------------------------------------------------------------

    def schedule(self) -> list[Callable[[], None]]:
        return [self.terminate_all, self.restart_broker, self.terminate_lock_holders,
                self.pause_appends_then_terminate, self.pause_event_table,
                self.stop_start_broker, self.refuse_connections, self.freeze_connections,
                self.terminate_all]

    def run(self, rounds: int, gap: float, stop: threading.Event) -> None:
        """`rounds` times the schedule, `gap` seconds of load between two faults."""
        for _ in range(rounds):
            for fault in self.schedule():
                if stop.wait(gap):
                    return
                fault()
                self.applied.append(fault.__name__)
