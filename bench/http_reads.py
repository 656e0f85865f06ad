"""Reads of one item through the real server, and a mixed workload at a fixed offered rate.

The API runs as `servicecore serve` (the production entry point: composition root, uvicorn,
access log as shipped, projections in the serving process) in a subprocess on a free port,
with SERVICECORE_WORKERS=N worker processes (`--workers 1,2`). The database is fresh: a
small dataset is made through the command path first (parts registered and received in store
S01, front-desk visits opened - open, check-in, labor line, part line, authorize x2), then the
server starts and its projections catch up before anything is measured.

The client is a small asyncio HTTP/1.1 client in this process (keep-alive, one request in
flight per connection): it costs far less CPU per request than httpx in threads, which on a
2-core machine would measure the client.

Settings:
- closed loop, C connections sending back to back for `--seconds`: `GET /stock/{store}/{part}`
  and `GET /work-orders/{id}` (random items of the dataset), then the same GETs with
  `?wait_for=<a position the read model has reached>` (the read-your-writes path when nothing
  needs waiting for);
- read-your-writes: a POST receipt, then a GET of the same item with `?wait_for=` its
  notification id (1 connection), the pair timed;
- open loop, the mixed workload: 80 % GET (one stock item or one work order, half each) and
  20 % POST (a receipt of 1 unit on a random stock item), scheduled at a fixed offered rate
  (`--rate`, 500/s) for `--mixed-seconds`; latency is measured from the scheduled moment (a
  late start counts), so a server that falls behind shows it.

Per setting: requests/s, p50 / p99 / max, and the CPU seconds the server's processes (the
serve process and its workers) and the database backends of this database used, so that
"requests per CPU-second" says what one core buys whatever else runs on the machine.

    python -m bench.http_reads [--server ...] [--workers 1,2] [--connections 1,8]
                               [--seconds 6] [--rate 500] [--mixed-seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

from api.auth import mint_token
from bench.common import (
    JWT_SECRET,
    ROOT,
    Measurement,
    PySpySampler,
    Report,
    Server,
    backend_pids,
    bench_parser,
    cpu_seconds,
    csv_ints,
    end_process,
    ensure_yardstick,
    latency_summary,
    main_wrapper,
    system,
    temporary_database,
)
from bench.http_commands import free_port
from bench.workload import STORE, VisitClient, direct_sender
from domain.application import Request
from domain.common import Caller

NAME = "http_reads"
# uvicorn closes a keep-alive connection after 5 s without a request; one idle longer than
# this is not reused by the open loop (a request sent as the server closes it would fail).
IDLE_REUSE_SECONDS = 3.0
RECEIPT = {"qty": 1, "unit_cost": "12.50", "supplier": "Bosch China", "supplier_doc": "DN-bench"}


# -- the dataset ------------------------------------------------------------------------------

@dataclass
class Dataset:
    parts: list[str]
    work_orders: list[str]


def _clerk() -> Request:
    return Request(Caller("clerk-01", "parts_clerk", (STORE,), datetime.now(UTC), str(uuid4())))


def build_dataset(url: str, parts: int, visits: int) -> Dataset:
    numbers = [f"BR{n:07d}" for n in range(parts)]
    work_orders: list[str] = []
    with system(url) as container:
        inventory = container.inventory
        for n, number in enumerate(numbers):
            inventory.register_part(_clerk(), part_number=number, details={
                "name": f"brake pad set {n}", "unit": "set", "category": "brake", "barcode": f"69{n:011d}"},
                list_price="560.00")
            inventory.receive(_clerk(), STORE, number, qty=50, unit_cost="300.00",
                              supplier="Bosch China", supplier_doc=f"DN-{n:06d}")
        visit = VisitClient(0, direct_sender(container.work_orders))
        for _ in range(visits):
            for _step in range(6):
                visit.next()
            work_orders.append(str(visit.work_order))
    return Dataset(numbers, work_orders)


# -- the server -------------------------------------------------------------------------------

class Serve:
    """`servicecore serve` with N workers, in a subprocess of ours; SIGTERM at the end."""

    def __init__(self, database_url: str, workers: int) -> None:
        self.port = free_port()
        self.data_dir = tempfile.mkdtemp(prefix="servicecore-bench-reads-")
        env = {**os.environ, "DATABASE_URL": database_url, "SERVICECORE_JWT_SECRET": JWT_SECRET,
               "SERVICECORE_PORT": str(self.port), "SERVICECORE_DATA_DIR": self.data_dir,
               "SERVICECORE_WORKERS": str(workers)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "servicecore.cli", "serve"], cwd=ROOT, env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    async def wait_ready(self, probe: Callable[[], Any], timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"servicecore serve exited with {self.proc.returncode}")
            try:
                if await probe():
                    return
            except OSError:
                pass
            await asyncio.sleep(0.3)
        raise RuntimeError("servicecore serve did not become ready")

    def pids(self) -> list[int]:
        """The serve process and its descendants (uvicorn's worker processes)."""
        children: dict[int, list[int]] = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                except (OSError, IndexError, ValueError):
                    continue
                children.setdefault(ppid, []).append(int(entry.name))
        found, todo = [], [self.proc.pid]
        while todo:
            pid = todo.pop()
            found.append(pid)
            todo += children.get(pid, [])
        return found

    def stop(self) -> None:
        end_process(self.proc)


class Sampler:
    """py-spy on the 1-worker server: the share of each thread, and the functions the
    request path spends its GIL time in."""

    def __init__(self, pid: int, py_spy: str) -> None:
        self.spy = PySpySampler(py_spy, pid, threads=True)

    def finish(self, requests: int) -> dict[str, Any]:
        stacks, seconds = self.spy.stop()
        rate = self.spy.RATE
        threads: dict[str, int] = {}
        inclusive: dict[str, int] = {}
        leaf: dict[str, int] = {}
        total = in_requests = 0
        for frames, n in stacks:
            total += n
            thread = next((f for f in frames[1:4] if "threading.py" not in f
                           and "<frozen" not in f), frames[0])
            if any("run_asgi" in f for f in frames):
                thread = "request path (uvicorn run_asgi)"
                in_requests += n
                for frame in set(frames):
                    inclusive[frame] = inclusive.get(frame, 0) + n
                leaf[frames[-1]] = leaf.get(frames[-1], 0) + n
            threads[thread] = threads.get(thread, 0) + n
        if not total or not requests:
            return {"error": "py-spy recorded nothing (ptrace not permitted?)"}

        def ranked(counts: dict[str, int], top: int) -> dict[str, float]:
            return {k: round(v / total, 3)
                    for k, v in sorted(counts.items(), key=lambda kv: -kv[1])[:top]}

        summary = {
            "what": "py-spy --gil --threads on the serve process; shares of all GIL samples",
            "gil_held_share_of_wall": round(total / rate / seconds, 3),
            "gil_ms_per_request": round(total / rate / requests * 1000, 3),
            "request_path_ms_per_request": round(in_requests / rate / requests * 1000, 3),
            "threads": ranked(threads, 12), "request_path_inclusive": ranked(inclusive, 60),
            "request_path_self": ranked(leaf, 30)}
        print(f"    py-spy: GIL held {summary['gil_ms_per_request']} ms per request, "
              f"{summary['request_path_ms_per_request']} ms of it in the request path",
              flush=True)
        return summary


# -- a small HTTP/1.1 client ------------------------------------------------------------------

class Connection:
    def __init__(self, port: int, token: str) -> None:
        self.port = port
        self.auth = f"Authorization: Bearer {token}\r\n".encode()
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: Any = None) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        payload = json.dumps(body).encode() if body is not None else b""
        head = (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n").encode() + self.auth
        if body is not None:
            head += (f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
                     ).encode()
        self.writer.write(head + b"\r\n" + payload)
        response_head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(response_head[9:12])
        length = 0
        for line in response_head.split(b"\r\n")[1:]:
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


@dataclass
class Run:
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)

    def measurement(self) -> Measurement:
        return Measurement(ops=len(self.latencies), units=len(self.latencies),
                           seconds=self.seconds, latencies=self.latencies,
                           errors=len(self.errors), error_samples=self.errors[:5])


Call = Callable[[Connection, random.Random], Any]


async def closed_loop(connections: list[Connection], call: Call, seconds: float) -> Run:
    run = Run()
    deadline = time.perf_counter() + seconds

    async def client(i: int) -> None:
        rng = random.Random(i)
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            try:
                await call(connections[i], rng)
            except Exception as exc:  # noqa: BLE001 - counted and reported
                run.errors.append(f"{type(exc).__name__}: {exc}"[:300])
                continue
            run.latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(client(i) for i in range(len(connections))))
    run.seconds = time.perf_counter() - started
    return run


async def open_loop(port: int, token: str, calls: Sequence[tuple[float, Call]], rate: float,
                    seconds: float, max_connections: int = 64) -> Run:
    """Requests start at fixed moments (rate per second); latency counts from the moment."""
    run = Run()
    idle: list[tuple[float, Connection]] = []  # (when it was last answered, the connection)
    opened: list[Connection] = []
    rng = random.Random(5)
    weights = [w for w, _ in calls]
    slots = asyncio.Semaphore(max_connections)
    tasks: list[asyncio.Task[None]] = []

    async def one(scheduled: float, call: Call) -> None:
        async with slots:
            conn = None
            while idle and conn is None:
                used, conn = idle.pop()
                if time.perf_counter() - used > IDLE_REUSE_SECONDS:
                    conn.close()  # the server may be closing it (keep-alive timeout): not reused
                    conn = None
            if conn is None:
                conn = Connection(port, token)
                opened.append(conn)
            try:
                await call(conn, rng)
            except Exception as exc:  # noqa: BLE001 - counted and reported
                run.errors.append(f"{type(exc).__name__}: {exc}"[:300])
                conn.close()
                return
            run.latencies.append(time.perf_counter() - scheduled)
            idle.append((time.perf_counter(), conn))

    total = int(rate * seconds)
    started = time.perf_counter()
    for i in range(total):
        at = started + i / rate
        delay = at - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        call = rng.choices(calls, weights)[0][1]
        tasks.append(asyncio.create_task(one(at, call)))
    await asyncio.gather(*tasks)
    run.seconds = time.perf_counter() - started
    for conn in opened:
        conn.close()
    return run


# -- the settings -----------------------------------------------------------------------------

def _expect(status: int, body: bytes, wanted: int = 200) -> bytes:
    if status != wanted:
        raise RuntimeError(f"HTTP {status} {body[:200]!r}")
    return body


def calls(data: Dataset, wait_for: Callable[[], int | None]) -> dict[str, Call]:
    def query() -> str:
        position = wait_for()
        return f"?wait_for={position}" if position is not None else ""

    async def stock_item(conn: Connection, rng: random.Random) -> None:
        _expect(*await conn.request("GET", f"/stock/{STORE}/{rng.choice(data.parts)}"
                                           + query()))

    async def work_order(conn: Connection, rng: random.Random) -> None:
        _expect(*await conn.request("GET", f"/work-orders/{rng.choice(data.work_orders)}"
                                           + query()))

    async def receipt(conn: Connection, rng: random.Random) -> None:
        _expect(*await conn.request("POST", f"/stock/{STORE}/{rng.choice(data.parts)}/receipts",
                                    RECEIPT), 201)

    async def receipt_then_read(conn: Connection, rng: random.Random) -> None:
        number = rng.choice(data.parts)
        body = _expect(*await conn.request("POST", f"/stock/{STORE}/{number}/receipts",
                                           RECEIPT), 201)
        nid = json.loads(body)["notification_id"]
        item = json.loads(_expect(*await conn.request(
            "GET", f"/stock/{STORE}/{number}?wait_for={nid}")))
        if item["version"] < json.loads(body)["version"]:
            raise RuntimeError("read-your-writes: the GET did not show the receipt")

    return {"GET /stock/{store}/{part}": stock_item, "GET /work-orders/{id}": work_order,
            "POST /stock/{store}/{part}/receipts": receipt,
            "POST receipt + GET ?wait_for=": receipt_then_read}


async def measure_server(report: Report, args: argparse.Namespace, url: str, data: Dataset,
                         workers: int) -> None:
    clerk = mint_token(JWT_SECRET, "clerk-01", "parts_clerk", [STORE])
    manager = mint_token(JWT_SECRET, "mgr-01", "manager", [STORE])
    serve = Serve(url, workers)
    reached: list[int] = []
    plain, waiting = calls(data, lambda: None), calls(data, lambda: reached[0])
    try:
        probe = Connection(serve.port, manager)

        async def ready() -> bool:
            status, body = await probe.request("GET", "/health")
            return status == 200 and all(
                p.get("lag", 1) == 0 for p in json.loads(body).get("projections", {}).values())

        await serve.wait_ready(ready)
        _, body = await probe.request("GET", "/health")
        reached.append(min(p["position"] for p in json.loads(body)["projections"].values()))
        probe.close()
        pids = serve.pids()
        label = f"{workers} worker{'s' if workers > 1 else ''}"

        async def measured(setting: str, work: Any, spy: bool = False,
                           warm: Call | None = None, **extra: Any) -> None:
            if args.only and not any(part in setting for part in args.only):
                work.close()  # the coroutine is not run
                return
            # Warm up the connection path; before the mix, every kind of its requests on 8
            # connections, so that each worker has routed each kind once and its pools are
            # grown (FastAPI builds an included router's route table on its first request:
            # about 1 s of CPU per worker) before anything is measured.
            warm_conns = [Connection(serve.port, manager) for _ in range(8 if warm else 1)]
            await closed_loop(warm_conns, warm or plain["GET /stock/{store}/{part}"],
                              2.0 if warm else 0.5)
            for conn in warm_conns:
                conn.close()
            backends = backend_pids(url)
            sampler = Sampler(serve.proc.pid, args.py_spy) if spy and args.py_spy else None
            before = (cpu_seconds(pids), cpu_seconds(backends), os.getloadavg()[0])
            run = await work
            after = (cpu_seconds(pids), cpu_seconds(backends), os.getloadavg()[0])
            if sampler is not None:
                report.notes[f"py_spy: {setting}, {label}"] = sampler.finish(len(run.latencies))
            api_cpu, db_cpu = after[0] - before[0], after[1] - before[1]
            n = len(run.latencies)
            report.add(f"{setting}, {label}", run.measurement(), rate_unit="requests",
                       workers=workers, api_cpu_seconds=round(api_cpu, 2),
                       db_cpu_seconds=round(db_cpu, 2),
                       requests_per_api_cpu_second=round(n / api_cpu, 1) if api_cpu else None,
                       requests_per_api_and_db_cpu_second=(
                           round(n / (api_cpu + db_cpu), 1) if api_cpu + db_cpu else None),
                       loadavg_1min=after[2], **extra)
            if api_cpu:
                print(f"    {n / api_cpu:,.0f} requests per API CPU-second "
                      f"({api_cpu:.1f} s API, {db_cpu:.1f} s database; load {after[2]:.1f})",
                      flush=True)

        for name in ("GET /stock/{store}/{part}", "GET /work-orders/{id}"):
            for connections in args.connections:
                conns = [Connection(serve.port, manager) for _ in range(connections)]
                await measured(f"{name}, {connections} conn",
                               closed_loop(conns, plain[name], args.seconds),
                               spy=workers == 1 and connections == max(args.connections),
                               connections=connections, loop="closed")
                for conn in conns:
                    conn.close()
        conns = [Connection(serve.port, manager) for _ in range(max(args.connections))]
        await measured(f"GET /stock/{{store}}/{{part}}?wait_for=<reached>, "
                       f"{len(conns)} conn",
                       closed_loop(conns, waiting["GET /stock/{store}/{part}"], args.seconds),
                       connections=len(conns), loop="closed")
        for conn in conns:
            conn.close()
        conn = Connection(serve.port, clerk)
        await measured("POST receipt + GET ?wait_for= (pair), 1 conn",
                       closed_loop([conn], plain["POST receipt + GET ?wait_for="],
                                   args.seconds), connections=1, loop="closed")
        conn.close()
        mix = [(0.4, plain["GET /stock/{store}/{part}"]), (0.4, plain["GET /work-orders/{id}"]),
               (0.2, plain["POST /stock/{store}/{part}/receipts"])]
        async def any_of_the_mix(conn: Connection, rng: random.Random) -> None:
            await rng.choices([c for _, c in mix], [w for w, _ in mix])[0](conn, rng)

        await measured(f"mixed 80% GET / 20% POST at {args.rate:g}/s offered",
                       open_loop(serve.port, manager, mix, args.rate, args.mixed_seconds),
                       warm=any_of_the_mix, loop="open", offered_per_second=args.rate)
    finally:
        serve.stop()


def run(args: argparse.Namespace, server: Server, yardstick: dict[str, Any] | None) -> Report:
    yardstick = ensure_yardstick(server, args, yardstick)
    report = Report(NAME, server, args, yardstick, rate_unit="requests")
    report.notes["server"] = ("`servicecore serve` in a subprocess (uvicorn, access log as "
                              "shipped, projections in the serving process), "
                              "SERVICECORE_WORKERS worker processes")
    report.notes["client"] = ("asyncio HTTP/1.1 keep-alive connections in the bench process, "
                              "one request in flight per connection")
    report.notes["mixed"] = (f"open loop at {args.rate:g} requests/s offered for "
                             f"{args.mixed_seconds:g} s: 40 % GET /stock/S01/<part>, 40 % GET "
                             "/work-orders/<id>, 20 % POST /stock/S01/<part>/receipts (qty 1); "
                             "latency from the scheduled start")
    with temporary_database(server, "reads") as url:
        started = time.perf_counter()
        data = build_dataset(url, args.parts, args.visits)
        report.notes["dataset"] = {
            "parts": args.parts, "visits": args.visits,
            "seconds": round(time.perf_counter() - started, 1)}
        print(f"dataset: {args.parts} parts received in {STORE}, {args.visits} visits "
              f"({report.notes['dataset']['seconds']} s)", flush=True)
        for workers in args.workers:
            asyncio.run(measure_server(report, args, url, data, workers))
    report.notes["latency_note"] = latency_summary.__doc__
    report.save()
    return report


def parser() -> argparse.ArgumentParser:
    p = bench_parser(NAME, __doc__)
    p.add_argument("--workers", type=csv_ints, default=[1, 2],
                   help="SERVICECORE_WORKERS values to measure, comma-separated (default 1,2)")
    p.add_argument("--connections", type=csv_ints, default=[1, 8],
                   help="closed-loop connections, comma-separated (default 1,8)")
    p.add_argument("--seconds", type=float, default=6.0, help="per closed-loop setting (6)")
    p.add_argument("--rate", type=float, default=500.0,
                   help="offered requests/s of the mixed workload (500)")
    p.add_argument("--mixed-seconds", type=float, default=10.0)
    p.add_argument("--py-spy", default=os.environ.get("PY_SPY") or shutil.which("py-spy"),
                   help="a py-spy binary: sample the 1-worker server (GIL held = CPU) during "
                        "the GET runs with the most connections ('' = off)")
    p.add_argument("--only", type=lambda text: [t for t in text.split(",") if t], default=[],
                   help="run only the settings whose name contains one of these, "
                        "comma-separated (e.g. 'pair,mixed')")
    p.add_argument("--parts", type=int, default=300, help="parts in the dataset (300)")
    p.add_argument("--visits", type=int, default=300, help="work orders in the dataset (300)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    return main_wrapper(run, parser(), argv)


if __name__ == "__main__":
    raise SystemExit(main())
