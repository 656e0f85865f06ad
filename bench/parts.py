"""Parts: issuing stock to work orders (commands), and stock queries on 10,000 parts x 3 stores.

Dataset: built once per server into the database `bench_parts_10k` (`bench_parts_<N>` with
--parts N) through the real command path - `Inventory.register_part` for every part of the
master, then `Inventory.receive` of one lot per part and store (which opens the stock item:
`StockItem.Opened` + `Received`), from --load-threads threads - and the `StockView` projection
caught up. About 10,000 + 30,000 commands and 70,000 events. Reused while its `bench_meta` row
has the current dataset version and the counts still check out (parts and stock rows in the
read model, stored events, the projection at the head of the log, a sample that decodes with
today's domain classes). Measurements never write to it: the commands run on a copy
(CREATE DATABASE ... TEMPLATE bench_parts_10k, dropped at the end); the queries only read.
Drop it with `DROP DATABASE bench_parts_10k`.

Measured:
1. load (only when the dataset is built in this run): register_part and receive, commands/s,
   events/s and latency per command;
2. on the copy: cold catch-up of StockView into fresh `_bench` tables over the whole log,
   batch by batch (events/s, split into part-master batches and stock batches, SQL statements
   per batch);
3. on the copy: `WorkOrders.issue_part` - work orders prepared beforehand (open, check-in,
   part line for a part with ample stock, approval = reservation, dispatch; each work order on
   its own stock item), then timed issues: directly through the service with 1 and 8 threads
   (a fresh container, so the aggregates are not in its cache, as for the API server), and
   through HTTP (uvicorn subprocess, keep-alive clients) with 1 and 8 clients; plus a
   single-thread instrumented run (where an issue's time goes, SQL statements per issue), and
   the StockView catch-up over the events the issue workload stored;
4. on the dataset: stock queries through `projections.stock_queries` on a pooled connection
   (one checkout per query, as the routes do), one type at a time with 1 client, and a mix with
   8 threads; the single-item GET, the filtered list and the part search through HTTP; and
   EXPLAIN ANALYZE of every statement the query functions send, with a what-if for the part
   search (trigram + text_pattern_ops indexes, created in a transaction that is rolled back).

    python -m bench.parts [--server ...] [--quick] [--parts 10000] [--load-threads 4]

About 3-4 minutes on 2 cores with the dataset cached (about 1 minute with --quick), plus
2-2.5 minutes the first time, to build the dataset.
"""

from __future__ import annotations

import argparse
import collections
import functools
import json
import os
import random
import shutil
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Self
from uuid import UUID, uuid4

import httpx
import psycopg

from api.auth import mint_token
from bench.common import (
    JWT_SECRET,
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
    run_threads,
    system,
    temporary_database,
)
from bench.http_server import count_conflicts
from domain.application import Request
from domain.common import Caller

NAME = "parts"
DATASET_VERSION = 1
STORES = ("S01", "S02", "S03")
SUFFIX = "_bench"
# what a part is called: (component, unit, category); the name is "<component> <model>"
COMPONENTS = [
    ("front brake pads", "set", "brake"), ("rear brake pads", "set", "brake"),
    ("brake disc", "pc", "brake"), ("oil filter", "pc", "maintenance"),
    ("air filter", "pc", "maintenance"), ("cabin filter", "pc", "maintenance"),
    ("spark plug", "pc", "engine"), ("timing belt", "pc", "engine"),
    ("water pump", "pc", "engine"), ("engine oil 5W-30", "L", "fluid"),
    ("coolant G13", "L", "fluid"), ("wiper blade", "pc", "accessory"),
    ("floor mats", "set", "accessory"), ("headlamp bulb H7", "pc", "electrical"),
    ("battery 12V 60Ah", "pc", "electrical"), ("clutch kit", "set", "transmission"),
    ("shock absorber", "pc", "other"), ("tyre 205/55 R16", "pc", "tyre"),
    ("door mirror glass", "pc", "body"), ("HV coolant pump", "pc", "ev"),
]
MODELS = [("Volkswagen", "Lavida"), ("Volkswagen", "Sagitar"), ("Volkswagen", "Tiguan L"),
          ("Toyota", "Camry"), ("Toyota", "Corolla"), ("Honda", "Accord"), ("Honda", "Civic"),
          ("BYD", "Han EV"), ("BYD", "Qin PLUS"), ("Buick", "GL8"), ("Nissan", "Sylphy"),
          ("Audi", "A6L")]
GROUPS = ["5Q0", "1K0", "06L", "04E", "3G0", "5N0", "7N0", "G05", "WHT", "N10"]
SUPPLIERS = ["FAW-VW Parts Distribution", "GAC Toyota Parts", "Bosch China",
             "Continental Automotive", "BYD Auto Parts"]
# name substrings a clerk types (each matches 1/20 or 1/12 of the master, ~500-850 of 10k)
NAME_WORDS = ["brake disc", "oil filter", "spark", "coolant", "lavida", "han ev", "mirror",
              "camry"]


# -- the dataset ------------------------------------------------------------------------------

def part_number(n: int) -> str:
    return f"{GROUPS[n % len(GROUPS)]}{n:06d}"


def barcode(n: int) -> str:
    return f"69{n:011d}"


def part_spec(n: int) -> dict[str, Any]:
    component, unit, category = COMPONENTS[n % len(COMPONENTS)]
    brand, model = MODELS[(n // len(COMPONENTS)) % len(MODELS)]
    return {
        "part_number": part_number(n),
        "details": {"name": f"{component} {model}", "unit": unit, "category": category,
                    "fitment": {"brands": [brand], "models": [model]},
                    "min_stock": 2 + n % 4, "reorder_qty": 10,
                    "preferred_supplier": SUPPLIERS[n % len(SUPPLIERS)],
                    "barcode": barcode(n)},
        "list_price": f"{20 + (n * 37) % 1980}.00",
    }


def receipt_spec(n: int, store_index: int) -> dict[str, Any]:
    price = Decimal(20 + (n * 37) % 1980)
    return {"qty": 20 + (n * 7 + store_index * 13) % 180,
            "unit_cost": str((price * Decimal("0.6")).quantize(Decimal("0.01"))),
            "supplier": SUPPLIERS[n % len(SUPPLIERS)],
            "supplier_doc": f"DN-{STORES[store_index]}-{n:06d}",
            "cert_ref": f"CCC-{n:06d}" if n % 3 == 0 else None}


def dataset_name(parts: int) -> str:
    return f"bench_parts_{parts // 1000}k" if parts % 1000 == 0 else f"bench_parts_{parts}"


def clerk(stores: Sequence[str] = STORES) -> Request:
    return Request(Caller("clerk-01", "parts_clerk", tuple(stores), datetime.now(UTC),
                          str(uuid4())))


def count_events(url: str, after: int = 0) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM servicecore_events WHERE notification_id > %s",
                           (after,)).fetchone()
    return int(row[0]) if row else 0


def head(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT coalesce(max(notification_id), 0) "
                           "FROM servicecore_events").fetchone()
    return int(row[0]) if row else 0


def run_queue(threads: int, work: Sequence[Any], command: Callable[[Any], Any],
              progress: str | None = None, every: int = 5000) -> Measurement:
    """Each thread takes the next item of one shared queue (so no thread runs dry)."""
    queue = collections.deque(work)
    done = [0]
    lock = threading.Lock()
    started = time.perf_counter()

    def make_op(i: int) -> Callable[[], int]:
        def op() -> int:
            command(queue.popleft())
            if progress:
                with lock:
                    done[0] += 1
                    if done[0] % every == 0:
                        print(f"    {progress}: {done[0]:,} of {len(work):,} "
                              f"({done[0] / (time.perf_counter() - started):,.0f}/s)",
                              flush=True)
            return 1

        return op

    return run_threads(threads, make_op, total_ops=len(work))


def read_meta(url: str) -> dict[str, Any] | None:
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            row = conn.execute("SELECT dataset_version, parts, stores, events, built, created_at "
                               "FROM bench_meta ORDER BY created_at DESC LIMIT 1").fetchone()
            if row is None:
                return None
            counts = conn.execute("""SELECT (SELECT count(*) FROM parts),
                (SELECT count(*) FROM stock), (SELECT count(*) FROM servicecore_events),
                (SELECT coalesce(max(notification_id), 0) FROM servicecore_events),
                (SELECT position FROM projection_positions WHERE name = 'stock')""").fetchone()
    except psycopg.Error:
        return None
    assert counts is not None
    return {"dataset_version": row[0], "parts": row[1], "stores": row[2].split(","),
            "events": row[3], "built": row[4], "created_at": row[5].isoformat(),
            "found": {"parts_rows": counts[0], "stock_rows": counts[1], "events": counts[2],
                      "head": counts[3], "stock_view_position": counts[4]}}


def dataset_ok(meta: dict[str, Any] | None, parts: int) -> tuple[bool, str]:
    if meta is None:
        return False, "no bench_meta row"
    found = meta["found"]
    checks = [
        (meta["dataset_version"] == DATASET_VERSION,
         f"dataset version {meta['dataset_version']} != {DATASET_VERSION}"),
        (meta["parts"] == parts and found["parts_rows"] == parts,
         f"{found['parts_rows']} parts, expected {parts}"),
        (tuple(meta["stores"]) == STORES and found["stock_rows"] == parts * len(STORES),
         f"{found['stock_rows']} stock rows, expected {parts * len(STORES)}"),
        (found["events"] == meta["events"],
         f"{found['events']} events, meta says {meta['events']}"),
        (found["stock_view_position"] == found["head"],
         f"StockView at {found['stock_view_position']}, log head {found['head']}"),
    ]
    for ok, why in checks:
        if not ok:
            return False, why
    return True, "ok"


def stock_view(container: Any) -> Any:
    return next(v for v in container.views if v.name == "stock")


def build_dataset(server: Server, name: str, args: argparse.Namespace,
                  report: Report) -> dict[str, Any]:
    from workers.projection_runner import ProjectionRunner

    drop_database(server, name)
    url = create_database(server, name)
    parts, threads = args.parts, args.load_threads
    print(f"building the dataset {name}: {parts:,} parts x {len(STORES)} stores through "
          f"Inventory.register_part + Inventory.receive, {threads} threads...", flush=True)
    built: dict[str, Any] = {"threads": threads}
    started = time.perf_counter()
    try:
        with system(url) as container:
            inventory = container.inventory

            def register(n: int) -> None:
                spec = part_spec(n)
                inventory.register_part(clerk(), part_number=spec["part_number"],
                                        details=spec["details"], list_price=spec["list_price"])

            def receive(item: tuple[int, int]) -> None:
                n, s = item
                inventory.receive(clerk((STORES[s],)), STORES[s], part_number(n),
                                  **receipt_spec(n, s))

            phases: list[tuple[str, list[Any], Callable[[Any], None]]] = [
                ("register_part", list(range(parts)), register),
                ("receive (opens the stock item)",
                 [(n, s) for n in range(parts) for s in range(len(STORES))], receive),
            ]
            for label, work, command in phases:
                before = head(url)
                m = run_queue(threads, work, command, progress=label.split()[0])
                if m.errors:
                    raise RuntimeError(f"load {label}: {m.errors} errors, e.g. "
                                       f"{m.error_samples[:2]}")
                events = count_events(url, before)
                row = report.add(f"load: Inventory.{label.split()[0]}, {threads} threads", m,
                                 rate_unit="commands", threads=threads, events=events,
                                 events_per_second=round(events / m.seconds, 1))
                print(f"    {events:,} events, {events / m.seconds:,.0f} events/s", flush=True)
                built[label.split()[0]] = {k: row[k] for k in (
                    "ops", "seconds", "rate_per_second", "p50_ms", "p99_ms", "max_ms")}
                built[label.split()[0]].update(events=events,
                                               events_per_second=row["events_per_second"])
            view = stock_view(container)
            runner = ProjectionRunner(container.app, container.pool, view,
                                      batch_size=args.batch_size)
            t0 = time.perf_counter()
            caught = runner.catch_up()
            seconds = time.perf_counter() - t0
            built["stock_view_catch_up"] = {"events": caught, "seconds": round(seconds, 2),
                                            "events_per_second": round(caught / seconds, 1)}
            print(f"    StockView caught up: {caught:,} events in {seconds:.1f} s "
                  f"({caught / seconds:,.0f} events/s)", flush=True)
        built["seconds"] = round(time.perf_counter() - started, 1)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
            conn.execute("CREATE TABLE IF NOT EXISTS bench_meta (dataset_version int, "
                         "parts int, stores text, events bigint, built jsonb, "
                         "created_at timestamptz DEFAULT now())")
            events = count_events(url)
            conn.execute("INSERT INTO bench_meta (dataset_version, parts, stores, events, built) "
                         "VALUES (%s, %s, %s, %s, %s)",
                         (DATASET_VERSION, parts, ",".join(STORES), events, json.dumps(built)))
    except BaseException:
        drop_database(server, name)
        raise
    print(f"built {name}: {events:,} events in {built['seconds']:.0f} s", flush=True)
    meta = read_meta(url)
    assert meta is not None
    return meta


def ensure_dataset(server: Server, args: argparse.Namespace,
                   report: Report) -> tuple[str, dict[str, Any]]:
    from bench.projection_catchup import decodes

    name = dataset_name(args.parts)
    url = server.url_for(name)
    if database_exists(server, name) and not args.rebuild_dataset:
        meta = read_meta(url)
        ok, why = dataset_ok(meta, args.parts)
        if ok:
            with system(url) as container:
                ok = decodes(container)
            if ok:
                assert meta is not None
                print(f"reusing dataset {name}: {meta['parts']:,} parts x {len(STORES)} stores, "
                      f"{meta['events']:,} events (built {meta['created_at']} in "
                      f"{meta['built'].get('seconds')} s)", flush=True)
                return name, {**meta, "database": name, "reused": True}
        print(f"dataset {name} is stale or incomplete ({why}); rebuilding", flush=True)
    meta = build_dataset(server, name, args, report)
    return name, {**meta, "database": name, "reused": False}


# -- projection catch-up ----------------------------------------------------------------------

class StatementCounter:
    """Counts psycopg execute/executemany calls (all threads; used while nothing else runs)."""

    def __init__(self) -> None:
        self.execute = 0
        self.executemany = 0
        self._originals = (psycopg.Cursor.execute, psycopg.Cursor.executemany)

    def __enter__(self) -> Self:
        original_execute, original_many = self._originals
        counter = self

        def execute(cur: Any, *a: Any, **k: Any) -> Any:
            counter.execute += 1
            return original_execute(cur, *a, **k)

        def executemany(cur: Any, *a: Any, **k: Any) -> Any:
            counter.executemany += 1
            return original_many(cur, *a, **k)

        psycopg.Cursor.execute = execute  # type: ignore[method-assign,assignment]
        psycopg.Cursor.executemany = executemany  # type: ignore[method-assign,assignment]
        return self

    def __exit__(self, *exc: object) -> None:
        original_execute, original_many = self._originals
        psycopg.Cursor.execute = original_execute  # type: ignore[method-assign]
        psycopg.Cursor.executemany = original_many  # type: ignore[method-assign]

    @property
    def total(self) -> int:
        return self.execute + self.executemany


def event_kind(event: Any) -> str:
    return type(event).__qualname__


def batch_kind(composition: collections.Counter[str]) -> str:
    total = sum(composition.values())
    parts = sum(v for k, v in composition.items() if k.startswith("Part."))
    stock = sum(v for k, v in composition.items() if k.startswith("StockItem."))
    if parts * 2 > total:
        return "part master (Part.Registered)"
    if stock * 2 > total:
        return "stock items (StockItem.*)"
    return "work orders and the rest (mostly not StockView's)"


class ClassTimer:
    """Wraps `cls.attribute` (a plain method) to add up time and calls; restore() undoes."""

    def __init__(self, cls: type, attribute: str) -> None:
        self.cls, self.attribute = cls, attribute
        self.target = getattr(cls, attribute)
        self.seconds, self.calls = 0.0, 0
        timer, target = self, self.target

        def timed(obj: Any, *args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return target(obj, *args, **kwargs)
            finally:
                timer.seconds += time.perf_counter() - started
                timer.calls += 1

        setattr(cls, attribute, timed)

    def restore(self) -> None:
        setattr(self.cls, self.attribute, self.target)


def timed_catch_up(report: Report, label: str, runner: Any, view: Any) -> dict[str, Any]:
    """runner.catch_up() batch by batch: latency per batch, composition, SQL statements, and
    where the time goes (reading, decoding, each StockView handler by event type, preload,
    flush)."""
    from projections.stock_batch import Batch

    composition: collections.Counter[str] = collections.Counter()
    last: dict[str, Any] = {}
    handlers: dict[str, list[float]] = {}  # event type -> [events, seconds, statements]
    counter = StatementCounter()
    original_apply, original_on = view.apply, view.on

    def apply(conn: Any, events: Sequence[tuple[int, Any]], suffix: str = "") -> None:
        last["comp"] = collections.Counter(event_kind(e) for _, e in events)
        original_apply(conn, events, suffix)

    def on(event: Any, batch: Any, n: int) -> None:
        t0, s0 = time.perf_counter(), counter.total
        original_on(event, batch, n)
        h = handlers.setdefault(event_kind(event), [0, 0.0, 0])
        h[0] += 1
        h[1] += time.perf_counter() - t0
        h[2] += counter.total - s0

    view.apply, view.on = apply, on
    timers = {
        "recorder.select_notifications (read the batch)":
            Timed(runner.app.recorder, "select_notifications"),
        "mapper.to_domain_event (decode)": Timed(runner.app.mapper, "to_domain_event"),
        "StockView.apply (fold incl. handlers, preload, flush)": Timed(view, "apply"),
    }
    class_timers = {"Batch.preload (stock rows of the batch)": ClassTimer(Batch, "preload"),
                    "Batch.flush (upsert stock + lots, COPY journal)": ClassTimer(Batch, "flush")}
    by_kind: dict[str, dict[str, float]] = {}
    latencies: list[float] = []
    events = 0
    started = time.perf_counter()
    try:
        with counter:
            while True:
                before = counter.total
                t0 = time.perf_counter()
                count = runner.run_batch()
                elapsed = time.perf_counter() - t0
                if not count:
                    break
                latencies.append(elapsed)
                events += count
                comp = last.get("comp", collections.Counter())
                composition.update(comp)
                kind = batch_kind(comp)
                k = by_kind.setdefault(kind, {"batches": 0, "events": 0, "seconds": 0.0,
                                              "statements": 0})
                k["batches"] += 1
                k["events"] += count
                k["seconds"] += elapsed
                k["statements"] += counter.total - before
    finally:
        wall = time.perf_counter() - started
        for timer in timers.values():
            timer.restore()
        for class_timer in class_timers.values():
            class_timer.restore()
        del view.apply, view.on
    m = Measurement(ops=len(latencies), units=events, seconds=wall, latencies=latencies)
    kinds = {kind: {"batches": int(k["batches"]), "events": int(k["events"]),
                    "seconds": round(k["seconds"], 3),
                    "events_per_second": round(k["events"] / k["seconds"], 1),
                    "ms_per_batch": round(k["seconds"] / k["batches"] * 1000, 2),
                    "sql_statements_per_batch": round(k["statements"] / k["batches"], 1),
                    "sql_statements_per_event": round(k["statements"] / k["events"], 2)}
             for kind, k in by_kind.items()}
    all_timers: list[tuple[str, Any]] = [*timers.items(), *class_timers.items()]
    parts = {label: {"calls": t.calls, "seconds": round(t.seconds, 3),
                     "share_of_catch_up": round(t.seconds / wall, 3)}
             for label, t in all_timers}
    per_handler = {name: {"events": int(h[0]), "us_per_event": round(h[1] / h[0] * 1e6, 1),
                          "sql_statements_per_event": round(h[2] / h[0], 2),
                          "share_of_catch_up": round(h[1] / wall, 3)}
                   for name, h in sorted(handlers.items(), key=lambda kv: -kv[1][1])}
    report.add(label, m, rate_unit="events", batches=len(latencies), by_batch_kind=kinds,
               event_types=dict(composition.most_common()), parts=parts,
               stock_view_handlers=per_handler)
    print(f"    {events:,} events in {wall:.1f} s, {len(latencies)} batches:")
    for kind, k in kinds.items():
        print(f"      {kind:<52} {k['events_per_second']:>9,.0f} events/s  "
              f"{k['ms_per_batch']:>7.1f} ms/batch  {k['sql_statements_per_batch']:>6.1f} SQL "
              f"statements/batch ({k['batches']} batches)")
    print("    where the time goes:")
    for name, part in parts.items():
        print(f"      {name:<60} {part['share_of_catch_up'] * 100:5.1f} %")
    print("    StockView handlers (inside apply; preload and flush not included):")
    for name, h in per_handler.items():
        print(f"      {name:<36} {h['events']:>7,} events {h['us_per_event']:>8.1f} us/event "
              f"{h['sql_statements_per_event']:>5.2f} SQL/event "
              f"{h['share_of_catch_up'] * 100:5.1f} % of catch-up", flush=True)
    return {"events": events, "seconds": wall, "by_batch_kind": kinds}


def cold_catch_up(report: Report, args: argparse.Namespace, container: Any) -> None:
    from workers.projection_runner import ProjectionRunner

    view = stock_view(container)
    with container.pool.connection() as conn, conn.transaction():
        for statement in view.drop(SUFFIX):
            conn.execute(statement)
        view.create(conn, SUFFIX)
        conn.execute("DELETE FROM projection_positions WHERE name = %s", (view.name + SUFFIX,))
    runner = ProjectionRunner(container.app, container.pool, view, batch_size=args.batch_size,
                              suffix=SUFFIX)
    timed_catch_up(report, f"StockView cold catch-up, batch_size {args.batch_size} "
                           "(latency = 1 batch)", runner, view)
    with container.pool.connection() as conn, conn.transaction():
        for statement in view.drop(SUFFIX):
            conn.execute(statement)


# -- issuing parts to work orders -------------------------------------------------------------

@dataclass(frozen=True)
class Prepared:
    work_order_id: UUID
    store_id: str
    part_number: str


def request(user: str, role: str, store: str) -> Request:
    return Request(Caller(user, role, (store,), datetime.now(UTC), str(uuid4())))


def prepare_work_orders(container: Any, items: Sequence[tuple[int, int]],
                        threads: int) -> list[Prepared]:
    """Open, check in, add a part line, approve it (reserves the stock), dispatch: one work
    order per stock item, through the WorkOrders service (5 commands each)."""
    from servicecore.demo import BRANDS, COMPLAINTS, GIVEN, SURNAMES, make_vin

    work_orders = container.work_orders
    prepared: list[Prepared] = []
    lock = threading.Lock()
    rngs = [random.Random(1000 + i) for i in range(threads)]
    local = threading.local()
    counter = iter(range(10**9))

    def one(item: tuple[int, int]) -> None:
        if not hasattr(local, "rng"):
            with lock:
                local.index = next(counter)
            local.rng = rngs[local.index % len(rngs)]
        rng = local.rng
        n, s = item
        store, number = STORES[s], part_number(n)
        brand, model = rng.choice(BRANDS)
        mileage = rng.randint(5_000, 150_000)
        opened = work_orders.open(
            request("adv-01", "advisor", store), store_id=store,
            customer={"name": rng.choice(SURNAMES) + rng.choice(GIVEN),
                      "phone": f"13{rng.randint(100000000, 999999999)}"},
            vehicle={"vin": make_vin(rng), "plate": f"沪A{rng.randint(10000, 99999)}",
                     "brand": brand, "model": model, "year": rng.randint(2016, 2025)},
            mileage=mileage, complaints=[rng.choice(COMPLAINTS)])
        wo = UUID(opened.body["id"])
        work_orders.check_in(request("adv-01", "advisor", store), wo, mileage_in=mileage + 5,
                             fuel_level=50)
        work_orders.add_part_line(request("adv-01", "advisor", store), wo, 1,
                                  {"part_number": number, "qty": 1 + n % 2})
        supply = work_orders.authorize_line(request("adv-01", "advisor", store), wo, "L1",
                                            decision="approved", channel="phone")
        if supply.body.get("supply") != "reserved":
            raise RuntimeError(f"{store}/{number}: supply {supply.body.get('supply')}")
        work_orders.dispatch(request("mgr-01", "manager", store), wo, 1,
                             technician_id=f"tech-{store}-{local.index:02d}")
        with lock:
            prepared.append(Prepared(wo, store, number))

    for store in STORES:  # a technician per store and thread, on the store's roster
        for index in range(threads):
            container.technicians.set_profile(request("mgr-01", "manager", store),
                                              f"tech-{store}-{index:02d}", store_id=store,
                                              skills={}, hourly_cost="85.00")
    m = run_queue(threads, items, one)
    if m.errors:
        raise RuntimeError(f"preparing work orders: {m.errors} errors, e.g. "
                           f"{m.error_samples[:2]}")
    return prepared


class Pool:
    """Prepared work orders handed out one at a time to the timed threads."""

    def __init__(self, prepared: Sequence[Prepared]) -> None:
        self.queue = collections.deque(prepared)

    def take(self, n: int) -> Pool:
        return Pool([self.queue.popleft() for _ in range(n)])

    def next(self) -> Prepared:
        return self.queue.popleft()


def issue_direct(container: Any) -> Callable[[Prepared], Any]:
    work_orders = container.work_orders

    def issue(p: Prepared) -> Any:
        result = work_orders.issue_part(request("clerk-01", "parts_clerk", p.store_id),
                                        p.work_order_id, "L1")
        return result

    return issue


def issue_op(issue: Callable[[Prepared], Any], pool: Pool) -> Callable[[], int]:
    def op() -> int:
        issue(pool.next())
        return 1

    return op


def issue_for_thread(container: Any, thread_index: int) -> Callable[[Prepared], Any]:
    return issue_direct(container)


def timed_issues(report: Report, label: str, url: str, threads: int, pool: Pool, count: int,
                 warmup: int, make_issue: Callable[[int], Callable[[Prepared], Any]],
                 **extra: Any) -> dict[str, Any]:
    issuers = [make_issue(i) for i in range(threads)]  # warmed up, then timed
    warm = pool.take(warmup * threads)
    run_threads(threads, lambda i: issue_op(issuers[i], warm), total_ops=warmup * threads)
    work = pool.take(count)
    before = head(url)

    def make_op(i: int) -> Callable[[], int]:
        return issue_op(issuers[i], work)

    m = run_threads(threads, make_op, total_ops=count)
    events = count_events(url, before)
    row = report.add(label, m, rate_unit="commands", threads=threads, events=events,
                     events_per_second=round(events / m.seconds, 1),
                     events_per_command=round(events / m.ops, 3) if m.ops else None, **extra)
    print(f"    {events:,} events stored ({row['events_per_command']} per issue), "
          f"{row['events_per_second']:,.0f} events/s, max {row['max_ms']:.1f} ms", flush=True)
    return row


def issue_breakdown(container: Any, pool: Pool, count: int) -> dict[str, Any]:
    """Single thread, instrumented: where one issue's time goes, SQL statements per issue."""
    app = container.app
    timers = {
        "app.save (whole save incl. encode + insert)": Timed(app, "save"),
        "recorder.insert_events (DB: lock table, notify, insert, commit)":
            Timed(app.recorder, "insert_events"),
        "repository.get (load aggregates incl. fast-forward + decode)":
            Timed(app.repository, "get"),
        "recorder.select_events (DB: an aggregate's events)": Timed(app.recorder,
                                                                     "select_events"),
        "mapper.to_domain_event (decode)": Timed(app.mapper, "to_domain_event"),
        "mapper.to_stored_event (encode)": Timed(app.mapper, "to_stored_event"),
    }
    checkouts = [Timed(app.recorder.datastore, "get_connection"),
                 Timed(container.pool, "connection")]
    issue = issue_direct(container)
    work = pool.take(count)
    latencies = []
    started = time.perf_counter()
    try:
        with StatementCounter() as counter:
            for _ in range(count):
                t0 = time.perf_counter()
                issue(work.next())
                latencies.append(time.perf_counter() - t0)
    finally:
        wall = time.perf_counter() - started
        for timer in [*timers.values(), *checkouts]:
            timer.restore()
    result: dict[str, Any] = {
        "issues": count, "ms_per_issue": round(wall / count * 1000, 3),
        "sql_statements_per_issue": round(counter.total / count, 2),
        "connection_checkouts_per_issue": round(sum(t.calls for t in checkouts) / count, 2),
        "parts": {label: {"calls_per_issue": round(t.calls / count, 2),
                          "ms_per_issue": round(t.seconds / count * 1000, 3),
                          "share": round(t.seconds / wall, 3)} for label, t in timers.items()},
    }
    print(f"\nwhere a direct issue's time goes ({count} issues, 1 thread, "
          f"{result['ms_per_issue']:.2f} ms each, {result['sql_statements_per_issue']} SQL "
          f"statements and {result['connection_checkouts_per_issue']} pool checkouts per issue):")
    for label, part in result["parts"].items():
        print(f"  {label:<66} {part['calls_per_issue']:>5.2f} calls "
              f"{part['ms_per_issue']:>7.3f} ms {part['share'] * 100:>5.1f} %")
    print("  (nested: save includes encode + insert; get includes select + decode)", flush=True)
    return result


def issue_settings(report: Report, args: argparse.Namespace, url: str) -> None:
    from bench.http_commands import ApiServer
    from workers.projection_runner import ProjectionRunner

    threads_list = args.issue_threads
    direct_n = args.issues if "direct" in args.issue_paths else 0
    http_n = args.http_issues if "http" in args.issue_paths else 0
    needed = sum((args.warmup * t + direct_n) for t in threads_list) + \
        sum((args.warmup * t + http_n) for t in threads_list if http_n) + args.breakdown_issues
    rng = random.Random(5)
    items = [(n, s) for n in range(args.parts) for s in range(len(STORES))]
    rng.shuffle(items)
    if needed > len(items):
        raise SystemExit(f"{needed} work orders need {needed} stock items; the dataset has "
                         f"{len(items)}: use fewer --issues")
    print(f"\npreparing {needed:,} work orders (open, check-in, part line, approve = reserve, "
          f"dispatch; 8 threads)...", flush=True)
    t0 = time.perf_counter()
    with system(url) as prep:
        prepared = prepare_work_orders(prep, items[:needed], threads=8)
    prep_seconds = time.perf_counter() - t0
    print(f"    prepared in {prep_seconds:.0f} s ({needed * 5 / prep_seconds:,.0f} commands/s)",
          flush=True)
    report.notes["issue_preparation"] = {
        "work_orders": needed, "commands": needed * 5, "seconds": round(prep_seconds, 1),
        "what": "one work order per stock item: open (new customer), check-in, part line "
                "(qty 1-2, master price), approve (reserves), dispatch; through WorkOrders, "
                "8 threads, in a separate container (its aggregate cache is not the measured "
                "one's)"}
    pool = Pool(prepared)
    if direct_n:
        with system(url) as container:
            counts = count_conflicts(container.app)
            for threads in threads_list:
                before = dict(counts)
                timed_issues(report, f"issue_part direct, {threads} thread"
                             f"{'s' if threads > 1 else ''}", url, threads, pool, direct_n,
                             args.warmup, functools.partial(issue_for_thread, container), path="direct",
                             conflicts_retried=counts["conflicts"] - before["conflicts"])
            if args.breakdown_issues:
                report.notes["issue_breakdown"] = issue_breakdown(container, pool,
                                                                  args.breakdown_issues)
    if http_n:
        api = ApiServer(url, with_projections=False)
        token = mint_token(JWT_SECRET, "clerk-01", "parts_clerk", list(STORES))
        headers = {"Authorization": f"Bearer {token}"}
        clients: list[httpx.Client] = []
        lock = threading.Lock()

        def make_issue(i: int) -> Callable[[Prepared], Any]:
            client = httpx.Client(base_url=api.base_url, timeout=30.0)
            with lock:
                clients.append(client)

            def issue(p: Prepared) -> Any:
                response = client.post(f"/work-orders/{p.work_order_id}/lines/L1/issue",
                                       json={}, headers=headers)
                if response.status_code != 200:
                    raise RuntimeError(f"HTTP {response.status_code} {response.text[:200]}")
                return response

            return issue

        try:
            for threads in threads_list:
                api.stats(reset=True)
                row_extra = {"path": "http"}
                row = timed_issues(report, f"issue_part HTTP POST, {threads} client"
                                   f"{'s' if threads > 1 else ''}", url, threads, pool, http_n,
                                   args.warmup, make_issue, **row_extra)
                inside = api.stats()
                row["server_side"] = inside
                row["conflicts_retried"] = inside.get("conflicts")
                print(f"    inside the server: request p50 {inside['server']['p50_ms']:.2f} ms, "
                      f"of which issue_part p50 {inside['service']['p50_ms']:.2f} ms "
                      f"(includes warm-up); {inside['conflicts']} conflicts retried", flush=True)
        finally:
            for client in clients:
                client.close()
            api.stop()
    # The log now holds the issue workload: catch the live StockView up over it.
    with system(url) as container:
        view = stock_view(container)
        runner = ProjectionRunner(container.app, container.pool, view,
                                  batch_size=args.batch_size)
        print("\nStockView catch-up over the issue workload:", flush=True)
        timed_catch_up(report, f"StockView catch-up of the issue workload, batch_size "
                               f"{args.batch_size}", runner, view)


# -- queries ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Target:
    store_id: str
    part_number: str
    prefix: str
    barcode: str
    word: str


def targets(parts: int, count: int = 5000, seed: int = 3) -> list[Target]:
    rng = random.Random(seed)
    found = []
    for _ in range(count):
        n = rng.randrange(parts)
        number = part_number(n)
        found.append(Target(rng.choice(STORES), number, number[:7], barcode(n),
                            rng.choice(NAME_WORDS)))
    return found


def check(condition: bool, what: str) -> None:
    if not condition:
        raise RuntimeError(what)


def query_types() -> list[tuple[str, str, Callable[[Any, Target], Any]]]:
    from projections.stock_queries import (
        get_stock,
        list_movements,
        list_stock,
        search_parts,
        valuation,
    )

    def one_item(conn: Any, t: Target) -> Any:
        found = get_stock(conn, STORES, t.store_id, t.part_number)
        check(found is not None and len(found["lots"]) >= 1, "get_stock: no item or no lots")

    def filtered(conn: Any, t: Target) -> Any:
        found = list_stock(conn, STORES, store_id=t.store_id, part_number=t.part_number)
        check(found["total"] == 1, f"list_stock: {found['total']} rows")

    def page(conn: Any, t: Target) -> Any:
        found = list_stock(conn, STORES, store_id=t.store_id)
        check(len(found["items"]) == 50, "list_stock page: not 50 rows")

    def by_prefix(conn: Any, t: Target) -> Any:
        check(search_parts(conn, t.prefix)["total"] >= 1, "search by prefix: nothing")

    def by_barcode(conn: Any, t: Target) -> Any:
        check(search_parts(conn, t.barcode)["total"] == 1, "search by barcode: not 1")

    def by_name(conn: Any, t: Target) -> Any:
        check(search_parts(conn, t.word)["total"] >= 1, "search by name: nothing")

    def values(conn: Any, t: Target) -> Any:
        check(valuation(conn, STORES)["total"] == len(STORES),
              "valuation: not one row per store")

    def journal(conn: Any, t: Target) -> Any:
        check(list_movements(conn, STORES, store_id=t.store_id,
                             part_number=t.part_number)["total"] >= 1, "movements: none")

    return [
        ("get_stock", "get_stock: one item + lots + reservations", one_item),
        ("list_stock_part", "list_stock: store + part-number filter", filtered),
        ("list_stock_page", "list_stock: one store, first page of 50", page),
        ("search_prefix", "search_parts: part-number prefix (7 chars)", by_prefix),
        ("search_barcode", "search_parts: barcode (exact)", by_barcode),
        ("search_name", "search_parts: name substring", by_name),
        ("valuation", "valuation: 3 stores", values),
        ("movements", "list_movements: one part in one store", journal),
    ]


def query_settings(report: Report, args: argparse.Namespace, url: str) -> None:
    all_targets = targets(args.parts)
    types = query_types()
    with system(url) as container:
        pool = container.pool

        def make_maker(fn: Callable[[Any, Target], Any]) -> Callable[[int], Callable[[], int]]:
            def make_op(i: int) -> Callable[[], int]:
                cursor = iter(range(i * 997, 10**9))

                def op() -> int:
                    t = all_targets[next(cursor) % len(all_targets)]
                    with pool.connection() as conn:
                        fn(conn, t)
                    return 1

                return op

            return make_op

        print("\nstock queries through projections.stock_queries on a pooled connection:",
              flush=True)
        for key, label, fn in types:
            run_threads(1, make_maker(fn), total_ops=args.query_warmup)
            m = run_threads(1, make_maker(fn), total_ops=args.queries,
                            duration=args.query_seconds)
            report.add(f"{label}, 1 client", m, rate_unit="queries", path="direct", query=key,
                       threads=1)
        mixed = [fn for _, _, fn in types]

        def make_mixed(i: int) -> Callable[[], int]:
            cursor = iter(range(i * 997, 10**9))

            def op() -> int:
                k = next(cursor)
                with pool.connection() as conn:
                    mixed[k % len(mixed)](conn, all_targets[k % len(all_targets)])
                return 1

            return op

        run_threads(8, make_mixed, total_ops=args.query_warmup)
        m = run_threads(8, make_mixed, total_ops=args.queries * 4, duration=args.query_seconds)
        report.add("all 8 query types round-robin, 8 threads", m, rate_unit="queries",
                   path="direct", query="mix", threads=8)
        report.notes["explain"] = explain_queries(container, all_targets[0], types)
        report.notes["what_if_search_indexes"] = what_if_search(container, all_targets[0])


def http_query_settings(report: Report, args: argparse.Namespace, url: str) -> None:
    from bench.http_commands import ApiServer, PySpy

    all_targets = targets(args.parts)
    api = ApiServer(url, with_projections=False)
    token = mint_token(JWT_SECRET, "clerk-01", "parts_clerk", list(STORES))
    headers = {"Authorization": f"Bearer {token}"}
    clients: list[httpx.Client] = []

    def expect(response: httpx.Response, total: int | None = None) -> None:
        if response.status_code != 200:
            raise RuntimeError(f"HTTP {response.status_code} {response.text[:200]}")
        if total is not None and response.json()["total"] < total:
            raise RuntimeError(f"total {response.json()['total']}")

    kinds: list[tuple[str, Callable[[httpx.Client, Target], Any]]] = [
        ("GET /stock/{store}/{part}", lambda c, t: expect(
            c.get(f"/stock/{t.store_id}/{t.part_number}", headers=headers))),
        ("GET /stock?store_id=&part_number=", lambda c, t: expect(c.get(
            "/stock", params={"store_id": t.store_id, "part_number": t.part_number},
            headers=headers), 1)),
        ("GET /parts?q=<7-char prefix>", lambda c, t: expect(
            c.get("/parts", params={"q": t.prefix}, headers=headers), 1)),
        ("GET /parts?q=<barcode>", lambda c, t: expect(
            c.get("/parts", params={"q": t.barcode}, headers=headers), 1)),
        ("GET /parts?q=<name substring>", lambda c, t: expect(
            c.get("/parts", params={"q": t.word}, headers=headers), 1)),
    ]

    def make_maker(call: Callable[[httpx.Client, Target], Any]) -> Callable[[int], Callable[[], int]]:
        def make_op(i: int) -> Callable[[], int]:
            client = httpx.Client(base_url=api.base_url, timeout=30.0)
            clients.append(client)
            cursor = iter(range(i * 997 + 17, 10**9))

            def op() -> int:
                call(client, all_targets[next(cursor) % len(all_targets)])
                return 1

            return op

        return make_op

    print("\nstock queries through HTTP (uvicorn subprocess, keep-alive httpx clients):",
          flush=True)
    try:
        settings = [(label, call, 1) for label, call in kinds]
        settings.append((kinds[0][0], kinds[0][1], 8))
        for label, call, threads in settings:
            run_threads(threads, make_maker(call), total_ops=args.query_warmup)
            api.stats(reset=True)
            spy = PySpy(api.proc.pid, args) if args.py_spy and threads == 1 and \
                label == kinds[0][0] else None
            m = run_threads(threads, make_maker(call), total_ops=args.http_queries * threads,
                            duration=args.query_seconds)
            if spy is not None:
                report.notes["http_get_stock_item_cpu_profile"] = spy.finish(m.ops)
            inside = api.stats()
            report.add(f"{label}, {threads} client{'s' if threads > 1 else ''}", m,
                       rate_unit="requests", path="http", threads=threads,
                       server_side=inside["server"], query_function=inside["query"])
            print(f"    inside the server: request p50 {inside['server']['p50_ms']:.2f} ms "
                  f"(p99 {inside['server']['p99_ms']:.2f}), of which the query function p50 "
                  f"{inside['query']['p50_ms']:.2f} ms (p99 {inside['query']['p99_ms']:.2f})",
                  flush=True)
    finally:
        for client in clients:
            client.close()
        api.stop()


# -- EXPLAIN ----------------------------------------------------------------------------------

def record_statements(call: Callable[[], Any]) -> list[tuple[str, Any]]:
    recorded: list[tuple[str, Any]] = []
    original = psycopg.Cursor.execute

    def recording(cur: Any, query: Any, params: Any = None, **kw: Any) -> Any:
        recorded.append((query if isinstance(query, str) else query.as_string(cur), params))
        return original(cur, query, params, **kw)

    psycopg.Cursor.execute = recording  # type: ignore[method-assign,assignment]
    try:
        call()
    finally:
        psycopg.Cursor.execute = original  # type: ignore[method-assign]
    return recorded


def plan_nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from plan_nodes(child)


def explain(conn: Any, sql: str, params: Any, repeat: int = 3) -> dict[str, Any]:
    for _ in range(repeat):
        row = conn.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql, params).fetchone()
    doc = row[0][0]
    nodes = []
    for node in plan_nodes(doc["Plan"]):
        if "Relation Name" in node or "Index Name" in node:
            nodes.append({k: node[k] for k in (
                "Node Type", "Relation Name", "Index Name", "Actual Rows", "Actual Loops",
                "Rows Removed by Filter", "Actual Total Time", "Filter", "Index Cond")
                if k in node})
    seq = [f"{n['Relation Name']} ({n['Actual Rows']:g} rows kept, "
           f"{n.get('Rows Removed by Filter', 0):g} removed by filter)"
           for n in nodes if n["Node Type"] == "Seq Scan"]
    return {"sql": " ".join(sql.split())[:400], "execution_ms": round(doc["Execution Time"], 3),
            "planning_ms": round(doc["Planning Time"], 3), "seq_scans": seq,
            "scans": [f"{n['Node Type']} {n.get('Index Name') or n.get('Relation Name')}"
                      for n in nodes]}


def explain_queries(container: Any, target: Target,
                    types: Sequence[tuple[str, str, Callable[[Any, Target], Any]]]
                    ) -> dict[str, Any]:
    print("\nEXPLAIN ANALYZE of every statement the query functions send (3rd run, warm):")
    result: dict[str, Any] = {}
    with container.pool.connection() as conn:
        for key, label, fn in types:
            statements = record_statements(functools.partial(fn, conn, target))
            plans = [explain(conn, sql, params) for sql, params in statements]
            result[key] = plans
            print(f"  {label}:")
            for plan in plans:
                flag = "  SEQ SCAN " + "; ".join(plan["seq_scans"]) if plan["seq_scans"] else ""
                print(f"    {plan['execution_ms']:7.3f} ms  {', '.join(plan['scans'])}{flag}")
    return result


def what_if_search(container: Any, target: Target) -> dict[str, Any]:
    """The part search with a trigram index on lower(name) and a text_pattern_ops index on
    part_number (both created in a transaction that is rolled back)."""
    from projections.stock_queries import search_parts

    result: dict[str, Any] = {}
    with container.pool.connection() as conn:
        try:
            with conn.transaction(force_rollback=True):
                conn.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
                conn.execute("CREATE INDEX bench_parts_name_trgm ON parts "
                             "USING gin (lower(name) gin_trgm_ops)")
                conn.execute("CREATE INDEX bench_parts_number_pattern ON parts "
                             "(part_number text_pattern_ops)")
                conn.execute("ANALYZE parts")
                for key, q in (("search_prefix", target.prefix),
                               ("search_barcode", target.barcode),
                               ("search_name", target.word)):
                    statements = record_statements(functools.partial(search_parts, conn, q))
                    result[key] = [explain(conn, sql, params) for sql, params in statements]
        except psycopg.Error as exc:
            return {"error": f"{type(exc).__name__}: {exc}"}
    print("\nwhat-if: part search with gin (lower(name) gin_trgm_ops) + "
          "(part_number text_pattern_ops) indexes (rolled back):")
    for key, plans in result.items():
        print(f"  {key}: " + "; ".join(f"{p['execution_ms']:.3f} ms {', '.join(p['scans'])}"
                                       for p in plans))
    return result


# -- main -------------------------------------------------------------------------------------

def apply_quick(args: argparse.Namespace) -> None:
    full = {"issues": 400, "http_issues": 300, "warmup": 10, "breakdown_issues": 100,
            "queries": 2000, "http_queries": 1000, "query_seconds": 4.0, "query_warmup": 50}
    quick = {"issues": 100, "http_issues": 60, "warmup": 3, "breakdown_issues": 30,
             "queries": 300, "http_queries": 150, "query_seconds": 1.5, "query_warmup": 20}
    for key, value in (quick if args.quick else full).items():
        if getattr(args, key) is None:
            setattr(args, key, value)


def run(args: argparse.Namespace, server: Server, yardstick: dict[str, Any] | None) -> Report:
    apply_quick(args)
    started = time.perf_counter()
    yardstick = ensure_yardstick(server, args, yardstick)
    report = Report(NAME, server, args, yardstick, rate_unit="commands")
    dataset, meta = ensure_dataset(server, args, report)
    report.notes["dataset"] = {
        **meta, "what": f"{args.parts:,} parts in the master x {len(STORES)} stores, one lot "
                        "per stock item, through Inventory.register_part + Inventory.receive; "
                        "StockView caught up"}
    c = report.conditions
    print(f"\nconditions: {server.kind} PostgreSQL {c['server']['server_version']} "
          f"({c['server']['transport']}); dataset {dataset}: {meta['parts']:,} parts x "
          f"{len(STORES)} stores = {meta['found']['stock_rows']:,} stock items, "
          f"{meta['events']:,} events; git {c['git'].get('commit')} "
          f"(+{c['git'].get('uncommitted_paths')} uncommitted paths); "
          f"{c['machine']['cpus_usable']} CPUs", flush=True)
    if args.catch_up or args.issue_paths:
        t0 = time.perf_counter()
        with temporary_database(server, "parts", template=dataset) as url:
            print(f"copied {dataset} in {time.perf_counter() - t0:.1f} s", flush=True)
            if args.catch_up:
                with system(url) as container:
                    print("\nStockView cold catch-up over the whole dataset (on the copy):",
                          flush=True)
                    cold_catch_up(report, args, container)
            if args.issue_paths:
                issue_settings(report, args, url)
    if args.queries_direct:
        query_settings(report, args, server.url_for(dataset))
    if args.queries_http:
        http_query_settings(report, args, server.url_for(dataset))
    report.notes["bench_seconds"] = round(time.perf_counter() - started, 1)
    print(f"\nparts bench done in {report.notes['bench_seconds']:.0f} s", flush=True)
    report.save()
    return report


def _csv_ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def _csv(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.parts", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_arguments(p)
    p.add_argument("--quick", action="store_true",
                   help="4-7x fewer operations per setting (the dataset is the same)")
    p.add_argument("--parts", type=int, default=10_000,
                   help="parts in the master (default 10000; x 3 stores)")
    p.add_argument("--load-threads", type=int, default=4,
                   help="threads loading the dataset when it is built (default 4)")
    p.add_argument("--rebuild-dataset", action="store_true", help="ignore a cached dataset")
    p.add_argument("--batch-size", type=int, default=500, help="projection batch size (500)")
    p.add_argument("--issues", type=int, default=None,
                   help="timed direct issues per setting (default 400; quick 100)")
    p.add_argument("--http-issues", type=int, default=None,
                   help="timed HTTP issues per setting (default 300; quick 60)")
    p.add_argument("--issue-threads", type=_csv_ints, default=[1, 8],
                   help="threads / clients for the issue settings (default 1,8)")
    p.add_argument("--issue-paths", type=_csv, default=["direct", "http"],
                   help="direct,http (default both; '' = no issue settings)")
    p.add_argument("--warmup", type=int, default=None,
                   help="unmeasured issues per thread first (default 10; quick 3)")
    p.add_argument("--breakdown-issues", type=int, default=None,
                   help="instrumented single-thread issues (default 100; quick 30; 0 = off)")
    p.add_argument("--no-catch-up", dest="catch_up", action="store_false",
                   help="skip the cold StockView catch-up")
    p.add_argument("--queries", type=int, default=None,
                   help="timed queries per type, direct (default 2000; quick 300)")
    p.add_argument("--http-queries", type=int, default=None,
                   help="timed requests per HTTP query type and client (default 1000; quick 150)")
    p.add_argument("--query-seconds", type=float, default=None,
                   help="at most this long per query setting (default 4; quick 1.5)")
    p.add_argument("--query-warmup", type=int, default=None)
    p.add_argument("--no-queries", dest="queries_direct", action="store_false",
                   help="skip the direct query settings (and EXPLAIN)")
    p.add_argument("--no-http-queries", dest="queries_http", action="store_false",
                   help="skip the HTTP query settings")
    p.add_argument("--py-spy", default=os.environ.get("PY_SPY") or shutil.which("py-spy"),
                   help="path of a py-spy binary to sample the API server's CPU during the "
                        "1-client GET /stock/{store}/{part} run (default: $PY_SPY or py-spy on "
                        "PATH; '' = off)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    return main_wrapper(run, parser(), argv)


if __name__ == "__main__":
    raise SystemExit(main())
