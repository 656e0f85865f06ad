"""`servicecore invoice-numbers backfill`: reserve the invoice numbers recorded before numbers
were reserved (domain/invoice_backfill.py); prints what it did and the numbers the log already
holds twice, as JSON. Duplicates are reported for the auditor, not a failure: exit 0.

A start that creates tables (and `servicecore migrate`) runs it once per database by itself
(`backfill_once`), and keeps its report in `data_backfills` for the auditor.
"""

from __future__ import annotations

import argparse
import json
import logging
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

from servicecore.settings import Settings

log = logging.getLogger(__name__)
ACTOR = "invoice-backfill"
NAME = "invoice-numbers"


def backfill_invoice_numbers(app: Any, user_id: str = ACTOR) -> dict[str, Any]:
    """The backfill on this event store, stamped as `user_id` (role `system`); its report."""
    from domain.common import Audit
    from domain.invoice_backfill import backfill

    audit = Audit(user_id, "system", "", datetime.now(UTC), str(uuid4()))
    return backfill(app, audit).as_dict()


def backfill_once(conn: Any, app: Any) -> dict[str, Any] | None:
    """The backfill, unless this database has had it (`data_backfills` says so); its report,
    kept there. One process at a time (others starting wait, then find it done). A backfill
    that fails is logged and leaves no record: the start goes on, and the next one tries
    again (what it reserved stays reserved)."""
    conn.execute("CREATE TABLE IF NOT EXISTS data_backfills (name text PRIMARY KEY, "
                 "done_at timestamptz NOT NULL DEFAULT now(), report jsonb NOT NULL)")
    conn.execute("SELECT pg_advisory_lock(hashtext('servicecore-data-backfills'))")
    try:
        if conn.execute("SELECT 1 FROM data_backfills WHERE name = %s", (NAME,)).fetchone():
            return None
        try:
            report = backfill_invoice_numbers(app)
        except Exception:  # the process still serves; the next start tries again
            log.exception("invoice numbers: the backfill failed; run `servicecore "
                          "invoice-numbers backfill`, or start again")
            return None
        conn.execute("INSERT INTO data_backfills (name, report) VALUES (%s, %s)",
                     (NAME, json.dumps(report, ensure_ascii=False)))
    finally:
        conn.execute("SELECT pg_advisory_unlock(hashtext('servicecore-data-backfills'))")
    log.info("invoice numbers: %d reservations written for numbers recorded before "
             "reservations, %d already held", report["reserved"], report["held"])
    if report["duplicates"]:
        log.warning("invoice numbers: %d later uses of a number the log already held (kept in "
                    "data_backfills for the auditor)", len(report["duplicates"]))
    return report


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
