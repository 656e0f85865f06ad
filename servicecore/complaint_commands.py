"""`servicecore complaints migrate`: move the older register's complaints still open into the
complaint register (domain/complaint_moves.py); prints what it did as JSON. Idempotent: run
again, it moves nothing twice; safe while the API serves (each move is one command)."""

from __future__ import annotations

import argparse
import json
import logging
from datetime import UTC, datetime
from typing import Any

from servicecore.logs import system_run
from servicecore.settings import Settings

log = logging.getLogger(__name__)
ACTOR = "complaints-migrate"


def _migrate(args: argparse.Namespace, settings: Settings) -> int:
    from domain.common import Caller
    from domain.complaint_moves import move_open_complaints
    from servicecore.container import build

    container = build(settings.model_copy(update={"in_process_projections": False}))
    try:
        with system_run(args.user) as run:  # its events' correlation id on its log lines
            caller = Caller(args.user, "system", ("*",), datetime.now(UTC), run.correlation_id)
            report = move_open_complaints(container.app, caller, container.grievance_terms)
            log.info("complaints migrate: %d moved, %d kept open, left by status %s",
                     len(report.moved), len(report.kept_open), report.left)
        print(json.dumps({**report.as_dict(), "correlation_id": run.correlation_id},
                         ensure_ascii=False))
    finally:
        container.close()
    return 0


def add_commands(sub: Any) -> None:
    """Add the `complaints` group to the command line (argparse subparsers)."""
    group = sub.add_parser("complaints", help="the older complaint register (/complaints)")
    actions = group.add_subparsers(dest="action", required=True)
    run = actions.add_parser("migrate", help="move the complaints still open into the "
                             "complaint register (/grievances); idempotent, prints what it did")
    run.add_argument("--user", default=ACTOR, help="who runs it, as the moves' actor")
    run.set_defaults(run=_migrate)
