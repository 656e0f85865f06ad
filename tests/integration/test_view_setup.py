"""A start-up's read-model tables beside a running projection: `create` indexes table after
table (a SHARE lock on each) while another process's batch holds ROW EXCLUSIVE on a later
table and wants an earlier one. PostgreSQL ends the start-up's transaction with a deadlock;
the start-up tries again instead of failing (servicecore/view_setup.py)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import psycopg
from psycopg import sql

from servicecore.container import build
from servicecore.view_setup import create_all
from tests.conftest import settings_for


def test_the_start_up_tries_its_tables_again_after_a_deadlock_with_a_batch(
        database_url: str, owner_database_url: str, tmp_path: Path) -> None:
    system = build(settings_for(database_url, tmp_path, pool_size=2))
    try:
        names = [view.name for view in system.views]
        assert names.index("work_orders") < names.index("stock")  # wo_view first, then parts
        outcome: list[BaseException | None] = []
        with psycopg.connect(owner_database_url) as batch, \
                psycopg.connect(database_url, autocommit=True) as watcher:
            # The batch checks for a deadlock only long after the start-up does (the server's
            # superuser may set it): the start-up, which waits first, is always the one ended,
            # however late on a loaded machine the batch asks for its second table.
            batch.execute("SET deadlock_timeout = '60s'")
            schema = watcher.execute("SELECT current_schema()").fetchone()
            assert schema is not None  # the application's tables, where its role keeps them
            batch.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema[0])))
            batch.execute("LOCK TABLE parts IN ROW EXCLUSIVE MODE")  # a batch writing parts

            def start_up() -> None:
                with psycopg.connect(database_url, autocommit=True) as conn:
                    try:
                        create_all(conn, system.views)
                        outcome.append(None)
                    except BaseException as error:  # noqa: BLE001 - reported by the assert
                        outcome.append(error)

            starting = threading.Thread(target=start_up, daemon=True)
            starting.start()
            waiting = "SELECT 1 FROM pg_locks WHERE relation = 'parts'::regclass AND NOT granted"
            for _ in range(3000):  # the start-up holds wo_view and waits for parts
                if watcher.execute(waiting).fetchone():
                    break
                time.sleep(0.01)
            else:
                raise AssertionError("the start-up never waited for parts")
            # The batch now wants wo_view: a cycle. The start-up, waiting longer, is ended.
            batch.execute("LOCK TABLE wo_view IN ROW EXCLUSIVE MODE")
            batch.commit()
            starting.join(60)  # a bound for a hung test, not a measurement
        assert not starting.is_alive()
        assert outcome == [None], outcome
    finally:
        system.close()
