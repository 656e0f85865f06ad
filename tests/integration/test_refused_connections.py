"""A loop whose database refuses its connections for good is logged ERROR, not only WARNING.

A loop that loses the database is logged WARNING at each attempt: a restart of PostgreSQL is
no bug, and the loop comes back by itself a few seconds later. Found in a probe: a database
that refuses the application's new connections for good (max_connections reached, a role's or
a database's CONNECTION LIMIT, a password changed) left a projection loop `restarting` on
/health, with a WARNING every 10 s for as long as it lasted, and never one line at ERROR: an
alert on ERROR lines never fired while the views stood still. Now, once a loop has not run for
`ERROR_AFTER_SECONDS` in a row, one line at ERROR names it, how long and why.

Real refusals: the test database's CONNECTION LIMIT set to 0 (the application's role is no
superuser, so the server refuses it), the connections the process already holds kept.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from tests.integration.kafka_support import wait_until
from tests.scratch_systems import ServedScratch, served_scratch
from workers import supervisor as supervision
from workers.log_watch import LogWatch
from workers.supervisor import Supervisor


@pytest.fixture
def served(server_url: str, tmp_path: Path) -> Iterator[ServedScratch]:
    with served_scratch(server_url, "refused", tmp_path) as made:
        yield made


def connection_limit(owner_url: str, limit: int) -> None:
    name = conninfo_to_dict(owner_url)["dbname"]
    with psycopg.connect(owner_url, autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{name}" CONNECTION LIMIT {limit}')  # type: ignore[arg-type]


def test_a_loop_whose_connections_are_refused_for_good_is_logged_error_naming_why(
        served: ServedScratch, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(supervision, "ERROR_AFTER_SECONDS", 1.0, raising=False)
    caplog.set_level(logging.INFO, logger="workers.supervisor")
    system = served.system
    watch = LogWatch(system.app, 0.0)  # the projections' log watch: its own connection
    loops = Supervisor(served.app_url, first_backoff=0.05, max_backoff=0.2)
    connection_limit(served.owner_url, 0)
    try:
        loops.start("projection-log-watch", watch.run, watch.listening.is_set)

        def told() -> list[logging.LogRecord]:
            return [r for r in caplog.records if r.levelno >= logging.ERROR
                    and r.getMessage().startswith("projection-log-watch has not run for")]

        wait_until(lambda: bool(told()), 30, "an ERROR line naming the refused loop")
        [line] = told()
        assert "too many connections" in line.getMessage(), line.getMessage()
        # The first failures were WARNING, as a restart of the database is.
        first = next(r for r in caplog.records if "projection-log-watch" in r.getMessage()
                     and "lost the database" in r.getMessage())
        assert first.levelno == logging.WARNING
        assert loops.states()["projection-log-watch"]["state"] == "restarting"

        # Connections let in again: the loop runs, and the ERROR was said once for that row.
        connection_limit(served.owner_url, -1)
        wait_until(lambda: loops.states()["projection-log-watch"]["state"] == "running", 30,
                   "the loop to run again")
        assert len(told()) == 1
    finally:
        connection_limit(served.owner_url, -1)
        loops.stop(timeout=10)

