"""The soak under faults for longer than the test runs it (tests/integration/test_soak.py).

The same system and checks: the API over HTTP, the projection group, the analytics loader and
the Kafka relay to a tansu broker (memory storage) on a database of its own; front desks drive
whole visits with Idempotency-Keys while the fault schedule of
tests/integration/soak_faults.py is applied `--rounds` times (terminated backends, the lock
holders' alone, the append lock and the event table held, connections refused, every
connection frozen at the proxy the system reaches the database through, the broker restarted
empty and stopped for a while). Afterwards every check of the test must hold; the summary (visits,
commands, retries, 503s, faults, loop restarts, relay rewinds, seconds) is printed and, unless
`--no-save`, written to bench/results/soak-<server kind>.json. Not a timing: it measures
outcomes, under whatever load the machine has.

    python -m bench.soak [--server ...] [--rounds 10] [--desks 4] [--gap 2.0] [--no-save]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from api.auth import mint_token
from bench.common import RESULTS_DIR, quiet_logging, resolve_server
from tests.conftest import JWT_SECRET
from tests.integration.soak import soak, soak_rig
from tests.integration.test_soak import (
    check_commands,
    check_health,
    check_kafka,
    check_read_models,
)


def headers(role: str, user: str | None = None, stores: list[str] | None = None) -> dict[str, str]:
    token = mint_token(JWT_SECRET, user or f"{role}-1", role, stores or ["*"])
    return {"Authorization": f"Bearer {token}"}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--server", default=None,
                   help="embedded | local | env (DATABASE_URL) | a postgresql:// URL")
    p.add_argument("--rounds", type=int, default=10, help="times the fault schedule (10)")
    p.add_argument("--desks", type=int, default=4, help="stores driving visits at once (4)")
    p.add_argument("--gap", type=float, default=2.0, help="seconds of load between faults (2)")
    p.add_argument("--no-save", action="store_true", help="print only")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    quiet_logging()
    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    args = parser().parse_args(argv)
    server = resolve_server(args.server)
    tmp = Path(tempfile.mkdtemp(prefix="servicecore-soak-"))
    os.environ.setdefault("SERVICECORE_WITNESS_PATH", str(tmp / "witness.jsonl"))
    try:
        with soak_rig(server.url, tmp) as rig:
            outcome = soak(rig, headers, desks=args.desks, rounds=args.rounds, gap=args.gap)
            try:
                check_commands(outcome)
                check_health(outcome)
                check_kafka(outcome)
                check_read_models(outcome, tmp)
            finally:
                outcome.follower.close()
            summary = {"name": "soak", "server_kind": server.kind,
                       "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
                       "arguments": {"rounds": args.rounds, "desks": args.desks,
                                     "gap": args.gap},
                       "loadavg_at_end": list(os.getloadavg()), "checks": "passed",
                       **outcome.summary()}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(summary, ensure_ascii=False))
    if not args.no_save:
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        path = RESULTS_DIR / f"soak-{server.kind}.json"
        path.write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
        print(f"saved {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
