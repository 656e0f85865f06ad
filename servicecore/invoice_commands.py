"""`servicecore invoice-numbers backfill`: reserve the invoice numbers recorded before numbers
were reserved (domain/invoice_backfill.py); prints what it did and the numbers the log already
holds twice, as JSON. Duplicates are reported for the auditor, not a failure: exit 0.

A serving process runs it once per database by itself, in the background once it serves, as
a supervised loop (`Container.start_backfill`, `backfill_loop`, `backfill_once`): one process
at a time, its report and position kept in `data_backfills` after every batch, so a stop or
restart goes on where it was; a run that fails (the database away at the start) is started
again with backoff until it is done, then the loop is `idle`. A version of the backfill that
covers more (`VERSION`) runs again once on a database that had an earlier one.
"""

from __future__ import annotations

import argparse
import json
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import psycopg

from servicecore.logs import system_run
from servicecore.settings import Settings
from workers.supervisor import Idle, Loop

log = logging.getLogger(__name__)
ACTOR = "invoice-backfill"
NAME = "invoice-numbers"
# 2: numbers in the form kept (invoice_number): a reservation taken under the number as typed
# (full-width, lower case, spaced) does not hold the kept form, so version 1 runs left it free
VERSION = 2
PROGRESS_EVERY = 20  # batches between two log lines of a running backfill
OTHERS_SECONDS = 30.0  # another process runs the backfill: looked at again after this long
LOCK = "hashtext('servicecore-data-backfills')"
KEEP = """
INSERT INTO data_backfills (name, version, finished, report) VALUES (%s, %s, %s, %s)
ON CONFLICT (name) DO UPDATE SET version = excluded.version, finished = excluded.finished,
    report = excluded.report, done_at = now()
"""


def _audit(user_id: str, correlation_id: str) -> Any:
    from domain.common import Audit

    return Audit(user_id, "system", "", datetime.now(UTC), correlation_id)


def backfill_invoice_numbers(app: Any, user_id: str = ACTOR) -> dict[str, Any]:
    """The backfill on this event store, stamped as `user_id` (role `system`); its report,
    with the run's correlation id (its events' and its log lines')."""
    from domain.invoice_backfill import backfill

    with system_run(user_id) as run:
        report = backfill(app, _audit(user_id, run.correlation_id)).as_dict()
        log.info("invoice numbers: backfill done: %d uses read, %d reservations written",
                 report["uses"], report["reserved"])
    return {**report, "correlation_id": run.correlation_id}


def create_table(conn: Any) -> None:
    """`data_backfills`: one row per backfill, its version, its report (with its position)
    and whether it finished; rows from before versions are finished runs of version 1."""
    conn.execute("CREATE TABLE IF NOT EXISTS data_backfills (name text PRIMARY KEY, "
                 "done_at timestamptz NOT NULL DEFAULT now(), report jsonb NOT NULL)")
    conn.execute("ALTER TABLE data_backfills ADD COLUMN IF NOT EXISTS version integer "
                 "NOT NULL DEFAULT 1, ADD COLUMN IF NOT EXISTS finished boolean "
                 "NOT NULL DEFAULT true")


def backfill_once(conn: Any, app: Any, stop: Callable[[], bool] = lambda: False,
                  batch: int = 1000) -> dict[str, Any] | None:
    """The backfill, unless this database has had this version of it (`data_backfills`); its
    report, kept there after every batch. One process at a time: another one running it is
    left to it. Stopped (`stop`), it is left unfinished and the next run goes on from its
    position. A backfill that fails raises, left as it was (what it reserved stays reserved):
    its loop (`backfill_loop`) starts it again."""
    from domain.invoice_backfill import BackfillReport, backfill

    if not conn.execute(f"SELECT pg_try_advisory_lock({LOCK})").fetchone()[0]:
        log.info("invoice numbers: another process runs the backfill")
        return None
    with system_run(ACTOR) as run:  # one correlation id for the run's events and lines
        try:
            row = _kept(conn)
            if _done(row):
                return None  # done, or a later version's (that process runs it)
            resumed = BackfillReport.from_dict(row[2]) \
                if row is not None and row[0] == VERSION else None
            log.info("invoice numbers: backfill (version %d) %s", VERSION,
                     f"going on after notification {resumed.position}" if resumed
                     else "started")

            batches = 0

            def kept(report: Any) -> bool:
                nonlocal batches
                conn.execute(KEEP, (NAME, VERSION, False, _json(report.as_dict())))
                batches += 1
                if batches % PROGRESS_EVERY == 0:
                    log.info("invoice numbers: backfill at notification %d: %d uses read, %d "
                             "reservations written", report.position, report.uses,
                             report.reserved)
                return not stop()

            report = backfill(app, _audit(ACTOR, run.correlation_id), batch, report=resumed,
                              after_batch=kept)
            if stop():
                log.info("invoice numbers: backfill stopped after notification %d, %d uses "
                         "read; the next start goes on from there", report.position,
                         report.uses)
                return None
            found = report.as_dict()
            conn.execute(KEEP, (NAME, VERSION, True, _json(found)))
        finally:
            conn.execute(f"SELECT pg_advisory_unlock({LOCK})")
        log.info("invoice numbers: backfill done: %d uses read, %d reservations written for "
                 "numbers recorded before reservations, %d already held", found["uses"],
                 found["reserved"], found["held"])
        duplicates = len(found["duplicates"]) + found["unlisted_duplicates"]
        if duplicates:
            log.warning("invoice numbers: %d later uses of a number the log already held (kept "
                        "in data_backfills for the auditor)", duplicates)
    return found


def backfill_loop(app: Any) -> tuple[Loop, Idle, threading.Event]:
    """The backfill as a supervised loop (`Container.start_backfill`), its `idle` probe and
    the event set once it is done. A run that fails (the database away, a batch that raises)
    raises: the supervisor shows it `restarting` and starts it again with backoff. Once this
    database has this version done (by this process or another) the loop waits, `idle`,
    until the process stops; while another process runs it, it looks again now and then."""
    done = threading.Event()

    def loop(stop: threading.Event, conninfo: str) -> None:
        while not done.is_set():
            with psycopg.connect(conninfo, autocommit=True) as conn:
                create_table(conn)
                backfill_once(conn, app, stop.is_set)
                if _done(_kept(conn)):
                    done.set()
            if stop.wait(0 if done.is_set() else OTHERS_SECONDS):
                return
        stop.wait()  # done: nothing more to do until the process stops

    def idle() -> str | None:
        return "the invoice numbers are backfilled" if done.is_set() else None

    return loop, idle, done


def _kept(conn: Any) -> tuple[Any, ...] | None:
    row = conn.execute("SELECT version, finished, report FROM data_backfills WHERE name = %s",
                       (NAME,)).fetchone()
    return tuple(row) if row is not None else None


def _done(row: tuple[Any, ...] | None) -> bool:
    """This version finished, or a later version's row (that version's process runs it)."""
    return row is not None and (row[0] > VERSION or (row[0] == VERSION and bool(row[1])))


def _json(report: dict[str, Any]) -> str:
    return json.dumps(report, ensure_ascii=False)


def _run(args: argparse.Namespace, settings: Settings) -> int:
    from servicecore.container import build

    container = build(settings)
    try:
        print(json.dumps(backfill_invoice_numbers(container.app, args.user),
                         ensure_ascii=False))
    finally:
        container.close()
    return 0


def add_commands(sub: Any) -> None:
    """Add the `invoice-numbers` group to the command line (argparse subparsers)."""
    group = sub.add_parser("invoice-numbers", help="tax invoice numbers (blue and red)")
    actions = group.add_subparsers(dest="action", required=True)
    run = actions.add_parser("backfill", help="reserve every invoice number already on a bill "
                             "or credit, in log order; report numbers used twice (idempotent, "
                             "safe while the API runs)")
    run.add_argument("--user", default=ACTOR, help="who runs it, as the reservations' actor")
    run.set_defaults(run=_run)
