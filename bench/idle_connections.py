"""Database connections an idle process holds: `serve` and each worker, as docker-compose runs them.

Each process runs on its own fresh database (migrated first, as `migrate` does), as a subprocess
of ours; once it answers its health endpoint and has been idle for `--idle` seconds, the backends
of that database in `pg_stat_activity` are counted (the counting connection excluded). A count,
not a timing: one run is the figure. Saved to bench/results/idle_connections-<server kind>.json.

    .venv/bin/python -m bench.idle_connections [--server local] [--idle 5]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg

from bench.common import (
    JWT_SECRET,
    RESULTS_DIR,
    ROOT,
    Server,
    add_common_arguments,
    machine_info,
    package_versions,
    resolve_server,
    server_info,
    temporary_database,
)
from bench.http_commands import free_port

NAME = "idle_connections"
# (label, command line, extra environment): the processes of docker-compose.yml, plus the
# embedded default's one process (API with the projections and the analytics loader inside).
PROCESSES: list[tuple[str, list[str], dict[str, str]]] = [
    ("serve (API only, as in docker-compose)", ["serve"],
     {"SERVICECORE_IN_PROCESS_PROJECTIONS": "false"}),
    ("serve with in-process projections + analytics", ["serve"],
     {"SERVICECORE_IN_PROCESS_PROJECTIONS": "true"}),
    ("worker projections", ["worker", "projections"], {}),
    ("worker analytics", ["worker", "analytics"], {}),
]


def count_backends(admin_url: str, dbname: str) -> tuple[dict[str, int], list[str]]:
    """Backends connected to `dbname` by state (idle, active, ...), without the asking one, and
    the last statement of each (the start of it): what each connection is there for."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT coalesce(state, 'none'), left(regexp_replace(query, '\\s+', ' ', 'g'), 70) "
            "FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (dbname,)).fetchall()
    states: dict[str, int] = {}
    for state, _query in rows:
        states[str(state)] = states.get(str(state), 0) + 1
    return states, sorted(str(query) for _state, query in rows)


def wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the process exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer 200 within {timeout:.0f} s")


def measure(server: Server, label: str, command: list[str], extra: dict[str, str],
            idle: float) -> dict[str, Any]:
    data_dir = Path(tempfile.mkdtemp(prefix="servicecore-idle-"))
    with temporary_database(server, "idle") as url:
        dbname = str(psycopg.conninfo.conninfo_to_dict(url)["dbname"])
        port = free_port()
        env = {**os.environ, "DATABASE_URL": url, "SERVICECORE_DATA_DIR": str(data_dir),
               "SERVICECORE_JWT_SECRET": JWT_SECRET, "SERVICECORE_CREATE_TABLES": "false",
               "SERVICECORE_PORT": str(port), "SERVICECORE_WORKER_METRICS_PORT": str(port),
               **extra}
        servicecore = [sys.executable, "-m", "servicecore.cli"]
        subprocess.run([*servicecore, "migrate"], env={**env, "SERVICECORE_CREATE_TABLES": "true"},
                       cwd=ROOT, check=True, capture_output=True)
        proc = subprocess.Popen([*servicecore, *command], env=env, cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            health = f"http://127.0.0.1:{port}/health" + ("/ready" if command == ["serve"] else "")
            wait_healthy(health, proc)
            time.sleep(idle)
            backends, last_statements = count_backends(server.url, dbname)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            shutil.rmtree(data_dir, ignore_errors=True)
    row = {"process": label, "command": "servicecore " + " ".join(command),
           "environment": extra, "connections": sum(backends.values()), "by_state": backends,
           "last_statements": last_statements}
    print(f"{label:<50} {row['connections']:>3} connections  {backends}", flush=True)
    for statement in last_statements:
        print(f"    {statement}", flush=True)
    return row


def run(args: argparse.Namespace, server: Server, _yardstick: dict[str, Any] | None) -> None:
    print(f"\n== {NAME} on {server.kind}: backends held after {args.idle:g} s idle ==")
    rows = [measure(server, label, command, extra, args.idle)
            for label, command, extra in PROCESSES]
    document = {
        "name": NAME, "server_kind": server.kind,
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "conditions": {"server": {**server.describe(), **server_info(server.url)},
                       "machine": machine_info(), "packages": package_versions(),
                       "idle_seconds": args.idle,
                       "settings": "defaults (SERVICECORE_POOL_SIZE etc. unset)"},
        "results": rows,
    }
    if args.no_save:
        return
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{NAME}-{server.kind}.json"
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False, default=str) + "\n")
    print(f"saved {path.relative_to(ROOT)}")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bench.idle_connections", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_arguments(p)
    p.add_argument("--idle", type=float, default=5.0,
                   help="seconds the process stays idle after its first healthy answer")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    run(args, resolve_server(args.server), None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
