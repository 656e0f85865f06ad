"""Cold catch-up of the work-order projection over >= 100,000 stored events, and rebuild().

History: generated once per server into a database named `bench_history` (or
`bench_history_service` with --generate service) and reused while its recorded generator
version matches and it holds at least --events events. Every run then copies it
(CREATE DATABASE ... TEMPLATE bench_history), measures on the copy and drops the copy, so the
cached history is never touched by a measurement.

Generation never writes rows: it goes through the domain.
- `--generate aggregates` (default, ~30 s): visits built through the real aggregate methods
  (Customer with personal data sealed through the PostgreSQL key store, the store's
  DocumentCounter, WorkOrder: open, check-in, diagnose, labor and part lines, authorize,
  dispatch, clock on/off with the Technician, complete, QC), 25 visits per app.save().
- `--generate service` (slow, ~10 min for 100k): servicecore.demo.load_demo through the
  WorkOrders service (one command = one save), 4 threads, one store each.

Measured, on the copy:
1. cold catch-up: ProjectionRunner(view, batch_size=500, suffix="_bench") into fresh tables,
   batch by batch (exactly what catch_up() does, timed per batch) - events/s, batch p50/p99,
   and where a batch's time goes (reading notifications, decoding, the view's apply, key store);
2. workers.projection_rebuild.rebuild(...) from event 0 with the swap at the end.

    python -m bench.projection_catchup [--server ...] [--events 100000] [--regenerate]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import math
import os
import pstats
import random
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import psycopg

from bench.common import (
    JWT_SECRET,
    RESULTS_DIR,
    ROOT,
    Measurement,
    Report,
    Server,
    Timed,
    add_common_arguments,
    create_database,
    database_exists,
    drop_database,
    ensure_yardstick,
    main_wrapper,
    system,
    temporary_database,
)
from servicecore.settings import Settings

NAME = "projection_catchup"
# the product's default, not the environment's
DEFAULT_PARTITIONS = Settings.model_fields["projection_rebuild_partitions"].default
GENERATOR_VERSION = 3  # 3: parts are issued from stock items before the job completes
SUFFIX = "_bench"


# -- history ----------------------------------------------------------------------------------

def history_name(mode: str) -> str:
    return "bench_history" if mode == "aggregates" else f"bench_history_{mode}"


def read_meta(url: str) -> dict[str, Any] | None:
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            row = conn.execute("SELECT generator_version, mode, events, created_at "
                               "FROM bench_meta ORDER BY created_at DESC LIMIT 1").fetchone()
            head = conn.execute("SELECT count(*) FROM servicecore_events").fetchone()
    except psycopg.Error:
        return None
    if row is None or head is None:
        return None
    return {"generator_version": row[0], "mode": row[1], "events": int(head[0]),
            "recorded_events": row[2], "created_at": row[3].isoformat()}


def write_meta(url: str, mode: str, seconds: float) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS bench_meta (generator_version int, mode text, "
                     "events bigint, seconds float, created_at timestamptz DEFAULT now())")
        count = conn.execute("SELECT count(*) FROM servicecore_events").fetchone()
        events = int(count[0]) if count else 0
        conn.execute("INSERT INTO bench_meta (generator_version, mode, events, seconds) "
                     "VALUES (%s, %s, %s, %s)", (GENERATOR_VERSION, mode, events, seconds))
        conn.execute("VACUUM ANALYZE servicecore_events")
    return events


def decodes(container: Any, sample: int = 300) -> bool:
    """Do the cached events still decode with today's domain classes?"""
    app = container.app
    try:
        head = app.recorder.max_notification_id() or 0
        for start in (1, max(1, head - sample)):
            for n in app.recorder.select_notifications(start=start, limit=sample):
                app.mapper.to_domain_event(n)
    except Exception as exc:  # noqa: BLE001 - any failure means: regenerate
        print(f"cached history no longer decodes ({type(exc).__name__}: {exc}); regenerating")
        return False
    return True


class VisitBuilder:
    """Service visits through the aggregates' own methods, saved in batches (one save each)."""

    def __init__(self, app: Any, stores: Sequence[str], seed: int = 7) -> None:
        from domain.counter import DocumentCounter
        from domain.technician import Technician

        self.app = app
        self.rng = random.Random(seed)
        self.stores = stores
        self.counters: dict[tuple[str, int], DocumentCounter] = {}
        self.technicians: dict[str, Technician] = {}
        self.stock: dict[tuple[str, str], Any] = {}
        self.n = 0

    def _counter(self, store: str, year: int, audit: Any) -> Any:
        from domain.counter import DocumentCounter

        key = (store, year)
        if key not in self.counters:
            self.counters[key] = DocumentCounter(series="work-order", store_id=store, year=year,
                                                 audit=audit)
        return self.counters[key]

    def _stock(self, store: str, part: str, audit: Any) -> Any:
        """A stock item with a large first delivery, so that every visit's part can be issued."""
        from decimal import Decimal

        from domain.stock import StockItem

        key = (store, part)
        if key not in self.stock:
            item = StockItem(audit=audit, store_id=store, part_number=part, unit="pc",
                             min_stock=Decimal(0))
            item.receive(audit, qty=1_000_000, unit_cost="10.00", supplier="bench",
                         supplier_doc=f"DN-{store}-{part}")
            self.stock[key] = item
        return self.stock[key]

    def _technician(self, user: str, store: str, audit: Any) -> Any:
        from domain.technician import Technician

        if user not in self.technicians:
            self.technicians[user] = Technician(user_id=user, store_id=store, audit=audit)
        return self.technicians[user]

    def visit(self, at: datetime, pending: dict[Any, Any]) -> None:
        from decimal import Decimal

        from domain.common import Audit
        from domain.customer import Customer
        from domain.work_order import WorkOrder
        from domain.work_order_lines import labor_line, part_line
        from domain.work_orders import vehicle_id
        from servicecore.demo import (
            BRANDS,
            COMPLAINTS,
            GIVEN,
            LABOR,
            PARTS,
            SURNAMES,
            make_vin,
        )

        rng = self.rng
        store = self.stores[self.n % len(self.stores)]
        self.n += 1
        correlation = str(uuid4())

        def audit(role: str, user: str, minutes: int = 0) -> Audit:
            return Audit(user, role, store, at + timedelta(minutes=minutes), correlation)

        opened = audit("advisor", "adv-01")
        pii = self.app.personal_data
        customer_id = uuid4()
        sealed = {"name": pii.seal(customer_id, rng.choice(SURNAMES) + rng.choice(GIVEN)),
                  "phone": pii.seal(customer_id, f"13{rng.randint(100000000, 999999999)}"),
                  "wechat_id": None}
        customer = Customer(id=customer_id, audit=opened, kind="person", sealed=sealed)
        counter = self._counter(store, at.year, opened)
        number = counter.take(opened, "WO")
        brand, model = rng.choice(BRANDS)
        vin = make_vin(rng)
        mileage = rng.randint(5_000, 150_000)
        wo = WorkOrder(
            audit=opened, number=number, customer_id=customer_id, customer=sealed,
            vehicle={"vin": vin, "vehicle_id": str(vehicle_id(vin)),
                     "plate": f"沪A{rng.randint(10000, 99999)}", "brand": brand, "model": model,
                     "year": rng.randint(2016, 2025)},
            mileage=mileage, kind=rng.choice(["maintenance", "repair"]), appointment_id=None,
            complaints=[rng.choice(COMPLAINTS)],
        )
        for aggregate in (customer, counter, wo):
            pending[aggregate.id] = aggregate
        stage = rng.random()
        if stage < 0.15:
            return
        wo.check_in_vehicle(audit("advisor", "adv-01", 10),
                            {"mileage_in": mileage + rng.randint(0, 30), "fuel_level": 50,
                             "damage_notes": "", "belongings": "", "promised_at": None})
        wo.diagnose(audit("technician", "tech-01", 15), 1, "worn parts", "replace", ["P0420"])
        op, desc, hours = rng.choice(LABOR)
        wo.add_line(audit("advisor", "adv-01", 20), labor_line(wo.next_line_id(), 1, {
            "op_code": op, "description": desc, "hours": hours, "hourly_rate": "320.00"}))
        part, pdesc, qty, price = rng.choice(PARTS)
        wo.add_line(audit("advisor", "adv-01", 21), part_line(wo.next_line_id(), 1, {
            "part_number": part, "description": pdesc, "qty": qty, "unit_price": price}))
        for line in ("L1", "L2"):
            wo.authorize_line(audit("advisor", "adv-01", 30), line, "approved", "phone", None)
        if stage < 0.3:
            return
        tech = f"tech-0{rng.randint(1, 4)}"
        wo.dispatch(audit("manager", "mgr-01", 40), 1, tech, None)
        on = audit("technician", tech, 60)
        technician = self._technician(tech, store, on)
        pending[technician.id] = technician
        wo.clock_on(on, 1, tech)
        technician.clock_on(on, wo.id, 1)
        off = audit("technician", tech, 60 + rng.randint(40, 150))
        wo.clock_off(off, 1, tech)
        technician.clock_off(off, wo.id, 1)
        if stage < 0.45:
            return
        issued = audit("parts_clerk", "clerk-01", 190)
        item = self._stock(store, part, issued)
        pending[item.id] = item
        line = wo.lines["L2"]
        picks = item.issue(issued, WorkOrder.stock_key(wo.id, "L2"), line["qty"])
        wo.record_issue(issued, "L2", line["qty"], picks,
                        sum((p["qty"] * p["unit_cost"] for p in picks), Decimal(0)))
        wo.complete_job(audit("technician", tech, 200), 1)
        wo.quality_check(audit("manager", "qc-01", 210), 1, True, None)


def generate_aggregates(container: Any, target: int, batch: int = 25) -> None:
    builder = VisitBuilder(container.app, stores=("S01", "S02", "S03", "S04"))
    estimate = math.ceil(target / 14)
    start = datetime.now(UTC) - timedelta(days=365)
    step = timedelta(days=365) / estimate
    saved = 0
    n = 0
    while saved < target:
        pending: dict[Any, Any] = {}
        for _ in range(batch):
            builder.visit(start + step * n, pending)
            n += 1
        recordings = container.app.save(*pending.values())
        saved += len(recordings)
        if n % 1000 < batch:
            print(f"  {saved:,} events, {n:,} visits", flush=True)


def generate_service(container: Any, target: int, threads: int = 4) -> None:
    from servicecore.demo import load_demo

    visits = math.ceil(target / 13 / threads) + 1
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            load_demo(container.work_orders, container.inventory, visits=visits,
                      stores=(f"B{i:02d}",), seed=100 + i)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    workers = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    if errors:
        raise errors[0]


def ensure_history(server: Server, args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    name = history_name(args.generate)
    url = server.url_for(name)
    if database_exists(server, name) and not args.regenerate:
        meta = read_meta(url)
        if (meta and meta["generator_version"] == GENERATOR_VERSION
                and meta["events"] >= args.events):
            with system(url) as container:
                ok = decodes(container)
            if ok:
                print(f"reusing cached history {name}: {meta['events']:,} events "
                      f"(generated {meta['created_at']})")
                return name, {**meta, "reused": True}
        print(f"cached history {name} is stale or too small; regenerating")
    drop_database(server, name)
    create_database(server, name)
    print(f"generating >= {args.events:,} events into {name} ({args.generate} mode)...",
          flush=True)
    started = time.perf_counter()
    try:
        with system(url) as container:
            if args.generate == "aggregates":
                generate_aggregates(container, args.events)
            else:
                generate_service(container, args.events)
        seconds = time.perf_counter() - started
        events = write_meta(url, args.generate, seconds)
    except BaseException:
        drop_database(server, name)
        raise
    print(f"generated {events:,} events in {seconds:.0f} s ({events / seconds:,.0f} events/s)")
    meta = read_meta(url) or {}
    return name, {**meta, "reused": False, "generation_seconds": round(seconds, 1),
                  "generation_events_per_second": round(events / seconds, 1)}


# -- measurements -----------------------------------------------------------------------------

def backend_cpu(container: Any) -> float | None:
    """CPU seconds used so far by the server processes connected to this run's database (when
    the server runs on this machine): with the client's own CPU time, what a run costs apart
    from waiting for the other work of a busy machine."""
    from bench.common import cpu_seconds

    try:
        with container.pool.connection() as conn:
            pids = [int(r[0]) for r in conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database()")]
        return cpu_seconds(pids)
    except (OSError, ValueError, IndexError, psycopg.Error):
        return None


class CpuMeter:
    """Client CPU (this process) and the database backends' CPU over a measurement."""

    def __init__(self, container: Any) -> None:
        self.container = container
        self.client = time.process_time()
        self.server = backend_cpu(container)

    def figures(self, events: int) -> dict[str, Any]:
        client = time.process_time() - self.client
        after = backend_cpu(self.container)
        server = after - self.server if after is not None and self.server is not None else None
        out: dict[str, Any] = {"client_cpu_seconds": round(client, 2),
                               "backend_cpu_seconds": round(server, 2) if server else None}
        if server:
            out["cpu_bound_events_per_second"] = round(events / (client + server))
        out["loadavg_1m"] = round(os.getloadavg()[0], 2)
        try:  # share of time every task waited for the disk over the last 60 s (Linux PSI)
            full = Path("/proc/pressure/io").read_text().splitlines()[1]
            out["io_pressure_full_avg60"] = float(full.split()[2].split("=")[1])
        except (OSError, IndexError, ValueError):
            pass
        return out




def cold_catch_up(report: Report, args: argparse.Namespace, container: Any) -> None:
    from workers.projection_runner import ProjectionRunner

    view = next(v for v in container.views if v.name == "work_orders")
    with container.pool.connection() as conn, conn.transaction():
        for statement in view.drop(SUFFIX):
            conn.execute(statement)
        view.create(conn, SUFFIX)
        conn.execute("DELETE FROM projection_positions WHERE name = %s", (view.name + SUFFIX,))
    runner = ProjectionRunner(container.app, container.pool, view, batch_size=args.batch_size,
                              suffix=SUFFIX)
    app = container.app
    timers = {
        "reader.read (DB read of the batch: 5 columns)": Timed(runner.reader, "read"),
        "reader.stored (orjson: the stored JSON, undecoded)": Timed(runner.reader, "stored"),
        "reader.decode (orjson + transcodings, event object)": Timed(runner.reader, "decode"),
        "view.apply (fold + read/write wo_view rows)": Timed(view, "apply"),
        "view._flush (one upsert of the changed docs)": Timed(view, "_flush"),
        "key store get_keys (sealed name/phone, per batch)":
            Timed(app.personal_data.keys, "get_keys"),
    }
    profile = cProfile.Profile() if args.profile else None
    latencies: list[float] = []
    events = 0
    cpu = CpuMeter(container)
    started = time.perf_counter()
    try:
        while True:
            if profile is not None and len(latencies) < args.profile_batches:
                profile.enable()
            t0 = time.perf_counter()
            count = runner.run_batch()
            elapsed = time.perf_counter() - t0
            if profile is not None:
                profile.disable()
            if not count:
                break
            latencies.append(elapsed)
            events += count
    finally:
        wall = time.perf_counter() - started
        for timer in timers.values():
            timer.restore()
    m = Measurement(ops=len(latencies), units=events, seconds=wall, latencies=latencies)
    with container.pool.connection() as conn:
        rows = conn.execute(f"SELECT count(*) FROM wo_view{SUFFIX}").fetchone()
        opened = conn.execute("SELECT count(*) FROM servicecore_events "
                              "WHERE topic LIKE %s", ("%WorkOrder.Opened%",)).fetchone()
    parts = {label: {"calls": t.calls, "seconds": round(t.seconds, 3),
                     "share_of_catch_up": round(t.seconds / wall, 3),
                     "us_per_event": round(t.seconds / events * 1e6, 1) if events else None}
             for label, t in timers.items()}
    used = cpu.figures(events)
    report.add(f"cold catch-up, batch_size {args.batch_size} (latency = 1 batch)", m, **used,
               batches=len(latencies), view_rows=rows[0] if rows else None,
               work_orders_in_log=opened[0] if opened else None, parts=parts)
    print(f"    {events:,} events in {wall:.1f} s; {rows[0] if rows else '?'} work orders in "
          f"wo_view{SUFFIX} (log has {opened[0] if opened else '?'}); CPU: client "
          f"{used['client_cpu_seconds']} s, database {used['backend_cpu_seconds']} s "
          f"(= {used.get('cpu_bound_events_per_second', '?')} events/s without waiting); "
          f"where the time goes:")
    for label, part in parts.items():
        print(f"      {label:<62} {part['share_of_catch_up'] * 100:5.1f} %  "
              f"{part['us_per_event']:>7} us/event  ({part['calls']} calls)")
    if profile is not None:
        text = io.StringIO()
        stats = pstats.Stats(profile, stream=text)
        stats.sort_stats("cumulative").print_stats(50)
        stats.sort_stats("tottime").print_stats(30)
        if args.no_save:
            print(text.getvalue())
        else:
            path = RESULTS_DIR / f"{NAME}-{report.server.kind}.profile.txt"
            RESULTS_DIR.mkdir(parents=True, exist_ok=True)
            path.write_text(text.getvalue())
            print(f"    cProfile of the first {args.profile_batches} batches: "
                  f"{path.relative_to(ROOT)}")


def timed_rebuild(report: Report, args: argparse.Namespace, container: Any,
                  warm: bool = False) -> None:
    """rebuild() as `projections rebuild` runs it; with --partitions N above 1, filled in N
    hash partitions: this process takes the first, N - 1 helper processes the others, their
    start-up timed too unless `warm` (`projections rebuild` starts them beside its own
    start-up: timed here from when they are ready). CPU = this process's and its backends',
    plus each helper's (start-up included) and its backends' (bench/partition_cpu.py)."""
    import tempfile

    from bench.partition_cpu import OUT_DIR, measured_partition
    from servicecore.partition_helpers import PartitionHelpers
    from workers.projection_rebuild import rebuild

    view = next(v for v in container.views if v.name == "work_orders")
    partitions = args.partitions
    helpers = None
    with tempfile.TemporaryDirectory() as out:
        os.environ[OUT_DIR] = out
        if warm and partitions > 1:
            helpers = PartitionHelpers(partitions, task=measured_partition)
            for ready in helpers.warming:
                ready.result()
        cpu = CpuMeter(container)
        started = time.perf_counter()
        if partitions > 1 and helpers is None:
            helpers = PartitionHelpers(partitions, task=measured_partition)
        try:
            fill = (helpers.fill(container, view, args.rebuild_batch_size, live=False)
                    if helpers is not None else None)
            result = rebuild(container.app, container.pool, view,
                             batch_size=args.rebuild_batch_size, fill=fill)
            wall = time.perf_counter() - started
        finally:
            if helpers is not None:
                helpers.close()
        events = int(result["events"])
        used = cpu.figures(events)
        children = [json.loads(path.read_text()) for path in Path(out).glob("*.json")]
    if children:
        used["partition_processes"] = children
        # a helper started ahead had its start-up before the clock started: not counted
        used["client_cpu_seconds"] = round(used["client_cpu_seconds"] + sum(
            c["client_cpu_seconds"] - (c["start_up_cpu_seconds"] if warm else 0)
            for c in children), 2)
        if used["backend_cpu_seconds"] is not None:
            used["backend_cpu_seconds"] = round(used["backend_cpu_seconds"] + sum(
                c["backend_cpu_seconds"] for c in children), 2)
            used["cpu_bound_events_per_second"] = round(
                events / (used["client_cpu_seconds"] + used["backend_cpu_seconds"]))
    m = Measurement(ops=1, units=events, seconds=wall, latencies=[wall])
    label = (f", {partitions} partitions, helpers {'started ahead' if warm else 'timed'}"
             if partitions > 1 else "")
    report.add(f"rebuild(), batch_size {args.rebuild_batch_size}{label} (latency = whole "
               f"rebuild)", m, rebuild_result=result, partitions=partitions, **used)
    print(f"    rebuild CPU{label}: client {used['client_cpu_seconds']} s, database "
          f"{used['backend_cpu_seconds']} s (= {used.get('cpu_bound_events_per_second', '?')} "
          f"events/s without waiting)")


def parallel_rebuilds(report: Report, args: argparse.Namespace, url: str,
                      container: Any) -> None:
    """Every projection rebuilt as `servicecore projections rebuild` does it, `n` at once in
    processes of their own; rate = events of the log / wall time for all of them."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from servicecore.rebuilds import rebuild_in_process

    names = [v.name for v in container.views]
    env = {"DATABASE_URL": url, "SERVICECORE_DATA_DIR": str(container.settings.data_dir),
           "SERVICECORE_JWT_SECRET": JWT_SECRET,
           "SERVICECORE_PROJECTION_REBUILD_BATCH_SIZE": str(args.rebuild_batch_size),
           "SERVICECORE_PROJECTION_REBUILD_PARTITIONS": str(args.partitions)}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        for n in args.parallel:
            started = time.perf_counter()
            with ProcessPoolExecutor(n, mp_context=multiprocessing.get_context("spawn")) as pool:
                results = list(pool.map(rebuild_in_process, names, [url] * len(names)))
            wall = time.perf_counter() - started
            events = max(int(r["events"]) for r in results)
            m = Measurement(ops=1, units=events, seconds=wall, latencies=[wall])
            report.add(f"projections rebuild: all {len(names)} projections, {n} at once "
                       f"(rate = log events / wall; latency = all)", m,
                       per_projection={r["projection"]: {
                           "seconds": round(r["seconds"], 2),
                           "events_per_second": round(r["events_per_second"], 1)}
                           for r in results})
            print("    " + ", ".join(f"{r['projection']} {r['events_per_second']:,.0f}/s"
                                     for r in results))
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def run(args: argparse.Namespace, server: Server, yardstick: dict[str, Any] | None) -> Report:
    yardstick = ensure_yardstick(server, args, yardstick)
    report = Report(NAME, server, args, yardstick, rate_unit="events")
    template, meta = ensure_history(server, args)
    report.notes["history"] = {"database": template, **meta}
    with temporary_database(server, "proj", template=template) as url, system(url) as container:
        cold_catch_up(report, args, container)
        if args.rebuild:
            timed_rebuild(report, args, container)
            if args.partitions > 1:
                timed_rebuild(report, args, container, warm=True)
        if args.parallel:
            parallel_rebuilds(report, args, url, container)
    report.save()
    return report


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.projection_catchup", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_arguments(p)
    p.add_argument("--events", type=int, default=100_000,
                   help="at least this many events in the history (default 100000)")
    p.add_argument("--generate", choices=("aggregates", "service"), default="aggregates",
                   help="how the history is made (see above; default aggregates)")
    p.add_argument("--regenerate", action="store_true", help="ignore a cached history")
    p.add_argument("--batch-size", type=int, default=500)
    p.add_argument("--no-rebuild", dest="rebuild", action="store_false",
                   help="measure the cold catch-up only")
    p.add_argument("--rebuild-batch-size", type=int, default=5000,
                   help="batch size of the rebuild (default 5000, as `projections rebuild`)")
    p.add_argument("--partitions", type=int, default=DEFAULT_PARTITIONS,
                   help="rebuild() and --parallel's rebuilds fill the work-order view in this "
                        "many hash partitions, one process each (default "
                        f"{DEFAULT_PARTITIONS}, what `projections rebuild` does by default: "
                        "SERVICECORE_PROJECTION_REBUILD_PARTITIONS; 1 = one process)")
    p.add_argument("--parallel", type=lambda v: [int(x) for x in v.split(",") if x],
                   default=[],
                   help="also rebuild every projection, N at once (e.g. 1,2; default: skip)")
    p.add_argument("--profile", action="store_true",
                   help="cProfile the first --profile-batches batches of the catch-up")
    p.add_argument("--profile-batches", type=int, default=20)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    return main_wrapper(run, parser(), argv)


if __name__ == "__main__":
    raise SystemExit(main())
