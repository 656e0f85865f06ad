"""Analytics: loading the DuckDB tables from the event log, and KPI query latency at scale.

History: the large demo history when it is there (`SERVICECORE_DATA_DIR=var/large servicecore
demo-data --stores 3 --months 12`, embedded PostgreSQL under var/large; or any database named
with --history-url), else one generated once per server through the real command path
(servicecore.demo.load_history, 2 stores x --months, cached as `bench_analytics_history`).
The history is only read.

Measured:
1. incremental catch-up: AnalyticsLoader(batch_size=--batch-size).run_batch() from position 0
   into a fresh DuckDB file, batch by batch - events/s, batch p50/p99;
2. analytics.rebuild.rebuild() from event 0 (fresh file, checkpoint, rename) - events/s;
   both with the CPU seconds of this process (the machine may be crowded);
3. a third catch-up publishing the snapshot after every batch - the time of each publication,
   in place (changed rows into the other of the two files) or as a whole copy, and one whole
   copy of the final file to compare;
4. KPI latency: the loaded facts are REPLICATED inside DuckDB (INSERT ... SELECT, each copy
   with its own store ids `<store>-R<k>` and ids suffixed `|<k>`, dates unchanged) until the
   fact tables hold >= --fact-rows rows (default 5 million); then every KPI of the catalogue
   runs --repeat times with one store's last 12 months, and --repeat times for the whole group
   over the same 12 months - p50/p99 per KPI. The copies are not new business: they are there
   to give the queries the size of a large dealer group;
5. publication at that size: a whole copy, and in place after each of 5 simulated batches
   (the newest 5,000 work orders changed, 5,000 payments added).

    python -m bench.analytics [--server ...] [--history-url URL] [--fact-rows 5000000]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb
import psycopg

from analytics.loader import BATCH_SIZE
from bench.common import (
    ROOT,
    Measurement,
    Report,
    Server,
    add_common_arguments,
    create_database,
    database_exists,
    drop_database,
    ensure_yardstick,
    main_wrapper,
    system,
)

NAME = "analytics"
HISTORY_DB = "bench_analytics_history"
LARGE_DIR = ROOT / "var" / "large"
FACTS = ("fact_work_orders", "fact_labor_lines", "fact_part_lines", "fact_clock_punches",
         "fact_stock_movements", "fact_payments", "fact_settlements", "fact_refunds",
         "fact_follow_ups", "fact_stocktake_variances", "fact_appointments", "fact_attendance")
ID_COLUMNS = ("work_order_id", "line_id", "settlement_id", "payment_id", "refund_id",
              "follow_up_id", "appointment_id", "customer_id", "vehicle_id", "vin", "number",
              "lot_id", "count_id", "technician_id", "part_number")


# -- the history -------------------------------------------------------------------------------

def history_url(server: Server, args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    if args.history_url:
        return args.history_url, {"source": "--history-url"}
    if (LARGE_DIR / "pgdata").exists() and not args.generated:
        from servicecore.embedded import embedded_database_url

        return embedded_database_url(LARGE_DIR), {
            "source": "var/large (servicecore demo-data --stores 3 --months 12)"}
    if args.regenerate and database_exists(server, HISTORY_DB):
        drop_database(server, HISTORY_DB)
    url = server.url_for(HISTORY_DB)
    if not database_exists(server, HISTORY_DB):
        create_database(server, HISTORY_DB)
        from servicecore.demo import load_history

        print(f"generating the analytics history into {HISTORY_DB} (2 stores x "
              f"{args.months} months, through the command path)...", flush=True)
        started = time.perf_counter()
        with system(url) as container:
            load_history(container.work_orders, container.inventory, container.settlements,
                         container.aftercare, stores=("S01", "S02"), months=args.months)
        print(f"generated in {time.perf_counter() - started:.0f} s", flush=True)
    return url, {"source": f"generated ({HISTORY_DB}, 2 stores x {args.months} months)"}


# -- measurements ------------------------------------------------------------------------------

def catch_up(report: Report, args: argparse.Namespace, container: Any, path: Path) -> None:
    from analytics.loader import AnalyticsLoader

    loader = AnalyticsLoader(container.app, path, batch_size=args.batch_size)
    latencies: list[float] = []
    events = 0
    started, cpu = time.perf_counter(), time.process_time()
    try:
        while True:
            t0 = time.perf_counter()
            count = loader.run_batch()
            if not count:
                break
            latencies.append(time.perf_counter() - t0)
            events += count
    finally:
        loader.close()
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    report.add(f"incremental catch-up, batch_size {args.batch_size} (latency = 1 batch)",
               Measurement(ops=len(latencies), units=events, seconds=wall, latencies=latencies),
               **cpu_figures(events, cpu))


def cpu_figures(events: int, cpu: float) -> dict[str, Any]:
    """CPU seconds of this process (its DuckDB threads too): on a crowded machine the wall
    clock also counts the time other work held the cores."""
    return {"process_cpu_seconds": round(cpu, 2),
            "events_per_cpu_second": round(events / cpu) if cpu else 0}


def timed_rebuild(report: Report, args: argparse.Namespace, container: Any, path: Path) -> None:
    from analytics.rebuild import rebuild

    started, cpu = time.perf_counter(), time.process_time()
    result = rebuild(container.app, path, batch_size=args.batch_size)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    report.add(f"rebuild(), batch_size {args.batch_size} (latency = whole rebuild)",
               Measurement(ops=1, units=int(result["events"]), seconds=wall, latencies=[wall]),
               **cpu_figures(int(result["events"]), cpu))


def publishing(report: Report, args: argparse.Namespace, container: Any, path: Path) -> None:
    """Catch-up again, publishing the snapshot after every batch (`worker analytics` does it
    every 10 s when the log moved): how long a publication takes, in place or as a copy."""
    from analytics.loader import AnalyticsLoader

    loader = AnalyticsLoader(container.app, path, batch_size=args.batch_size)
    loader.publisher.prefer = "in place"  # time it every batch (the loader picks the cheaper)
    ways: dict[str, list[float]] = {"copy": [], "in place": []}
    try:
        while loader.run_batch():
            t0 = time.perf_counter()
            loader.publish(force=True)
            ways[loader.publisher.last_way].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        loader.publisher.fresh.clear()  # a whole copy of the final file, for comparison
        loader.publish(force=True)
        ways["copy"].append(time.perf_counter() - t0)
        size = path.stat().st_size
    finally:
        loader.close()
    for way, latencies in ways.items():
        if latencies:
            report.add(f"snapshot publication after each batch: {way}", Measurement(
                ops=len(latencies), units=len(latencies), seconds=sum(latencies),
                latencies=latencies), rate_unit="publications",
                loader_file_mib=round(size / 2**20, 1))


def fact_rows(conn: duckdb.DuckDBPyConnection) -> dict[str, int]:
    return {t: int(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0])  # type: ignore[index]
            for t in FACTS}


def replicate(conn: duckdb.DuckDBPyConnection, target: int) -> dict[str, Any]:
    """Copies of every fact table with shifted store ids and ids, until >= target rows."""
    base = fact_rows(conn)
    per_copy = sum(base.values())
    copies = max(0, -(-(target - per_copy) // max(per_copy, 1)))
    started = time.perf_counter()
    conn.execute("CREATE TEMP TABLE copies AS SELECT range AS k FROM range(1, ?)", [copies + 1])
    for table in FACTS:
        columns = [r[0] for r in conn.execute(f"DESCRIBE {table}").fetchall()]
        select = []
        for col in columns:
            if col == "store_id":
                select.append("store_id || '-R' || k")
            elif col == "notification_id":
                select.append("notification_id + k * 100000000")
            elif col in ID_COLUMNS and col not in ("technician_id", "part_number"):
                select.append(f"{col} || '|' || k")
            elif col == "technician_id":
                select.append("technician_id || '-R' || k")
            else:
                select.append(col)
        conn.execute(f"INSERT INTO {table} SELECT {', '.join(select)} FROM {table}, copies")
    conn.execute("CHECKPOINT")
    rows = fact_rows(conn)
    return {"copies": copies, "rows_per_copy": per_copy, "rows_before": base,
            "rows_after": rows, "total_fact_rows": sum(rows.values()),
            "seconds": round(time.perf_counter() - started, 1)}


def publishing_at_size(report: Report, conn: duckdb.DuckDBPyConnection, path: Path,
                       steps: int = 5, changes: int = 5000) -> None:
    """Publication at a dealer group's size: a whole copy of the replicated file, and in place
    after each of `steps` simulated batches (the newest `changes` work orders changed and
    `changes` payments added; the position first moved past the copies' notification ids)."""
    from analytics.publish import Publisher

    found = conn.execute(
        "SELECT max(n) FROM (SELECT max(notification_id) AS n FROM fact_payments UNION ALL "
        "SELECT max(notification_id) FROM fact_clock_punches UNION ALL "
        "SELECT max(notification_id) FROM fact_stock_movements UNION ALL "
        "SELECT max(notification_id) FROM fact_stocktake_variances)").fetchone()
    position = int(found[0]) if found and found[0] is not None else 0
    conn.execute("UPDATE analytics_position SET position = ?", [position])
    size = f"{path.stat().st_size / 2**20:.0f} MiB"
    publisher = Publisher(conn, path, prefer="in place")
    ways: dict[str, list[float]] = {"copy": [], "in place": []}

    def publish() -> None:
        started = time.perf_counter()
        publisher.publish(position)
        ways[publisher.last_way].append(time.perf_counter() - started)

    publish()
    publish()  # both files copied once
    payment_columns = [r[0] for r in conn.execute("DESCRIBE fact_payments").fetchall()]
    for step in range(steps):
        position += changes
        conn.execute("UPDATE fact_work_orders SET last_notification_id = ? WHERE rowid >= "
                     "(SELECT max(rowid) FROM fact_work_orders) - ?", [position, changes])
        select = ", ".join("? + row_number() OVER ()" if c == "notification_id" else
                           f"payment_id || '-s{step}'" if c == "payment_id" else c
                           for c in payment_columns)
        conn.execute(f"INSERT INTO fact_payments SELECT {select} FROM (SELECT * FROM "
                     f"fact_payments LIMIT ?)", [position - changes, changes])
        conn.execute("UPDATE analytics_position SET position = ?", [position])
        publish()
    publisher.fresh.clear()
    publish()  # a whole copy of the final file
    for way, latencies in ways.items():
        report.add(f"snapshot publication of the replicated file ({size}): {way}"
                   + (f" after {changes:,} work orders changed + {changes:,} payments"
                      if way == "in place" else ""),
                   Measurement(ops=len(latencies), units=len(latencies),
                               seconds=sum(latencies), latencies=latencies),
                   rate_unit="publications")


def kpi_latency(report: Report, args: argparse.Namespace, path: Path) -> None:
    from analytics.kpis import CATALOGUE, Filters, run

    conn = duckdb.connect(str(path), read_only=True)
    try:
        last = conn.execute("SELECT max(opened_at)::DATE FROM fact_work_orders").fetchone()
        end = last[0] if last and last[0] else date.today()
        start = end - timedelta(days=365)
        store = conn.execute("SELECT min(store_id) FROM fact_work_orders").fetchone()
        scopes = {"1 store": Filters(start, end, store_id=store[0] if store else None),
                  "group": Filters(start, end)}
        report.notes["kpi_filters"] = {k: {"date_from": str(f.date_from),
                                           "date_to": str(f.date_to), "store_id": f.store_id}
                                       for k, f in scopes.items()}
        for scope, filters in scopes.items():
            for name in CATALOGUE:
                run(conn, name, filters)  # warm-up
                latencies = []
                started = time.perf_counter()
                for _ in range(args.repeat):
                    t0 = time.perf_counter()
                    result = run(conn, name, filters)
                    latencies.append(time.perf_counter() - t0)
                wall = time.perf_counter() - started
                report.add(f"KPI {name}, {scope}", Measurement(
                    ops=len(latencies), units=len(latencies), seconds=wall, latencies=latencies),
                    rate_unit="queries", result_rows=len(result["rows"]))
    finally:
        conn.close()


def run(args: argparse.Namespace, server: Server, yardstick: dict[str, Any] | None) -> Report:
    yardstick = ensure_yardstick(server, args, yardstick)
    report = Report(NAME, server, args, yardstick, rate_unit="events")
    url, source = history_url(server, args)
    work = Path(tempfile.mkdtemp(prefix="servicecore-bench-analytics-"))
    try:
        with system(url, create_tables=False) as container:
            with psycopg.connect(url) as conn:
                events = conn.execute("SELECT max(notification_id) FROM "
                                      "servicecore_events").fetchone()
            report.notes["history"] = {**source, "events": events[0] if events else 0}
            catch_up(report, args, container, work / "incremental.duckdb")
            timed_rebuild(report, args, container, work / "rebuilt.duckdb")
            publishing(report, args, container, work / "published" / "servicecore.duckdb")
        big = work / "kpi.duckdb"
        shutil.copyfile(work / "rebuilt.duckdb", big)
        with duckdb.connect(str(big)) as conn:
            report.notes["replication"] = replicate(conn, args.fact_rows)
            print(f"facts replicated to {report.notes['replication']['total_fact_rows']:,} rows "
                  f"({report.notes['replication']['copies']} copies)", flush=True)
        report.notes["duckdb"] = {"version": duckdb.__version__,
                                  "file_mib": round(big.stat().st_size / 2**20, 1)}
        kpi_latency(report, args, big)
        with duckdb.connect(str(big)) as conn:
            publishing_at_size(report, conn, big)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report.save()
    return report


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.analytics", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_arguments(p)
    p.add_argument("--history-url", default=None,
                   help="a database holding a history (default: var/large if present, else "
                        f"a generated one cached as {HISTORY_DB})")
    p.add_argument("--generated", action="store_true",
                   help=f"use the generated {HISTORY_DB} even when var/large exists")
    p.add_argument("--months", type=int, default=2,
                   help="months of the generated history (2 stores; default 2)")
    p.add_argument("--regenerate", action="store_true", help="rebuild the cached history")
    p.add_argument("--batch-size", type=int, default=BATCH_SIZE,
                   help=f"positions per batch (default: the loader's, {BATCH_SIZE:,})")
    p.add_argument("--fact-rows", type=int, default=5_000_000,
                   help="replicate the facts in DuckDB to at least this many rows")
    p.add_argument("--repeat", type=int, default=20, help="runs per KPI and scope")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    return main_wrapper(run, parser(), argv)


if __name__ == "__main__":
    raise SystemExit(main())
