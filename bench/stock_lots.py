"""A busy part: what a receipt, a load and the stock item's detail cost at N used-up lots.

For each `--lots` N, a database of its own holds one part in one store received and used up N
times (a receipt of 2 and an issue of 2 to a job each, stored through the application in saves
of 250 events, as years of commands would leave it), then:

- receipt command: `Inventory.receive` (the cached item copied, decided, saved), 1 thread;
- copy + receive + issue: what a command does to the cached item besides loading and saving;
- cold load: `repository.get` in a process without the item in memory, from the latest
  snapshot (every 100 events) and as a full replay of every event;
- snapshot: the size of the item's latest snapshot row (its stored state, bytes), printed and
  kept in the notes;
- StockView catch-up over the whole history (batches of 500), printed and kept in the notes;
- detail: `GET /stock/{store}/{pn}` on a live uvicorn: latency and size of the answer;
- exhausted page: `GET /stock/{store}/{pn}/lots?state=exhausted&limit=100` (where the API
  has it; on code without it the row is left out).

    python -m bench.stock_lots [--lots 100,5000] [--receipts 40] [--reads 40]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import uuid4

from bench.common import (
    JWT_SECRET,
    Report,
    Server,
    bench_parser,
    each_call,
    ensure_yardstick,
    main_wrapper,
    run_threads,
    system,
    temporary_database,
)
from domain.aggregate_loads import copy_aggregate
from domain.application import Request, ServiceCore
from domain.common import Audit, Caller
from domain.stock import StockItem
from servicecore.container import eventsourcing_env
from servicecore.schema import SNAPSHOTS_TABLE

NAME = "stock_lots"
STORE = "S01"
PART = "06L115562"
SAVE_EVERY = 125  # receipt + issue pairs: 250 events a save


def clerk() -> Request:
    return Request(Caller("clerk-01", "parts_clerk", (STORE,), datetime.now(UTC), str(uuid4())))


def used_up_history(container: Any, lots: int) -> StockItem:
    """The part registered, a first receipt through the service, then `lots` more lots
    received and issued to jobs, saved straight through the application."""
    inventory = container.inventory
    inventory.register_part(clerk(), part_number=PART, details={
        "name": "oil filter", "unit": "pc", "category": "maintenance",
        "preferred_supplier": "Mann"},
        list_price="80.00")
    inventory.receive(clerk(), STORE, PART, qty=1, unit_cost="30.00", supplier="Mann",
                      supplier_doc="DN-first")
    app = container.app
    item = app.repository.get(StockItem.create_id(STORE, PART))
    audit = Audit("clerk-01", "parts_clerk", STORE, datetime.now(UTC), "bench")
    for n in range(lots):
        item.receive(audit, qty=2, unit_cost="31.00", supplier="Mann", supplier_doc=f"DN-{n}",
                     cert_ref=f"CCC-{n}" if n % 3 == 0 else None)
        item.issue(audit, f"history:{n}", 2)
        if n % SAVE_EVERY == SAVE_EVERY - 1:
            app.save(item)
    app.save(item)
    found = app.repository.get(item.id)
    assert isinstance(found, StockItem)
    return found


def _receipts(container: Any) -> Callable[[int], Callable[[], int]]:
    def receive() -> None:
        container.inventory.receive(clerk(), STORE, PART, qty=1, unit_cost="32.00",
                                    supplier="Mann", supplier_doc="DN-bench")

    return each_call(receive)


def _in_memory(container: Any) -> Callable[[int], Callable[[], int]]:
    audit = Audit("clerk-01", "parts_clerk", STORE, datetime.now(UTC), "bench")

    def receive_and_issue() -> None:
        cached = container.app.repository.cache.get(StockItem.create_id(STORE, PART))
        item = copy_aggregate(cached)
        item.receive(audit, qty=2, unit_cost="33.00", supplier="Mann", supplier_doc="DN-x")
        item.issue(audit, "bench:x", Decimal(1))

    return each_call(receive_and_issue)


def _loads(app: ServiceCore) -> Callable[[int], Callable[[], int]]:
    return each_call(lambda: app.repository.get(StockItem.create_id(STORE, PART)))


def _gets(http: Any, path: str, params: dict[str, Any], sizes: list[int],
          ) -> Callable[[int], Callable[[], int]]:
    def get() -> None:
        response = http.get(path, params=params)
        response.raise_for_status()
        sizes.append(len(response.content))

    return each_call(get)


def _cold_loads(report: Report, args: argparse.Namespace, container: Any, label: str) -> None:
    env = eventsourcing_env(container.database_url, container.settings)
    for kind, overrides in (("from snapshot", {"AGGREGATE_CACHE_MAXSIZE": ""}),
                            ("full replay", {"AGGREGATE_CACHE_MAXSIZE": "",
                                             "IS_SNAPSHOTTING_ENABLED": "n"})):
        app = ServiceCore(env={**env, **overrides})
        if overrides.get("IS_SNAPSHOTTING_ENABLED") == "n":
            app.repository.snapshot_store = None
        try:
            m = run_threads(1, _loads(app), total_ops=args.loads)
            report.add(f"{label}: cold load, {kind}", m)
        finally:
            app.close()


def _snapshot_bytes(container: Any) -> dict[str, int]:
    """The item's latest snapshot row: its version and the size of its stored state."""
    with container.pool.connection() as conn:
        row = conn.execute(
            f"SELECT originator_version, octet_length(state) FROM {SNAPSHOTS_TABLE} "
            "WHERE originator_id = %s ORDER BY originator_version DESC LIMIT 1",
            (StockItem.create_id(STORE, PART),)).fetchone()
    return {"version": row[0], "bytes": row[1]} if row else {"version": 0, "bytes": 0}


def _reads(report: Report, args: argparse.Namespace, container: Any, label: str) -> None:
    import httpx

    from api.auth import mint_token
    from api.main import create_app
    from tests.live_server import serving

    token = mint_token(JWT_SECRET, "clerk-01", "parts_clerk", [STORE])
    with serving(create_app(container.api_context())) as base, \
            httpx.Client(base_url=base, timeout=60,
                         headers={"Authorization": f"Bearer {token}"}) as http:
        reads: list[tuple[str, str, dict[str, Any]]] = [
            ("detail GET /stock/{store}/{pn}", f"/stock/{STORE}/{PART}", {}),
            ("GET .../lots?state=exhausted&limit=100", f"/stock/{STORE}/{PART}/lots",
             {"state": "exhausted", "limit": 100})]
        for what, path, params in reads:
            if http.get(path, params=params).status_code == 404:
                continue  # the code measured has no such route
            sizes: list[int] = []
            m = run_threads(1, _gets(http, path, params, sizes), total_ops=args.reads)
            report.add(f"{label}: {what}", m, rate_unit="requests",
                       answer_bytes=max(sizes, default=0))
            print(f"    answer: {max(sizes, default=0):,} bytes", flush=True)


def run(args: argparse.Namespace, server: Server, yardstick: dict[str, Any] | None) -> Report:
    from workers.projection_runner import ProjectionRunner

    yardstick = ensure_yardstick(server, args, yardstick)
    report = Report(NAME, server, args, yardstick, rate_unit="commands")
    for lots in (int(n) for n in args.lots.split(",")):
        label = f"{lots:,} used-up lots"
        with temporary_database(server, "lots") as url, system(url) as container:
            started = time.perf_counter()
            item = used_up_history(container, lots)
            print(f"{label}: history of {item.version:,} events stored in "
                  f"{time.perf_counter() - started:.1f} s", flush=True)
            run_threads(1, _receipts(container), total_ops=3)  # warm-up
            report.add(f"{label}: receipt command (Inventory.receive)",
                       run_threads(1, _receipts(container), total_ops=args.receipts))
            report.add(f"{label}: copy + receive + issue, no save",
                       run_threads(1, _in_memory(container), total_ops=args.receipts))
            snapshot = _snapshot_bytes(container)
            report.notes[f"{label}: latest snapshot"] = snapshot
            print(f"{label}: latest snapshot at version {snapshot['version']:,}: "
                  f"{snapshot['bytes']:,} bytes", flush=True)
            _cold_loads(report, args, container, label)
            view = next(v for v in container.views if v.name == "stock")
            caught = time.perf_counter()
            events = ProjectionRunner(container.app, container.pool, view,
                                      batch_size=500).catch_up()
            seconds = time.perf_counter() - caught
            report.notes[f"{label}: StockView catch-up"] = {
                "events": events, "seconds": round(seconds, 2)}
            print(f"{label}: StockView caught up {events:,} events in {seconds:.2f} s "
                  f"(batches of 500)", flush=True)
            _reads(report, args, container, label)
    report.save()
    return report


def parser() -> argparse.ArgumentParser:
    p = bench_parser(NAME, __doc__)
    p.add_argument("--lots", default="100,5000", help="used-up lots, comma-separated")
    p.add_argument("--receipts", type=int, default=40)
    p.add_argument("--loads", type=int, default=5)
    p.add_argument("--reads", type=int, default=40)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    return main_wrapper(run, parser(), argv)


if __name__ == "__main__":
    raise SystemExit(main())
