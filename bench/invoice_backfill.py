"""The invoice-number backfill on a log of N invoices recorded before reservations: wall time
or the Python heap's peak (`--memory`: tracemalloc, which slows the run several times over,
so times are measured without it) of one run, and of a second run that finds every number
reserved.

    .venv/bin/python -m bench.invoice_backfill --invoices 20000 [--memory] [--server URL]

The log is made fast: one visit is settled through the commands, then its settlement's events
are copied under N new stream ids, each with its own InvoiceRecorded (the old way: no
reservation). Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

from tests.databases import scratch_database


def _make_log(container: Any, invoices: int) -> None:
    from domain.settlement import Settlement
    from tests.integration.test_invoice_backfill import stamp
    from tests.integration.test_red_invoice_numbers import invoiced

    app = container.app
    template, _ = invoiced(container, "S01", None)
    stored = app.recorder.select_events(template)
    settlement: Any = app.repository.get(template)
    assert isinstance(settlement, Settlement)
    settlement.record_invoice(stamp("S01"), "customer", "TEMPLATE")
    recorded = settlement.collect_events()[0]
    for start in range(0, invoices, 500):
        batch = []
        for i in range(start, min(start + 500, invoices)):
            stream = uuid4()
            batch += [type(e)(originator_id=stream, originator_version=e.originator_version,
                              topic=e.topic, state=e.state) for e in stored]
            event = type(recorded)(**{**recorded.__dict__, "originator_id": stream,
                                      "invoice_no": f"44{i:010d}"})
            batch.append(app.mapper.to_stored_event(event))
        app.recorder.insert_events(batch)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--invoices", type=int, default=20000)
    parser.add_argument("--memory", action="store_true")
    parser.add_argument("--server", default=os.environ.get(
        "DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
    args = parser.parse_args()
    from domain.common import Audit
    from domain.invoice_backfill import backfill
    from servicecore.container import build
    from tests.conftest import settings_for

    figures: dict[str, Any] = {"invoices": args.invoices, "code": sys.modules[
        backfill.__module__].__file__}
    with scratch_database(args.server, "bench_backfill") as url, \
            tempfile.TemporaryDirectory() as tmp:
        container = build(settings_for(url, Path(tmp), in_process_projections=False))
        try:
            _make_log(container, args.invoices)
            for run in ("first", "again"):
                audit = Audit("bench", "system", "", datetime.now(UTC), str(uuid4()))
                if args.memory:
                    tracemalloc.start()
                began = time.perf_counter()
                report = backfill(container.app, audit).as_dict()
                seconds = time.perf_counter() - began
                figures[run] = {"seconds": round(seconds, 2), "reserved": report["reserved"],
                                "held": report["held"]}
                if args.memory:
                    figures[run]["peak_mb"] = round(tracemalloc.get_traced_memory()[1] / 1e6, 1)
                    tracemalloc.stop()
        finally:
            container.close()
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
