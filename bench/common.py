"""What every benchmark shares: the server, a database of its own, the yardstick, the report.

- Server: `--server embedded|local|env|<postgresql:// URL>`; default DATABASE_URL when set, else
  the embedded PostgreSQL under var/bench. The results file names the kind
  (`embedded`, `local` = postgresql://postgres@127.0.0.1:5432, `external` = any other URL).
- Each run creates its own database on that server and drops it at the end (the event tables
  refuse DELETE and TRUNCATE, so a shared database could never be cleaned).
- The yardstick: one client, one connection, single-row INSERT (bigserial + ~300-byte bytea) and
  COMMIT in a loop for ~3 s. Every rate is also given as a ratio to its commits/s and every p50
  as a ratio to its p50: that is what the disk, the server and the client library can do at best
  for one durable write, so the ratios travel between machines better than the raw figures.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import json
import logging
import math
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "bench" / "results"
EMBEDDED_DIR = ROOT / "var" / "bench"
LOCAL_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
JWT_SECRET = "bench-secret-not-for-production-0123456789"
PACKAGES = ("eventsourcing", "psycopg", "psycopg-binary", "psycopg-pool", "fastapi", "starlette",
            "uvicorn", "pydantic", "httpx", "cryptography")
SERVER_SETTINGS = ("shared_buffers", "fsync", "synchronous_commit", "wal_sync_method",
                   "full_page_writes", "max_connections", "work_mem", "jit")


# -- server and databases ---------------------------------------------------------------------

@dataclass(frozen=True)
class Server:
    kind: str  # embedded | local | external
    url: str  # the maintenance database ("postgres") on that server

    def url_for(self, dbname: str) -> str:
        params = conninfo_to_dict(self.url)
        params["dbname"] = dbname
        return make_conninfo(**params)  # type: ignore[arg-type]

    def describe(self) -> dict[str, Any]:
        params = {k: v for k, v in conninfo_to_dict(self.url).items() if k != "password"}
        host = str(params.get("host") or "")
        return {"kind": self.kind, "host": host, "port": params.get("port"),
                "transport": "unix socket" if host.startswith("/") else "tcp"}


def resolve_server(choice: str | None = None) -> Server:
    choice = choice or ("env" if os.environ.get("DATABASE_URL") else "embedded")
    if choice == "embedded":
        from servicecore.embedded import embedded_database_url

        return Server("embedded", embedded_database_url(EMBEDDED_DIR))
    if choice == "local":
        return Server("local", LOCAL_URL)
    if choice == "env":
        url = os.environ.get("DATABASE_URL")
        if not url:
            raise SystemExit("--server env: DATABASE_URL is not set")
        return Server("external", url)
    if choice.startswith(("postgresql://", "postgres://")):
        return Server("external", choice)
    raise SystemExit(f"--server: embedded, local, env or a postgresql:// URL, not {choice!r}")


def create_database(server: Server, name: str, template: str | None = None) -> str:
    with psycopg.connect(server.url, autocommit=True) as conn:
        suffix = f' TEMPLATE "{template}"' if template else ""
        conn.execute(f'CREATE DATABASE "{name}"{suffix}')  # type: ignore[arg-type]
    return server.url_for(name)


def drop_database(server: Server, name: str) -> None:
    with psycopg.connect(server.url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]


def database_exists(server: Server, name: str) -> bool:
    with psycopg.connect(server.url, autocommit=True) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                            (name,)).fetchone() is not None


@contextlib.contextmanager
def temporary_database(server: Server, prefix: str,
                       template: str | None = None) -> Iterator[str]:
    """A fresh database `bench_<prefix>_<random>` for one run; dropped at the end, always."""
    name = f"bench_{prefix}_{uuid.uuid4().hex[:8]}"
    url = create_database(server, name, template)
    try:
        yield url
    finally:
        drop_database(server, name)


@contextlib.contextmanager
def system(database_url: str, **overrides: Any) -> Iterator[Any]:
    """The real composition root (servicecore.container.build) on `database_url`."""
    from servicecore.container import build
    from servicecore.settings import Settings

    data_dir = Path(tempfile.mkdtemp(prefix="servicecore-bench-"))
    settings = Settings(database_url=database_url, data_dir=data_dir,  # type: ignore[call-arg]
                        jwt_secret=JWT_SECRET, in_process_projections=False, **overrides)
    container = build(settings)
    try:
        yield container
    finally:
        container.close()
        shutil.rmtree(data_dir, ignore_errors=True)


def quiet_logging() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("psycopg.pool", "eventsourcing", "uvicorn", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


# -- conditions -------------------------------------------------------------------------------

def _cpu_model() -> str | None:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return None


def _memory_gib() -> float | None:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    return None


def _git() -> dict[str, Any]:
    def run(*cmd: str) -> str:
        return subprocess.run(["git", *cmd], check=False, cwd=ROOT, capture_output=True, text=True,
                              timeout=10).stdout.strip()

    with contextlib.suppress(OSError, subprocess.SubprocessError):
        dirty = [line for line in run("status", "--porcelain").splitlines() if line.strip()]
        return {"commit": run("rev-parse", "--short", "HEAD") or None,
                "uncommitted_paths": len(dirty)}
    return {}


def package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def server_info(url: str) -> dict[str, Any]:
    with psycopg.connect(url, autocommit=True) as conn:
        version = conn.execute("SHOW server_version").fetchone()
        settings = {name: conn.execute(f"SHOW {name}").fetchone()[0]  # type: ignore[index]
                    for name in SERVER_SETTINGS}
    return {"server_version": version[0] if version else None, "settings": settings}


def _cpu_times() -> tuple[float, float] | None:
    with contextlib.suppress(OSError, ValueError):
        fields = [float(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)
        return sum(fields), idle
    return None


def machine_busy(seconds: float = 1.0) -> float | None:
    """Share of all CPUs busy over `seconds` (other engineers' tests, servers, ...)."""
    first = _cpu_times()
    time.sleep(seconds)
    second = _cpu_times()
    if first is None or second is None or second[0] == first[0]:
        return None
    return round(1.0 - (second[1] - first[1]) / (second[0] - first[0]), 3)


def wait_for_quiet(threshold: float = 0.25, max_wait: float = 120.0) -> dict[str, Any]:
    """Wait (bounded) until the machine is mostly idle before measuring; say what was seen."""
    started = time.perf_counter()
    busy = machine_busy()
    while busy is not None and busy > threshold and time.perf_counter() - started < max_wait:
        print(f"machine is {busy * 100:.0f} % busy before the run; waiting for it to calm "
              f"down (at most {max_wait:.0f} s)...", flush=True)
        time.sleep(4.0)
        busy = machine_busy()
    waited = round(time.perf_counter() - started, 1)
    return {"busy_share_before_run": busy, "waited_seconds": waited,
            "quiet": busy is not None and busy <= threshold}


def machine_info() -> dict[str, Any]:
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {
        "cpu_count": os.cpu_count(), "cpus_usable": affinity, "cpu_model": _cpu_model(),
        "memory_gib": _memory_gib(), "platform": platform.platform(),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "loadavg_at_start": list(os.getloadavg()),
    }


def conditions(server: Server, args: argparse.Namespace | None = None) -> dict[str, Any]:
    return {
        "machine": machine_info(),
        "server": {**server.describe(), **server_info(server.url)},
        "packages": package_versions(),
        "git": _git(),
        "arguments": {k: v for k, v in vars(args).items() if k != "func"} if args else {},
    }


# -- statistics -------------------------------------------------------------------------------

def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default), q in [0, 100]."""
    if not sorted_values:
        return math.nan
    if len(sorted_values) == 1:
        return float(sorted_values[0])
    rank = (len(sorted_values) - 1) * q / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(sorted_values) - 1)
    return float(sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (rank - low))


def latency_summary(latencies_s: Sequence[float]) -> dict[str, float]:
    values = sorted(latencies_s)
    ms = 1000.0
    return {
        "p50_ms": round(percentile(values, 50) * ms, 3),
        "p90_ms": round(percentile(values, 90) * ms, 3),
        "p99_ms": round(percentile(values, 99) * ms, 3),
        "max_ms": round(values[-1] * ms, 3) if values else math.nan,
        "mean_ms": round(sum(values) / len(values) * ms, 3) if values else math.nan,
    }


@dataclass
class Measurement:
    """`ops` timed operations of `units` (events, requests) in `seconds` of wall time."""

    ops: int
    units: int
    seconds: float
    latencies: list[float]
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)


def run_threads(threads: int, make_op: Callable[[int], Callable[[], int]], *,
                total_ops: int | None = None, duration: float | None = None) -> Measurement:
    """Run `threads` clients; each calls its op (made by make_op(i)) until the op budget or the
    time is used up. An op returns how many units it did (events saved, requests sent)."""
    if total_ops is None and duration is None:
        raise ValueError("give total_ops or duration")
    ops = [make_op(i) for i in range(threads)]
    lock = threading.Lock()
    issued = 0
    latencies: list[list[float]] = [[] for _ in range(threads)]
    units = [0] * threads
    errors: list[str] = []
    barrier = threading.Barrier(threads + 1)
    deadline = math.inf

    def client(i: int) -> None:
        nonlocal issued
        op, mine = ops[i], latencies[i]
        barrier.wait()
        while True:
            with lock:
                if total_ops is not None and issued >= total_ops:
                    return
                issued += 1
            if time.perf_counter() >= deadline:
                return
            started = time.perf_counter()
            try:
                units[i] += op()
            except Exception as exc:  # noqa: BLE001 - counted and reported, never hidden
                with lock:
                    errors.append(f"{type(exc).__name__}: {exc}"[:300])
                continue
            mine.append(time.perf_counter() - started)

    workers = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(threads)]
    for worker in workers:
        worker.start()
    started = time.perf_counter()
    deadline = started + duration if duration is not None else math.inf
    barrier.wait()
    for worker in workers:
        worker.join()
    seconds = time.perf_counter() - started
    flat = [x for mine in latencies for x in mine]
    return Measurement(ops=len(flat), units=sum(units), seconds=seconds, latencies=flat,
                       errors=len(errors), error_samples=errors[:5])


def each_call(call: Callable[[], Any]) -> Callable[[int], Callable[[], int]]:
    """A `make_op` for run_threads whose every client makes the same `call`, one unit each
    (what it answers is not looked at)."""
    def make_op(_: int) -> Callable[[], int]:
        def op() -> int:
            call()
            return 1

        return op

    return make_op


# -- the yardstick ----------------------------------------------------------------------------

YARDSTICK_TABLE = "bench_yardstick"


def measure_yardstick(server: Server, seconds: float = 3.0,
                      payload_bytes: int = 300) -> dict[str, Any]:
    """Plain PostgreSQL: one client, one connection, INSERT one row + COMMIT, for `seconds`."""
    with temporary_database(server, "yardstick") as url, psycopg.connect(url) as conn:
        conn.execute(f"CREATE TABLE {YARDSTICK_TABLE} (id bigserial PRIMARY KEY, "
                     "payload bytea NOT NULL)")
        conn.commit()
        payload = os.urandom(payload_bytes)
        statement = f"INSERT INTO {YARDSTICK_TABLE} (payload) VALUES (%s)"
        for _ in range(50):  # warm-up: connection, prepared statement, WAL segment
            conn.execute(statement, (payload,))
            conn.commit()
        latencies: list[float] = []
        started = time.perf_counter()
        deadline = started + seconds
        while (now := time.perf_counter()) < deadline:
            conn.execute(statement, (payload,))
            conn.commit()
            latencies.append(time.perf_counter() - now)
        wall = time.perf_counter() - started
    return {
        "what": f"INSERT one row (bigserial + {payload_bytes}-byte bytea) + COMMIT, "
                "1 client, 1 connection",
        "commits": len(latencies), "seconds": round(wall, 3),
        "per_second": round(len(latencies) / wall, 1), **latency_summary(latencies),
    }


# -- reporting --------------------------------------------------------------------------------

class Report:
    """Rows of figures, printed as they come and saved with the conditions at the end."""

    def __init__(self, name: str, server: Server, args: argparse.Namespace,
                 yardstick: dict[str, Any], *, rate_unit: str) -> None:
        self.name = name
        self.server = server
        self.args = args
        self.yardstick = yardstick
        self.rate_unit = rate_unit
        self.rows: list[dict[str, Any]] = []
        self.notes: dict[str, Any] = {}
        self.started = time.perf_counter()
        self.conditions = conditions(server, args)
        self.conditions["machine"]["before_run"] = (
            wait_for_quiet(max_wait=args.quiet_wait) if getattr(args, "quiet_wait", 0) > 0
            else {"busy_share_before_run": machine_busy()})
        self._header_printed = False

    def add(self, setting: str, m: Measurement, *, rate_unit: str | None = None,
            **extra: Any) -> dict[str, Any]:
        unit = rate_unit or self.rate_unit
        rate = m.units / m.seconds if m.seconds else 0.0
        lat = latency_summary(m.latencies)
        row = {
            "setting": setting, "ops": m.ops, "units": m.units, "unit": unit,
            "seconds": round(m.seconds, 3), "rate_per_second": round(rate, 1),
            "ops_per_second": round(m.ops / m.seconds, 1) if m.seconds else 0.0, **lat,
            "rate_vs_yardstick": round(rate / self.yardstick["per_second"], 3),
            "p50_vs_yardstick": round(lat["p50_ms"] / self.yardstick["p50_ms"], 2),
            "errors": m.errors, **extra,
        }
        if m.error_samples:
            row["error_samples"] = m.error_samples
        self.rows.append(row)
        self._print_row(row)
        return row

    def _print_row(self, row: dict[str, Any]) -> None:
        if not self._header_printed:
            y = self.yardstick
            print(f"\n== {self.name} on {self.server.kind} PostgreSQL "
                  f"{self.conditions['server']['server_version']} "
                  f"({self.conditions['server']['transport']}) ==")
            busy = self.conditions["machine"]["before_run"].get("busy_share_before_run")
            if busy is not None and busy > 0.25:
                print(f"WARNING: the machine was {busy * 100:.0f} % busy with other work "
                      "before this run; figures are noisy")
            print(f"yardstick: {y['per_second']:.0f} commits/s, p50 {y['p50_ms']:.2f} ms, "
                  f"p99 {y['p99_ms']:.2f} ms  ({y['what']})")
            print(f"{'setting':<44} {'rate/s':>9} {'unit':<8} {'x yard':>7} {'p50 ms':>8} "
                  f"{'p99 ms':>8} {'p50 x':>6} {'ops':>7} {'err':>4}")
            self._header_printed = True
        print(f"{row['setting']:<44} {row['rate_per_second']:>9.1f} {row['unit']:<8} "
              f"{row['rate_vs_yardstick']:>7.3f} {row['p50_ms']:>8.2f} {row['p99_ms']:>8.2f} "
              f"{row['p50_vs_yardstick']:>6.1f} {row['ops']:>7} {row['errors']:>4}", flush=True)
        for sample in row.get("error_samples", [])[:3]:
            print(f"    error: {sample}", flush=True)

    def save(self) -> Path | None:
        self.conditions["machine"]["loadavg_at_end"] = list(os.getloadavg())
        document = {
            "name": self.name, "server_kind": self.server.kind,
            "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
            "duration_seconds": round(time.perf_counter() - self.started, 1),
            "conditions": self.conditions, "yardstick": self.yardstick,
            "results": self.rows, "notes": self.notes,
        }
        if getattr(self.args, "no_save", False):
            return None
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        path = RESULTS_DIR / f"{self.name}-{self.server.kind}.json"
        path.write_text(json.dumps(document, indent=2, ensure_ascii=False, default=str) + "\n")
        with (RESULTS_DIR / "history.jsonl").open("a") as history:
            history.write(json.dumps(document, ensure_ascii=False, default=str) + "\n")
        print(f"saved {path.relative_to(ROOT)}")
        return path


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--server", default=None,
                        help="embedded | local (postgresql://postgres@127.0.0.1:5432) | env "
                             "(DATABASE_URL) | a postgresql:// URL. Default: DATABASE_URL if set, "
                             "else the embedded PostgreSQL under var/bench")
    parser.add_argument("--yardstick-seconds", type=float, default=3.0,
                        help="length of the raw INSERT+COMMIT yardstick loop (default 3)")
    parser.add_argument("--no-save", action="store_true",
                        help="print only; do not write bench/results/")
    parser.add_argument("--quiet-wait", type=float, default=30.0,
                        help="wait up to this many seconds for the machine to be <= 25%% busy "
                             "before measuring (0 = don't wait, only record how busy it is; "
                             "default 30)")


def bench_parser(name: str, doc: str | None) -> argparse.ArgumentParser:
    """The command line of `python -m bench.<name>`: its module docstring as the help (kept as
    written) and the arguments every benchmark takes; the script adds its own after them."""
    parser = argparse.ArgumentParser(prog=f"python -m bench.{name}", description=doc,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_arguments(parser)
    return parser


def csv_ints(text: str) -> list[int]:
    """A comma-separated list of whole numbers on the command line (`1,8` -> [1, 8])."""
    return [int(x) for x in text.split(",") if x.strip()]


def main_wrapper(run: Callable[[argparse.Namespace, Server, dict[str, Any] | None], Any],
                 parser: argparse.ArgumentParser, argv: Sequence[str] | None = None) -> int:
    """Parse, resolve the server, run; the script is then also usable from run_all."""
    quiet_logging()
    args = parser.parse_args(argv)
    server = resolve_server(args.server)
    run(args, server, None)
    return 0


def ensure_yardstick(server: Server, args: argparse.Namespace,
                     yardstick: dict[str, Any] | None) -> dict[str, Any]:
    if yardstick is not None:
        return yardstick
    if getattr(args, "quiet_wait", 0) > 0:
        wait_for_quiet(max_wait=args.quiet_wait)
    print(f"measuring the yardstick on {server.kind} ({args.yardstick_seconds:.0f} s)...",
          flush=True)
    return measure_yardstick(server, args.yardstick_seconds)


def stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class Timed:
    """Wraps `owner.attribute` to add up the time and calls spent in it; restore() undoes."""

    def __init__(self, owner: Any, attribute: str) -> None:
        self.owner, self.attribute = owner, attribute
        self.target = getattr(owner, attribute)
        self.seconds, self.calls = 0.0, 0
        setattr(owner, attribute, self)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return self.target(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - started
            self.calls += 1

    def restore(self) -> None:
        setattr(self.owner, self.attribute, self.target)


def end_process(proc: subprocess.Popen[Any], sig: int = signal.SIGTERM,
                timeout: float = 30.0) -> None:
    """Ask a child process to end with `sig`; kill it if it has not within `timeout`."""
    if proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class PySpySampler:
    """py-spy `record --gil` (only samples holding the GIL, i.e. Python CPU) on a running
    process, from now until `stop()`, which answers the sampled stacks for the caller to sum
    up. `threads`: each stack starts with its thread."""

    RATE = 250  # samples per second

    def __init__(self, py_spy: str, pid: int, *, threads: bool = False) -> None:
        self.out = Path(tempfile.mkstemp(prefix="bench-pyspy-", suffix=".txt")[1])
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            [py_spy, "record", "--pid", str(pid), "--format", "raw", "-o", str(self.out),
             "--rate", str(self.RATE), "--nonblocking", "--gil",
             *(["--threads"] if threads else [])],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.0)  # py-spy attaches before the measured work starts

    def stop(self) -> tuple[list[tuple[list[str], int]], float]:
        """The (frames, samples) of every stack seen, and the seconds sampled."""
        seconds = time.perf_counter() - self.started
        end_process(self.proc, signal.SIGINT)
        stacks = []
        for line in self.out.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if count.isdigit():
                stacks.append((stack.split(";"), int(count)))
        self.out.unlink(missing_ok=True)
        return stacks, seconds


def backend_pids(url: str) -> list[int]:
    """The database backends serving this database (only readable when it runs here)."""
    dbname = psycopg.conninfo.conninfo_to_dict(url).get("dbname")
    with psycopg.connect(url, autocommit=True) as conn:
        return [int(r[0]) for r in conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (dbname,)).fetchall()]


def cpu_seconds(pids: Sequence[int]) -> float:
    """User + system CPU seconds the processes have used so far (from /proc; a process gone
    meanwhile counts for nothing)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / ticks
