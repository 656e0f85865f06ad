"""`servicecore invoice-numbers backfill`: reserve the invoice numbers recorded before numbers
were reserved (domain/invoice_backfill.py); prints what it did and the numbers the log already
holds twice, as JSON. Duplicates are reported for the auditor, not a failure: exit 0.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

from servicecore.settings import Settings

ACTOR = "invoice-backfill"


def backfill_invoice_numbers(app: Any, user_id: str = ACTOR) -> dict[str, Any]:
    """The backfill on this event store, stamped as `user_id` (role `system`); its report."""
    from domain.common import Audit
    from domain.invoice_backfill import backfill

    audit = Audit(user_id, "system", "", datetime.now(UTC), str(uuid4()))
    return backfill(app, audit).as_dict()


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
