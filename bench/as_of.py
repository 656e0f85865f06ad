"""`as_of` on a long-lived stream: a part's stock in a store after 10,000 and 50,000 events.

A stock item is the longest-lived stream that has `as_of` reads (`GET /stock/{store}/{part}
?as_of=`): every receipt, reservation and issue of the part in the store, for years. Each
stream here is built of receipts, reservations and issues (one a minute, stamped in the past),
saved 500 events a save, with the snapshots the application takes (every SNAPSHOT_EVERY
events). The read timed is the route's replay (`stock_as_of`) of a moment
between two events near the end (37 events before the last), on a process whose cache is cold.

- `typical`: reservations are issued a few events later (none is held long);
- `held since the start`: one reservation made by the stream's third event is still held at
  the moment: a snapshot that keeps its reservations' times (`reserved_since`) tells when it
  was made; one without them sends the read back to the first event (the older worst case).

    python -m bench.as_of [--server embedded|local|env|URL] [--events 10000 50000] [--reads 30]
"""

from __future__ import annotations

import argparse
import functools
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from bench.common import (
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
from domain.application import ServiceCore
from domain.common import Audit
from domain.stock import StockItem

try:
    from projections.stock_as_of import stock_as_of
except ImportError:  # before it (the A/B comparison): the same replay, from the first event
    from projections.audit import aggregate_as_of_with_reservations as stock_as_of
from servicecore.container import eventsourcing_env

NAME = "as_of"
T0 = datetime(2023, 1, 2, 8, 0, tzinfo=UTC)
BATCH = 500  # events a save
BACK = 37  # the moment read: this many events before the last


def _audit(version: int) -> Audit:
    return Audit("bench", "parts_clerk", "S01", T0 + timedelta(minutes=version), "bench")


def build(app: ServiceCore, part: str, events: int, *, held: bool) -> UUID:
    """A stock item of `events` events: receipts, reservations and their issues."""
    item = StockItem(_audit(1), "S01", part, "pc", Decimal(5))
    if held:
        item.receive(_audit(2), qty=Decimal(10), unit_cost=Decimal("12.50"), supplier="bench",
                     supplier_doc="R-0")
        item.reserve(_audit(3), "long-held", Decimal(1))
    n = 0
    while item.version < events:
        version = item.version + 1
        step = n % 6  # as much is issued as received: a few open lots, as on a shelf
        if step == 0:
            item.receive(_audit(version), qty=Decimal(10), unit_cost=Decimal("12.50"),
                         supplier="bench", supplier_doc=f"R-{n}")
        elif step in (1, 4):
            item.reserve(_audit(version), f"job-{n}", Decimal(4 if step == 1 else 6))
        elif step in (2, 5):
            item.issue(_audit(version), f"job-{n - 1}", Decimal(4 if step == 2 else 6))
        else:
            item.reserve(_audit(version), f"job-{n}", Decimal(1))
            item.release(_audit(version + 1), f"job-{n}", "bench release")
        n += 1
        if len(item._pending_events) >= BATCH:
            app.save(item)
    app.save(item)
    return item.id


def _read(app: ServiceCore, stream_id: UUID, moment: datetime) -> None:
    """The route's replay of the stream at `moment`; the item must have been there."""
    item, _since = stock_as_of(app, stream_id, moment)
    assert item is not None


def run(args: argparse.Namespace, server: Server, yardstick: dict[str, Any] | None) -> Report:
    yardstick = ensure_yardstick(server, args, yardstick)
    report = Report(NAME, server, args, yardstick, rate_unit="reads")
    with temporary_database(server, "as_of") as url, system(url) as container:
        env = eventsourcing_env(container.database_url, container.settings)
        for events in args.events:
            for held in (False, True):
                part = f"P{events}{'H' if held else 'T'}"
                stream_id = build(container.app, part, events, held=held)
                last = container.app.repository.get(stream_id).version
                moment = T0 + timedelta(minutes=last - BACK, seconds=30)
                app = ServiceCore(env={**env, "AGGREGATE_CACHE_MAXSIZE": ""})
                try:
                    read = each_call(functools.partial(_read, app, stream_id, moment))
                    run_threads(1, read, total_ops=2)  # warm-up
                    m = run_threads(1, read, total_ops=args.reads)
                finally:
                    app.close()
                kind = "held since the start" if held else "typical"
                report.add(f"as_of {last - BACK} of {last} events, {kind}", m)
    report.save()
    return report


def parser() -> argparse.ArgumentParser:
    p = bench_parser(NAME, __doc__)
    p.add_argument("--events", type=int, nargs="+", default=[10_000, 50_000])
    p.add_argument("--reads", type=int, default=30)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    return main_wrapper(run, parser(), argv)


if __name__ == "__main__":
    raise SystemExit(main())
