"""The cost of reading a command's JSON body: parsed three times as floats (before), or once,
exactly (api/json_bodies.py), fingerprint included.

Before: FastAPI's `json.loads`, the repeated-name check's `json.loads` with its pairs hook, and
the idempotency fingerprint's `json.loads` + `request_hash` (float documents). Now: one
`json_bodies.parse` (Decimals, the pairs and constant hooks) + `request_hash` of its document.
Each body is read as a request with an Idempotency-Key (the fingerprint) and without one.
Rounds alternate A and B in one process; each figure is the CPU time of this process per
read, the median of the rounds' means (their range beside it). Written to
bench/results/json_bodies.json unless --no-save.

    python -m bench.json_bodies [--rounds 15] [--repeat 2000] [--no-save]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

from api.json_bodies import parse
from bench.common import RESULTS_DIR, _git, machine_info, package_versions
from domain.idempotency import request_hash


def _legacy_repeated(body: bytes) -> bool:
    """main's repeated-name check: a parse of its own with a pairs hook."""
    seen = False

    def pairs_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        nonlocal seen
        members = dict(pairs)
        seen = seen or len(members) != len(pairs)
        return members

    json.loads(body, object_pairs_hook=pairs_hook)
    return seen


def before(body: bytes, keyed: bool) -> None:
    json.loads(body)  # FastAPI (Starlette's request.json())
    _legacy_repeated(body)
    if keyed:
        canonical = json.dumps({"path": "/p", "body": json.loads(body)}, sort_keys=True,
                               default=str)
        hashlib.sha256(canonical.encode()).hexdigest()


def after(body: bytes, keyed: bool) -> None:
    parsed = parse(body)
    if keyed:
        request_hash("/p", parsed.document)


def bodies() -> dict[str, bytes]:
    labor = {"op_code": "BRK-PAD", "description": "replace front pads and resurface discs",
             "hours": 1.5, "hourly_rate": 300.0, "vat_rate": 0.13, "pay_type": "customer",
             "technician_note": "pads at 2 mm"}
    lines = [{"part_number": f"5Q0-698-{i:03d}", "description": "front brake pads, set",
              "qty": 4, "unit_cost": 123.45 + i, "lot": f"LOT-2026-{i:04d}"}
             for i in range(40)]
    order = {"store_id": "S01", "supplier": "FAW-VW Parts", "reference": "PO-2026-0001",
             "lines": lines}
    as_strings = json.loads(json.dumps(order), parse_float=lambda text: text)
    return {"labor line, numbers": json.dumps(labor).encode(),
            "order of 40 lines, numbers": json.dumps(order).encode(),
            "order of 40 lines, strings": json.dumps(as_strings).encode()}


def timed(run: Callable[[bytes, bool], None], body: bytes, keyed: bool, repeat: int) -> float:
    start = time.process_time()
    for _ in range(repeat):
        run(body, keyed)
    return (time.process_time() - start) / repeat * 1e6


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--repeat", type=int, default=2000)
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args(argv)
    load = os.getloadavg()[0]
    print(f"load average {load:.2f}; {args.rounds} rounds A/B alternated, "
          f"{args.repeat} reads each; CPU µs per read (median of rounds; min-max)")
    results: list[dict[str, Any]] = []
    for name, body in bodies().items():
        for keyed in (True, False):
            figures: dict[str, list[float]] = {"before": [], "after": []}
            for _ in range(args.rounds):
                for label, run in (("before", before), ("after", after)):
                    figures[label].append(timed(run, body, keyed, args.repeat))
            a, b = (statistics.median(figures[k]) for k in ("before", "after"))
            spread = "  ".join(f"{k} {min(v):.1f}-{max(v):.1f}" for k, v in figures.items())
            print(f"{name} ({len(body)} B), {'with' if keyed else 'without'} Idempotency-Key: "
                  f"before {a:.1f}, after {b:.1f} ({(b - a) / a:+.0%})  [{spread}]")
            results.append({"body": name, "bytes": len(body), "idempotency_key": keyed,
                            **{f"{k}_cpu_us_median": round(statistics.median(v), 1)
                               for k, v in figures.items()},
                            **{f"{k}_cpu_us_range": [round(min(v), 1), round(max(v), 1)]
                               for k, v in figures.items()}})
    if not args.no_save:
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        (RESULTS_DIR / "json_bodies.json").write_text(json.dumps({
            "benchmark": "json_bodies", "figures": results,
            "conditions": {"rounds": args.rounds, "reads_per_round": args.repeat,
                           "load_average": load, "machine": machine_info(),
                           "packages": package_versions(), "git": _git()}}, indent=2) + "\n")


if __name__ == "__main__":
    main()
